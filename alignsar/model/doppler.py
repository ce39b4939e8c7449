"""Azimuth Doppler parameters of a swath: FM rate, Doppler centroid and antenna steering (TOPS).

Both the azimuth FM rate (Hz/s) and the Doppler centroid (Hz) are annotated as a list of
range polynomials, each tagged with a zero-Doppler azimuth time (UTC) and a reference two-way
slant-range time ``t0`` (s): ``value(tau) = sum_i c_i (tau - t0)^i``. The polynomial used at a
given azimuth time is the one whose tag is nearest (as in the Sentinel-1 product specification).
``azimuth_steering_rate`` (rad/s) is the TOPS antenna steering rate (0 for stripmap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class RangePolynomial:
    """``value(tau) = sum_i coefficients[i] * (tau - t0)^i``, tau two-way slant-range time (s)."""

    azimuth_time: np.datetime64
    t0: float
    coefficients: tuple[float, ...]

    def __call__(self, tau: npt.ArrayLike) -> npt.NDArray[np.float64]:
        x = np.asarray(tau, dtype=np.float64) - self.t0
        out = np.zeros_like(x)
        for c in reversed(self.coefficients):
            out = out * x + c
        return out


def _nearest(polys: tuple[RangePolynomial, ...], time: np.datetime64) -> RangePolynomial:
    if not polys:
        raise ValueError("no polynomial annotated")
    times = np.array([p.azimuth_time for p in polys], dtype="datetime64[ns]")
    return polys[int(np.argmin(np.abs((times - np.datetime64(time, "ns")).astype(np.int64))))]


@dataclass(frozen=True)
class DopplerParameters:
    """Azimuth FM rates (Hz/s), Doppler centroids (Hz) and TOPS steering rate (rad/s) of a swath."""

    fm_rate: tuple[RangePolynomial, ...]
    doppler_centroid: tuple[RangePolynomial, ...]
    azimuth_steering_rate: float = 0.0

    def fm_rate_at(self, time: np.datetime64) -> RangePolynomial:
        """Azimuth FM rate polynomial (Hz/s) annotated nearest to ``time``."""
        return _nearest(self.fm_rate, time)

    def doppler_centroid_at(self, time: np.datetime64) -> RangePolynomial:
        """Doppler centroid polynomial (Hz, estimated from the data) annotated nearest to ``time``."""
        return _nearest(self.doppler_centroid, time)
