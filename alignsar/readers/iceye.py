"""ICEYE products: GRD GeoTIFF (metadata in GDAL tags) and SLC HDF5 (``s_i`` / ``s_q``), product
specification 2.x.

Radar grid: zero-Doppler start time and azimuth time interval; SLC slant range from the first
pixel's two-way time and the range sampling rate; GRD ground range from the range spacing and the
ground-to-slant-range polynomial (one set, at ``GRSR_ZERO_DOPPLER_TIME``). Orbit: the product's
state vectors. Calibration (ICEYE convention): ``beta0 = calibration_factor * |DN|^2``,
``sigma0 = beta0 * sin(incidence)``, ``gamma0 = sigma0 / cos(incidence)``; incidence from the
product's incidence polynomial (GRD) or per-sample local incidence (SLC).
Geolocation: the GRD's ground control points (with their terrain heights) or the SLC's corner and
centre coordinates (at the average scene height), as the product states them (1-based in the
product, 0-based here). The icecube samples were cut to 10 x 10 / 20 x 20 pixels by their authors:
their metadata (and so geometry) still describe the full-size products.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import shapely
import xarray as xr

from ..errors import CorruptProductError, MissingDataError, UnsupportedProductError
from ..model import Acquisition, CalibrationLUT, Orbit, ProductSource, RadarGrid, SlantGroundConversion, Swath

_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _floats(value: Any) -> np.ndarray:
    """Numbers from a tag string such as ``'[ 1.0e+00  2.5\\n 3 ]'`` or from an array."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return np.array([float(v) for v in _NUM.findall(value)])
    return np.asarray(value, dtype=np.float64).ravel()


def _strings(value: Any) -> list[str]:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        found = re.findall(r"'([^']*)'", value)
        return found or [value.strip()]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(value).ravel()]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode().strip()
    if isinstance(value, np.ndarray):
        return _text(value.ravel()[0])
    text = str(value).strip()
    m = re.fullmatch(r"\('([^']*)',\)", text)  # tuple-looking tags, e.g. SATELLITE_NAME
    return m.group(1) if m else text


class _Meta:
    """Case-insensitive access to ICEYE metadata (GeoTIFF tags or HDF5 datasets)."""

    def __init__(self, values: dict[str, Any], path: Path) -> None:
        self.values = {k.lower(): v for k, v in values.items()}
        self.path = path

    def __contains__(self, key: str) -> bool:
        return key.lower() in self.values

    def raw(self, key: str) -> Any:
        try:
            return self.values[key.lower()]
        except KeyError as exc:
            raise CorruptProductError(self.path, f"ICEYE metadata {key!r} missing") from exc

    def text(self, key: str) -> str:
        return _text(self.raw(key))

    def float(self, key: str) -> float:
        return float(_floats(self.raw(key))[0])

    def floats(self, key: str) -> np.ndarray:
        return _floats(self.raw(key))

    def int(self, key: str) -> int:
        return round(self.float(key))


class IceyeSource(ProductSource):
    def __init__(self, path: Path, kind: str, shape: tuple[int, int], calibration: CalibrationLUT) -> None:
        self.path = path
        self.kind = kind
        self.shape = shape
        self._calibration = calibration

    def open_raster(self, swath: str, pol: str) -> xr.DataArray:
        coords = {"line": np.arange(self.shape[0]), "pixel": np.arange(self.shape[1])}
        if self.kind == "GRD":
            arr = xr.open_dataarray(self.path, engine="rasterio", chunks={"y": 2048, "x": 2048}, mask_and_scale=False)
            arr = arr.squeeze("band", drop=True).drop_vars(["spatial_ref", "x", "y"], errors="ignore").rename({"y": "line", "x": "pixel"})
            arr.attrs = {}
            return arr.assign_coords(coords)
        import h5py

        path, shape = self.path, self.shape

        def read(block_info: Any = None) -> np.ndarray:
            (l0, l1), (p0, p1) = block_info[None]["array-location"]
            with h5py.File(path, "r") as f:
                return (f["s_i"][l0:l1, p0:p1].astype(np.float32) + 1j * f["s_q"][l0:l1, p0:p1].astype(np.float32)).astype(np.complex64)

        chunks = da.core.normalize_chunks((1024, 2048), shape)
        arr = da.map_blocks(read, chunks=chunks, dtype=np.complex64, meta=np.empty((0, 0), np.complex64))
        return xr.DataArray(arr, dims=("line", "pixel"), coords=coords)

    def calibration(self, swath: str, pol: str) -> CalibrationLUT:
        return self._calibration


def is_iceye_tiff(path: Path) -> bool:
    import rasterio

    try:
        with rasterio.open(path) as ds:
            tags = ds.tags()
    except rasterio.errors.RasterioIOError:
        return False
    return "ICEYE" in tags.get("SATELLITE_NAME", "").upper() or "ICEYE" in tags.get("PROCESSOR_VERSION", "").upper()


def _read_meta(path: Path) -> tuple[_Meta, str, list[Any]]:
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(path, "r") as f:
                if "s_i" not in f or "s_q" not in f:
                    raise UnsupportedProductError(path, "HDF5 file is not an ICEYE SLC (no s_i / s_q)")
                values = {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset) and k not in ("s_i", "s_q")}
                values["_shape"] = f["s_i"].shape
        except OSError as exc:
            raise CorruptProductError(path, f"unreadable HDF5 ({exc})") from exc
        return _Meta(values, path), "SLC", []
    import rasterio

    try:
        with rasterio.open(path) as ds:
            values: dict[str, Any] = dict(ds.tags())
            values["_shape"] = ds.shape
            gcps = list(ds.gcps[0])
    except rasterio.errors.RasterioIOError as exc:
        raise CorruptProductError(path, f"unreadable GeoTIFF ({exc})") from exc
    meta = _Meta(values, path)
    if "product_level" not in meta:
        raise UnsupportedProductError(path, "GeoTIFF without ICEYE metadata")
    level = meta.text("product_level").upper()
    if level not in ("GRD", "SLC"):
        raise UnsupportedProductError(path, f"ICEYE product level {level} is not supported")
    if level == "SLC":
        raise UnsupportedProductError(path, "ICEYE SLC GeoTIFF (with XML) is not supported yet: use the HDF5 SLC")
    return meta, level, gcps


def open_iceye(path: str | os.PathLike[str]) -> Acquisition:
    """Open an ICEYE GRD GeoTIFF or SLC HDF5 (reads no pixels)."""
    path = Path(path)
    meta, level, gcps = _read_meta(path)
    shape = tuple(int(v) for v in meta.raw("_shape"))
    t0 = np.datetime64(meta.text("zerodoppler_start_utc"), "ns")
    dt = meta.float("azimuth_time_interval")
    fs = meta.float("range_sampling_rate")
    times = np.array([np.datetime64(s.strip(), "ns") for s in _strings(meta.raw("state_vector_time_utc"))])
    pos = np.column_stack([meta.floats(k) for k in ("posX", "posY", "posZ")])
    vel = np.column_stack([meta.floats(k) for k in ("velX", "velY", "velZ")])
    if not (len(times) == len(pos) == len(vel)) or len(times) < 2:
        raise CorruptProductError(path, f"inconsistent state vectors ({len(times)} times, {len(pos)} positions)")
    orbit = Orbit(
        times, pos, vel, source=f"annotation ({meta.text('orbit_processing_level')})" if "orbit_processing_level" in meta else "annotation"
    )
    cal = meta.float("calibration_factor")
    c = 299_792_458.0
    if level == "GRD":
        grsr = meta.floats("grsr_coefficients")
        gr0 = meta.float("grsr_ground_range_origin")
        t_conv = np.array([np.datetime64(meta.text("grsr_zero_doppler_time"), "ns")])
        slant_ground = SlantGroundConversion(
            t_conv, np.zeros(1), np.array([[gr0 - grsr[0] / grsr[1], 1.0 / grsr[1]]]), np.array([gr0]), grsr[None, :]
        )
        spacing = meta.float("range_spacing")
        inc_coef = meta.floats("incidence_angle_coefficients")
        inc0 = meta.float("incidence_angle_ground_range_origin")
        # geolocation: the ground control points (terrain heights), on their regular grid
        rows = np.array([g.row for g in gcps])
        cols = np.array([g.col for g in gcps])
        ur, uc = np.unique(rows), np.unique(cols)
        if ur.size * uc.size != len(gcps):
            raise CorruptProductError(path, f"{len(gcps)} GCPs are not a regular grid")
        iy, ix = np.searchsorted(ur, rows), np.searchsorted(uc, cols)

        def gcp_grid(values: list[float]) -> np.ndarray:
            out = np.empty((ur.size, uc.size))
            out[iy, ix] = values
            return out

        lines, pixels = ur, uc
        lat, lon, height = gcp_grid([g.y for g in gcps]), gcp_grid([g.x for g in gcps]), gcp_grid([g.z for g in gcps])
        ground = pixels * spacing
        incidence = np.broadcast_to(np.polynomial.polynomial.polyval(ground - inc0, inc_coef), lat.shape)
        grid = RadarGrid(
            swath="ICEYE",
            shape=shape,
            first_azimuth_time=t0,
            azimuth_time_interval=dt,
            first_slant_range_time=2.0 * meta.float("slant_range_to_first_pixel") / c,
            range_sampling_rate=fs,
            projection="ground_range",
            ground_range_spacing=spacing,
            azimuth_pixel_spacing=meta.float("azimuth_spacing"),
            range_pixel_spacing=spacing,
            slant_ground=slant_ground,
        )
        tau = 2.0 * slant_ground.ground_to_slant_range(t_conv[0], ground) / c
        tau = np.broadcast_to(tau, lat.shape)
    else:
        # corners (1-based sample, line, lat, lon) of the full-size product, at the average scene height
        names = ("coord_first_near", "coord_first_far", "coord_center", "coord_last_near", "coord_last_far")
        pts = np.array([meta.floats(n) for n in names])
        pixels_all, lines_all = pts[:, 0] - 1, pts[:, 1] - 1
        # as a 3 x 2 grid would need the centre row: keep the 4 corners as a 2 x 2 grid, centre in metadata
        lines = np.array([lines_all[0], lines_all[3]])
        pixels = np.array([pixels_all[0], pixels_all[1]])
        lat = np.array([[pts[0, 2], pts[1, 2]], [pts[3, 2], pts[4, 2]]])
        lon = np.array([[pts[0, 3], pts[1, 3]], [pts[3, 3], pts[4, 3]]])
        height = np.full(lat.shape, meta.float("avg_scene_height"))
        local = meta.floats("local_incidence_angle")
        incidence = np.array([[np.interp(p, np.arange(local.size), local) for p in pixels]] * 2)
        tau0 = meta.float("first_pixel_time")
        grid = RadarGrid(
            swath="ICEYE",
            shape=shape,
            first_azimuth_time=t0,
            azimuth_time_interval=dt,
            first_slant_range_time=tau0,
            range_sampling_rate=fs,
            projection="slant_range",
            azimuth_pixel_spacing=meta.float("azimuth_ground_spacing"),
            range_pixel_spacing=meta.float("slant_range_spacing"),
        )
        tau = np.broadcast_to(tau0 + pixels / fs, lat.shape)
    dims = ("grid_line", "grid_pixel")
    line_times = t0 + np.rint(lines * dt * 1e9).astype(np.int64).astype("timedelta64[ns]")
    geoloc = xr.Dataset(
        {
            "azimuth_time": (
                dims,
                np.repeat(line_times[:, None], pixels.size, axis=1),
                {"long_name": "zero-Doppler time of the point's line (from the radar grid)"},
            ),
            "slant_range_time": (
                dims,
                np.array(tau),
                {"units": "s", "long_name": "two-way range time of the point's pixel (from the radar grid)"},
            ),
            "latitude": (dims, lat, {"units": "degrees_north"}),
            "longitude": (dims, lon, {"units": "degrees_east"}),
            "height": (dims, height, {"units": "m"}),
            "incidence_angle": (dims, np.array(incidence), {"units": "degree"}),
        },
        coords={"line": ("grid_line", lines), "pixel": ("grid_pixel", pixels)},
        attrs={"source": str(path), "note": "ICEYE ground control points / corners; times derived from the radar grid"},
    )
    # calibration LUT along range (beta0 constant)
    inc_rows = np.asarray(incidence)
    sin_i, cos_i = np.sin(np.radians(inc_rows)), np.cos(np.radians(inc_rows))
    calib = CalibrationLUT(
        lines.astype(float),
        pixels.astype(float),
        {"beta0": np.full(inc_rows.shape, 1 / np.sqrt(cal)), "sigma0": 1 / np.sqrt(cal * sin_i), "gamma0": np.sqrt(cos_i / (cal * sin_i))},
        absolute_constant=cal,
    )
    pol = meta.text("polarization").upper()
    if len(pol) != 2:
        raise CorruptProductError(path, f"unexpected polarization {pol!r}")
    name = meta.text("product_name") if "product_name" in meta else path.stem
    sat = meta.text("satellite_name") if "satellite_name" in meta else "ICEYE"
    acq = Acquisition(
        mission="iceye",
        platform=sat.lower(),
        instrument_mode=meta.text("acquisition_mode"),
        product_type=level,
        polarizations=(pol,),
        start_time=np.datetime64(meta.text("acquisition_start_utc"), "ns"),
        stop_time=np.datetime64(meta.text("acquisition_end_utc"), "ns"),
        absolute_orbit=meta.int("orbit_absolute_number"),
        relative_orbit=meta.int("orbit_relative_number"),
        pass_direction=meta.text("orbit_direction").lower(),
        look_side=meta.text("look_side").lower(),
        radar_frequency=meta.float("carrier_frequency"),
        product_name=name,
        source_path=str(path),
        orbit=orbit,
        swaths={"ICEYE": Swath("ICEYE", grid, (pol,), geoloc)},
        source=IceyeSource(path, level, shape, calib),
        metadata={
            k: (_text(v) if isinstance(v, (bytes, str)) else v) for k, v in meta.values.items() if not k.startswith("_") and np.size(v) < 64
        },
    )
    if not shapely.Polygon(np.column_stack([lon[[0, 0, -1, -1], [0, -1, -1, 0]], lat[[0, 0, -1, -1], [0, -1, -1, 0]]])).is_valid:
        raise CorruptProductError(path, "ICEYE corner coordinates do not form a polygon")
    return acq


__all__ = ["MissingDataError", "is_iceye_tiff", "open_iceye"]
