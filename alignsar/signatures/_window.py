"""Moving-window (boxcar) means of real or complex rasters, lazily and exactly across chunks."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
from scipy.ndimage import uniform_filter

from ..errors import ConfigError

Window = int | tuple[int, int]


def window_shape(window: Window) -> tuple[int, int]:
    """``(rows, cols)`` of a window given as an odd int or a pair of odd ints (pixels)."""
    rows, cols = (window, window) if isinstance(window, int) else tuple(window)
    if rows < 1 or cols < 1 or rows % 2 == 0 or cols % 2 == 0:
        raise ConfigError(None, f"window must be odd and >= 1 pixel, got {window!r}")
    return int(rows), int(cols)


def _mean_block(block: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """NaN-aware boxcar mean of one (overlapped) block over its last two axes."""
    ok = np.isfinite(block)
    filled = np.where(ok, block, 0)
    count = uniform_filter(ok.astype(np.float64), size, mode="constant")
    if np.iscomplexobj(filled):
        total = uniform_filter(filled.real, size, mode="constant") + 1j * uniform_filter(filled.imag, size, mode="constant")
    else:
        total = uniform_filter(filled.astype(np.float64), size, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count
    return np.where(count > 0, out, np.nan).astype(np.result_type(block.dtype, np.float32))


def local_mean(values: xr.DataArray | Any, window: Window) -> Any:
    """Boxcar mean over the last two dims in ``window`` pixels (NaN pixels ignored; NaN where the
    whole window is NaN). Dask input: ``map_overlap`` with half-window depth (chunks preserved,
    results identical to the numpy computation); numpy input stays numpy."""
    rows, cols = window_shape(window)
    data = values.data if isinstance(values, xr.DataArray) else values
    size = (1,) * (data.ndim - 2) + (rows, cols)
    if isinstance(data, da.Array):
        depth = {data.ndim - 2: rows // 2, data.ndim - 1: cols // 2}
        out = data.map_overlap(_mean_block, depth=depth, boundary=np.nan, size=size, dtype=np.result_type(data.dtype, np.float32))
    else:
        # same edge handling as the dask path (NaN padding = outside ignored)
        pad = [(0, 0)] * (data.ndim - 2) + [(rows // 2, rows // 2), (cols // 2, cols // 2)]
        padded = np.pad(np.asarray(data), pad, constant_values=np.nan)
        out = _mean_block(padded, size)[..., rows // 2 : rows // 2 + data.shape[-2], cols // 2 : cols // 2 + data.shape[-1]]
    if isinstance(values, xr.DataArray):
        return values.copy(data=out)
    return out
