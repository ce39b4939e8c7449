"""Focused TOPS burst signals from point scatterers, built from the acquisition physics.

Independent of the deramping code in :mod:`alignsar.coregistration.tops` (it never evaluates the
deramping function): the antenna beam is steered at ``k_psi`` (rad/s), so the beam's Doppler
centroid is ``f_beam(t) = fdc_beam + ks (t - t_s)`` with ``ks = 2 v k_psi / lambda``; a scatterer at
zero-Doppler time ``T`` has the Doppler history ``ka (t - T)`` (``ka < 0``) and is illuminated when
the two agree, at ``t_bc = (fdc_beam + ka T - ks t_s) / (ka - ks)``. Its focused response (azimuth
bandwidth ``B``, phase referred to zero Doppler) is ``sinc(B (t - T)) exp(2j pi f_T (t - T))`` with
``f_T = f_beam(t_bc)``. Summing many random scatterers gives band-limited TOPS speckle whose
local Doppler centroid drifts along the burst.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class TopsBeam:
    """Azimuth parameters of one burst at one range: ``ka`` FM rate (Hz/s), ``ks`` Doppler rate of the
    steering (Hz/s), ``fdc_beam`` the beam's Doppler centroid at the steering centre (Hz),
    ``steering_centre`` the time of that centre (s, same time axis as the scatterers), ``bandwidth``
    the processed azimuth bandwidth (Hz)."""

    ka: float
    ks: float
    fdc_beam: float
    steering_centre: float
    bandwidth: float

    def doppler_of(self, t_zero_doppler: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Doppler centroid (Hz) of the focused response of scatterers at zero-Doppler times (s)."""
        t = np.asarray(t_zero_doppler, dtype=np.float64)
        t_bc = (self.fdc_beam + self.ka * t - self.ks * self.steering_centre) / (self.ka - self.ks)
        return self.fdc_beam + self.ks * (t_bc - self.steering_centre)


def scatterers(rng: np.random.Generator, t0: float, t1: float, density: float) -> tuple[np.ndarray, np.ndarray]:
    """Random scatterers: zero-Doppler times uniform in ``[t0, t1]`` (s), ``density`` per second,
    circular complex Gaussian amplitudes."""
    n = rng.poisson(density * (t1 - t0))
    times = rng.uniform(t0, t1, n)
    amps = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)
    return times, amps


def focused_burst(times: npt.ArrayLike, beam: TopsBeam, t_scat: np.ndarray, amp: np.ndarray, half_width: float = 0.08) -> np.ndarray:
    """The focused burst signal at sample times ``times`` (s): the sum of every scatterer's response,
    each truncated at ``half_width`` s (about 25 resolution cells; the sinc is below 1.3e-4 there)."""
    t = np.asarray(times, dtype=np.float64)
    out = np.zeros(t.shape, dtype=np.complex128)
    f = beam.doppler_of(t_scat)
    order = np.argsort(t_scat)
    ts, fs, am = t_scat[order], f[order], amp[order]
    flat = t.ravel()
    res = out.ravel()
    step = 256
    for i in range(0, flat.size, step):
        seg = flat[i : i + step]
        lo = np.searchsorted(ts, seg.min() - half_width)
        hi = np.searchsorted(ts, seg.max() + half_width)
        dtm = seg[:, None] - ts[None, lo:hi]
        resp = np.sinc(beam.bandwidth * dtm) * np.exp(2j * np.pi * fs[None, lo:hi] * dtm)
        resp[np.abs(dtm) > half_width] = 0
        res[i : i + step] = resp @ am[lo:hi]
    return out
