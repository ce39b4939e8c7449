"""Reader of the simulated-product format written by :mod:`alignsar.simulate.io`.

A product is a folder holding ``alignsar-product.json`` (the acquisition metadata, see
:mod:`alignsar.model.serialize`) and ``measurement.zarr`` (one complex64 variable per polarisation,
dims ``(line, pixel)``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import CorruptProductError, MissingDataError, UnsupportedProductError
from ..model import Acquisition, CalibrationLUT, ProductSource, Swath
from ..model.serialize import calibration_from_dict, dataset_from_dict, grid_from_dict, orbit_from_dict, spectrum_from_dict

METADATA = "alignsar-product.json"
MEASUREMENT = "measurement.zarr"
FORMAT = "alignsar-simulated-product"


class SimulatedSource(ProductSource):
    def __init__(self, folder: Path, calibration: CalibrationLUT) -> None:
        self.folder = folder
        self._calibration = calibration

    def open_raster(self, swath: str, pol: str) -> xr.DataArray:
        store = self.folder / MEASUREMENT
        try:
            ds = xr.open_zarr(store, consolidated=False)
        except (FileNotFoundError, OSError, ValueError, KeyError) as exc:
            raise CorruptProductError(store, f"cannot open measurement store ({exc})") from exc
        if pol.upper() not in ds:
            raise MissingDataError(store, f"no {pol.upper()} measurement")
        arr = ds[pol.upper()]
        arr.attrs = {}
        return arr.assign_coords(line=np.arange(arr.sizes["line"]), pixel=np.arange(arr.sizes["pixel"]))

    def calibration(self, swath: str, pol: str) -> CalibrationLUT:
        return self._calibration


def open_simulated(path: str | os.PathLike[str]) -> Acquisition:
    folder = Path(path)
    meta_path = folder / METADATA
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorruptProductError(meta_path, f"invalid JSON ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise UnsupportedProductError(meta_path, f"unknown alignsar product format {meta.get('format')!r}")
    try:
        swaths = {
            name: Swath(
                name,
                grid_from_dict(s["grid"]),
                tuple(s["polarizations"]),
                dataset_from_dict(s["geolocation"]),
                spectrum=spectrum_from_dict(s.get("spectrum")),
            )
            for name, s in meta["swaths"].items()
        }
        return Acquisition(
            mission=meta["mission"],
            platform=meta["platform"],
            instrument_mode=meta["instrument_mode"],
            product_type=meta["product_type"],
            polarizations=tuple(meta["polarizations"]),
            start_time=np.datetime64(meta["start_time"], "ns"),
            stop_time=np.datetime64(meta["stop_time"], "ns"),
            absolute_orbit=meta.get("absolute_orbit"),
            relative_orbit=meta.get("relative_orbit"),
            pass_direction=meta["pass_direction"],
            look_side=meta["look_side"],
            radar_frequency=float(meta["radar_frequency"]),
            product_name=meta["product_name"],
            source_path=os.fspath(path),
            orbit=orbit_from_dict(meta["orbit"]),
            swaths=swaths,
            source=SimulatedSource(folder, calibration_from_dict(meta["calibration"])),
            metadata=meta.get("metadata", {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptProductError(meta_path, f"incomplete product metadata ({exc!r})") from exc
