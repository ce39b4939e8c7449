"""Compiled (numba) inner loops of the geometry engine.

The orbit is passed as the piecewise-polynomial coefficients of :class:`~alignsar.model.Orbit`
(``scipy.interpolate.PPoly`` layout: ``c[k, segment, axis]``, descending powers of ``t - x[segment]``).
"""

from __future__ import annotations

import numba
import numpy as np

from ..model._poly import _segment, slant_to_ground_one


@numba.njit(cache=True, inline="always")
def _horner(c: np.ndarray, seg: int, dt: float, axis: int) -> float:
    acc = 0.0
    for k in range(c.shape[0]):
        acc = acc * dt + c[k, seg, axis]
    return acc


@numba.njit(cache=True, inline="always")
def _newton_point(
    px: float,
    py: float,
    pz: float,
    t: float,
    x: np.ndarray,
    cpos: np.ndarray,
    cvel: np.ndarray,
    cacc: np.ndarray,
    tol: float,
    max_iter: int,
    t_min: float,
    t_max: float,
) -> tuple[float, float, bool]:
    """Zero-Doppler Newton for one ECEF point: (time s, slant range m, converged)."""
    converged = False
    tc = min(max(t, t_min), t_max)
    sx = sy = sz = vx = vy = vz = ax = ay = az = 0.0
    for _ in range(max(max_iter, 1)):
        tc = min(max(t, t_min), t_max)
        seg = _segment(x, tc)
        d = tc - x[seg]
        sx, sy, sz = _horner(cpos, seg, d, 0), _horner(cpos, seg, d, 1), _horner(cpos, seg, d, 2)
        vx, vy, vz = _horner(cvel, seg, d, 0), _horner(cvel, seg, d, 1), _horner(cvel, seg, d, 2)
        ax, ay, az = _horner(cacc, seg, d, 0), _horner(cacc, seg, d, 1), _horner(cacc, seg, d, 2)
        dx, dy, dz = px - sx, py - sy, pz - sz
        f = dx * vx + dy * vy + dz * vz
        fp = dx * ax + dy * ay + dz * az - (vx * vx + vy * vy + vz * vz)
        step = f / fp
        t = tc - step
        # Newton's error after this step is ~ |f''| / (2 |f'|) step^2, f'' ~ -3 V.A
        if abs(step) < tol or 1.5 * abs(vx * ax + vy * ay + vz * az) / abs(fp) * step * step < 0.1 * tol:
            converged = True
            break
    # satellite at the final time by Taylor from the last evaluation (|step| is tiny)
    h1 = t - tc
    dx = px - (sx + vx * h1 + 0.5 * ax * h1 * h1)
    dy = py - (sy + vy * h1 + 0.5 * ay * h1 * h1)
    dz = pz - (sz + vz * h1 + 0.5 * az * h1 * h1)
    return t, np.sqrt(dx * dx + dy * dy + dz * dz), converged and t_min <= t <= t_max


@numba.njit(cache=True, parallel=True)
def zero_doppler_newton(
    points: np.ndarray,
    seed: np.ndarray,
    x: np.ndarray,
    cpos: np.ndarray,
    cvel: np.ndarray,
    cacc: np.ndarray,
    tol: float,
    max_iter: int,
    t_min: float,
    t_max: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-Doppler time (s), slant range (m) and converged flag for ECEF ``points`` (n, 3)."""
    n = points.shape[0]
    t_out = np.empty(n)
    r_out = np.empty(n)
    ok = np.zeros(n, dtype=np.bool_)
    for i in numba.prange(n):
        if not (np.isfinite(points[i, 0]) and np.isfinite(seed[i])):
            t_out[i] = r_out[i] = np.nan
            continue
        t_out[i], r_out[i], ok[i] = _newton_point(
            points[i, 0], points[i, 1], points[i, 2], seed[i], x, cpos, cvel, cacc, tol, max_iter, t_min, t_max
        )
    return t_out, r_out, ok


WGS84_A = 6378137.0
WGS84_E2 = 6.69437999014e-3  # first eccentricity squared (WGS84)


@numba.njit(cache=True, parallel=True)
def geo2rdr_points(
    lon: np.ndarray,
    lat: np.ndarray,
    h: np.ndarray,
    seed: np.ndarray,
    x: np.ndarray,
    cpos: np.ndarray,
    cvel: np.ndarray,
    cacc: np.ndarray,
    tol: float,
    max_iter: int,
    t_min: float,
    t_max: float,
    tau_ref: float,
    t_first: float,
    dt: float,
    tau0: float,
    fs: float,
    ground: bool,
    sg_offset: float,
    sg_nodes: np.ndarray,
    sr0: np.ndarray,
    srgr: np.ndarray,
    gr0: np.ndarray,
    grsr: np.ndarray,
    gr_spacing: float,
) -> np.ndarray:
    """Fused geo2rdr for geodetic points. Returns one (7, n) array: zero-Doppler time t (s),
    two-way range time (s), slant range (m), annotated line time (s; bistatic shift applied when
    ``tau_ref`` is finite), line (NaN when ``t_first`` is NaN: TOPS, resolved by the caller), pixel
    (slant or ground range) and the converged flag (1.0 / 0.0). Unconverged points: NaN line, pixel."""
    n = lon.size
    out = np.empty((7, n))
    c = 299792458.0
    for i in numba.prange(n):
        lo = np.radians(lon[i])
        la = np.radians(lat[i])
        sl = np.sin(la)
        nn = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sl * sl)
        px = (nn + h[i]) * np.cos(la) * np.cos(lo)
        py = (nn + h[i]) * np.cos(la) * np.sin(lo)
        pz = (nn * (1.0 - WGS84_E2) + h[i]) * sl
        t = seed[i]
        if not (np.isfinite(px) and np.isfinite(py) and np.isfinite(pz) and np.isfinite(t)):
            for row in range(6):
                out[row, i] = np.nan
            out[6, i] = 0.0
            continue
        t, r, good = _newton_point(px, py, pz, t, x, cpos, cvel, cacc, tol, max_iter, t_min, t_max)
        tau = 2.0 * r / c
        tl = t - (tau - tau_ref) / 2.0 if np.isfinite(tau_ref) else t
        out[0, i] = t
        out[1, i] = tau
        out[2, i] = r
        out[3, i] = tl
        out[6, i] = 1.0 if good else 0.0
        if not good:
            out[4, i] = np.nan
            out[5, i] = np.nan
            continue
        out[4, i] = (tl - t_first) / dt
        if ground:
            out[5, i] = slant_to_ground_one(tl - sg_offset, r, sg_nodes, sr0, srgr, gr0, grsr) / gr_spacing
        else:
            out[5, i] = (tau - tau0) * fs
    return out
