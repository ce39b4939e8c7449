"""Write a simulated scene to disk: one product folder per date, the truth, the land cover."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
import xarray as xr
from rasterio.transform import Affine

from .._fs import atomic_dir
from ..model import Acquisition
from ..model.serialize import FORMAT_VERSION, calibration_to_dict, dataset_to_dict, grid_to_dict, orbit_to_dict, spectrum_to_dict
from ..readers.simulated import FORMAT, MEASUREMENT, METADATA
from .scene import SimulatedScene


def acquisition_metadata(acq: Acquisition) -> dict[str, Any]:
    swath = acq.swath()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mission": acq.mission,
        "platform": acq.platform,
        "instrument_mode": acq.instrument_mode,
        "product_type": acq.product_type,
        "polarizations": list(acq.polarizations),
        "start_time": np.datetime_as_string(acq.start_time, unit="ns"),
        "stop_time": np.datetime_as_string(acq.stop_time, unit="ns"),
        "absolute_orbit": acq.absolute_orbit,
        "relative_orbit": acq.relative_orbit,
        "pass_direction": acq.pass_direction,
        "look_side": acq.look_side,
        "radar_frequency": acq.radar_frequency,
        "product_name": acq.product_name,
        "orbit": orbit_to_dict(acq.orbit),
        "swaths": {
            name: {
                "grid": grid_to_dict(s.grid),
                "polarizations": list(s.polarizations),
                "geolocation": dataset_to_dict(s.geolocation),
                "spectrum": spectrum_to_dict(s.spectrum),
            }
            for name, s in acq.swaths.items()
        },
        "calibration": calibration_to_dict(acq.calibration_lut(acq.polarizations[0], swath.name)),
        "metadata": acq.metadata,
    }


def write_product(acq: Acquisition, target: str | os.PathLike[str]) -> Path:
    """Write one acquisition as a simulated product folder (atomically)."""
    target = Path(target)
    with atomic_dir(target) as tmp:
        (tmp / METADATA).write_text(json.dumps(acquisition_metadata(acq), indent=1), encoding="utf-8")
        ds = xr.Dataset({pol: (("line", "pixel"), acq.measurement(pol).data) for pol in acq.polarizations})
        ds.to_zarr(tmp / MEASUREMENT, mode="w", consolidated=False)
    return target


def write_scene(scene: SimulatedScene, outdir: str | os.PathLike[str], progress: Any = None) -> list[Path]:
    """Write every date as ``outdir/products/<name>``, plus ``outdir/truth/`` (per-date radar truth
    as Zarr, map truth as GeoTIFFs, land cover as GeoJSON)."""
    outdir = Path(outdir)
    products = []
    for acq in scene.acquisitions:
        products.append(write_product(acq, outdir / "products" / acq.product_name))
        if progress:
            progress(acq.product_name)
    with atomic_dir(outdir / "truth") as tmp:
        for k, truth in enumerate(scene.truth):
            truth.to_zarr(tmp / f"radar_truth_{k:02d}.zarr", mode="w", consolidated=False)
        tm = scene.truth_map
        transform = Affine.from_gdal(*tm.attrs["transform"])
        for name in ("class_map", "dem"):
            arr = tm[name].values
            profile = {
                "driver": "GTiff",
                "height": arr.shape[0],
                "width": arr.shape[1],
                "count": 1,
                "dtype": arr.dtype.name,
                "crs": f"EPSG:{tm.attrs['epsg']}",
                "transform": transform,
                "tiled": True,
                "compress": "deflate",
            }
            with rasterio.open(tmp / f"{name}.tif", "w", **profile) as dst:
                dst.write(arr, 1)
        features = [
            {
                "type": "Feature",
                "properties": {"class": value, "name": next(c.name for c in scene.config.classes if c.value == value)},
                "geometry": shapely.geometry.mapping(geom),
            }
            for value, geom in scene.polygons
        ]
        (tmp / "landcover.geojson").write_text(
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{tm.attrs['epsg']}"}},
                    "features": features,
                }
            ),
            encoding="utf-8",
        )
    return products
