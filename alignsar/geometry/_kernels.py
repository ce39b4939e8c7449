"""Compiled (numba) inner loops of the geometry engine.

The orbit is passed as the breakpoints ``x`` (s) of the piecewise polynomials of
:class:`~alignsar.model.Orbit` and their coefficients merged as ``coef[segment, k, 9]`` (position m,
velocity m/s, acceleration m/s^2; x, y, z each; descending powers of ``t - x[segment]``) so that the
nine Horner chains of a state run interleaved.
"""

from __future__ import annotations

import numba
import numpy as np

from ..model._poly import _segment, slant_to_ground_seeded

WGS84_A = 6378137.0
WGS84_E2 = 6.69437999014e-3  # first eccentricity squared (WGS84)


@numba.njit(cache=True, inline="always")
def _state9(coef: np.ndarray, seg: int, d: float) -> tuple[float, float, float, float, float, float, float, float, float]:
    """Position (m), velocity (m/s), acceleration (m/s^2) at ``d`` s into segment ``seg`` of the
    merged coefficients ``coef[seg, k, 9]`` (descending powers; zero-padded on top): the nine
    Horner chains run interleaved."""
    sx = sy = sz = vx = vy = vz = ax = ay = az = 0.0
    for k in range(coef.shape[1]):
        sx = sx * d + coef[seg, k, 0]
        sy = sy * d + coef[seg, k, 1]
        sz = sz * d + coef[seg, k, 2]
        vx = vx * d + coef[seg, k, 3]
        vy = vy * d + coef[seg, k, 4]
        vz = vz * d + coef[seg, k, 5]
        ax = ax * d + coef[seg, k, 6]
        ay = ay * d + coef[seg, k, 7]
        az = az * d + coef[seg, k, 8]
    return sx, sy, sz, vx, vy, vz, ax, ay, az


@numba.njit(cache=True, inline="always")
def _newton9(
    px: float,
    py: float,
    pz: float,
    t: float,
    x: np.ndarray,
    coef: np.ndarray,
    seg: int,
    tol: float,
    max_iter: int,
    t_min: float,
    t_max: float,
) -> tuple[float, float, bool, int, float]:
    """Zero-Doppler Newton for one ECEF point on merged coefficients, starting the segment search from
    ``seg`` (the segment of a neighbouring point; any valid index otherwise). Returns (time s,
    slant range m, converged, segment, last f' m^2/s^2)."""
    converged = False
    tc = min(max(t, t_min), t_max)
    sx = sy = sz = vx = vy = vz = ax = ay = az = 0.0
    for _ in range(max(max_iter, 1)):
        tc = min(max(t, t_min), t_max)
        if not (x[seg] <= tc < x[seg + 1]):
            seg = _segment(x, tc)
        d = tc - x[seg]
        sx, sy, sz, vx, vy, vz, ax, ay, az = _state9(coef, seg, d)
        dx, dy, dz = px - sx, py - sy, pz - sz
        f = dx * vx + dy * vy + dz * vz
        fp = dx * ax + dy * ay + dz * az - (vx * vx + vy * vy + vz * vz)
        step = f / fp
        t = tc - step
        if abs(step) < tol or 1.5 * abs(vx * ax + vy * ay + vz * az) / abs(fp) * step * step < 0.1 * tol:
            converged = True
            break
    h1 = t - tc
    dx = px - (sx + vx * h1 + 0.5 * ax * h1 * h1)
    dy = py - (sy + vy * h1 + 0.5 * ay * h1 * h1)
    dz = pz - (sz + vz * h1 + 0.5 * az * h1 * h1)
    return t, np.sqrt(dx * dx + dy * dy + dz * dz), converged and t_min <= t <= t_max, seg, fp


@numba.njit(cache=True, inline="always")
def _light_step(
    px: float, py: float, pz: float, t: float, fp: float, x: np.ndarray, coef: np.ndarray, seg: int
) -> tuple[float, float, float, int]:
    """One Newton step from an excellent seed ``t`` (s) with the derivative ``fp`` (m^2/s^2) of a
    neighbouring point: only position and velocity are evaluated. With a step of ~1e-11 s the
    relative error of ``fp`` (< 1e-3) and the acceleration term of the range (~1e-21 m) vanish.
    Returns (time s, slant range m, step s, segment)."""
    if not (x[seg] <= t < x[seg + 1]):
        seg = _segment(x, t)
    d = t - x[seg]
    sx = sy = sz = vx = vy = vz = 0.0
    for k in range(coef.shape[1]):
        sx = sx * d + coef[seg, k, 0]
        sy = sy * d + coef[seg, k, 1]
        sz = sz * d + coef[seg, k, 2]
        vx = vx * d + coef[seg, k, 3]
        vy = vy * d + coef[seg, k, 4]
        vz = vz * d + coef[seg, k, 5]
    dx, dy, dz = px - sx, py - sy, pz - sz
    step = (dx * vx + dy * vy + dz * vz) / fp
    dx += vx * step
    dy += vy * step
    dz += vz * step
    return t - step, np.sqrt(dx * dx + dy * dy + dz * dz), step, seg


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def geo2rdr_grid(
    lon: np.ndarray,
    lat: np.ndarray,
    h: np.ndarray,
    x: np.ndarray,
    coef: np.ndarray,
    mid: np.ndarray,
    tol: float,
    max_iter: int,
    t_min: float,
    t_max: float,
    neighbours: bool,
    t_out: np.ndarray,
    r_out: np.ndarray,
    ok: np.ndarray,
) -> None:
    """Zero-Doppler time ``t_out`` (s), slant range ``r_out`` (m) and converged flag ``ok`` of
    geodetic points on a 2-D grid (outputs filled in place, shape (rows, cols)).

    ``lon``, ``lat`` (deg) and ``h`` (m above WGS84) are 2-D and broadcast to the output shape
    (each axis of length 1 or full): a regular grid passes lon as (1, cols) and lat as (rows, 1), so
    the trigonometry runs once per column / row. With ``neighbours`` (grids), each Newton starts
    from the linear extrapolation of the solutions of the two rows above: then one light step
    (:func:`_light_step`) converges on DEM grids, and consecutive points do not wait for each
    other; else from the two previous points of the row. The first points (or after a gap), and all
    points without ``neighbours`` (scattered inputs), start from the along-track projection on the
    state ``mid`` = (t s, position m, velocity m/s). A point that fails from an extrapolated seed
    is retried from the projection. Non-finite inputs give NaN time and range. Releases the GIL
    (callers run row bands in threads)."""
    rows, cols = t_out.shape
    col_trig = lon.shape[0] == 1
    clo = np.empty(lon.shape[1] if col_trig else 0)
    slo = np.empty(lon.shape[1] if col_trig else 0)
    if col_trig:
        for j in range(lon.shape[1]):
            lo = np.radians(lon[0, j])
            clo[j] = np.cos(lo)
            slo[j] = np.sin(lo)
    m_t, m_x, m_y, m_z, m_vx, m_vy, m_vz = mid[0], mid[1], mid[2], mid[3], mid[4], mid[5], mid[6]
    m_v2 = m_vx * m_vx + m_vy * m_vy + m_vz * m_vz
    fpa = np.full(cols, np.nan)  # f' (m^2/s^2) of the last full Newton in each column
    seg = 0
    for i in range(rows):
        ilo = i if lon.shape[0] > 1 else 0
        ila = i if lat.shape[0] > 1 else 0
        ih = i if h.shape[0] > 1 else 0
        sl = cl = nn = 0.0
        if lat.shape[1] == 1:
            la = np.radians(lat[ila, 0])
            sl = np.sin(la)
            cl = np.cos(la)
            nn = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sl * sl)
        t1 = t2 = np.nan
        for j in range(cols):
            if lat.shape[1] > 1:
                la = np.radians(lat[ila, j])
                sl = np.sin(la)
                cl = np.cos(la)
                nn = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sl * sl)
            if col_trig:
                jj = j if lon.shape[1] > 1 else 0
                cos_lo, sin_lo = clo[jj], slo[jj]
            else:
                lo = np.radians(lon[ilo, j if lon.shape[1] > 1 else 0])
                cos_lo, sin_lo = np.cos(lo), np.sin(lo)
            hh = h[ih, j if h.shape[1] > 1 else 0]
            px = (nn + hh) * cl * cos_lo
            py = (nn + hh) * cl * sin_lo
            pz = (nn * (1.0 - WGS84_E2) + hh) * sl
            if not (np.isfinite(px) and np.isfinite(py) and np.isfinite(pz)):
                t_out[i, j] = r_out[i, j] = np.nan
                ok[i, j] = False
                t1 = t2 = np.nan
                continue
            if neighbours and i >= 2 and ok[i - 1, j] and ok[i - 2, j]:
                # from the two rows above: no dependency on this row's previous point, so
                # consecutive points overlap in the CPU pipeline; one light step converges
                seed = 2.0 * t_out[i - 1, j] - t_out[i - 2, j]
                if t_min <= seed <= t_max:
                    t, r, step, seg = _light_step(px, py, pz, seed, fpa[j], x, coef, seg)
                    if abs(step) < tol and t_min <= t <= t_max:
                        t_out[i, j] = t
                        r_out[i, j] = r
                        ok[i, j] = True
                        t2, t1 = t1, t
                        continue
            projected = False
            if not neighbours or np.isnan(t1):
                seed = m_t + ((px - m_x) * m_vx + (py - m_y) * m_vy + (pz - m_z) * m_vz) / m_v2
                projected = True
            elif np.isnan(t2):
                seed = t1
            else:
                seed = 2.0 * t1 - t2
            t, r, good, seg, fpa[j] = _newton9(px, py, pz, seed, x, coef, seg, tol, max_iter, t_min, t_max)
            if not good and not projected:
                seed = m_t + ((px - m_x) * m_vx + (py - m_y) * m_vy + (pz - m_z) * m_vz) / m_v2
                t, r, good, seg, fpa[j] = _newton9(px, py, pz, seed, x, coef, seg, tol, max_iter, t_min, t_max)
            t_out[i, j] = t
            r_out[i, j] = r
            ok[i, j] = good
            if good:
                t2, t1 = t1, t
            else:
                t1 = t2 = np.nan


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def radar_indices(
    t: np.ndarray,
    r: np.ndarray,
    ok: np.ndarray,
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
    line: np.ndarray,
    pixel: np.ndarray,
) -> None:
    """Line and pixel (fractional raster indices, filled in place; an output of size 0 is skipped)
    of 2-D zero-Doppler times ``t`` (s) and slant ranges ``r`` (m): the annotated line time is
    ``t`` shifted by the bistatic delay when ``tau_ref`` (s) is finite; line = (line time -
    ``t_first``) / ``dt`` (s); pixel from the two-way range time (``tau0`` s, ``fs`` Hz; slant range
    grids) or the ground range (GRD: exact inversion of the grsr polynomial, seeded from the rows above;
    ``gr_spacing`` m). NaN
    where not ``ok``. Releases the GIL."""
    rows, cols = t.shape
    want_line = line.size > 0
    want_pixel = pixel.size > 0
    c = 299792458.0
    slope = np.full(cols if want_pixel and ground else 0, np.nan)  # d slant / d ground (row above)
    seg = 0
    for i in range(rows):
        for j in range(cols):
            if not ok[i, j]:
                if want_line:
                    line[i, j] = np.nan
                if want_pixel:
                    pixel[i, j] = np.nan
                continue
            tau = 2.0 * r[i, j] / c
            tl = t[i, j] - (tau - tau_ref) / 2.0 if np.isfinite(tau_ref) else t[i, j]
            if want_line:
                line[i, j] = (tl - t_first) / dt
            if want_pixel:
                if ground:
                    # seeded by linear extrapolation from the two rows above (the time drift of
                    # the grsr coefficients is linear too: seed within ~1 um), not from the
                    # previous point: consecutive points then overlap in the CPU pipeline
                    g_seed = s_seed = np.nan
                    if i >= 2 and ok[i - 1, j] and ok[i - 2, j]:
                        g_seed = (2.0 * pixel[i - 1, j] - pixel[i - 2, j]) * gr_spacing
                        s_seed = 2.0 * r[i - 1, j] - r[i - 2, j]
                    elif i >= 1 and ok[i - 1, j]:
                        g_seed = pixel[i - 1, j] * gr_spacing
                        s_seed = r[i - 1, j]
                    g, slope[j], seg = slant_to_ground_seeded(
                        tl - sg_offset, r[i, j], g_seed, s_seed, slope[j], seg, sg_nodes, sr0, srgr, gr0, grsr
                    )
                    pixel[i, j] = g / gr_spacing
                else:
                    pixel[i, j] = (tau - tau0) * fs


@numba.njit(cache=True, nogil=True)
def seconds_to_ns(t: np.ndarray, ref_ns: int, out: np.ndarray) -> None:
    """``out`` (int64, filled in place) = ns since the Unix epoch of times ``t`` (s since
    ``ref_ns``), rounded to the nearest ns (half to even); NaN -> the NaT sentinel. 2-D arrays."""
    nat = np.iinfo(np.int64).min
    for i in range(t.shape[0]):
        for j in range(t.shape[1]):
            v = t[i, j]
            out[i, j] = ref_ns + np.int64(np.rint(v * 1e9)) if np.isfinite(v) else nat


@numba.njit(cache=True, parallel=True)
def zero_doppler_newton(
    points: np.ndarray,
    seed: np.ndarray,
    x: np.ndarray,
    coef: np.ndarray,
    tol: float,
    max_iter: int,
    t_min: float,
    t_max: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-Doppler time (s), slant range (m) and converged flag for ECEF ``points`` (n, 3), orbit as
    breakpoints ``x`` and merged coefficients ``coef[segment, k, 9]``."""
    n = points.shape[0]
    t_out = np.empty(n)
    r_out = np.empty(n)
    ok = np.zeros(n, dtype=np.bool_)
    for i in numba.prange(n):
        if not (np.isfinite(points[i, 0]) and np.isfinite(seed[i])):
            t_out[i] = r_out[i] = np.nan
            continue
        t_out[i], r_out[i], ok[i], _, _ = _newton9(
            points[i, 0], points[i, 1], points[i, 2], seed[i], x, coef, 0, tol, max_iter, t_min, t_max
        )
    return t_out, r_out, ok


@numba.njit(cache=True, nogil=True)
def _weights(frac: float, kind: int, half: int, w: np.ndarray, cak: np.ndarray, sak: np.ndarray) -> None:
    """Interpolation weights at integer offsets ``k0 .. k0 + len(w) - 1`` from ``floor(x)`` (``cak`` /
    ``sak``: cos / sin of ``pi k / (half + 0.5)`` per tap):
    kind 0 Hann-windowed sinc (normalised to sum 1; offsets ``-half + 1 .. half``), kind 1 Keys'
    6-point cubic convolution (offsets -2 .. 3)."""
    n = w.size
    if kind == 0:
        # sin(pi (f - k)) = (-1)^k sin(pi f); the Hann window's cos(a (f - k)) by the angle-difference
        # identity: three transcendentals per axis instead of 2 n
        a = np.pi / (half + 0.5)
        spf = np.sin(np.pi * frac)
        caf = np.cos(a * frac)
        saf = np.sin(a * frac)
        total = 0.0
        for i in range(n):
            k = i - half + 1
            x = frac - k
            if x == 0.0:
                s = 1.0
            else:
                s = (spf if k % 2 == 0 else -spf) / (np.pi * x)
            v = s * (0.5 + 0.5 * (caf * cak[i] + saf * sak[i]))
            w[i] = v
            total += v
        for i in range(n):
            w[i] /= total
    else:
        for i in range(n):
            x = abs(frac - (i - 2))
            if x < 1.0:
                w[i] = 4.0 / 3.0 * x**3 - 7.0 / 3.0 * x**2 + 1.0
            elif x < 2.0:
                w[i] = -7.0 / 12.0 * x**3 + 3.0 * x**2 - 59.0 / 12.0 * x + 15.0 / 6.0
            elif x < 3.0:
                w[i] = 1.0 / 12.0 * x**3 - 2.0 / 3.0 * x**2 + 7.0 / 4.0 * x - 1.5
            else:
                w[i] = 0.0


@numba.njit(cache=True, nogil=True)
def separable_sample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, kind: int, taps: int, out: np.ndarray) -> None:
    """``out[p]`` = the separable interpolation (see :func:`_weights`) of ``image`` at the
    fractional (``rows[p]``, ``cols[p]``) (1-D arrays; indices clamped at the edges; NaN positions
    give NaN). ``out`` must come filled with zeros."""
    ny, nx = image.shape
    n = taps if kind == 0 else 6
    half = taps // 2
    k0 = -half + 1 if kind == 0 else -2
    wr = np.empty(n)
    wc = np.empty(n)
    ci = np.empty(n, np.int64)
    a = np.pi / (half + 0.5)
    cak = np.empty(n)
    sak = np.empty(n)
    for i in range(n):  # cos / sin of the window's angle at each tap offset (sinc)
        cak[i] = np.cos(a * (i - half + 1))
        sak[i] = np.sin(a * (i - half + 1))
    for p in range(rows.size):
        r = rows[p]
        c = cols[p]
        if not (np.isfinite(r) and np.isfinite(c)):
            out[p] = np.nan
            continue
        r0 = np.floor(r)
        c0 = np.floor(c)
        _weights(r - r0, kind, half, wr, cak, sak)
        _weights(c - c0, kind, half, wc, cak, sak)
        for j in range(n):
            ci[j] = min(max(int(c0) + k0 + j, 0), nx - 1)
        acc = out[p]  # zero (``out`` comes zeroed): a zero of the output's type
        for i in range(n):
            ri = min(max(int(r0) + k0 + i, 0), ny - 1)
            line = out[p]
            for j in range(n):
                line += wc[j] * image[ri, ci[j]]
            acc += wr[i] * line
        out[p] = acc
