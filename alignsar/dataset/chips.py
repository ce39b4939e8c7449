"""Chips: square pixel windows on a cube's spatial grid, kept where enough pixels hold data.

Units: ``row0``, ``col0`` (the window's first row / column, 0-based) and ``size`` are pixels of the
cube's grid; ``valid_fraction`` is the share (0..1) of the window's pixels where every chosen variable
is finite at every date (and the optional mask is non-zero).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError
from ._grid import check_spatial, grid_shape, require, signature_variables, spatial_dims


@dataclass(frozen=True)
class Chip:
    """A square window of the grid: rows ``row0 .. row0+size-1``, columns ``col0 .. col0+size-1`` (px).

    ``split`` is the dataset split (``train`` / ``val`` / ``test`` ...) or None before splitting;
    ``time`` the index of the chip's single date on the cube's ``time`` axis, or None for all dates.
    """

    id: str
    row0: int
    col0: int
    size: int
    split: str | None = None
    time: int | None = None
    valid_fraction: float = 1.0

    @property
    def row1(self) -> int:
        """One past the last row (px)."""
        return self.row0 + self.size

    @property
    def col1(self) -> int:
        """One past the last column (px)."""
        return self.col0 + self.size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chip:
        """Inverse of :meth:`to_dict` (extra keys ignored)."""
        return cls(
            id=str(d["id"]),
            row0=int(d["row0"]),
            col0=int(d["col0"]),
            size=int(d["size"]),
            split=d.get("split"),
            time=None if d.get("time_index", d.get("time")) is None else int(d.get("time_index", d.get("time"))),
            valid_fraction=float(d.get("valid_fraction", 1.0)),
        )


def chip_id(row0: int, col0: int, time: int | None = None) -> str:
    """``r<row0>_c<col0>`` (zero-padded), with ``_t<time>`` for single-date chips."""
    base = f"r{row0:06d}_c{col0:06d}"
    return base if time is None else f"{base}_t{time:04d}"


def valid_mask(cube: xr.Dataset, variables: Sequence[str], mask_var: str | None = None) -> xr.DataArray:
    """Lazy boolean (Y, X): every variable finite at every date, and ``mask_var`` (if given) non-zero."""
    ydim, xdim = spatial_dims(cube)
    valid: xr.DataArray | None = None
    for name in variables:
        da = require(cube, name)
        check_spatial(da, cube)
        ok = np.isfinite(da) if np.issubdtype(da.dtype, np.floating) else xr.ones_like(da, dtype=bool)
        if "time" in ok.dims:
            ok = ok.all("time")
        valid = ok if valid is None else valid & ok
    if mask_var is not None:
        m = require(cube, mask_var)
        check_spatial(m, cube)
        if "time" in m.dims:
            raise ConfigError(mask_var, "the mask must be static, dims (Y, X)")
        ok = m.fillna(0) != 0
        valid = ok if valid is None else valid & ok
    if valid is None:
        raise ConfigError("variables", "no variable to check validity on")
    return valid.transpose(ydim, xdim)


def make_chips(
    cube: xr.Dataset,
    size: int = 64,
    stride: int | None = None,
    min_valid: float = 0.5,
    variables: Sequence[str] | None = None,
    mask_var: str | None = None,
) -> list[Chip]:
    """A regular grid of ``size`` x ``size`` px windows every ``stride`` px (default ``size``), entirely inside the grid.

    ``variables`` default to the cube's signature variables (float, dims ``(time, Y, X)``). The valid
    fraction of every window is computed in one lazy pass: the valid mask is summed over cells of
    ``gcd(size, stride)`` px (``coarsen``), then per window from an integral image of those sums.
    Windows with ``valid_fraction >= min_valid`` are returned, row-major.
    """
    stride = size if stride is None else stride
    if size <= 0 or stride <= 0:
        raise ConfigError("size" if size <= 0 else "stride", "must be a positive number of pixels")
    if not 0.0 <= min_valid <= 1.0:
        raise ConfigError("min_valid", f"{min_valid} is not a fraction in [0, 1]")
    variables = list(variables) if variables else signature_variables(cube)
    if not variables:
        raise ConfigError("variables", "the cube has no signature variable (float, dims (time, Y, X)); name them")
    ny, nx = grid_shape(cube)
    if size > ny or size > nx:
        raise ConfigError("size", f"chip size {size} px exceeds the grid ({ny} x {nx} px)")
    ydim, xdim = spatial_dims(cube)

    g = math.gcd(size, stride)
    valid = valid_mask(cube, variables, mask_var).astype(np.int32)
    cells = np.asarray(valid.coarsen({ydim: g, xdim: g}, boundary="trim").sum().values, dtype=np.int64)
    integral = np.zeros((cells.shape[0] + 1, cells.shape[1] + 1), dtype=np.int64)
    integral[1:, 1:] = cells.cumsum(0).cumsum(1)

    rows = np.arange(0, ny - size + 1, stride)
    cols = np.arange(0, nx - size + 1, stride)
    r, c = np.meshgrid(rows, cols, indexing="ij")
    i, j, k = r // g, c // g, size // g
    counts = integral[i + k, j + k] - integral[i, j + k] - integral[i + k, j] + integral[i, j]
    fraction = counts / float(size * size)
    keep = fraction >= min_valid
    return [
        Chip(id=chip_id(int(r0), int(c0)), row0=int(r0), col0=int(c0), size=size, valid_fraction=float(f))
        for r0, c0, f in zip(r[keep], c[keep], fraction[keep], strict=True)
    ]
