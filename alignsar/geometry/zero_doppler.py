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

from ..errors import GeometryError
from ..model import SPEED_OF_LIGHT, Acquisition, Orbit, RadarGrid
from .dem import DEM
from .ellipsoid import ecef_to_lonlat, ellipsoid_normal, lonlat_to_ecef
from .radar import line_to_time, pixel_to_range, time_to_line, zero_doppler_time

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


def _orbit_args(orbit: Orbit) -> tuple[Any, ...]:
    """Orbit polynomials for the compiled kernels: breakpoints, position / velocity / acceleration
    coefficients, and the time span (s) solutions may take."""
    pos, vel, acc = orbit._position_poly, orbit._velocity_poly, orbit._acceleration_poly
    return pos.x, np.ascontiguousarray(pos.c), np.ascontiguousarray(vel.c), np.ascontiguousarray(acc.c)


def _newton(orbit: Orbit, points: np.ndarray, t: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-Doppler Newton (compiled kernel) on ECEF points; returns (t, range m, converged)."""
    from ._kernels import zero_doppler_newton

    shape = points.shape[:-1]
    pts = np.ascontiguousarray(points.reshape(-1, 3), dtype=np.float64)
    seed = np.ascontiguousarray(np.broadcast_to(t, shape).reshape(-1), dtype=np.float64)
    t_out, r_out, ok = zero_doppler_newton(pts, seed, *_orbit_args(orbit), tol, max_iter, orbit._t[0] - 1.0, orbit._t[-1] + 1.0)
    return t_out.reshape(shape), r_out.reshape(shape), ok.reshape(shape)


def _seed(orbit: Orbit, points: np.ndarray) -> np.ndarray:
    mid = 0.5 * (orbit._t[0] + orbit._t[-1])
    pos, vel, _ = _state(orbit, np.array(mid))
    return mid + np.einsum("...i,i", points - pos, vel) / float(vel @ vel)


def _interp_matrix(n: int, nodes: np.ndarray) -> np.ndarray:
    """Dense (n, len(nodes)) matrix of linear interpolation weights from ``nodes`` to 0..n-1."""
    i = np.clip(np.searchsorted(nodes, np.arange(n), "right") - 1, 0, nodes.size - 2)
    w = (np.arange(n) - nodes[i]) / (nodes[i + 1] - nodes[i])
    m = np.zeros((n, nodes.size))
    m[np.arange(n), i] = 1 - w
    m[np.arange(n), i + 1] = w
    return m


def _coarse_seed(shape: tuple[int, ...], solve: Any) -> np.ndarray | None:
    """Coarse-to-fine seed on 2-D grids: ``solve(index)`` solves the points at a subsampled index
    (every ``COARSE``-th row / column and the last) and returns (t, ok); the exact coarse times are
    interpolated bilinearly to every point. None when the grid is small or a coarse point failed."""
    if len(shape) != 2 or min(shape) <= 2 * COARSE:
        return None
    ri = np.unique(np.r_[np.arange(0, shape[0], COARSE), shape[0] - 1])
    ci = np.unique(np.r_[np.arange(0, shape[1], COARSE), shape[1] - 1])
    tc, ok = solve(np.ix_(ri, ci))
    if not np.all(ok):
        return None
    return _interp_matrix(shape[0], ri) @ tc @ _interp_matrix(shape[1], ci).T


def solve_zero_doppler(
    orbit: Orbit, points: np.ndarray, tol: float = 1e-10, max_iter: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-Doppler time (s since orbit reference), slant range (m) and converged flag of ECEF points
    (..., 3), coarse-to-fine seeded on 2-D grids."""

    def coarse(index: Any) -> tuple[np.ndarray, np.ndarray]:
        t, _, ok = _newton(orbit, points[index], _seed(orbit, points[index]), tol, max_iter)
        return t, ok

    seed = _coarse_seed(points.shape[:-1], coarse)
    return _newton(orbit, points, _seed(orbit, points) if seed is None else seed, tol, max_iter)


def _kernel_args(grid: RadarGrid, orbit: Orbit, tol: float, max_iter: int) -> tuple[Any, ...]:
    tau_ref = np.nan if grid.bistatic_reference_time is None else grid.bistatic_reference_time
    t_first = np.nan if grid.bursts else float((grid.first_azimuth_time - orbit.reference_time) / np.timedelta64(1, "ns") * 1e-9)
    ground = grid.projection == "ground_range"
    if ground:
        sg = grid.slant_ground
        assert sg is not None and grid.ground_range_spacing is not None
        sg_offset = float((sg.azimuth_time[0] - orbit.reference_time) / np.timedelta64(1, "ns") * 1e-9)
        nodes = (sg.azimuth_time - sg.azimuth_time[0]) / np.timedelta64(1, "ns") * 1e-9
        tables = (nodes, sg.sr0, np.ascontiguousarray(sg.srgr), sg.gr0, np.ascontiguousarray(sg.grsr), float(grid.ground_range_spacing))
    else:
        sg_offset = 0.0
        tables = (np.zeros(1), np.zeros(1), np.zeros((1, 1)), np.zeros(1), np.zeros((1, 1)), 1.0)
    return (
        *_orbit_args(orbit),
        tol,
        max_iter,
        orbit._t[0] - 1.0,
        orbit._t[-1] + 1.0,
        tau_ref,
        t_first,
        grid.azimuth_time_interval,
        grid.first_slant_range_time,
        grid.range_sampling_rate,
        ground,
        sg_offset,
        *tables,
    )


def _geo2rdr_block(
    grid: RadarGrid, orbit: Orbit, lon: np.ndarray, lat: np.ndarray, height: np.ndarray, tol: float, max_iter: int = 12
) -> np.ndarray:
    """(7, *shape) array of (t s, tau s, range m, line time s, line, pixel, converged) for geodetic points."""
    from ._kernels import geo2rdr_points

    lon, lat, height = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64), np.asarray(height, np.float64))
    shape = lon.shape
    args = _kernel_args(grid, orbit, tol, max_iter)

    def run(lo: np.ndarray, la: np.ndarray, h: np.ndarray, seed: np.ndarray) -> np.ndarray:
        flat = [np.ascontiguousarray(v).reshape(-1) for v in (lo, la, h, np.broadcast_to(seed, lo.shape))]
        return geo2rdr_points(*flat, *args).reshape((7, *lo.shape))

    def coarse(index: Any) -> tuple[np.ndarray, np.ndarray]:
        sub = run(lon[index], lat[index], height[index], _seed(orbit, lonlat_to_ecef(lon[index], lat[index], height[index])))
        return sub[0], sub[6] > 0.5

    seed = _coarse_seed(shape, coarse)
    if seed is None:
        seed = _seed(orbit, lonlat_to_ecef(lon, lat, height))
    out = run(lon, lat, height, seed)
    if grid.bursts:
        ok = out[6] > 0.5
        out[4] = np.where(ok, time_to_line(grid, orbit, out[3]), np.nan)
    return out


def _unwrap(x: Any) -> Any:
    return x.data if hasattr(x, "dims") and hasattr(x, "data") else x


def geo2rdr(
    acq: Acquisition,
    lon: npt.ArrayLike | None = None,
    lat: npt.ArrayLike | None = None,
    height: npt.ArrayLike | None = 0.0,
    *,
    ecef: npt.ArrayLike | None = None,
    swath: str | None = None,
    tol: float = 1e-10,
) -> Geo2RdrResult:
    """Zero-Doppler radar coordinates of ground points (lon, lat degrees; height m above WGS84),
    or of ECEF points ``ecef`` (..., 3) in metres.

    Inputs broadcast together; numpy or dask arrays (dask: lazy, block by block, memory bounded by
    the chunk size). Points whose solution leaves the orbit's span get NaN line / pixel and
    ``converged = False``. ``tol``: Newton tolerance on time (s; 1e-10 s = 0.7 um along track).
    """
    grid = acq.swath(swath).grid
    orbit = acq.orbit
    if ecef is not None:
        lon, lat, height = ecef_to_lonlat(np.asarray(_unwrap(ecef), dtype=np.float64))
    elif lon is None or lat is None:
        raise TypeError("geo2rdr needs lon, lat (and height) or ecef")
    lon, lat, height = (_unwrap(v) for v in (lon, lat, height))
    if any(isinstance(v, da.Array) for v in (lon, lat, height)):
        lon, lat, height = da.broadcast_arrays(*(da.asarray(v) for v in (lon, lat, height)))
        stacked = da.map_blocks(
            lambda a, b, c: _geo2rdr_block(grid, orbit, a, b, c, tol),
            lon,
            lat,
            height,
            new_axis=0,
            chunks=((7,), *lon.chunks),
            dtype=np.float64,
        )
        az = da.map_blocks(orbit.datetimes, stacked[0], dtype="datetime64[ns]")
        return Geo2RdrResult(az, stacked[1], stacked[2], stacked[4], stacked[5], stacked[6] > 0.5)
    lon, lat, height = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float), np.asarray(height, float))
    out = _geo2rdr_block(grid, orbit, lon, lat, height, tol)
    return Geo2RdrResult(orbit.datetimes(out[0]), out[1], out[2], out[4], out[5], out[6] > 0.5)


def _dem_height_and_gradient(dem: DEM, lon: np.ndarray, lat: np.ndarray, outside: str = "raise") -> tuple[np.ndarray, np.ndarray]:
    """DEM height (m) and its ECEF gradient (horizontal, m/m) at (lon, lat), by central differences;
    points off the DEM raise (``outside="raise"``) or give NaN heights."""
    step = 1e-5  # deg, ~1 m
    h = dem.height(lon, lat, outside=outside)  # type: ignore[arg-type]
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
