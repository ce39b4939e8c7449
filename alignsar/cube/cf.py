"""CF-1.10 / ACDD-1.3 metadata of cubes: variable attributes, per-date coordinates, global attributes.

Per-date metadata are typed coordinates along ``time`` (strings, integers, floats; -1 = unknown for
integers, NaN for floats), never stringified lists. Coregistration quality per date (the pair
primary -> that date's first acquisition) is kept the same way (``coreg_*``), ready for STAC.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import numpy as np
import xarray as xr

from .. import __version__
from ..coregistration import QualityRecord
from ..model import Acquisition
from .align import ReferenceGrid

SNAP_RESAMPLING = {
    "nearest": "NEAREST_NEIGHBOUR",
    "bilinear": "BILINEAR_INTERPOLATION",
    "bicubic": "CUBIC_CONVOLUTION",
    "cubic6": "CUBIC_CONVOLUTION",
    "sinc": "BISINC_INTERPOLATION",
}

CALIBRATION_NAMES = {
    "sigma0": ("radar backscatter coefficient sigma0 (ground-range area normalisation)", "surface_backwards_scattering_coefficient_of_radar_wave"),
    "beta0": ("radar brightness beta0 (slant-range area normalisation)", None),
    "gamma0": ("radar backscatter coefficient gamma0 (area perpendicular to the look direction)", None),
}


def intensity_attrs(calibration: str | None, pol: str, thermal_noise: str, n: int, aggregation: str) -> dict[str, Any]:
    """Attributes of a calibrated (or raw) intensity."""
    if calibration is None:
        attrs: dict[str, Any] = {"long_name": f"{pol} intensity |DN|^2 (uncalibrated)", "units": "1", "formula": "|DN|^2"}
    else:
        long_name, standard = CALIBRATION_NAMES[calibration]
        attrs = {
            "long_name": f"{pol} {long_name}, linear",
            "units": "1",
            "formula": f"(|DN|^2{' - N' if thermal_noise != 'keep' else ''}) / A_{calibration}^2",
            "calibration": calibration,
            "thermal_noise": thermal_noise,
        }
        if standard:
            attrs["standard_name"] = standard
    attrs["polarization"] = pol
    attrs["scale"] = "linear"
    if n > 1:
        attrs["temporal_aggregation"] = f"{aggregation} of {n} acquisitions"
    return attrs


def db(inten: xr.DataArray) -> xr.DataArray:
    """``10 log10`` of a linear intensity; NaN at or below the dB floor."""
    from ..signatures import to_db

    out = to_db(inten)
    out.attrs.pop("standard_name", None)
    out.attrs["long_name"] = out.attrs["long_name"].replace(", linear in dB", " in dB")
    out.attrs["scale"] = "dB"
    return out


def amplitude(inten: xr.DataArray) -> xr.DataArray:
    """Amplitude ``sqrt(intensity)`` of a linear (calibrated) intensity."""
    out = np.sqrt(inten).astype(np.float32)
    pol = inten.attrs.get("polarization", "")
    out.name = f"amplitude_{pol.lower()}"
    out.attrs = {
        "long_name": f"{pol} amplitude sqrt({inten.name})",
        "units": "1",
        "formula": f"sqrt({inten.name})",
        "polarization": pol,
        "scale": "linear",
    }
    return out


def coherence_attrs(pol: str, window: int, primary: str) -> dict[str, Any]:
    return {
        "pair": f"primary {primary} x this date",
        "note": "NaN on the primary's own date; biased upwards at low coherence for small windows",
        "polarization": pol,
        "window_px": window,
    }


def phase_attrs(pol: str, window: int, primary: str) -> dict[str, Any]:
    return {
        "long_name": f"{pol} interferometric phase, flat-earth and topographic phase removed",
        "units": "rad",
        "formula": "arg <s_primary conj(s) exp(-i phi_geom)>, boxcar",
        "pair": f"primary {primary} x this date",
        "polarization": pol,
        "window_px": window,
        "note": "NaN on the primary's own date",
    }


DATE_COORD_ATTRS: dict[str, dict[str, Any]] = {
    "product_name": {"long_name": "source product of the date (first one if several)"},
    "acquisition_time": {"long_name": "start time of the first acquisition of the date (UTC)"},
    "n_acquisitions": {"long_name": "number of acquisitions combined in the time step", "units": "1"},
    "platform": {"long_name": "platform (satellite)"},
    "mission": {"long_name": "mission"},
    "instrument_mode": {"long_name": "instrument mode"},
    "product_type": {"long_name": "product type"},
    "pass_direction": {"long_name": "orbit pass direction"},
    "absolute_orbit": {"long_name": "absolute orbit number (-1 unknown)", "units": "1"},
    "relative_orbit": {"long_name": "relative orbit number (-1 unknown)", "units": "1"},
    "incidence_angle_mid": {"long_name": "mid-swath ellipsoid incidence angle", "units": "degree"},
    "coreg_method": {"long_name": "coregistration method of the date onto the reference grid"},
    "coreg_gcps_kept": {"long_name": "GCPs kept by the coregistration (0 when none used)", "units": "1"},
    "coreg_rms_azimuth_px": {"long_name": "coregistration residual RMS in azimuth", "units": "pixel"},
    "coreg_rms_range_px": {"long_name": "coregistration residual RMS in range", "units": "pixel"},
    "coreg_mean_offset_azimuth_px": {"long_name": "mean azimuth offset, secondary minus primary", "units": "pixel"},
    "coreg_mean_offset_range_px": {"long_name": "mean range offset, secondary minus primary", "units": "pixel"},
    "coreg_coherence_before": {"long_name": "sample coherence with the primary before resampling", "units": "1"},
    "coreg_coherence_after": {"long_name": "sample coherence with the primary after coregistration", "units": "1"},
}


def _f(x: float | None) -> np.float32:
    return np.float32(np.nan if x is None else x)


def date_coords(acq: Acquisition, step: Any, quality: QualityRecord | None) -> dict[str, Any]:
    """Typed per-date values of a time step (its first acquisition and coregistration record)."""
    q = quality
    return {
        "product_name": acq.product_name,
        "acquisition_time": np.datetime64(acq.start_time, "ns"),
        "n_acquisitions": np.int16(len(step.members)),
        "platform": acq.platform,
        "mission": acq.mission,
        "instrument_mode": acq.instrument_mode,
        "product_type": acq.product_type,
        "pass_direction": acq.pass_direction,
        "absolute_orbit": np.int32(-1 if acq.absolute_orbit is None else acq.absolute_orbit),
        "relative_orbit": np.int32(-1 if acq.relative_orbit is None else acq.relative_orbit),
        "incidence_angle_mid": np.float32(acq.incidence_angles[1]),
        "coreg_method": "reference" if q is None else q.method,
        "coreg_gcps_kept": np.int32(0 if q is None else q.gcps_kept),
        "coreg_rms_azimuth_px": _f(None if q is None else q.residual_rms_azimuth_px),
        "coreg_rms_range_px": _f(None if q is None else q.residual_rms_range_px),
        "coreg_mean_offset_azimuth_px": _f(0.0 if q is None else q.mean_offset_azimuth_px),
        "coreg_mean_offset_range_px": _f(0.0 if q is None else q.mean_offset_range_px),
        "coreg_coherence_before": _f(None if q is None else q.coherence_before),
        "coreg_coherence_after": _f(None if q is None else q.coherence_after),
    }


def finish(ds: xr.Dataset, grid: ReferenceGrid, config: Any, timeline: Any, primary: Acquisition, static: bool = True) -> xr.Dataset:
    """Coordinate attributes and grid mapping (map grids) of a step / first-step dataset."""
    ds["time"].attrs.update({"standard_name": "time", "long_name": "time step start (UTC)", "axis": "T"})
    if grid.kind == "map":
        assert grid.geobox is not None
        ds["y"].attrs.update({"standard_name": "projection_y_coordinate", "long_name": "y of the pixel centre", "units": "m", "axis": "Y"})
        ds["x"].attrs.update({"standard_name": "projection_x_coordinate", "long_name": "x of the pixel centre", "units": "m", "axis": "X"})
        if static:
            ds = ds.rio.write_crs(grid.geobox.crs.to_wkt(), grid_mapping_name="spatial_ref")
            ds = ds.rio.write_transform(grid.geobox.affine, grid_mapping_name="spatial_ref")
        for name, var in ds.data_vars.items():
            if set(grid.dims) <= set(var.dims):
                ds[name].attrs["grid_mapping"] = "spatial_ref"
                ds[name].encoding.pop("grid_mapping", None)
    else:
        ds["line"].attrs.update({"long_name": "line of the primary raster (integer = pixel centre)", "units": "1"})
        ds["pixel"].attrs.update({"long_name": "pixel of the primary raster (integer = pixel centre)", "units": "1"})
    return ds


def global_attrs(config: Any, grid: ReferenceGrid, primary: Acquisition, timeline: Any, members: list[Acquisition]) -> dict[str, Any]:
    """CF / ACDD global attributes."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lons, lats = [], []
    for a in members:
        x0, y0, x1, y1 = a.footprint.bounds
        lons += [x0, x1]
        lats += [y0, y1]
    attrs: dict[str, Any] = {
        "Conventions": "CF-1.10, ACDD-1.3",
        "title": config.title,
        "summary": config.summary or f"SAR datacube of {len({a.product_name for a in members})} acquisitions on a {grid.kind} grid",
        "license": config.license,
        "source": "; ".join(sorted({a.product_name for a in members})),
        "platform": ", ".join(sorted({a.platform for a in members})),
        "instrument": ", ".join(sorted({f"{a.mission} {a.instrument_mode}" for a in members})),
        "processing_software": "alignsar",
        "processing_software_version": __version__,
        "date_created": now,
        "geospatial_lat_min": float(min(lats)),
        "geospatial_lat_max": float(max(lats)),
        "geospatial_lon_min": float(min(lons)),
        "geospatial_lon_max": float(max(lons)),
        "reference_grid": grid.kind,
        "reference_product": primary.product_name,
        "reference_swath": primary.swath(grid.swath).name,
        "radar_frequency_hz": float(primary.radar_frequency),
        "coregistration_method": config.coregistration.method if grid.kind == "radar" else "geocode",
        "alignsar_config": json.dumps(config.model_dump(mode="json")),
        "excluded_products": json.dumps([{"product": i.product_name, "reason": r} for i, r in timeline.excluded]),
    }
    if grid.kind == "map":
        assert grid.geobox is not None
        attrs["crs_wkt"] = grid.geobox.crs.to_wkt()
        attrs["resolution_m"] = float(abs(grid.geobox.resolution.x))
    else:
        attrs["radar_window"] = list(grid.bounds)
    return attrs


__all__ = ["DATE_COORD_ATTRS", "SNAP_RESAMPLING", "amplitude", "date_coords", "db", "finish", "global_attrs", "intensity_attrs"]
