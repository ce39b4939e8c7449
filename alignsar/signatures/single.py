"""Category 1 signatures (single polarisation): amplitude, intensity, dB, multilooking, interferogram
and coherence.

Conventions: intensities are linear power (``|DN|^2`` for raw data, m2/m2 for sigma0 / beta0 /
gamma0); dB values are ``10 log10`` of linear power; amplitudes are ``|z|``. Phases are in radians in
(-pi, pi]. Coherence is the magnitude of the sample complex correlation in a boxcar window of ``N``
pixels; it is biased upwards for small ``N`` and low coherence (for ``N`` independent looks,
``E[g_hat] = Gamma(N) Gamma(3/2) / Gamma(N + 1/2) 3F2(3/2, N, N; N + 1/2, 1; g^2) (1 - g^2)^N``,
Touzi et al. 1999: about ``sqrt(pi / 4N)`` at zero coherence), and SAR pixels are correlated, so the
effective ``N`` is smaller than the window area.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._window import Window, local_mean, window_shape

DB_FLOOR = 1e-10
"""Linear values at or below this (and NaN) map to NaN in dB (no -inf)."""


def _attrs(out: xr.DataArray, long_name: str, units: str, formula: str, **extra: object) -> xr.DataArray:
    out.attrs = {"long_name": long_name, "units": units, "formula": formula, **extra}
    return out


def amplitude(data: xr.DataArray) -> xr.DataArray:
    """``|z|`` of complex (or real) data."""
    out = np.abs(data).astype(np.float32)
    out.name = f"amplitude_{data.attrs.get('polarization', '').lower()}".rstrip("_")
    return _attrs(out, "amplitude", data.attrs.get("units", "1"), "|z|")


def intensity(data: xr.DataArray) -> xr.DataArray:
    """Linear power ``|z|^2`` of complex data (real data: its square)."""
    out = (data.real.astype(np.float32) ** 2 + (data.imag.astype(np.float32) ** 2 if np.iscomplexobj(data.dtype.type(0)) else 0)).astype(
        np.float32
    )
    out.name = f"intensity_{data.attrs.get('polarization', '').lower()}".rstrip("_")
    return _attrs(out, "intensity (linear power)", "1", "|z|^2")


def to_db(power: xr.DataArray) -> xr.DataArray:
    """``10 log10`` of linear power; values <= :data:`DB_FLOOR` become NaN. The name gains ``_db``."""
    out = 10 * np.log10(power.where(power > DB_FLOOR))
    out.name = f"{power.name}_db" if power.name else "db"
    attrs = dict(power.attrs)
    out.attrs = attrs | {"units": "dB", "long_name": f"{attrs.get('long_name', 'power')} in dB", "formula": "10 log10(x)"}
    return out.astype(np.float32)


def from_db(db: xr.DataArray) -> xr.DataArray:
    """Linear power from dB."""
    out = (10 ** (db / 10)).astype(np.float32)
    out.name = str(db.name).removesuffix("_db") if db.name else None
    out.attrs = dict(db.attrs) | {"units": "1", "formula": "10^(x/10)"}
    return out


def multilook(data: xr.DataArray, looks: tuple[int, int]) -> xr.DataArray:
    """Average ``looks = (azimuth, range)`` blocks of a linear quantity (intensity or complex
    covariance; never dB or amplitude), trimming incomplete blocks; coordinates become block means."""
    la, lr = looks
    dims = data.dims[-2:]
    out = data.coarsen({dims[0]: la, dims[1]: lr}, boundary="trim").mean()
    out.attrs = dict(data.attrs) | {"multilook": f"{la} x {lr} (azimuth x range)"}
    return out


def interferogram(slc1: xr.DataArray, slc2: xr.DataArray, phase: xr.DataArray | None = None) -> xr.DataArray:
    """Complex interferogram ``slc1 conj(slc2)`` on the common grid, multiplied by ``exp(1j phase)``
    when ``phase`` (rad, the geometric flat-earth + topographic phase of ``slc1 conj(slc2)``, e.g. from
    :func:`alignsar.coregistration.geometric_phase`) is given, so that the result keeps only
    deformation, atmosphere and noise."""
    ifg = slc1 * np.conj(slc2)
    if phase is not None:
        ifg = ifg * np.exp(-1j * phase)
    ifg.name = "interferogram"
    formula = "s1 conj(s2)" + (" exp(-i phi_geom)" if phase is not None else "")
    return _attrs(ifg.astype(np.complex64), "complex interferogram", "1", formula, geometric_phase_removed=phase is not None)


def coherence(slc1: xr.DataArray, slc2: xr.DataArray, window: Window, phase: xr.DataArray | None = None) -> xr.DataArray:
    """Sample coherence ``|<s1 s2*>| / sqrt(<|s1|^2> <|s2|^2>)`` in a boxcar ``window`` (pixels;
    odd int or (azimuth, range)), after removing ``phase`` (rad, geometric phase) when given: fringes
    inside the window otherwise lower it. Bias: see the module docstring."""
    rows, cols = window_shape(window)
    ifg = interferogram(slc1, slc2, phase)
    num = np.abs(local_mean(ifg, (rows, cols)))
    den = np.sqrt(local_mean(intensity(slc1), (rows, cols)) * local_mean(intensity(slc2), (rows, cols)))
    out = (num / den.where(den > 0)).clip(0, 1).astype(np.float32)
    pol = slc1.attrs.get("polarization", "")
    out.name = f"coherence_{pol.lower()}" if pol else "coherence"
    return _attrs(
        out,
        "interferometric coherence magnitude",
        "1",
        "|<s1 s2*>| / sqrt(<|s1|^2> <|s2|^2>), boxcar",
        window=[rows, cols],
        geometric_phase_removed=phase is not None,
    )
