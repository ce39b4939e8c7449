"""Compiled (numba) numeric helpers of the model: segment search, slant/ground-range conversion."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _segment(x: np.ndarray, t: float) -> int:
    lo, hi = 0, x.size - 2
    if t <= x[0]:
        return 0
    if t >= x[-1]:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[mid] <= t:
            lo = mid
        else:
            hi = mid - 1
    return lo


@numba.njit(cache=True, inline="always")
def _grsr(grsr: np.ndarray, j: int, j1: int, w: float, u: float) -> tuple[float, float]:
    """Slant range (m) of ground range offset ``u`` (m) by the ``grsr`` polynomial interpolated
    between nodes ``j`` and ``j1`` (weight ``w``), and its derivative d slant / d ground."""
    val = 0.0
    der = 0.0
    for k in range(grsr.shape[1] - 1, -1, -1):
        der = der * u + val
        val = val * u + (grsr[j, k] * (1 - w) + grsr[j1, k] * w)
    return val, der


@numba.njit(cache=True, inline="always")
def slant_to_ground_one(
    t: float, slant: float, nodes: np.ndarray, sr0: np.ndarray, srgr: np.ndarray, gr0: np.ndarray, grsr: np.ndarray
) -> float:
    """Ground range (m) of one slant range (m) at time ``t`` (s, same origin as ``nodes``):
    coefficients interpolated linearly in time (clamped), ``srgr`` seed refined by Newton on ``grsr``."""
    m = nodes.size
    if m == 1:
        j, w = 0, 0.0
    else:
        j = _segment(nodes, t)
        w = min(max((t - nodes[j]) / (nodes[j + 1] - nodes[j]), 0.0), 1.0)
    j1 = min(j + 1, m - 1)
    x = slant - (sr0[j] * (1 - w) + sr0[j1] * w)
    g = 0.0
    for k in range(srgr.shape[1] - 1, -1, -1):
        g = g * x + (srgr[j, k] * (1 - w) + srgr[j1, k] * w)
    g0 = gr0[j] * (1 - w) + gr0[j1] * w
    for _ in range(2):  # the srgr seed is within a few cm: two Newton steps reach < 1 nm
        val, der = _grsr(grsr, j, j1, w, g - g0)
        g = g - (val - slant) / der
    return g


@numba.njit(cache=True, parallel=True)
def slant_to_ground(
    t: np.ndarray, slant: np.ndarray, nodes: np.ndarray, sr0: np.ndarray, srgr: np.ndarray, gr0: np.ndarray, grsr: np.ndarray
) -> np.ndarray:
    """Vectorised :func:`slant_to_ground_one`."""
    out = np.empty(t.size)
    for i in numba.prange(t.size):
        out[i] = slant_to_ground_one(t[i], slant[i], nodes, sr0, srgr, gr0, grsr)
    return out


@numba.njit(cache=True, inline="always")
def slant_to_ground_seeded(
    t: float,
    slant: float,
    seed: float,
    seed_slant: float,
    seed_slope: float,
    j: int,
    nodes: np.ndarray,
    sr0: np.ndarray,
    srgr: np.ndarray,
    gr0: np.ndarray,
    grsr: np.ndarray,
) -> tuple[float, float, int]:
    """:func:`slant_to_ground_one` seeded from neighbouring solutions: ground range ``seed`` (m) of
    slant range ``seed_slant`` (m), d slant / d ground ``seed_slope``; the first guess is their
    tangent (within ~3 mm for a neighbouring DEM point, ~1 um for a linear extrapolation from two),
    else (non-finite seed or slope) the srgr polynomial. Newton on the (time-interpolated) grsr
    polynomial until the correction is below 1 mm (the error then is ~ |s''| / (2 s') * (1e-3 m)^2
    < 1e-12 m, s'' ~ 1e-6 / m). ``j``: the node interval of a neighbouring point (checked first).
    Returns (ground range m, d slant / d ground at the solution, node interval)."""
    m = nodes.size
    if m == 1:
        j, w = 0, 0.0
    else:
        if not (nodes[j] <= t < nodes[j + 1]):
            j = _segment(nodes, t)
        w = min(max((t - nodes[j]) / (nodes[j + 1] - nodes[j]), 0.0), 1.0)
    j1 = min(j + 1, m - 1)
    if np.isfinite(seed) and np.isfinite(seed_slope):
        g = seed + (slant - seed_slant) / seed_slope
    else:
        x = slant - (sr0[j] * (1 - w) + sr0[j1] * w)
        g = 0.0
        for k in range(srgr.shape[1] - 1, -1, -1):
            g = g * x + (srgr[j, k] * (1 - w) + srgr[j1, k] * w)
    g0 = gr0[j] * (1 - w) + gr0[j1] * w
    der = 1.0
    for _ in range(6):
        val, der = _grsr(grsr, j, j1, w, g - g0)
        step = (val - slant) / der
        g = g - step
        if abs(step) < 1e-3:
            break
    return g, der, j
