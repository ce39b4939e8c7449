"""geo2rdr and rdr2geo: zero-Doppler range-Doppler geometry on an acquisition's orbit.

``geo2rdr``: ground points -> zero-Doppler time and range by Newton iterations on
``f(t) = (P - S(t)) . V(t)`` with ``f'(t) = (P - S) . A - |V|^2``. Seeding is coarse-to-fine: on
2-D inputs (DEM grids) the exact solution is first computed on a grid subsampled 16x, then
interpolated, so that the full-resolution Newton converges in one or two steps; scattered points
start from the along-track projection at mid-orbit.

``rdr2geo``: radar (line, pixel) + height (DEM or constant) -> (lon, lat, height) by Newton on the
ECEF point with the range sphere, the zero-Doppler plane and the geodetic height (whose gradient is
the ellipsoid normal), iterating on the DEM height.

Times are float seconds relative to the orbit's reference epoch inside; results are UTC
``datetime64[ns]``. Line / pixel are fractional raster indices, integer = pixel centre, following
the product's conventions (see :mod:`.radar`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
from scipy.interpolate import RegularGridInterpolator

from ..errors import GeometryError
from ..model import SPEED_OF_LIGHT, Acquisition, Orbit, RadarGrid
from .dem import DEM
from .ellipsoid import ecef_to_lonlat, ellipsoid_normal, lonlat_to_ecef
from .radar import line_time, line_to_time, pixel_to_range, range_to_pixel, time_to_line, zero_doppler_time

COARSE = 16


@dataclass(frozen=True)
class Geo2RdrResult:
    """Radar coordinates of ground points (numpy or dask arrays of the input shape).

    ``azimuth_time``: zero-Doppler time (UTC datetime64[ns]); ``slant_range_time``: two-way (s);
    ``slant_range`` (m); ``line`` / ``pixel``: fractional indices into the swath raster (integer =
    pixel centre; NaN where the solution left the orbit); ``converged``: Newton met the tolerance.
    """

    azimuth_time: Any
    slant_range_time: Any
    slant_range: Any
    line: Any
    pixel: Any
    converged: Any


@dataclass(frozen=True)
class Rdr2GeoResult:
    """Ground points of radar pixels: lon / lat (deg), height (m above WGS84), converged flag."""

    lon: Any
    lat: Any
    height: Any
    converged: Any


def _state(orbit: Orbit, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = orbit._t[0] - 30.0, orbit._t[-1] + 30.0
    st = orbit.interpolate_seconds(np.clip(t, lo, hi), margin=31.0)
    return st.position, st.velocity, st.acceleration


def _newton(orbit: Orbit, points: np.ndarray, t: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-Doppler Newton; returns (t, range m, converged)."""
    step = np.full(t.shape, np.inf)
    for _ in range(max_iter):
        pos, vel, acc = _state(orbit, t)
        d = points - pos
        f = np.einsum("...i,...i", d, vel)
        fp = np.einsum("...i,...i", d, acc) - np.einsum("...i,...i", vel, vel)
        step = f / fp
        t = t - step
        if np.nanmax(np.abs(step), initial=0.0) < tol:
            break
    # range at the final time: S(t - step) ~ S - V step + A step^2 / 2 (step below tol)
    s = pos - vel * step[..., None] + 0.5 * acc * (step**2)[..., None]
    rng = np.linalg.norm(points - s, axis=-1)
    inside = (t >= orbit._t[0] - 1.0) & (t <= orbit._t[-1] + 1.0)
    return t, rng, (np.abs(step) < tol * 10) & inside


def _seed(orbit: Orbit, points: np.ndarray) -> np.ndarray:
    mid = 0.5 * (orbit._t[0] + orbit._t[-1])
    pos, vel, _ = _state(orbit, np.array(mid))
    return mid + np.einsum("...i,i", points - pos, vel) / float(vel @ vel)


def solve_zero_doppler(
    orbit: Orbit, points: np.ndarray, tol: float = 1e-10, max_iter: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-Doppler time (s since orbit reference), slant range (m) and converged flag of ECEF points
    (..., 3), coarse-to-fine seeded on 2-D grids."""
    shape = points.shape[:-1]
    if len(shape) == 2 and min(shape) > 2 * COARSE:
        ri = np.unique(np.r_[np.arange(0, shape[0], COARSE), shape[0] - 1])
        ci = np.unique(np.r_[np.arange(0, shape[1], COARSE), shape[1] - 1])
        coarse = points[np.ix_(ri, ci)]
        tc, _, ok = _newton(orbit, coarse, _seed(orbit, coarse), tol, max_iter)
        if ok.all():
            rr, cc = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
            seed = RegularGridInterpolator((ri, ci), tc)(np.stack([rr, cc], -1))
            return _newton(orbit, points, seed, tol, max_iter)
    return _newton(orbit, points, _seed(orbit, points), tol, max_iter)


def _geo2rdr_block(grid: RadarGrid, orbit: Orbit, lon: np.ndarray, lat: np.ndarray, height: np.ndarray, tol: float) -> np.ndarray:
    pts = lonlat_to_ecef(lon, lat, height)
    t, rng, ok = solve_zero_doppler(orbit, pts, tol=tol)
    tau = 2.0 * rng / SPEED_OF_LIGHT
    tl = line_time(grid, orbit, t, tau)
    line = time_to_line(grid, orbit, tl)
    pixel = range_to_pixel(grid, orbit, tau, tl)
    line = np.where(ok, line, np.nan)
    pixel = np.where(ok, pixel, np.nan)
    return np.stack([t, tau, rng, line, pixel, ok.astype(np.float64)])


def _unwrap(x: Any) -> Any:
    return x.data if hasattr(x, "dims") and hasattr(x, "data") else x


def geo2rdr(
    acq: Acquisition,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    height: npt.ArrayLike,
    *,
    swath: str | None = None,
    tol: float = 1e-10,
) -> Geo2RdrResult:
    """Zero-Doppler radar coordinates of ground points (lon, lat degrees; height m above WGS84).

    Inputs broadcast together; numpy or dask arrays (dask: lazy, block by block, memory bounded by
    the chunk size). Points whose solution leaves the orbit's span get NaN line / pixel and
    ``converged = False``. ``tol``: Newton tolerance on time (s; 1e-10 s = 0.7 um along track).
    """
    grid = acq.swath(swath).grid
    orbit = acq.orbit
    lon, lat, height = (_unwrap(v) for v in (lon, lat, height))
    if any(isinstance(v, da.Array) for v in (lon, lat, height)):
        lon, lat, height = da.broadcast_arrays(*(da.asarray(v) for v in (lon, lat, height)))
        stacked = da.map_blocks(
            lambda a, b, c: _geo2rdr_block(grid, orbit, a, b, c, tol),
            lon,
            lat,
            height,
            new_axis=0,
            chunks=((6,), *lon.chunks),
            dtype=np.float64,
        )
        t = stacked[0]
        az = da.map_blocks(orbit.datetimes, t, dtype="datetime64[ns]")
        return Geo2RdrResult(az, stacked[1], stacked[2], stacked[3], stacked[4], stacked[5] > 0.5)
    lon, lat, height = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float), np.asarray(height, float))
    out = _geo2rdr_block(grid, orbit, lon, lat, height, tol)
    return Geo2RdrResult(orbit.datetimes(out[0]), out[1], out[2], out[3], out[4], out[5] > 0.5)


def _dem_height_and_gradient(dem: DEM, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DEM height (m) and its ECEF gradient (horizontal, m/m) at (lon, lat), by central differences."""
    step = 1e-5  # deg, ~1 m
    h = dem.height(lon, lat)
    dh_dlon = (dem.height(lon + step, lat, outside="nan") - dem.height(lon - step, lat, outside="nan")) / (2 * step)
    dh_dlat = (dem.height(lon, lat + step, outside="nan") - dem.height(lon, lat - step, outside="nan")) / (2 * step)
    metres = np.radians(1.0) * 6378137.0
    de = np.nan_to_num(dh_dlon / (metres * np.cos(np.radians(lat))))
    dn = np.nan_to_num(dh_dlat / metres)
    lo, la = np.radians(lon), np.radians(lat)
    east = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], -1)
    north = np.stack([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)], -1)
    return h, de[..., None] * east + dn[..., None] * north


def rdr2geo(
    acq: Acquisition,
    line: npt.ArrayLike,
    pixel: npt.ArrayLike,
    *,
    dem: DEM | None = None,
    height: float | npt.ArrayLike = 0.0,
    swath: str | None = None,
    tol: float = 1e-4,
    max_iter: int = 30,
) -> Rdr2GeoResult:
    """Ground point (lon, lat, ellipsoidal height) of radar pixels (fractional line, pixel).

    With ``dem`` the point lies on the DEM surface (iterating on the DEM height; a point off the DEM
    raises :class:`GeometryError`); otherwise at ``height`` m above the ellipsoid. ``tol`` in metres.
    """
    sw = acq.swath(swath)
    grid, orbit = sw.grid, acq.orbit
    line, pixel = np.broadcast_arrays(np.asarray(_unwrap(line), float), np.asarray(_unwrap(pixel), float))
    tl = line_to_time(grid, orbit, line)
    tau = pixel_to_range(grid, orbit, pixel, tl)
    t = zero_doppler_time(grid, orbit, tl, tau)
    rng = tau * SPEED_OF_LIGHT / 2.0
    pos, vel, _ = _state(orbit, t)
    vhat = vel / np.linalg.norm(vel, axis=-1, keepdims=True)
    # initial point: on a sphere of the local Earth radius (+ height) at the right range, right side
    _, _, h_sat = ecef_to_lonlat(pos)
    rho = np.linalg.norm(pos, axis=-1)
    h0 = np.broadcast_to(np.asarray(height, float), line.shape) if dem is None else np.full(line.shape, float(np.nanmean(dem.heights)))
    earth = rho - h_sat + h0
    cos_look = np.clip((rho**2 + rng**2 - earth**2) / (2 * rho * rng), -1, 1)
    up = pos / rho[..., None]
    side = np.cross(-up, vhat)
    if acq.look_side == "left":
        side = -side
    side /= np.linalg.norm(side, axis=-1, keepdims=True)
    p = pos + rng[..., None] * (-up * cos_look[..., None] + side * np.sqrt(1 - cos_look**2)[..., None])
    ok = np.zeros(line.shape, dtype=bool)
    for _ in range(max_iter):
        lon, lat, h = ecef_to_lonlat(p)
        normal = ellipsoid_normal(lon, lat)
        if dem is None:
            target_h, grad = h0, 0.0
        else:
            target_h, grad = _dem_height_and_gradient(dem, lon, lat)
        d = p - pos
        dist = np.linalg.norm(d, axis=-1)
        f = np.stack([dist - rng, np.einsum("...i,...i", d, vhat), h - target_h], -1)
        jac = np.stack([d / dist[..., None], vhat, normal - grad], -2)
        dp = np.linalg.solve(jac, -f[..., None])[..., 0]
        p = p + dp
        ok = np.linalg.norm(dp, axis=-1) < tol
        if ok.all():
            break
    lon, lat, h = ecef_to_lonlat(p)
    if not np.isfinite(lon).all():
        raise GeometryError(acq.source_path, "rdr2geo produced non-finite coordinates")
    return Rdr2GeoResult(lon, lat, h, ok)
