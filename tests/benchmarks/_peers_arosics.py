"""arosics peers for ``bench_coregistration.py``: ``COREG`` (one global shift) and ``COREG_LOCAL``
(a grid of tie points), run on detected amplitudes written as temporary GeoTIFFs.

arosics needs GDAL's Python bindings (``osgeo``), which alignsar does not depend on: this module is
only imported by the benchmark when ``import arosics`` works (see the benchmark's docstring for the
separate environment).

Geocoding of the temporary rasters: a north-up grid of 1 m pixels in a projected CRS (EPSG:32631 by
default), column = range pixel = x, row = azimuth line = -y, so that arosics' image coordinates are
the radar (line, pixel) indices.

Sign convention. alignsar (and the simulator's truth) report offsets as *secondary minus primary*
position: primary pixel (l, p) shows the same ground as secondary pixel (l + d_az, p + d_rg).
arosics reports the shift to *apply to the target* (the secondary) to align it on the reference,
i.e. the opposite: with a secondary whose content is moved by +2 lines and +3 pixels
(``np.roll(ref, (2, 3), axis=(0, 1))``, so d_az = +2, d_rg = +3), arosics gives
``x_shift_px = -3`` and ``y_shift_px = -2`` (checked by :func:`check_sign`). Hence
``d_rg = -x_shift_px`` and ``d_az = -y_shift_px`` (image y grows downwards like the line index; the
map y shift has the opposite sign and is not used).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
import warnings
from dataclasses import dataclass

import arosics
import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

VERSION = arosics.__version__


@dataclass(frozen=True)
class Grid:
    """Georeferencing of the temporary GeoTIFFs (GDAL geotransform order)."""

    epsg: int = 32631
    x0: float = 500000.0
    y0: float = 5800000.0
    pixel_m: float = 1.0

    @property
    def geotransform(self) -> tuple[float, float, float, float, float, float]:
        return (self.x0, self.pixel_m, 0.0, self.y0, 0.0, -self.pixel_m)


def write_geotiff(path: str, array: np.ndarray, grid: Grid) -> str:
    """One float32 band with the grid's CRS and geotransform."""
    ds = gdal.GetDriverByName("GTiff").Create(path, array.shape[1], array.shape[0], 1, gdal.GDT_Float32)
    ds.SetGeoTransform(grid.geotransform)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(grid.epsg)
    ds.SetProjection(srs.ExportToWkt())
    ds.GetRasterBand(1).WriteArray(np.asarray(array, dtype=np.float32))
    ds.FlushCache()
    ds = None
    return path


@dataclass
class GlobalShift:
    """arosics COREG result in alignsar's convention (secondary minus primary, px)."""

    d_az: float
    d_rg: float
    reliability: float
    seconds: float
    success: bool


@dataclass
class TiePoints:
    """arosics COREG_LOCAL tie points kept by its own filtering, in alignsar's convention.

    ``line`` / ``pixel``: tie point positions (primary = reference image coordinates);
    ``d_az`` / ``d_rg``: measured offsets there; ``total``: grid points tried, ``matched``: points with
    a shift, ``outliers``: matched points flagged by arosics' filters."""

    line: np.ndarray
    pixel: np.ndarray
    d_az: np.ndarray
    d_rg: np.ndarray
    total: int
    matched: int
    outliers: int
    seconds: float


def _paths(tmp: str, primary: np.ndarray, secondary: np.ndarray, grid: Grid) -> tuple[str, str]:
    return (
        write_geotiff(os.path.join(tmp, "primary.tif"), primary, grid),
        write_geotiff(os.path.join(tmp, "secondary.tif"), secondary, grid),
    )


def global_shift(
    primary: np.ndarray, secondary: np.ndarray, *, window: int = 128, max_shift: int = 10, cpus: int = 2, grid: Grid | None = None
) -> GlobalShift:
    """arosics.COREG at the default (automatically chosen) window position. The time counts the
    GeoTIFF writing, so that it compares with alignsar working on arrays in memory."""
    grid = grid or Grid()
    with tempfile.TemporaryDirectory(prefix="bench-arosics-") as tmp:
        t = time.perf_counter()
        ref, tgt = _paths(tmp, primary, secondary, grid)
        cr = arosics.COREG(ref, tgt, ws=(window, window), max_shift=max_shift, CPUs=cpus, q=True, progress=False, ignore_errors=True)
        cr.calculate_spatial_shifts()
        dt = time.perf_counter() - t
    if not cr.success or cr.x_shift_px is None:
        return GlobalShift(np.nan, np.nan, np.nan, dt, False)
    return GlobalShift(-float(cr.y_shift_px), -float(cr.x_shift_px), float(cr.shift_reliability), dt, True)


def tie_points(
    primary: np.ndarray,
    secondary: np.ndarray,
    *,
    grid_res: int,
    window: int = 128,
    max_shift: int = 10,
    cpus: int = 2,
    min_reliability: float = 0.0,
    grid: Grid | None = None,
) -> TiePoints:
    """arosics.COREG_LOCAL with tie points every ``grid_res`` pixels, its default filter level 3
    (reliability >= ``min_reliability``, SSIM improvement, RANSAC) and everything else default."""
    grid = grid or Grid()
    with tempfile.TemporaryDirectory(prefix="bench-arosics-") as tmp:
        t = time.perf_counter()
        ref, tgt = _paths(tmp, primary, secondary, grid)
        # arosics prints "Calculating tie point grid ..." even with q=True
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # "window size ... rather small", deprecation noise from dependencies
            cl = arosics.COREG_LOCAL(
                ref,
                tgt,
                grid_res=grid_res,
                window_size=(window, window),
                max_shift=max_shift,
                min_reliability=min_reliability,
                CPUs=cpus,
                q=True,
                progress=False,
            )
            table = cl.CoRegPoints_table
        dt = time.perf_counter() - t
    fill = cl.outFillVal
    if table.empty or "OUTLIER" not in table.columns:
        empty = np.array([])
        return TiePoints(empty, empty, empty, empty, len(table), 0, 0, dt)
    matched = (table["ABS_SHIFT"] != fill).to_numpy()
    outlier = (table["OUTLIER"].astype(str) == "True").to_numpy()  # True / False, or the fill value when unmatched
    kept = matched & ~outlier
    tb = table[kept]
    return TiePoints(
        line=tb["Y_IM"].to_numpy(dtype=float),
        pixel=tb["X_IM"].to_numpy(dtype=float),
        d_az=-tb["Y_SHIFT_PX"].to_numpy(dtype=float),
        d_rg=-tb["X_SHIFT_PX"].to_numpy(dtype=float),
        total=len(table),
        matched=int(matched.sum()),
        outliers=int((matched & outlier).sum()),
        seconds=dt,
    )


def check_sign(size: int = 512, shift: tuple[int, int] = (2, 3)) -> tuple[float, float]:
    """(d_az, d_rg) that :func:`global_shift` finds for speckle rolled by ``shift`` = (lines, pixels):
    equals ``shift`` when the conversion to alignsar's convention is right."""
    rng = np.random.default_rng(0)
    ref = rng.exponential(1.0, (size, size))
    res = global_shift(ref, np.roll(ref, shift, axis=(0, 1)))
    return res.d_az, res.d_rg
