"""Offset fields: where each reference pixel lies in the secondary raster.

Geometric offsets (``dem_assisted`` with a DEM, ``stack`` without: orbits only at a constant
height): rdr2geo on a coarse grid of reference pixels (every ``step`` lines / pixels and the last),
geo2rdr into the secondary, then a bicubic spline of the secondary (line, pixel) evaluated lazily at
every reference pixel. Cross-correlation offsets are a warp polynomial fitted to GCP offsets
(:mod:`.xcorr`). All offsets: secondary minus primary position, in secondary raster pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dask.array as da
import numpy as np
from scipy.interpolate import RectBivariateSpline

from ..geometry import DEM, geo2rdr, rdr2geo
from ..model import Acquisition


@dataclass(frozen=True)
class OffsetField:
    """Secondary (line, pixel) as a function of primary (line, pixel), for whole rasters or points.

    ``evaluate(lines, pixels)`` takes equally shaped float arrays of primary positions and returns
    the secondary positions; ``shape`` is the primary raster shape.
    """

    shape: tuple[int, int]
    evaluate: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    evaluate_grid: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None

    def on_window(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Secondary (line, pixel) on the grid ``rows x cols`` (1-D primary lines / pixels), by the
        field's fast grid evaluation when it has one."""
        if self.evaluate_grid is not None:
            return self.evaluate_grid(rows, cols)
        ll, pp = np.meshgrid(np.asarray(rows, float), np.asarray(cols, float), indexing="ij")
        return self.evaluate(ll, pp)

    def on_grid(self, chunks: int = 1024) -> tuple[da.Array, da.Array]:
        """Lazy secondary (line, pixel) for every primary pixel, dims (azimuth, range)."""
        lines = da.arange(self.shape[0], chunks=chunks, dtype=np.float64)
        pixels = da.arange(self.shape[1], chunks=chunks, dtype=np.float64)

        def block(ln: np.ndarray, px: np.ndarray) -> np.ndarray:
            ll, pp = np.meshgrid(ln, px, indexing="ij")
            return np.stack(self.evaluate(ll, pp))

        stacked = da.blockwise(block, "kij", lines, "i", pixels, "j", new_axes={"k": 2}, dtype=np.float64, concatenate=True)
        return stacked[0], stacked[1]

    def mean_offset(self, samples: int = 64) -> tuple[float, float]:
        """Mean (azimuth, range) offset over a regular sample of the primary raster."""
        ll, pp = np.meshgrid(np.linspace(0, self.shape[0] - 1, samples), np.linspace(0, self.shape[1] - 1, samples), indexing="ij")
        sl, sp = self.evaluate(ll, pp)
        return float(np.nanmean(sl - ll)), float(np.nanmean(sp - pp))


def geometric_offsets(
    primary: Acquisition,
    secondary: Acquisition,
    *,
    dem: DEM | None = None,
    height: float = 0.0,
    step: int = 8,
    swath: str | None = None,
    secondary_swath: str | None = None,
) -> OffsetField:
    """Offsets from orbits (and the DEM when given), see the module docstring."""
    grid = primary.swath(swath).grid
    n_lines, n_pix = grid.shape
    rows = np.unique(np.r_[np.arange(0, n_lines, step), n_lines - 1]).astype(float)
    cols = np.unique(np.r_[np.arange(0, n_pix, step), n_pix - 1]).astype(float)
    ll, pp = np.meshgrid(rows, cols, indexing="ij")
    ground = rdr2geo(primary, ll, pp, dem=dem, height=height, swath=swath)
    res = geo2rdr(secondary, ground.lon, ground.lat, ground.height, swath=secondary_swath or swath)
    k = (min(3, rows.size - 1), min(3, cols.size - 1))
    # splines of the offsets (smooth) rather than of the positions
    spl_l = RectBivariateSpline(rows, cols, res.line - ll, kx=k[0], ky=k[1])
    spl_p = RectBivariateSpline(rows, cols, res.pixel - pp, kx=k[0], ky=k[1])

    def evaluate(lines: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lines, pixels = np.asarray(lines, float), np.asarray(pixels, float)
        return lines + spl_l.ev(lines, pixels), pixels + spl_p.ev(lines, pixels)

    def evaluate_grid(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = np.asarray(rows, float), np.asarray(cols, float)
        return rows[:, None] + spl_l(rows, cols), cols[None, :] + spl_p(rows, cols)

    return OffsetField((n_lines, n_pix), evaluate, evaluate_grid)


def polynomial_offsets(
    shape: tuple[int, int], coef_azimuth: np.ndarray, coef_range: np.ndarray, order: int, scale: tuple[float, float]
) -> OffsetField:
    """An offset field from warp polynomials (see :func:`alignsar.coregistration.xcorr.design`)."""
    from .xcorr import design

    def evaluate(lines: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lines, pixels = np.asarray(lines, float), np.asarray(pixels, float)
        a = design(lines.ravel(), pixels.ravel(), order, scale)
        return lines + (a @ coef_azimuth).reshape(lines.shape), pixels + (a @ coef_range).reshape(pixels.shape)

    return OffsetField(shape, evaluate)
