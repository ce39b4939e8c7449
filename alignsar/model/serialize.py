"""JSON (de)serialisation of the acquisition model's metadata (not the pixels).

Times are ISO 8601 strings with nanoseconds; arrays are nested lists. Used by the simulated-product
format and for provenance records.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import xarray as xr

from .calibration import CalibrationLUT
from .grid import Burst, ProcessingSpectrum, RadarGrid, SlantGroundConversion
from .orbit import Orbit

FORMAT_VERSION = 1


def _t(value: Any) -> str:
    return np.datetime_as_string(np.datetime64(value, "ns"), unit="ns")


def _ts(values: Any) -> list[str]:
    return [str(v) for v in np.datetime_as_string(np.asarray(values, dtype="datetime64[ns]"), unit="ns").ravel()]


def orbit_to_dict(orbit: Orbit) -> dict[str, Any]:
    return {
        "time": _ts(orbit.time),
        "position": orbit.position.tolist(),
        "velocity": orbit.velocity.tolist(),
        "source": orbit.source,
        "frame": orbit.frame,
    }


def orbit_from_dict(d: dict[str, Any]) -> Orbit:
    return Orbit(
        np.array(d["time"], dtype="datetime64[ns]"), np.array(d["position"]), np.array(d["velocity"]), source=d["source"], frame=d["frame"]
    )


def grid_to_dict(g: RadarGrid) -> dict[str, Any]:
    out: dict[str, Any] = {
        "swath": g.swath,
        "shape": list(g.shape),
        "first_azimuth_time": _t(g.first_azimuth_time),
        "azimuth_time_interval": g.azimuth_time_interval,
        "first_slant_range_time": g.first_slant_range_time,
        "range_sampling_rate": g.range_sampling_rate,
        "projection": g.projection,
        "ground_range_spacing": g.ground_range_spacing,
        "azimuth_pixel_spacing": g.azimuth_pixel_spacing,
        "range_pixel_spacing": g.range_pixel_spacing,
        "bistatic_reference_time": g.bistatic_reference_time,
        "bursts": [
            {
                "index": b.index,
                "azimuth_time": _t(b.azimuth_time),
                "first_line": b.first_line,
                "lines": b.lines,
                "first_valid_sample": list(b.first_valid_sample),
                "last_valid_sample": list(b.last_valid_sample),
                "azimuth_anx_time": b.azimuth_anx_time,
                "burst_id": b.burst_id,
            }
            for b in g.bursts
        ],
    }
    if g.slant_ground is not None:
        sg = g.slant_ground
        out["slant_ground"] = {
            "azimuth_time": _ts(sg.azimuth_time),
            "sr0": sg.sr0.tolist(),
            "srgr": sg.srgr.tolist(),
            "gr0": sg.gr0.tolist(),
            "grsr": sg.grsr.tolist(),
        }
    return out


def spectrum_to_dict(spectrum: ProcessingSpectrum | None) -> dict[str, float] | None:
    """The processed spectrum (bandwidths in Hz, window coefficients), None when not annotated."""
    return None if spectrum is None else dataclasses.asdict(spectrum)


def spectrum_from_dict(d: dict[str, Any] | None) -> ProcessingSpectrum | None:
    return None if d is None else ProcessingSpectrum(**{k: float(v) for k, v in d.items()})


def grid_from_dict(d: dict[str, Any]) -> RadarGrid:
    sg = d.get("slant_ground")
    return RadarGrid(
        swath=d["swath"],
        shape=(int(d["shape"][0]), int(d["shape"][1])),
        first_azimuth_time=np.datetime64(d["first_azimuth_time"], "ns"),
        azimuth_time_interval=float(d["azimuth_time_interval"]),
        first_slant_range_time=float(d["first_slant_range_time"]),
        range_sampling_rate=float(d["range_sampling_rate"]),
        projection=d["projection"],
        ground_range_spacing=d.get("ground_range_spacing"),
        azimuth_pixel_spacing=d.get("azimuth_pixel_spacing"),
        range_pixel_spacing=d.get("range_pixel_spacing"),
        bistatic_reference_time=d.get("bistatic_reference_time"),
        slant_ground=None
        if sg is None
        else SlantGroundConversion(
            np.array(sg["azimuth_time"], dtype="datetime64[ns]"),
            np.array(sg["sr0"]),
            np.array(sg["srgr"]),
            np.array(sg["gr0"]),
            np.array(sg["grsr"]),
        ),
        bursts=tuple(
            Burst(
                index=b["index"],
                azimuth_time=np.datetime64(b["azimuth_time"], "ns"),
                first_line=b["first_line"],
                lines=b["lines"],
                first_valid_sample=tuple(b["first_valid_sample"]),
                last_valid_sample=tuple(b["last_valid_sample"]),
                azimuth_anx_time=b.get("azimuth_anx_time"),
                burst_id=b.get("burst_id"),
            )
            for b in d.get("bursts", [])
        ),
    )


def dataset_to_dict(ds: xr.Dataset) -> dict[str, Any]:
    """A small Dataset (geolocation grid) as JSON, datetimes as ISO strings."""

    def enc(var: xr.DataArray) -> dict[str, Any]:
        vals = var.values
        data = (
            np.datetime_as_string(vals.astype("datetime64[ns]"), unit="ns").tolist()
            if np.issubdtype(vals.dtype, np.datetime64)
            else vals.tolist()
        )
        return {"dims": list(var.dims), "data": data, "attrs": dict(var.attrs), "datetime": bool(np.issubdtype(vals.dtype, np.datetime64))}

    return {
        "data_vars": {k: enc(v) for k, v in ds.data_vars.items()},
        "coords": {k: enc(v) for k, v in ds.coords.items()},
        "attrs": dict(ds.attrs),
    }


def dataset_from_dict(d: dict[str, Any]) -> xr.Dataset:
    def dec(v: dict[str, Any]) -> tuple[Any, ...]:
        data = np.array(v["data"], dtype="datetime64[ns]") if v.get("datetime") else np.array(v["data"])
        return (tuple(v["dims"]), data, v.get("attrs", {}))

    return xr.Dataset(
        {k: dec(v) for k, v in d["data_vars"].items()},
        coords={k: dec(v) for k, v in d["coords"].items()},
        attrs=d.get("attrs", {}),
    )


def calibration_to_dict(c: CalibrationLUT) -> dict[str, Any]:
    return {
        "line": c.line.tolist(),
        "pixel": c.pixel.tolist(),
        "luts": {k: np.asarray(v).tolist() for k, v in c.luts.items()},
        "absolute_constant": c.absolute_constant,
    }


def calibration_from_dict(d: dict[str, Any]) -> CalibrationLUT:
    return CalibrationLUT(
        np.array(d["line"]), np.array(d["pixel"]), {k: np.array(v) for k, v in d["luts"].items()}, float(d["absolute_constant"])
    )
