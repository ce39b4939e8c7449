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
        u = g - g0
        val = 0.0
        der = 0.0
        for k in range(grsr.shape[1] - 1, -1, -1):
            der = der * u + val
            val = val * u + (grsr[j, k] * (1 - w) + grsr[j1, k] * w)
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
