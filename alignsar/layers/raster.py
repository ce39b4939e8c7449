"""Radarcoding of georeferenced rasters (land cover, DEM-derived layers, masks) onto a radar or map grid.

:func:`radarcode_raster` samples one band of a raster (a GeoTIFF or anything GDAL reads, with a CRS;
or a rioxarray ``DataArray``) onto a reference grid:

* a radar grid: a ``lon`` / ``lat`` coordinates Dataset from
  :func:`alignsar.geometry.radarcode.radar_coordinates` (or an :class:`~alignsar.model.Acquisition`,
  whose coordinates are then computed on ``dem``), dims ``(azimuth, range)``. The sampling is
  :func:`alignsar.geometry.radarcode.radarcode`: per chunk of the radar grid only the raster window
  under that chunk's ground points (plus 2 cells) is read.
* a map grid: an :class:`odc.geo.geobox.GeoBox`. The GeoBox perimeter (densified, 64 points per
  edge) is transformed to the raster CRS; only the raster window covering it plus ``margin`` cells
  is kept (:meth:`rio.isel_window`), and that window is warped onto the GeoBox with GDAL
  (``odc.geo.xr.xr_reproject``; lazily, chunk by chunk, when the raster is a dask array).

Methods: ``mode`` (default) and ``nearest`` are categorical (no blended values; the output keeps
the raster dtype, ``nodata`` or the raster's nodata or 0 outside); ``bilinear`` and ``average`` are
continuous (float32, the raster's nodata read as NaN, NaN outside). ``mode`` and ``average`` take
the majority / mean of the raster cells under each target pixel's footprint: on a radar grid from
``3 x 3`` points spread over the footprint, on a map grid from GDAL's warper (every source cell in
the target cell).

Files are opened lazily (``rioxarray.open_rasterio`` with dask chunks of ``chunks x chunks``
cells); nothing is read until the result (itself lazy) is computed, and then only the chunks of
the raster that intersect the target.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyproj
import rasterio
import rasterio.errors
import rioxarray
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.windows import Window

from ..errors import ConfigError, CorruptProductError, MissingDataError, UnsupportedProductError
from ..geometry.dem import DEM
from ..geometry.radarcode import radar_coordinates, radarcode
from ..model import Acquisition

PathLike = str | os.PathLike[str]
RasterMethod = Literal["mode", "nearest", "bilinear", "average"]
CATEGORICAL_METHODS = ("mode", "nearest")
METHODS = ("mode", "nearest", "bilinear", "average")


def open_raster(path: PathLike, *, band: int = 1, categorical: bool = True, chunks: int = 1024) -> xr.DataArray:
    """One band of a raster file, lazily (dask chunks of ``chunks x chunks`` cells), dims ``(y, x)``.

    Continuous rasters (``categorical=False``) are opened ``masked``: nodata cells become NaN
    (float). Raises :class:`MissingDataError` (no file, no such band), :class:`CorruptProductError`
    (unreadable) and :class:`UnsupportedProductError` (no CRS or no geotransform).
    """
    p = os.fspath(path)
    if not Path(p).exists():
        raise MissingDataError(p, "raster file not found")
    if chunks < 1:
        raise ConfigError(None, f"chunks must be >= 1, not {chunks}")
    try:
        opened = rioxarray.open_rasterio(p, chunks={"band": 1, "y": chunks, "x": chunks}, masked=not categorical)
    except rasterio.errors.RasterioIOError as exc:
        raise CorruptProductError(p, f"not a readable raster ({exc})") from exc
    if not isinstance(opened, xr.DataArray):
        raise UnsupportedProductError(p, "holds several subdatasets; give one of them (GDAL subdataset name)")
    if not 1 <= band <= opened.sizes.get("band", 1):
        raise MissingDataError(p, f"band {band} not in the raster ({opened.sizes.get('band', 1)} bands)")
    raster = opened.isel(band=band - 1, drop=True) if "band" in opened.dims else opened
    if raster.rio.crs is None:
        raise UnsupportedProductError(p, "the raster has no CRS")
    return raster


def radarcode_raster(
    path_or_da: PathLike | xr.DataArray,
    target: xr.Dataset | GeoBox | Acquisition | None = None,
    method: RasterMethod = "mode",
    *,
    name: str | None = None,
    nodata: float | None = None,
    acq: Acquisition | None = None,
    dem: DEM | None = None,
    swath: str | None = None,
    band: int = 1,
    chunks: int = 1024,
    margin: int = 3,
) -> xr.DataArray:
    """Sample a georeferenced raster onto a radar grid or a map grid (see the module docstring).

    ``path_or_da``: a raster file path (band ``band``, opened lazily) or a ``DataArray`` with a
    rioxarray CRS and transform, dims ``(..., y, x)``. ``target``: a radar coordinates Dataset
    (``lon`` / ``lat`` in degrees, from :func:`radar_coordinates`), a :class:`GeoBox`, or an
    :class:`Acquisition`; instead of ``target`` an acquisition can be given as ``acq``. For an
    acquisition the radar coordinates of ``swath`` are computed on ``dem`` (heights in m above
    the WGS84 ellipsoid; without a DEM at 0 m). ``method``: ``mode`` / ``nearest`` (categorical)
    or ``bilinear`` / ``average`` (continuous). ``nodata``: the categorical fill value outside the
    raster (default: the raster's nodata, else 0). ``chunks``: dask chunk size of a file (cells).
    ``margin``: raster cells read around the GeoBox footprint.

    Returns a (lazy) DataArray on the target grid named ``name`` (default: the raster's name or
    the file stem), attrs ``source`` (path), ``method``, ``categorical`` (1 / 0), ``units`` (the
    raster's, or ``"1"`` for categorical rasters without units), ``nodata`` (categorical fill).
    Raises :class:`ConfigError` (bad method / target), :class:`MissingDataError` (no file; a
    GeoBox entirely off the raster), :class:`CorruptProductError`, :class:`UnsupportedProductError`.
    """
    if method not in METHODS:
        raise ConfigError(None, f"unknown raster resampling method {method!r} (one of {', '.join(METHODS)})")
    if target is not None and acq is not None:
        raise ConfigError(None, "give the reference grid either as target or as acq, not both")
    if target is None:
        if acq is None:
            raise ConfigError(None, "no reference grid: give target (coordinates Dataset, GeoBox or Acquisition) or acq")
        target = acq
    categorical = method in CATEGORICAL_METHODS
    if isinstance(path_or_da, xr.DataArray):
        raster, source = path_or_da, str(path_or_da.attrs.get("source", "DataArray"))
        if raster.rio.crs is None:
            raise UnsupportedProductError(None, "the raster DataArray has no CRS (rio.write_crs)")
        if raster.ndim == 3 and "band" in raster.dims:
            raster = raster.isel(band=band - 1, drop=True)
        if not categorical and raster.rio.nodata is not None and not np.isnan(raster.rio.nodata):
            raster = raster.where(raster != raster.rio.nodata).astype(np.float32).rio.write_nodata(np.nan, encoded=False)
    else:
        source = os.fspath(path_or_da)
        raster = open_raster(path_or_da, band=band, categorical=categorical, chunks=chunks)
    out_name = name or (str(raster.name) if raster.name is not None and raster.name != "band_data" else None)
    if out_name is None:
        out_name = Path(source).stem if source != "DataArray" else "raster"
    raster_nodata = raster.rio.nodata
    fill: float = (
        float(nodata) if nodata is not None else (float(raster_nodata) if raster_nodata is not None and np.isfinite(raster_nodata) else 0.0)
    )

    if isinstance(target, GeoBox):
        out = _onto_geobox(raster, target, method, fill if categorical else math.nan, categorical, margin, source)
        grid = "map"
    elif isinstance(target, Acquisition | xr.Dataset):
        coords = radar_coordinates(target, dem, swath=swath) if isinstance(target, Acquisition) else target
        if "lon" not in coords or "lat" not in coords:
            raise ConfigError(None, "a radar-grid target needs 'lon' and 'lat' (radar_coordinates)")
        out = radarcode(raster, coords, method, nodata=fill if categorical else None)
        grid = "radar"
    else:
        raise ConfigError(None, f"target must be a radar coordinates Dataset, a GeoBox or an Acquisition, not {type(target).__name__}")

    units = raster.attrs.get("units")
    attrs: dict[str, Any] = {
        k: v for k, v in raster.attrs.items() if k not in ("_FillValue", "scale_factor", "add_offset", "missing_value", "radarcoding")
    }
    attrs.update(
        {
            "source": source,
            "method": method,
            "grid": grid,
            "categorical": int(categorical),
            "units": str(units) if units is not None else ("1" if categorical else "unknown"),
            "long_name": str(raster.attrs.get("long_name", f"{out_name} resampled by {method}")),
        }
    )
    if categorical:
        attrs["nodata"] = int(fill) if float(fill).is_integer() else fill
    out = out.rename(out_name)
    out.attrs = attrs
    return out


# --------------------------------------------------------------------------------------------------
def geobox_window(raster: xr.DataArray, geobox: GeoBox, margin: int = 3) -> Window | None:
    """The raster window (rows / columns of ``raster``) covering ``geobox`` plus ``margin`` cells,
    clipped to the raster; ``None`` when they do not overlap. The GeoBox perimeter is densified
    (64 points per edge) before it is transformed, so curved edges in the raster CRS are covered."""
    ny, nx = raster.shape[-2:]
    n, m = geobox.shape
    t = np.linspace(0.0, 1.0, 65)
    cols = np.concatenate([t * m, np.full_like(t, m), (1 - t) * m, np.zeros_like(t)])
    rows = np.concatenate([np.zeros_like(t), t * n, np.full_like(t, n), (1 - t) * n])
    x, y = geobox.affine @ (cols, rows)
    src_crs = pyproj.CRS.from_user_input(raster.rio.crs.to_wkt())
    dst_crs = pyproj.CRS.from_user_input(geobox.crs.to_wkt())
    if not src_crs.equals(dst_crs):
        x, y = pyproj.Transformer.from_crs(dst_crs, src_crs, always_xy=True).transform(np.asarray(x), np.asarray(y))
    c, r = ~raster.rio.transform() @ (np.asarray(x), np.asarray(y))
    c, r = np.asarray(c), np.asarray(r)
    ok = np.isfinite(c) & np.isfinite(r)
    if not ok.any():
        return None
    r0 = max(0, math.floor(r[ok].min()) - margin)
    r1 = min(ny, math.ceil(r[ok].max()) + margin)
    c0 = max(0, math.floor(c[ok].min()) - margin)
    c1 = min(nx, math.ceil(c[ok].max()) + margin)
    if r1 <= r0 or c1 <= c0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _onto_geobox(
    raster: xr.DataArray, geobox: GeoBox, method: str, fill: float, categorical: bool, margin: int, source: str
) -> xr.DataArray:
    from odc.geo.xr import xr_reproject

    window = geobox_window(raster, geobox, margin)
    if window is None:
        raise MissingDataError(source if source != "DataArray" else None, "the raster does not cover the target GeoBox")
    sub = raster.rio.isel_window(window)
    dtype = raster.dtype if categorical else np.dtype(np.float32)
    if not categorical and sub.dtype != np.float32:
        sub = sub.astype(np.float32)
    src_nodata = raster.rio.nodata if categorical else math.nan
    kwargs: dict[str, Any] = {"resampling": method, "dst_nodata": fill, "dtype": dtype, "src_nodata": src_nodata}
    if sub.chunks is not None:
        kwargs["chunks"] = tuple(min(1024, s) for s in geobox.shape)
    out = xr_reproject(sub, geobox, **kwargs)
    return out
