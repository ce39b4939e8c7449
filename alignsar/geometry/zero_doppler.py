"""geo2rdr and rdr2geo: zero-Doppler range-Doppler geometry on an acquisition's orbit.

``geo2rdr``: ground points -> zero-Doppler time and range by Newton iterations on
``f(t) = (P - S(t)) . V(t)`` with ``f'(t) = (P - S) . A - |V|^2``, in one compiled pass per block
(geodetic -> ECEF, Newton, slant range; :func:`._kernels.geo2rdr_grid`). On 2-D inputs (DEM grids)
each point starts from the linear extrapolation of its neighbours' solutions (the two rows above,
else the two previous points of its row), so that one Newton step converges; the first points and
scattered points start from the along-track projection at mid-orbit. A regular lon / lat grid
(broadcast rows / columns) does its trigonometry once per row and column. Line / pixel (GRD: exact
inversion of the ground-to-slant-range polynomial) are derived from (time, range) only when asked
for (dask: lazily per block; numpy: eagerly). ``solve_zero_doppler`` (ECEF points) seeds
coarse-to-fine: on 2-D inputs the exact solution is first computed on a grid subsampled 16x, then
interpolated.

``rdr2geo``: radar (line, pixel) + height (DEM or constant) -> (lon, lat, height) by Newton on the
ECEF point with the range sphere, the zero-Doppler plane and the geodetic height (whose gradient is
the ellipsoid normal), iterating on the DEM height.

Times are float seconds relative to the orbit's reference epoch inside; results are UTC
``datetime64[ns]``. Line / pixel are fractional raster indices, integer = pixel centre, following
the product's conventions (see :mod:`.radar`).
"""

from __future__ import annotations

import itertools
import operator
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt

from ..errors import GeometryError
from ..model import SPEED_OF_LIGHT, Acquisition, Orbit, RadarGrid
from .dem import DEM
from .ellipsoid import ecef_to_lonlat, ellipsoid_normal
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


def _newton(orbit: Orbit, points: np.ndarray, t: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-Doppler Newton (compiled kernel) on ECEF points; returns (t, range m, converged)."""
    from ._kernels import zero_doppler_newton

    shape = points.shape[:-1]
    pts = np.ascontiguousarray(points.reshape(-1, 3), dtype=np.float64)
    seed = np.ascontiguousarray(np.broadcast_to(t, shape).reshape(-1), dtype=np.float64)
    t_out, r_out, ok = zero_doppler_newton(
        pts, seed, orbit._position_poly.x, _merged_coefficients(orbit), tol, max_iter, orbit._t[0] - 1.0, orbit._t[-1] + 1.0
    )
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


def _merged_coefficients(orbit: Orbit) -> np.ndarray:
    """Orbit position / velocity / acceleration polynomials merged for :func:`geo2rdr_grid`:
    ``coef[segment, k, 9]`` (x, y, z of each), descending powers, zero-padded on top to a common
    order (a leading zero leaves Horner's result bit-identical)."""
    polys = (orbit._position_poly.c, orbit._velocity_poly.c, orbit._acceleration_poly.c)
    k = max(c.shape[0] for c in polys)
    coef = np.zeros((polys[0].shape[1], k, 9))
    for n, c in enumerate(polys):
        coef[:, k - c.shape[0] :, 3 * n : 3 * n + 3] = c.transpose(1, 0, 2)
    return coef


@dataclass(frozen=True)
class _Geo2RdrPlan:
    """What the per-block kernels need: orbit (merged polynomials, mid-orbit state for seeding, span
    in s) and the radar grid (timing, range sampling, slant/ground-range tables)."""

    x: np.ndarray
    coef: np.ndarray
    mid: np.ndarray
    t_min: float
    t_max: float
    tol: float
    max_iter: int
    ref_ns: int
    index_args: tuple[Any, ...]
    bursts: bool

    @classmethod
    def build(cls, grid: RadarGrid, orbit: Orbit, tol: float, max_iter: int = 12) -> _Geo2RdrPlan:
        mid_t = 0.5 * (orbit._t[0] + orbit._t[-1])
        pos, vel, _ = _state(orbit, np.array(mid_t))
        tau_ref = np.nan if grid.bistatic_reference_time is None else grid.bistatic_reference_time
        t_first = np.nan if grid.bursts else float((grid.first_azimuth_time - orbit.reference_time) / np.timedelta64(1, "ns") * 1e-9)
        ground = grid.projection == "ground_range"
        if ground:
            sg = grid.slant_ground
            assert sg is not None and grid.ground_range_spacing is not None
            sg_offset = float((sg.azimuth_time[0] - orbit.reference_time) / np.timedelta64(1, "ns") * 1e-9)
            nodes = np.ascontiguousarray((sg.azimuth_time - sg.azimuth_time[0]) / np.timedelta64(1, "ns") * 1e-9)
            tables: tuple[Any, ...] = (
                nodes,
                np.ascontiguousarray(sg.sr0, dtype=np.float64),
                np.ascontiguousarray(sg.srgr, dtype=np.float64),
                np.ascontiguousarray(sg.gr0, dtype=np.float64),
                np.ascontiguousarray(sg.grsr, dtype=np.float64),
                float(grid.ground_range_spacing),
            )
        else:
            sg_offset = 0.0
            tables = (np.zeros(1), np.zeros(1), np.zeros((1, 1)), np.zeros(1), np.zeros((1, 1)), 1.0)
        index_args = (
            float(tau_ref),
            t_first,
            float(grid.azimuth_time_interval),
            float(grid.first_slant_range_time),
            float(grid.range_sampling_rate),
            ground,
            sg_offset,
            *tables,
        )
        return cls(
            x=np.ascontiguousarray(orbit._position_poly.x, dtype=np.float64),
            coef=_merged_coefficients(orbit),
            mid=np.array([mid_t, *np.ravel(pos), *np.ravel(vel)]),
            t_min=float(orbit._t[0] - 1.0),
            t_max=float(orbit._t[-1] + 1.0),
            tol=float(tol),
            max_iter=int(max_iter),
            ref_ns=int(orbit.reference_time.astype("datetime64[ns]").astype(np.int64)),
            index_args=index_args,
            bursts=bool(grid.bursts),
        )


def _collapse(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` reduced to length 1 along ``axis`` when constant along it (broadcast views: free)."""
    if a.shape[axis] > 1:
        first = a[:1] if axis == 0 else a[:, :1]
        if a.strides[axis] == 0:
            return first
        second = a[1:2] if axis == 0 else a[:, 1:2]
        if np.array_equal(first, second) and bool(np.all(a == first)):
            return first
    return a


def _as_grid(lon: np.ndarray, lat: np.ndarray, height: np.ndarray) -> tuple[tuple[int, ...], int, bool, np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (broadcast together) as the 2-D operands of :func:`geo2rdr_grid`: (shape, points,
    whether neighbours seed each other (grids: 2-D and more), lon, lat, height). N-d inputs fold
    their leading axes into rows; long 1-D point lists are cut into NaN-padded rows of 1024 (rows
    run in parallel). A regular grid keeps lon as one row and lat as one column; broadcast
    (stride 0) axes are not materialised."""
    lon, lat, height = np.broadcast_arrays(lon, lat, height)
    shape = lon.shape
    n = lon.size
    if lon.ndim >= 2:
        rows, cols = n // max(shape[-1], 1), shape[-1]
        ops = [v if v.ndim == 2 else v.reshape(rows, cols) for v in (lon, lat, height)]
    elif n > 2048:
        cols = 1024
        rows = -(-n // cols)
        ops = [np.concatenate([np.ravel(v), np.full(rows * cols - n, np.nan)]).reshape(rows, cols) for v in (lon, lat, height)]
    else:
        ops = [np.reshape(v, (1, max(n, 1))) if n else np.zeros((1, 0)) for v in (lon, lat, height)]
    lo, la, hh = ops
    lo = _collapse(lo, 0)
    la = _collapse(la, 1)
    hh = _collapse(_collapse(hh, 0), 1)
    lo, la = (np.ascontiguousarray(v, dtype=np.float64) for v in (lo, la))
    hh = np.ascontiguousarray(hh, dtype=np.float32 if hh.dtype == np.float32 else np.float64)
    return shape, n, len(shape) >= 2, lo, la, hh


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _bands(rows: int, cols: int, threaded: bool) -> list[slice]:
    """Row bands for running the (GIL-releasing) kernels in threads: one band unless ``threaded``
    and the grid is large."""
    n = 1
    if threaded and rows * cols >= 1 << 16:
        n = min(rows, 4 * _cpus())
    edges = np.linspace(0, rows, n + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _run_bands(fn: Any, bands: list[slice]) -> None:
    if len(bands) <= 1:
        for band in bands:
            fn(band)
        return
    with ThreadPoolExecutor(max_workers=min(_cpus(), len(bands))) as pool:
        list(pool.map(fn, bands))


def _rows(a: np.ndarray, band: slice) -> np.ndarray:
    return a[band] if a.shape[0] > 1 else a


def _geo2rdr_core(plan: _Geo2RdrPlan, lon: Any, lat: Any, height: Any, threaded: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-Doppler time (s since the orbit reference), slant range (m) and converged flag of
    geodetic points (lon, lat deg, height m above WGS84; any broadcastable shapes), in the
    broadcast shape; ``threaded``: row bands in a thread pool (off inside dask tasks)."""
    from ._kernels import geo2rdr_grid

    shape, n, neighbours, lo, la, hh = _as_grid(np.asarray(lon), np.asarray(lat), np.asarray(height))
    rows, cols = max(lo.shape[0], la.shape[0], hh.shape[0]), max(lo.shape[1], la.shape[1], hh.shape[1])
    t, r, ok = np.empty((rows, cols)), np.empty((rows, cols)), np.empty((rows, cols), dtype=bool)

    def band(b: slice) -> None:
        geo2rdr_grid(
            _rows(lo, b),
            _rows(la, b),
            _rows(hh, b),
            plan.x,
            plan.coef,
            plan.mid,
            plan.tol,
            plan.max_iter,
            plan.t_min,
            plan.t_max,
            neighbours,
            t[b],
            r[b],
            ok[b],
        )

    _run_bands(band, _bands(rows, cols, threaded))
    if t.size != n:
        t, r, ok = (v.reshape(-1)[:n] for v in (t, r, ok))
    return t.reshape(shape), r.reshape(shape), ok.reshape(shape)


def _as_2d(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1, a.shape[-1] if a.ndim >= 2 else max(a.size, 1))


def _azimuth_time(plan: _Geo2RdrPlan, core: tuple[np.ndarray, ...], threaded: bool = True) -> np.ndarray:
    """UTC ``datetime64[ns]`` of core times (s since the orbit reference), rounded to the ns."""
    from ._kernels import seconds_to_ns

    t = core[0]
    if t.size == 0:
        return np.empty(t.shape, dtype="datetime64[ns]")
    t2 = _as_2d(t)
    out = np.empty(t2.shape, dtype=np.int64)
    _run_bands(lambda b: seconds_to_ns(t2[b], plan.ref_ns, out[b]), _bands(*t2.shape, threaded))
    return out.reshape(t.shape).view("datetime64[ns]")


def _range_time(core: tuple[np.ndarray, ...]) -> np.ndarray:
    """Two-way slant range time (s) of core slant ranges."""
    return 2.0 * core[1] / SPEED_OF_LIGHT


def _indices(
    grid: RadarGrid, orbit: Orbit, plan: _Geo2RdrPlan, core: tuple[np.ndarray, ...], which: int, threaded: bool = True
) -> np.ndarray:
    """Line (``which`` = 0) or pixel (1) of core results (fractional raster indices; NaN where not
    converged). TOPS lines go through the burst mosaic (:func:`.radar.time_to_line`)."""
    from ._kernels import radar_indices

    t, r, ok = core
    if t.size == 0:
        return np.full(t.shape, np.nan)
    t2, r2, ok2 = (_as_2d(v) for v in (t, r, ok))
    out = np.empty(t2.shape)
    skip = np.empty((0, 0))

    def band(b: slice) -> None:
        line, pixel = (out[b], skip) if which == 0 else (skip, out[b])
        radar_indices(t2[b], r2[b], ok2[b], *plan.index_args, line, pixel)

    if which == 0 and plan.bursts:
        tau_ref = plan.index_args[0]
        tl = t - (_range_time(core) - tau_ref) / 2.0 if np.isfinite(tau_ref) else t
        return np.where(ok, time_to_line(grid, orbit, tl), np.nan)
    _run_bands(band, _bands(*t2.shape, threaded))
    return out.reshape(t.shape)


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
    the chunk size; each output is derived from one shared per-block solve, and only the outputs
    computed are materialised; numpy: row bands in threads). On a regular grid pass lon as a row
    (1, nx) and lat as a column (ny, 1): they are broadcast without being materialised, and the
    trigonometry runs once per row / column. Points whose solution leaves the orbit's span get NaN
    line / pixel and ``converged = False``. ``tol``: Newton tolerance on time (s; 1e-10 s = 0.7 um
    along track).
    """
    grid = acq.swath(swath).grid
    orbit = acq.orbit
    if ecef is not None:
        lon, lat, height = ecef_to_lonlat(np.asarray(_unwrap(ecef), dtype=np.float64))
    elif lon is None or lat is None:
        raise TypeError("geo2rdr needs lon, lat (and height) or ecef")
    lon, lat, height = (_unwrap(v) for v in (lon, lat, height))
    plan = _Geo2RdrPlan.build(grid, orbit, tol)
    if any(isinstance(v, da.Array) for v in (lon, lat, height)):
        lon, lat, height = da.broadcast_arrays(*(da.asarray(v) for v in (lon, lat, height)))
        nd = lon.ndim
        # one task per block solves (t, range, converged) and returns the tuple; every output is
        # a light task picking / deriving from it, so only the outputs computed get materialised
        core = da.map_blocks(
            lambda a, b, c: _geo2rdr_core(plan, a, b, c, threaded=False), lon, lat, height, dtype=np.float64, meta=np.empty((0,) * nd)
        )

        def derived(fn: Any, dtype: Any) -> da.Array:
            return da.map_blocks(fn, core, dtype=dtype, meta=np.empty((0,) * nd, dtype=dtype))

        return Geo2RdrResult(
            derived(lambda c: _azimuth_time(plan, c, threaded=False), "datetime64[ns]"),
            derived(_range_time, np.float64),
            derived(operator.itemgetter(1), np.float64),
            derived(lambda c: _indices(grid, orbit, plan, c, 0, threaded=False), np.float64),
            derived(lambda c: _indices(grid, orbit, plan, c, 1, threaded=False), np.float64),
            derived(operator.itemgetter(2), bool),
        )
    height = np.asarray(height)
    core = _geo2rdr_core(
        plan, np.asarray(lon, float), np.asarray(lat, float), height if height.dtype == np.float32 else height.astype(float)
    )
    return Geo2RdrResult(
        _azimuth_time(plan, core),
        _range_time(core),
        core[1],
        _indices(grid, orbit, plan, core, 0),
        _indices(grid, orbit, plan, core, 1),
        core[2],
    )


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
