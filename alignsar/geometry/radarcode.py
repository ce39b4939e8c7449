"""Radarcoding (map -> radar grid): ground coordinates of every radar pixel, and sampling of map
rasters onto the radar grid.

:func:`radar_coordinates` gives lazy (dask, chunked) ``lon`` / ``lat`` / ``height`` layers on a
swath's radar grid (rdr2geo on the DEM). :func:`radarcode` samples any georeferenced raster
(an ``xarray.DataArray`` with a rioxarray CRS and transform, dims ``(y, x)``) onto them:
``nearest`` or ``mode`` (categorical: no blended values) and ``bilinear`` or ``average``
(continuous). ``mode`` and ``average`` use ``subsamples x subsamples`` points spread over each radar
pixel's ground footprint (from the local Jacobian of the lon/lat layers), so a pixel larger than
the raster's cells takes the majority / mean of what it covers. Raster windows are read per chunk.
"""

from __future__ import annotations

from typing import Any, Literal

import dask.array as da
import numpy as np
import pyproj
import xarray as xr
from scipy.ndimage import map_coordinates

from ..errors import ConfigError
from ..model import Acquisition
from .dem import DEM
from .zero_doppler import rdr2geo

RadarcodeMethod = Literal["nearest", "mode", "bilinear", "average"]


def radar_coordinates(
    acq: Acquisition,
    dem: DEM | None = None,
    *,
    height: float = 0.0,
    swath: str | None = None,
    chunks: int = 512,
) -> xr.Dataset:
    """Lazy ``lon`` / ``lat`` (deg) / ``height`` (m, ellipsoidal) of every pixel centre of a swath
    raster, dims ``(azimuth, range)`` with ``line`` / ``pixel`` coordinates."""
    sw = acq.swath(swath)
    n_lines, n_pix = sw.grid.shape
    lines = da.arange(n_lines, chunks=chunks)
    pixels = da.arange(n_pix, chunks=chunks)

    def block(ln: np.ndarray, px: np.ndarray) -> np.ndarray:
        ll, pp = np.meshgrid(ln.astype(float), px.astype(float), indexing="ij")
        g = rdr2geo(acq, ll, pp, dem=dem, height=height, swath=sw.name)
        return np.stack([g.lon, g.lat, g.height])

    stacked = da.blockwise(block, "kij", lines, "i", pixels, "j", new_axes={"k": 3}, dtype=np.float64, concatenate=True)
    dims = ("azimuth", "range")
    return xr.Dataset(
        {
            "lon": (dims, stacked[0], {"units": "degrees_east", "long_name": "longitude of the pixel centre"}),
            "lat": (dims, stacked[1], {"units": "degrees_north", "long_name": "latitude of the pixel centre"}),
            "height": (dims, stacked[2], {"units": "m", "long_name": "height above the WGS84 ellipsoid"}),
        },
        coords={"line": ("azimuth", np.arange(n_lines)), "pixel": ("range", np.arange(n_pix))},
        attrs={"swath": sw.name, "product_name": acq.product_name},
    )


def read_window(array: Any, rows: np.ndarray, cols: np.ndarray, margin: int = 2) -> tuple[np.ndarray, int, int]:
    """The part of a 2-D array (numpy, dask or xarray; last two dims) that covers fractional
    (row, col) positions plus ``margin`` cells, as numpy, and its (row, col) offset. Dask windows are
    computed synchronously (this runs inside dask tasks)."""
    ok = np.isfinite(rows) & np.isfinite(cols)
    ny, nx = array.shape[-2:]
    if not ok.any():
        return np.zeros((0, 0)), 0, 0
    r0 = int(np.clip(np.floor(rows[ok].min()) - margin, 0, ny))
    r1 = int(np.clip(np.ceil(rows[ok].max()) + margin + 1, 0, ny))
    c0 = int(np.clip(np.floor(cols[ok].min()) - margin, 0, nx))
    c1 = int(np.clip(np.ceil(cols[ok].max()) + margin + 1, 0, nx))
    win = array[..., r0:r1, c0:c1]
    win = getattr(win, "data", win) if isinstance(win, xr.DataArray) else win
    if isinstance(win, da.Array):
        # per call, not dask.config.set: that is process-wide, and tasks running on several threads
        # would restore each other's values and leave the whole process synchronous
        win = win.compute(scheduler="synchronous")
    return np.asarray(win), r0, c0


def radarcode(
    raster: xr.DataArray,
    coords: xr.Dataset,
    method: RadarcodeMethod = "nearest",
    *,
    subsamples: int = 3,
    nodata: float | None = None,
) -> xr.DataArray:
    """Sample a georeferenced map raster onto the radar grid of ``coords`` (see module docstring).

    Categorical output keeps the raster dtype (``nodata`` or 0 outside); continuous output is float32
    (NaN outside).
    """
    if method not in ("nearest", "mode", "bilinear", "average"):
        raise ConfigError(None, f"unknown radarcoding method {method!r}")
    if raster.ndim == 3:
        raster = raster.squeeze(drop=True)
    crs = pyproj.CRS.from_user_input(raster.rio.crs.to_wkt())
    inverse = ~raster.rio.transform()
    to_raster = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    categorical = method in ("nearest", "mode")
    fill = (nodata if nodata is not None else (raster.rio.nodata if raster.rio.nodata is not None else 0)) if categorical else np.nan
    out_dtype = raster.dtype if categorical else np.float32
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5 if method in ("mode", "average") else np.zeros(1)

    def to_rowcol(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = to_raster.transform(lon, lat)
        col, row = inverse @ (np.asarray(x), np.asarray(y))
        return np.asarray(row) - 0.5, np.asarray(col) - 0.5

    def block(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        # local Jacobian of the ground position w.r.t. (line, pixel): subsample positions
        dlon_dl, dlon_dp = np.gradient(lon) if min(lon.shape) > 1 else (np.zeros_like(lon), np.zeros_like(lon))
        dlat_dl, dlat_dp = np.gradient(lat) if min(lat.shape) > 1 else (np.zeros_like(lat), np.zeros_like(lat))
        samples_r, samples_c = [], []
        for a in offsets:
            for b in offsets:
                r, c = to_rowcol(lon + a * dlon_dl + b * dlon_dp, lat + a * dlat_dl + b * dlat_dp)
                samples_r.append(r)
                samples_c.append(c)
        rows, cols = np.stack(samples_r), np.stack(samples_c)
        win, r0, c0 = read_window(raster, rows, cols)
        ny, nx = win.shape
        inside = (rows >= -0.5) & (rows <= ny + r0 - 0.5) & (cols >= -0.5) & (cols <= nx + c0 - 0.5) & np.isfinite(rows)
        rr, cc = rows - r0, cols - c0
        if win.size == 0:
            return np.full(lon.shape, fill, dtype=out_dtype)
        if categorical:
            ri = np.clip(np.rint(rr), 0, ny - 1).astype(int)
            ci = np.clip(np.rint(cc), 0, nx - 1).astype(int)
            vals = np.where(inside, win[ri, ci], fill)
            if method == "nearest" or vals.shape[0] == 1:
                return vals[vals.shape[0] // 2].astype(out_dtype)
            classes = np.unique(vals)
            counts = np.stack([(vals == v).sum(0) for v in classes])
            return classes[np.argmax(counts, axis=0)].astype(out_dtype)
        valsf = map_coordinates(
            win.astype(np.float64), [np.clip(rr, 0, ny - 1).ravel(), np.clip(cc, 0, nx - 1).ravel()], order=1, mode="nearest"
        ).reshape(rr.shape)
        if raster.rio.nodata is not None:
            bad = (
                map_coordinates(
                    (win == raster.rio.nodata).astype(float), [np.clip(rr, 0, ny - 1).ravel(), np.clip(cc, 0, nx - 1).ravel()], order=1
                ).reshape(rr.shape)
                > 0
            )
            valsf = np.where(bad, np.nan, valsf)
        valsf = np.where(inside, valsf, np.nan)
        return valsf.mean(0).astype(np.float32)

    lon = coords["lon"].data
    lat = coords["lat"].data
    if not isinstance(lon, da.Array):
        lon, lat = da.from_array(lon, chunks=512), da.from_array(lat, chunks=512)
    # one pixel of overlap so the Jacobian is right at chunk edges
    values = da.map_overlap(block, lon, lat, depth=1, boundary="none", dtype=out_dtype, trim=True)
    out = xr.DataArray(values, dims=coords["lon"].dims, coords=coords.coords, name=raster.name)
    out.attrs.update({k: v for k, v in raster.attrs.items() if k not in ("_FillValue", "scale_factor", "add_offset")})
    out.attrs["radarcoding"] = method
    return out
