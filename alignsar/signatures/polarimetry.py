"""Category 2 signatures (multi-polarisation): dual-pol covariance C2 and its descriptors, quad-pol
Pauli and H / A / alpha, co-pol phase difference, and a change-detection soil-moisture index.

Inputs are complex SLC DataArrays on one grid (co-pol = HH or VV, cross-pol = HV or VH), or for
the intensity-only descriptors calibrated linear intensities. Every second-order quantity is a
boxcar mean in ``window`` pixels. Eigen decompositions are closed form for 2 x 2 and
``numpy.linalg.eigh`` per pixel for 3 x 3. Angles are in degrees; entropies use the logarithm in
base 2 (dual-pol) or 3 (quad-pol), so they lie in [0, 1].
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr

from ._window import Window, local_mean, window_shape
from .single import _attrs

EPSILON = 1e-10
"""Added to denominators of ratios of linear intensities (m2/m2): no division by zero, and ratios
of no-signal pixels stay finite; well below any calibrated SAR backscatter (~1e-4)."""


def _real(x: xr.DataArray) -> xr.DataArray:
    return x.real.astype(np.float32) if np.iscomplexobj(x.dtype.type(0)) else x.astype(np.float32)


def _power(z: xr.DataArray) -> xr.DataArray:
    return (z.real.astype(np.float32) ** 2 + z.imag.astype(np.float32) ** 2) if np.iscomplexobj(z.dtype.type(0)) else z.astype(np.float32)


def _named(x: xr.DataArray, name: str, long_name: str, units: str, formula: str) -> xr.DataArray:
    x = x.astype(np.float32)
    x.name = name
    return _attrs(x, long_name, units, formula)


def dual_pol_descriptors(c11: xr.DataArray, c22: xr.DataArray, c12: xr.DataArray | None = None) -> xr.Dataset:
    """Descriptors of a (window-averaged) dual-pol covariance: ``c11`` co-pol and ``c22`` cross-pol
    power, ``c12`` = <co conj(cross)> (complex; optional: without it only the intensity ones)."""
    out = {
        "c11": _named(c11, "c11", "co-pol power <|co|^2>", "1", "<|S_co|^2>"),
        "c22": _named(c22, "c22", "cross-pol power <|cross|^2>", "1", "<|S_cross|^2>"),
        "sum": _named(c11 + c22, "sum", "co + cross power (span)", "1", "C11 + C22"),
        "difference": _named(c11 - c22, "difference", "co - cross power", "1", "C11 - C22"),
        "ratio": _named(c22 / (c11 + EPSILON), "ratio", "cross / co power ratio (linear)", "1", f"C22 / (C11 + {EPSILON:g})"),
        "normalized_difference": _named(
            (c11 - c22) / (c11 + c22 + EPSILON), "normalized_difference", "(co - cross) / (co + cross)", "1", "(C11 - C22) / (C11 + C22)"
        ),
        "rvi": _named(4 * c22 / (c11 + c22 + EPSILON), "rvi", "dual-pol radar vegetation index", "1", "4 C22 / (C11 + C22)"),
    }
    if c12 is None:
        return xr.Dataset(out)
    m12 = np.abs(c12)
    trace = c11 + c22
    det = (c11 * c22 - m12**2).clip(min=0)
    disc = np.sqrt(((c11 - c22) ** 2 + 4 * m12**2).clip(min=0))
    lam1, lam2 = (trace + disc) / 2, ((trace - disc) / 2).clip(min=0)
    total = (lam1 + lam2).where(lam1 + lam2 > 0)
    p1, p2 = lam1 / total, lam2 / total

    def plogp(p: xr.DataArray) -> xr.DataArray:
        return xr.where(p > 0, p * np.log2(p.where(p > 0)), 0.0)

    entropy = -(plogp(p1) + plogp(p2))

    def alpha_of(lam: xr.DataArray) -> xr.DataArray:
        # eigenvector of [[c11, c12], [c12*, c22]] for lam is (c12, lam - c11): alpha = arccos |u_0|
        norm = np.sqrt(m12**2 + (lam - c11) ** 2)
        u0 = xr.where(norm > 0, m12 / norm.where(norm > 0), xr.where(c11 >= c22, 1.0, 0.0))
        return np.degrees(np.arccos(u0.clip(0, 1)))

    # for equal eigenvalues (c12 = 0, c11 = c22) the eigenvectors are the axes: alphas 0 and 90
    a1 = xr.where((m12 == 0) & (c11 == c22), 0.0, alpha_of(lam1))
    a2 = xr.where((m12 == 0) & (c11 == c22), 90.0, alpha_of(lam2))
    alpha = p1 * a1 + p2 * a2
    dop = np.sqrt((1 - 4 * det / (trace**2).where(trace > 0)).clip(0, 1))
    beta = lam1 / total
    out |= {
        "c12_real": _named(c12.real, "c12_real", "Re <co conj(cross)>", "1", "Re <S_co S_cross*>"),
        "c12_imag": _named(c12.imag, "c12_imag", "Im <co conj(cross)>", "1", "Im <S_co S_cross*>"),
        "cross_pol_correlation": _named(
            m12 / np.sqrt((c11 * c22).where(c11 * c22 > 0)),
            "cross_pol_correlation",
            "co / cross-pol correlation",
            "1",
            "|C12| / sqrt(C11 C22)",
        ),
        "entropy": _named(entropy, "entropy", "dual-pol entropy", "1", "-sum p_i log2 p_i, p_i = lambda_i / (lambda_1 + lambda_2)"),
        "alpha": _named(alpha, "alpha", "dual-pol mean alpha angle", "degree", "sum p_i arccos|u_i,0|"),
        "degree_of_polarization": _named(dop, "degree_of_polarization", "degree of polarisation m", "1", "sqrt(1 - 4 det C2 / tr(C2)^2)"),
        "dprvi": _named(
            1 - dop * beta, "dprvi", "dual-pol radar vegetation index (Mandal et al. 2020)", "1", "1 - m lambda_1 / (lambda_1 + lambda_2)"
        ),
    }
    return xr.Dataset(out)


def dual_pol(co: xr.DataArray, cross: xr.DataArray, window: Window) -> xr.Dataset:
    """Dual-pol signatures of complex co-pol and cross-pol SLCs on one grid (see the module
    docstring): ``c11``, ``c22``, ``c12_real``, ``c12_imag``, ``sum``, ``difference``, ``ratio``,
    ``normalized_difference``, ``cross_pol_correlation``, ``entropy``, ``alpha``,
    ``degree_of_polarization``, ``rvi``, ``dprvi``. Intensity inputs (real) give the intensity-only
    subset."""
    rows, cols = window_shape(window)
    c11 = local_mean(_power(co), (rows, cols))
    c22 = local_mean(_power(cross), (rows, cols))
    c12 = (
        local_mean(co * np.conj(cross), (rows, cols))
        if np.iscomplexobj(co.dtype.type(0)) and np.iscomplexobj(cross.dtype.type(0))
        else None
    )
    ds = dual_pol_descriptors(c11, c22, c12)
    ds.attrs = {
        "window": [rows, cols],
        "co_polarization": co.attrs.get("polarization"),
        "cross_polarization": cross.attrs.get("polarization"),
    }
    return ds


def copol_phase_difference(hh: xr.DataArray, vv: xr.DataArray, window: Window) -> xr.Dataset:
    """HH-VV phase difference ``arg <HH VV*>`` (degrees) and its spread, the circular standard
    deviation ``sqrt(-2 ln R)`` (degrees) with ``R = |<HH VV*>| / <|HH VV*|>``."""
    rows, cols = window_shape(window)
    prod = hh * np.conj(vv)
    mean = local_mean(prod, (rows, cols))
    r = (np.abs(mean) / local_mean(np.abs(prod), (rows, cols))).clip(1e-12, 1)
    return xr.Dataset(
        {
            "copol_phase_difference": _named(
                np.degrees(np.arctan2(mean.imag, mean.real)), "copol_phase_difference", "HH-VV phase difference", "degree", "arg <HH VV*>"
            ),
            "copol_phase_spread": _named(
                np.degrees(np.sqrt(-2 * np.log(r))), "copol_phase_spread", "HH-VV phase spread", "degree", "sqrt(-2 ln R)"
            ),
        },
        attrs={"window": [rows, cols]},
    )


def _eig3(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and vectors of Hermitian matrices stacked in the last two axes."""
    bad = ~np.isfinite(t).all(axis=(-2, -1))
    w, v = np.linalg.eigh(np.where(bad[..., None, None], 0, t))
    w, v = w[..., ::-1], v[..., :, ::-1]
    w[bad] = np.nan
    return np.clip(w, 0, None), v


def _haa_block(*tij: np.ndarray) -> np.ndarray:
    t = np.empty((*tij[0].shape, 3, 3), dtype=np.complex128)
    k = 0
    for i in range(3):
        for j in range(i, 3):
            t[..., i, j] = tij[k]
            t[..., j, i] = np.conj(tij[k])
            k += 1
    w, v = _eig3(t)
    total = w.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = w / total
        logs = np.where(p > 0, np.log(np.where(p > 0, p, 1)) / np.log(3), 0)
        entropy = -(p * logs).sum(axis=-1)
        anisotropy = (w[..., 1] - w[..., 2]) / (w[..., 1] + w[..., 2])
    alpha = np.degrees((p * np.arccos(np.clip(np.abs(v[..., 0, :]), 0, 1))).sum(axis=-1))
    return np.stack([entropy, anisotropy, alpha]).astype(np.float32)


def quad_pol(hh: xr.DataArray, hv: xr.DataArray, vh: xr.DataArray, vv: xr.DataArray, window: Window) -> xr.Dataset:
    """Quad-pol signatures: Pauli powers (``pauli_surface`` = <|HH+VV|^2>/2, ``pauli_double`` =
    <|HH-VV|^2>/2, ``pauli_volume`` = <|HV+VH|^2>/2) and the Cloude-Pottier ``entropy``,
    ``anisotropy`` and mean ``alpha`` (degrees) of the coherency matrix T3 = <k k^H>, k = (HH+VV,
    HH-VV, HV+VH) / sqrt(2), averaged in ``window``; plus the co-pol phase difference and spread."""
    rows, cols = window_shape(window)
    k = [(hh + vv) / np.sqrt(2), (hh - vv) / np.sqrt(2), (hv + vh) / np.sqrt(2)]
    tij = [local_mean(k[i] * np.conj(k[j]), (rows, cols)) for i in range(3) for j in range(i, 3)]
    out = {
        "pauli_surface": _named(_real(tij[0]), "pauli_surface", "Pauli |HH+VV|^2 / 2 (odd bounce)", "1", "<|HH+VV|^2>/2"),
        "pauli_double": _named(_real(tij[3]), "pauli_double", "Pauli |HH-VV|^2 / 2 (double bounce)", "1", "<|HH-VV|^2>/2"),
        "pauli_volume": _named(_real(tij[5]), "pauli_volume", "Pauli |HV+VH|^2 / 2 (volume)", "1", "<|HV+VH|^2>/2"),
    }
    arrays = [t.data for t in tij]
    if isinstance(arrays[0], da.Array):
        haa = da.map_blocks(_haa_block, *arrays, new_axis=0, chunks=((3,), *arrays[0].chunks), dtype=np.float32)
    else:
        haa = _haa_block(*[np.asarray(a) for a in arrays])
    template = tij[0]
    names = (
        ("entropy", "Cloude-Pottier entropy", "1", "-sum p_i log3 p_i"),
        ("anisotropy", "Cloude-Pottier anisotropy", "1", "(lambda_2 - lambda_3) / (lambda_2 + lambda_3)"),
        ("alpha", "Cloude-Pottier mean alpha angle", "degree", "sum p_i arccos|e_i,0|"),
    )
    for n, (name, long_name, units, formula) in enumerate(names):
        out[name] = _named(template.real.copy(data=haa[n]), name, long_name, units, formula)
    ds = xr.Dataset(out)
    ds = ds.merge(copol_phase_difference(hh, vv, (rows, cols)))
    ds.attrs = {"window": [rows, cols]}
    return ds


def soil_moisture_index(sigma0: xr.DataArray, dim: str = "date", dry: float = 0.05, wet: float = 0.95) -> xr.DataArray:
    """Change-detection soil-moisture *index* in [0, 1] (not a volumetric moisture): per pixel,
    ``(s - s_dry) / (s_wet - s_dry)`` with ``s`` the backscatter in dB and the dry / wet references the
    ``dry`` / ``wet`` quantiles of the pixel's time series along ``dim`` (Wagner et al. 1999 change
    detection). Needs a series long enough to contain dry and wet conditions."""
    s = 10 * np.log10(sigma0.where(sigma0 > EPSILON))
    lo = s.quantile(dry, dim=dim, skipna=True)
    hi = s.quantile(wet, dim=dim, skipna=True)
    idx = ((s - lo) / (hi - lo).where(hi > lo)).clip(0, 1).drop_vars("quantile", errors="ignore")
    return _named(idx, "soil_moisture_index", "change-detection soil moisture index", "1", f"(s_dB - q{dry:g}) / (q{wet:g} - q{dry:g})")
