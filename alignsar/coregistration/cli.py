"""``alignsar coregister``: options compatible with ICEYE's snap_coregister routine.

Outputs: ``OUTPUT`` (a ``.zarr`` stack with dims ``(date, azimuth, range)`` holding the primary and
every coregistered secondary; or a ``.tif`` with one band per date, for plain raster pairs and
detected data) and ``OUTPUT.coreg.json`` with one quality record per secondary. Both are written to
temporary siblings and renamed into place.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._fs import atomic_dir, atomic_write_text
from ..errors import ConfigError, UnsupportedProductError
from .api import METHODS, coregister, coregister_rasters
from .config import CoregConfig


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "coregister",
        help="coregister secondaries onto a primary",
        description="Coregister one or more secondary products (or plain GeoTIFF rasters, cross_corr) onto a primary; "
        "writes the aligned stack and OUTPUT.coreg.json with the quality per secondary.",
    )
    p.add_argument("-pp", "--primary_path", required=True, help="primary product (or GeoTIFF raster)")
    p.add_argument("-sp", "--secondary_path", required=True, nargs="+", help="secondary product(s) (or GeoTIFF rasters)")
    p.add_argument("-op", "--output_path", required=True, type=Path, help="output stack (.zarr, or .tif)")
    p.add_argument("-ct", "--coregistration_type", default="dem_assisted", choices=METHODS, help="method (default dem_assisted)")
    p.add_argument("-cp", "--config_path", help="YAML with SNAP-named parameters (nb_gcp, rmsThreshold, ...)")
    p.add_argument("--dem", help="DEM (rasterio-readable; needed by dem_assisted)")
    p.add_argument("--dem-vertical", default="auto", choices=["auto", "ellipsoid", "egm96", "egm2008"], help="DEM heights reference")
    p.add_argument("--geoid", help="local geoid grid for orthometric DEMs (e.g. egm96_15.gtx)")
    p.add_argument("--pol", help="polarisation (default: the primary's first)")
    p.add_argument("--calibration", choices=["sigma0", "beta0", "gamma0"], help="coregister calibrated intensities instead of raw data")
    p.add_argument("--land", help="land polygons (any vector format geopandas reads) for onlyGCPsOnLand")
    p.add_argument("--swath", help="swath / sub-swath (default: the primary's first, e.g. IW1)")
    p.add_argument(
        "--burst", type=int, help="TOPS SLC: primary burst index (0-based) to coregister (deramped, see alignsar.coregistration.tops)"
    )
    p.set_defaults(func=run)


def _is_plain_raster(path: str) -> bool:
    from ..readers import open_product

    if not str(path).lower().endswith((".tif", ".tiff")):
        return False
    try:
        open_product(path)
    except UnsupportedProductError:
        return True
    return False


def _read_land(path: str) -> Any:
    """Union of the polygons of a vector file, in lon / lat (deg, WGS84)."""
    import geopandas

    try:
        frame = geopandas.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise UnsupportedProductError(path, f"unreadable vector file ({exc})") from exc
    if frame.crs is None:
        raise UnsupportedProductError(path, "vector file has no CRS")
    return frame.to_crs(4326).geometry.union_all()


def _read_raster(path: str) -> xr.DataArray:
    import rioxarray

    try:
        # lazy, in 2048 x 2048 chunks: coregistration reads bands and writes block by block
        arr = rioxarray.open_rasterio(path, masked=True, chunks={"x": 2048, "y": 2048}).squeeze(drop=True)
    except Exception as exc:  # rasterio raises several types for unreadable files
        raise UnsupportedProductError(path, f"unreadable raster ({exc})") from exc
    if arr.ndim != 2:
        raise UnsupportedProductError(path, f"expected a single-band raster, got {arr.ndim} dimensions")
    arr.name = os.path.basename(path)
    return arr


def run(args: argparse.Namespace) -> int:
    from ..geometry import open_dem
    from ..readers import open_product

    out: Path = args.output_path
    records = []
    if _is_plain_raster(args.primary_path):
        if args.coregistration_type != "cross_corr":
            raise ConfigError("coregistration_type", "plain rasters can only be coregistered with cross_corr")
        cfg = CoregConfig.from_yaml(args.config_path) if args.config_path else CoregConfig.defaults("GRD")
        primary = _read_raster(args.primary_path)
        layers = [primary]
        for path in args.secondary_path:
            res = coregister_rasters(primary, _read_raster(path), cfg)
            layers.append(res.data)
            records.append(res.quality.to_dict())
        _write_tif(out, layers, primary)
    else:
        primary = open_product(args.primary_path)
        cfg = CoregConfig.from_yaml(args.config_path, primary.product_type) if args.config_path else None
        dem = None
        if args.dem:
            dem = open_dem(args.dem, vertical=args.dem_vertical, geoid=args.geoid, bounds=primary.footprint.buffer(0.05).bounds)
            dem.check_covers(primary.footprint, "the primary")
        elif args.coregistration_type == "dem_assisted":
            raise ConfigError("dem", "dem_assisted needs --dem (use -ct stack for orbits only)")
        land = _read_land(args.land) if args.land else None
        layers, names, times = [], [], []
        first = None
        for path in args.secondary_path:
            secondary = open_product(path)
            res = coregister(
                primary,
                secondary,
                args.coregistration_type,
                pol=args.pol,
                swath=args.swath,
                dem=dem,
                config=cfg,
                calibration=args.calibration,
                burst=args.burst,
                land=land,
            )
            if first is None:
                first = res.primary
                layers.append(first)
                names.append(primary.product_name)
                times.append(primary.start_time)
            layers.append(res.data)
            names.append(res.quality.secondary)
            times.append(secondary.start_time)
            records.append(res.quality.to_dict())
        if str(out).lower().endswith((".tif", ".tiff")):
            _write_tif(out, layers, None)
        else:
            stack = xr.concat([lay.drop_vars([c for c in lay.coords if c not in lay.dims], errors="ignore") for lay in layers], dim="date")
            stack = stack.assign_coords(date=np.array(times, dtype="datetime64[ns]"), product=("date", names))
            stack.name = "data"
            stack.attrs = {"reference_product": primary.product_name, "coregistration": args.coregistration_type}
            with atomic_dir(out) as tmp:
                target = tmp / "stack.zarr"
                stack.to_dataset().to_zarr(target, mode="w", consolidated=False)
                for item in target.iterdir():
                    os.replace(item, tmp / item.name)
                target.rmdir()
    report = {"primary": str(args.primary_path), "coregistration_type": args.coregistration_type, "secondaries": records}
    atomic_write_text(str(out) + ".coreg.json", json.dumps(report, indent=2, default=float))
    if not args.quiet:
        for rec in records:
            print(
                f"{rec['secondary']}: {rec['method']}, mean offset ({rec['mean_offset_azimuth_px']:+.3f}, {rec['mean_offset_range_px']:+.3f}) px, "
                f"GCPs {rec['gcps_kept']}/{rec['gcps_found']}"
            )
    print(out)
    return 0


def _write_tif(out: Path, layers: list[xr.DataArray], like: xr.DataArray | None) -> None:
    """Write the layers as bands of a tiled float32 GeoTIFF, one dask block at a time (bounded
    memory), to a temporary file renamed into place. Complex layers are written as intensities."""
    import tempfile

    import dask.array as da
    import rasterio
    from rasterio.windows import Window

    shape = layers[0].shape
    profile = {
        "driver": "GTiff",
        "height": shape[0],
        "width": shape[1],
        "count": len(layers),
        "dtype": "float32",
        "nodata": np.nan,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    if like is not None and like.rio.crs is not None:
        profile.update(crs=like.rio.crs, transform=like.rio.transform())
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial.tif", dir=out.parent)
    os.close(fd)
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            for band, layer in enumerate(layers, start=1):
                data = layer.data if isinstance(layer.data, da.Array) else da.from_array(np.asarray(layer.data), chunks=2048)
                rows = np.cumsum((0,) + data.chunks[0])
                cols = np.cumsum((0,) + data.chunks[1])
                for i in range(len(data.chunks[0])):
                    for j in range(len(data.chunks[1])):
                        block = np.asarray(data.blocks[i, j].compute())
                        if np.iscomplexobj(block):
                            block = np.abs(block) ** 2  # GeoTIFF output holds detected intensities
                        window = Window(int(cols[j]), int(rows[i]), block.shape[1], block.shape[0])
                        dst.write(block.astype(np.float32), band, window=window)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
