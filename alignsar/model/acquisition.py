"""The sensor-agnostic acquisition model that every reader returns and every algorithm consumes.

Readers fill an :class:`Acquisition` with metadata and give it a :class:`ProductSource`, the only
object that knows the file format; pixels are read lazily (dask) through it. Algorithms use the
acquisition's orbit, radar grids, geolocation grids, calibration and :meth:`Acquisition.measurement`
and never see a file.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
import shapely
import shapely.geometry
import xarray as xr

from ..errors import MissingDataError
from .calibration import CALIBRATIONS, CalibrationLUT, CalibrationName, ThermalNoise, ThermalNoiseMode
from .doppler import DopplerParameters
from .grid import SPEED_OF_LIGHT, Burst, ProcessingSpectrum, RadarGrid
from .orbit import Orbit

UNITS = {"sigma0": "m2 m-2", "beta0": "m2 m-2", "gamma0": "m2 m-2"}
LONG_NAMES = {
    "sigma0": "radar backscatter coefficient sigma0 (ellipsoid-normalised, linear)",
    "beta0": "radar brightness beta0 (linear)",
    "gamma0": "radar backscatter coefficient gamma0 (ellipsoid incidence-normalised, linear)",
}


class ProductSource(abc.ABC):
    """What a reader provides for pixels and heavy LUTs (the seam between formats and algorithms)."""

    @abc.abstractmethod
    def open_raster(self, swath: str, pol: str) -> xr.DataArray:
        """The swath raster of ``pol`` as a lazy DataArray with dims ``(line, pixel)`` (raw DN)."""

    @abc.abstractmethod
    def calibration(self, swath: str, pol: str) -> CalibrationLUT:
        """Calibration LUTs of a swath and polarisation (raise :class:`MissingDataError` if absent)."""

    def noise(self, swath: str, pol: str) -> ThermalNoise | None:
        """Thermal-noise LUT of a swath and polarisation, or ``None`` if the product has none."""
        return None


@dataclass(frozen=True, eq=False)
class Swath:
    """One swath (sub-swath / beam) of an acquisition: its radar grid and geolocation grid.

    ``geolocation`` is an ``xarray.Dataset`` with dims ``(grid_line, grid_pixel)``, coords
    ``line`` / ``pixel`` (raster indices) and 2-D variables ``azimuth_time`` (UTC), ``slant_range_time``
    (two-way s), ``latitude`` / ``longitude`` (deg, WGS84), ``height`` (m above the WGS84 ellipsoid),
    ``incidence_angle`` and ``elevation_angle`` (deg): the product's own tie points, one per point.
    ``doppler``: the Doppler centroid and FM rate polynomials (TOPS deramping); ``spectrum``: the
    processed bandwidths and weighting windows (:class:`~alignsar.model.grid.ProcessingSpectrum`),
    when the product annotates them.
    """

    name: str
    grid: RadarGrid
    polarizations: tuple[str, ...]
    geolocation: xr.Dataset
    doppler: DopplerParameters | None = None
    spectrum: ProcessingSpectrum | None = None

    @property
    def incidence_angles(self) -> tuple[float, float, float]:
        """Near, mid and far ellipsoid incidence angle (deg) from the geolocation grid."""
        inc = self.geolocation["incidence_angle"].values
        pix = self.geolocation["pixel"].values
        mid = np.array([np.interp(self.grid.samples / 2, pix, row) for row in inc]).mean()
        return float(np.nanmin(inc)), float(mid), float(np.nanmax(inc))

    @property
    def footprint(self) -> shapely.Polygon:
        """Polygon (lon, lat) around the geolocation grid, counter-clockwise."""
        lon = self.geolocation["longitude"].values
        lat = self.geolocation["latitude"].values
        ring = np.concatenate(
            [
                np.stack([lon[0, :], lat[0, :]], -1),
                np.stack([lon[1:, -1], lat[1:, -1]], -1),
                np.stack([lon[-1, -2::-1], lat[-1, -2::-1]], -1),
                np.stack([lon[-2:0:-1, 0], lat[-2:0:-1, 0]], -1),
            ]
        )
        return shapely.geometry.polygon.orient(shapely.Polygon(ring), 1.0)


@dataclass(frozen=True, eq=False)
class Acquisition:
    """One SAR acquisition: identity, orbit, swaths (radar + geolocation grids), lazy pixels.

    Times are UTC ``datetime64[ns]``; ``radar_frequency`` in Hz; ``wavelength`` in m.
    """

    mission: str
    platform: str
    instrument_mode: str
    product_type: str
    polarizations: tuple[str, ...]
    start_time: np.datetime64
    stop_time: np.datetime64
    absolute_orbit: int | None
    relative_orbit: int | None
    pass_direction: str
    look_side: str
    radar_frequency: float
    product_name: str
    source_path: str
    orbit: Orbit
    swaths: dict[str, Swath]
    source: ProductSource = field(repr=False)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    # ----- identity -------------------------------------------------------------------------------
    @property
    def wavelength(self) -> float:
        """Radar wavelength (m)."""
        return SPEED_OF_LIGHT / self.radar_frequency

    @property
    def swath_names(self) -> tuple[str, ...]:
        return tuple(self.swaths)

    @property
    def footprint(self) -> shapely.Polygon:
        """Union of the swath footprints (lon, lat; EPSG:4326)."""
        polys = [s.footprint for s in self.swaths.values()]
        union = shapely.union_all(polys)
        if not isinstance(union, shapely.Polygon):
            union = union.convex_hull
        return shapely.geometry.polygon.orient(union, 1.0)

    @property
    def incidence_angles(self) -> tuple[float, float, float]:
        """Near, mid and far ellipsoid incidence angle (deg) over all swaths."""
        angles = np.array([s.incidence_angles for s in self.swaths.values()])
        return float(angles[:, 0].min()), float(np.median(angles[:, 1])), float(angles[:, 2].max())

    def swath(self, name: str | None = None) -> Swath:
        """A swath by name (case-insensitive); the only one when ``name`` is None."""
        if name is None:
            if len(self.swaths) != 1:
                raise MissingDataError(self.source_path, f"several swaths {list(self.swaths)}: name one")
            return next(iter(self.swaths.values()))
        for key, value in self.swaths.items():
            if key.upper() == name.upper():
                return value
        raise MissingDataError(self.source_path, f"no swath {name!r} (has {list(self.swaths)})")

    def with_orbit(self, orbit: Orbit) -> Acquisition:
        """A copy whose orbit is ``orbit`` (cropped to the acquisition); e.g. a precise orbit file."""
        from ..errors import GeometryError

        if orbit.start > self.start_time or orbit.stop < self.stop_time:
            raise GeometryError(
                orbit.source, f"orbit {orbit.start} .. {orbit.stop} does not cover the acquisition {self.start_time} .. {self.stop_time}"
            )
        return dataclasses.replace(self, orbit=orbit.crop(self.start_time, self.stop_time))

    # ----- pixels ---------------------------------------------------------------------------------
    def _check_pol(self, pol: str, swath: Swath) -> str:
        pol = pol.upper()
        if pol not in swath.polarizations:
            raise MissingDataError(self.source_path, f"polarisation {pol} not in swath {swath.name} (has {list(swath.polarizations)})")
        return pol

    def calibration_lut(self, pol: str, swath: str | None = None) -> CalibrationLUT:
        sw = self.swath(swath)
        return self.source.calibration(sw.name, self._check_pol(pol, sw))

    def thermal_noise_lut(self, pol: str, swath: str | None = None) -> ThermalNoise:
        sw = self.swath(swath)
        noise = self.source.noise(sw.name, self._check_pol(pol, sw))
        if noise is None:
            raise MissingDataError(self.source_path, f"no thermal-noise annotation for {sw.name} {pol}")
        return noise

    def measurement(
        self,
        pol: str,
        swath: str | None = None,
        *,
        burst: int | None = None,
        calibration: CalibrationName | None = None,
        thermal_noise: ThermalNoiseMode = "keep",
    ) -> xr.DataArray:
        """Lazy (dask) pixels of one polarisation on the swath's radar grid.

        Dims ``(azimuth, range)`` with coords ``azimuth_time`` (UTC), ``slant_range_time`` (two-way
        s; slant-range grids) or ``ground_range`` (m; ground-range grids), and ``line`` / ``pixel``
        (indices into the swath raster). Without ``calibration`` the raw digital numbers (complex
        for SLC). With ``calibration`` in ``sigma0`` / ``beta0`` / ``gamma0`` the calibrated linear
        intensity, float32, optionally with thermal noise removed (see :mod:`.calibration`).
        TOPS (IW / EW) SLC swaths: ``burst=k`` returns burst ``k`` (0-based), otherwise the
        debursted mosaic (each burst contributes up to the middle of its overlap with the next;
        samples outside the valid window are NaN).
        """
        sw = self.swath(swath)
        pol = self._check_pol(pol, sw)
        grid = sw.grid
        raw = self.source.open_raster(sw.name, pol)
        if raw.shape != grid.shape:
            from ..errors import CorruptProductError

            raise CorruptProductError(self.source_path, f"raster {sw.name} {pol} has shape {raw.shape}, annotation says {grid.shape}")
        if grid.is_tops and self.product_type == "SLC":
            arr = _burst_or_mosaic(raw, grid, burst)
        else:
            if burst is not None:
                raise MissingDataError(self.source_path, f"swath {sw.name} has no bursts")
            arr = raw
        arr = _assign_radar_coords(arr, grid)
        arr.attrs.update(
            {
                "swath": sw.name,
                "polarization": pol,
                "product_name": self.product_name,
                "long_name": f"{pol} {'complex ' if np.iscomplexobj(arr.dtype.type(0)) else ''}digital number",
                "units": "1",
            }
        )
        if calibration is None:
            if thermal_noise != "keep":
                raise ValueError("thermal_noise removal needs a calibration (sigma0, beta0 or gamma0)")
            return arr
        if calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {calibration!r}")
        return self._calibrate(arr, sw, pol, calibration, thermal_noise)

    def _calibrate(self, arr: xr.DataArray, sw: Swath, pol: str, name: CalibrationName, thermal_noise: ThermalNoiseMode) -> xr.DataArray:
        lut = self.source.calibration(sw.name, pol)
        if name not in lut.luts:
            raise MissingDataError(self.source_path, f"no {name} calibration LUT for {sw.name} {pol}")
        lines = arr["line"].data
        pixels = arr["pixel"].data
        data = arr.data
        power = (
            (data.real.astype(np.float32) ** 2 + data.imag.astype(np.float32) ** 2)
            if np.iscomplexobj(data.dtype.type(0))
            else data.astype(np.float32) ** 2
        )
        a2 = _outer_lut(lambda ln, px: lut.interpolate(name, ln, px) ** 2, lines, pixels, power.chunks)
        if thermal_noise != "keep":
            noise = self.source.noise(sw.name, pol)
            if noise is None:
                raise MissingDataError(self.source_path, f"no thermal-noise annotation for {sw.name} {pol}")
            power = power - _outer_lut(noise.interpolate, lines, pixels, power.chunks)
            if thermal_noise == "clip":
                power = da.maximum(power, 0.0)
        out = arr.copy(data=(power / a2).astype(np.float32))
        out.name = f"{name}_{pol.lower()}"
        out.attrs.update(
            {
                "units": UNITS[name],
                "long_name": LONG_NAMES[name],
                "calibration": name,
                "thermal_noise": thermal_noise,
                "formula": f"({'|DN|^2 - N' if thermal_noise != 'keep' else '|DN|^2'}) / A_{name}^2",
            }
        )
        return out

    # ----- description ----------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """JSON-ready metadata summary (the ``alignsar info`` output)."""
        near, mid, far = self.incidence_angles
        return {
            "mission": self.mission,
            "platform": self.platform,
            "product_type": self.product_type,
            "mode": self.instrument_mode,
            "polarizations": list(self.polarizations),
            "start_time": _iso(self.start_time),
            "stop_time": _iso(self.stop_time),
            "absolute_orbit": self.absolute_orbit,
            "relative_orbit": self.relative_orbit,
            "pass_direction": self.pass_direction,
            "look_side": self.look_side,
            "radar_frequency_hz": self.radar_frequency,
            "wavelength_m": self.wavelength,
            "product_name": self.product_name,
            "source_path": self.source_path,
            "swaths": list(self.swaths),
            "radar_grids": {name: _grid_info(s) for name, s in self.swaths.items()},
            "incidence_angle_deg": {"near": near, "mid": mid, "far": far},
            "orbit": {
                "source": self.orbit.source,
                "state_vectors": len(self.orbit),
                "start": _iso(self.orbit.start),
                "stop": _iso(self.orbit.stop),
            },
            "footprint": shapely.geometry.mapping(self.footprint),
        }


def _iso(t: np.datetime64) -> str:
    """ISO 8601 UTC with 'Z' and microseconds (nanoseconds if present)."""
    text = np.datetime_as_string(np.datetime64(t, "ns"), unit="ns")
    if text.endswith("000"):
        text = text[:-3]
    return text + "Z"


def _grid_info(sw: Swath) -> dict[str, Any]:
    g = sw.grid
    out: dict[str, Any] = {
        "polarizations": list(sw.polarizations),
        "lines": g.lines,
        "samples": g.samples,
        "projection": g.projection,
        "first_azimuth_time": _iso(g.first_azimuth_time),
        "azimuth_time_interval_s": g.azimuth_time_interval,
        "first_slant_range_time_s": g.first_slant_range_time,
        "range_sampling_rate_hz": g.range_sampling_rate,
        "range_pixel_spacing_m": g.range_pixel_spacing,
        "azimuth_pixel_spacing_m": g.azimuth_pixel_spacing,
        "bursts": len(g.bursts),
    }
    if g.bursts and g.bursts[0].burst_id is not None:
        out["burst_ids"] = [b.burst_id for b in g.bursts]
    return out


def _outer_lut(fn: Any, lines: Any, pixels: Any, chunks: tuple[tuple[int, ...], ...]) -> da.Array:
    """Evaluate ``fn(lines_block, pixels_block) -> 2-D`` lazily on the chunk grid ``chunks``."""
    lines_d = da.from_array(np.asarray(lines, dtype=np.float64), chunks=(chunks[0],))
    pixels_d = da.from_array(np.asarray(pixels, dtype=np.float64), chunks=(chunks[1],))
    return da.blockwise(lambda ln, px: np.asarray(fn(ln, px), dtype=np.float32), "ij", lines_d, "i", pixels_d, "j", dtype=np.float32)


def _assign_radar_coords(arr: xr.DataArray, grid: RadarGrid) -> xr.DataArray:
    lines = arr["line"].values
    pixels = arr["pixel"].values
    if "azimuth_time" not in arr.coords:
        arr = arr.assign_coords(azimuth_time=("line", grid.azimuth_time(lines)))
    if grid.projection == "slant_range":
        arr = arr.assign_coords(slant_range_time=("pixel", grid.slant_range_time(pixels)))
    else:
        arr = arr.assign_coords(ground_range=("pixel", grid.ground_range(pixels)))
    arr = arr.rename({"line": "azimuth", "pixel": "range"})
    return arr.assign_coords(line=("azimuth", lines), pixel=("range", pixels))


def _valid_mask(lines: npt.NDArray[np.int64], first: np.ndarray, last: np.ndarray, n_pix: int, chunks: Any) -> da.Array:
    """Lazy boolean mask of the valid samples (first <= pixel <= last) for raster ``lines``."""
    f = da.from_array(first[lines], chunks=(chunks[0],))
    lst = da.from_array(last[lines], chunks=(chunks[0],))
    pix = da.arange(n_pix, chunks=(chunks[1],))
    return (pix[None, :] >= f[:, None]) & (pix[None, :] <= lst[:, None]) & (f[:, None] >= 0)


def _burst_or_mosaic(raw: xr.DataArray, grid: RadarGrid, burst: int | None) -> xr.DataArray:
    bursts = grid.bursts
    n_lines = grid.lines
    first = np.full(n_lines, -1, dtype=np.int64)
    last = np.full(n_lines, -1, dtype=np.int64)
    for b in bursts:
        first[b.first_line : b.first_line + b.lines] = b.first_valid_sample
        last[b.first_line : b.first_line + b.lines] = b.last_valid_sample
    if burst is not None:
        if not 0 <= burst < len(bursts):
            raise MissingDataError(None, f"burst {burst} out of range 0..{len(bursts) - 1} in {grid.swath}")
        selected = [(bursts[burst], 0, bursts[burst].lines)]
    else:
        selected = _mosaic_plan(bursts, grid.azimuth_time_interval)
    pieces = []
    for b, i0, i1 in selected:
        piece = raw.isel(line=slice(b.first_line + i0, b.first_line + i1))
        pieces.append(piece)
    arr = xr.concat(pieces, dim="line") if len(pieces) > 1 else pieces[0]
    lines = arr["line"].values.astype(np.int64)
    arr = arr.assign_coords(azimuth_time=("line", grid.azimuth_time(lines)))
    mask = _valid_mask(lines, first, last, grid.samples, arr.data.chunks)
    nan = np.array(np.nan, dtype=arr.dtype) if np.iscomplexobj(arr.dtype.type(0)) else np.nan
    return arr.copy(data=da.where(mask, arr.data, nan))


def _mosaic_plan(bursts: tuple[Burst, ...], dt: float) -> list[tuple[Burst, int, int]]:
    """Burst-relative line ranges that tile the swath in azimuth without gaps or repeats: each burst
    gives way to the next at the middle of their valid overlap."""
    plan: list[tuple[Burst, int, int]] = []
    start = bursts[0].valid_lines[0]
    for k, b in enumerate(bursts):
        _v0, v1 = b.valid_lines
        if k + 1 < len(bursts):
            nxt = bursts[k + 1]
            t_end = (b.azimuth_time - bursts[0].azimuth_time) / np.timedelta64(1, "ns") * 1e-9 + (v1 - 1) * dt
            t_next = (nxt.azimuth_time - bursts[0].azimuth_time) / np.timedelta64(1, "ns") * 1e-9 + nxt.valid_lines[0] * dt
            t_b0 = (b.azimuth_time - bursts[0].azimuth_time) / np.timedelta64(1, "ns") * 1e-9
            t_mid = 0.5 * (t_end + t_next)
            stop = int(np.ceil((t_mid - t_b0) / dt))
            stop = min(max(stop, start), v1)
            plan.append((b, start, stop))
            shift = (nxt.azimuth_time - b.azimuth_time) / np.timedelta64(1, "ns") * 1e-9 / dt
            start = max(round(stop - shift), nxt.valid_lines[0])
        else:
            plan.append((b, start, v1))
    return plan
