"""Radar coordinates of a swath: (zero-Doppler time, two-way range time) <-> (line, pixel).

Handles the product conventions recorded in :class:`~alignsar.model.RadarGrid`: the bistatic
azimuth shift (Sentinel-1), ground-range projection (GRD polynomials, interpolated in azimuth time)
and burst-stacked TOPS rasters (a time maps to the burst whose share of the debursted mosaic holds
it). Times here are float seconds relative to the orbit's reference epoch.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..model import SPEED_OF_LIGHT, Orbit, RadarGrid

NS = np.timedelta64(1, "ns")


def _rel(orbit: Orbit, t: np.datetime64) -> float:
    return float((np.datetime64(t, "ns") - orbit.reference_time) / NS * 1e-9)


def line_time(grid: RadarGrid, orbit: Orbit, zero_doppler: npt.ArrayLike, tau: npt.ArrayLike) -> np.ndarray:
    """Annotated line time (s since orbit reference) of targets at zero-Doppler time / range time."""
    t = np.asarray(zero_doppler, dtype=np.float64)
    if grid.bistatic_reference_time is not None:
        t = t - (np.asarray(tau, dtype=np.float64) - grid.bistatic_reference_time) / 2.0
    return t


def zero_doppler_time(grid: RadarGrid, orbit: Orbit, line_t: npt.ArrayLike, tau: npt.ArrayLike) -> np.ndarray:
    """Inverse of :func:`line_time`."""
    t = np.asarray(line_t, dtype=np.float64)
    if grid.bistatic_reference_time is not None:
        t = t + (np.asarray(tau, dtype=np.float64) - grid.bistatic_reference_time) / 2.0
    return t


def time_to_line(grid: RadarGrid, orbit: Orbit, t_line: npt.ArrayLike) -> np.ndarray:
    """Fractional raster line of annotated line times (TOPS: in the burst whose mosaic share holds t)."""
    t = np.asarray(t_line, dtype=np.float64)
    dt = grid.azimuth_time_interval
    if not grid.bursts:
        return (t - _rel(orbit, grid.first_azimuth_time)) / dt
    starts = np.array([_rel(orbit, b.azimuth_time) for b in grid.bursts])
    # share boundaries: middle of the valid overlap between consecutive bursts
    ends = np.array([starts[k] + (b.valid_lines[1] - 1) * dt for k, b in enumerate(grid.bursts)])
    firsts = np.array([starts[k] + b.valid_lines[0] * dt for k, b in enumerate(grid.bursts)])
    cuts = 0.5 * (ends[:-1] + firsts[1:])
    k = np.searchsorted(cuts, t)
    first_line = np.array([b.first_line for b in grid.bursts])
    return first_line[k] + (t - starts[k]) / dt


def line_to_time(grid: RadarGrid, orbit: Orbit, line: npt.ArrayLike) -> np.ndarray:
    """Annotated time (s since orbit reference) of fractional raster lines (burst-aware)."""
    line = np.asarray(line, dtype=np.float64)
    dt = grid.azimuth_time_interval
    if not grid.bursts:
        return _rel(orbit, grid.first_azimuth_time) + line * dt
    lpb = grid.bursts[0].lines
    k = np.clip(np.floor(line / lpb).astype(int), 0, len(grid.bursts) - 1)
    starts = np.array([_rel(orbit, b.azimuth_time) for b in grid.bursts])
    return starts[k] + (line - k * lpb) * dt


def range_to_pixel(grid: RadarGrid, orbit: Orbit, tau: npt.ArrayLike, t_line: npt.ArrayLike) -> np.ndarray:
    """Fractional raster pixel of two-way range times (GRD: through the slant-to-ground polynomials)."""
    tau = np.asarray(tau, dtype=np.float64)
    if grid.projection == "slant_range":
        return (tau - grid.first_slant_range_time) * grid.range_sampling_rate
    assert grid.slant_ground is not None and grid.ground_range_spacing is not None
    offset = _rel(orbit, grid.slant_ground.azimuth_time[0])
    ground = grid.slant_ground.slant_to_ground_range_seconds(np.asarray(t_line) - offset, tau * (SPEED_OF_LIGHT / 2.0))
    return ground / grid.ground_range_spacing


def pixel_to_range(grid: RadarGrid, orbit: Orbit, pixel: npt.ArrayLike, t_line: npt.ArrayLike) -> np.ndarray:
    """Two-way range time (s) of fractional raster pixels."""
    pixel = np.asarray(pixel, dtype=np.float64)
    if grid.projection == "slant_range":
        return grid.first_slant_range_time + pixel / grid.range_sampling_rate
    assert grid.slant_ground is not None and grid.ground_range_spacing is not None
    at = orbit.reference_time + np.rint(np.asarray(t_line) * 1e9).astype(np.int64).astype("timedelta64[ns]")
    slant = grid.slant_ground.ground_to_slant_range(at, pixel * grid.ground_range_spacing)
    return 2.0 * slant / SPEED_OF_LIGHT
