"""Offsets by cross-correlation on a GCP grid, and the warp polynomial fitted to them.

Each GCP compares a window of the primary with a window of the secondary at the predicted position
(a prior offset field, or none). The cross-correlation is computed through the FFT — coherently
(complex) for SLC data, on mean-removed amplitudes for detected data, both Hann-tapered — and its peak located to
``1 / upsampleFactor`` pixel by evaluating the inverse DFT on a fine grid around the integer peak
(matrix-multiply DFT, exact for the windowed data), then refined by a parabola through the fine
grid's maximum and neighbours. ``maxIteration`` re-centres the secondary window on the estimate.
Quality of a GCP: the normalised correlation at the peak (the coherence for complex data).

Sign: offsets are secondary minus primary position (a feature at primary (l, p) is at
(l + dl, p + dp) in the secondary).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np
import scipy.fft as sfft
from scipy.special import fdtrc

from ..geometry.radarcode import read_window
from .config import CoregConfig


@dataclass
class GCPTable:
    """GCP positions (primary lines / pixels), measured offsets and their quality."""

    line: np.ndarray
    pixel: np.ndarray
    offset_azimuth: np.ndarray
    offset_range: np.ndarray
    quality: np.ndarray

    @property
    def found(self) -> np.ndarray:
        return np.isfinite(self.offset_azimuth) & np.isfinite(self.offset_range)


def _dft_matrix(n: int, positions: np.ndarray, half: bool = False) -> np.ndarray:
    """E[..., u, k] = exp(2 pi i k u / n) for frequencies k in FFT order (positions (..., g)); with
    ``half``, the non-negative frequencies 0 .. n // 2 only (the rfft layout)."""
    k = np.arange(n // 2 + 1) if half else np.fft.fftfreq(n) * n
    return np.exp(2j * np.pi * positions[..., :, None] * k / n)


def _dft_rows(n: int, centres: np.ndarray, grid: np.ndarray, dtype: Any, half: bool = False) -> np.ndarray:
    """:func:`_dft_matrix` at positions ``centres[:, None] + grid`` (k windows, g positions), as the
    product of the per-window and the shared factor (one complex exponential per window and
    frequency instead of one per position)."""
    per_window = _dft_matrix(n, centres[:, None], half)[:, 0, None, :]
    return (per_window * _dft_matrix(n, grid, half)[None]).astype(dtype, copy=False)


FFT_WORKERS = os.cpu_count() or 1
"""Threads of the batched FFTs (windows are processed as stacks, a GCP row at a time; threading
the rows in Python instead was slower on 2 cores: most of the rest holds the GIL)."""

WORK_DTYPE = np.complex64
"""Precision of the correlation FFTs and peak search: single (FFT rounding ~1e-7 relative, far below
the 1e-3 px the peak needs; measured: GCP offsets equal to double precision within 1e-5 px)."""


def oversample(window: np.ndarray, factor: int = 2) -> np.ndarray:
    """Band-limited (FFT zero-padding) oversampling of complex windows (last two axes) by ``factor``."""
    n, m = window.shape[-2:]
    spec = sfft.fftshift(sfft.fft2(window), axes=(-2, -1))
    out = np.zeros((*window.shape[:-2], n * factor, m * factor), dtype=np.complex128)
    r0, c0 = (n * factor - n) // 2, (m * factor - m) // 2
    out[..., r0 : r0 + n, c0 : c0 + m] = spec
    return sfft.ifft2(sfft.ifftshift(out, axes=(-2, -1))) * factor**2


def correlate_detected(primary: np.ndarray, secondary: np.ndarray, upsample: int = 128, factor: int = 2) -> tuple[Any, Any, Any]:
    """Shift of complex windows measured on their intensities after oversampling the complex data
    ``factor`` times (detection doubles the bandwidth: without oversampling it aliases and the
    estimate locks towards integer pixels). Insensitive to interferometric fringes. Stacks of
    windows (leading axes) give arrays."""
    p = np.abs(oversample(primary, factor)) ** 2
    s = np.abs(oversample(secondary, factor)) ** 2
    d_l, d_p, q = correlate(p, s, upsample)
    return d_l / factor, d_p / factor, q


def cross_spectrum(primary: np.ndarray, secondary: np.ndarray, half: bool = False) -> tuple[np.ndarray, Any]:
    """Hann-tapered cross spectrum ``conj(P) S`` of equally shaped windows (last two axes; leading
    axes are a stack) and the normalising energy ``sqrt(sum|p|^2 sum|s|^2)`` (real windows are
    demeaned first), in :data:`WORK_DTYPE`. ``half``: real windows only; the non-negative
    frequencies of the last axis (``rfft2`` layout; the rest is the complex conjugate)."""
    real = not np.iscomplexobj(primary) and not np.iscomplexobj(secondary)
    if half and not real:
        raise ValueError("half spectra are for real windows")
    dtype = WORK_DTYPE(0).real.dtype if real else WORK_DTYPE
    p = primary.astype(dtype)
    s = secondary.astype(dtype)
    if real:
        p = p - p.mean(axis=(-2, -1), keepdims=True)
        s = s - s.mean(axis=(-2, -1), keepdims=True)
    # a Hann taper removes the edge effects of cutting windows (pull towards integer / zero shifts)
    taper = _hann2(p.shape[-2], p.shape[-1])
    p, s = p * taper, s * taper

    def power(x: np.ndarray) -> np.ndarray:
        return np.sum(x.real**2 + x.imag**2 if not real else x**2, axis=(-2, -1), dtype=np.float64)

    energy = np.sqrt(power(p) * power(s))
    fft = sfft.rfft2 if half else sfft.fft2
    cross = (np.conj(fft(p)) * fft(s)).astype(WORK_DTYPE, copy=False)
    return cross, (float(energy) if np.ndim(energy) == 0 else energy)


@functools.lru_cache(maxsize=8)
def _hann2(n: int, m: int) -> np.ndarray:
    """Separable 2-D Hann taper (float32; read-only, shared)."""
    taper = np.outer(np.hanning(n), np.hanning(m)).astype(np.float32)
    taper.setflags(write=False)
    return taper


def peak(cross: np.ndarray, upsample: int = 128, width: int | None = None) -> tuple[Any, Any, Any]:
    """Sub-pixel position (d_line, d_pixel) and magnitude of the correlation peak of cross spectra
    (last two axes; leading axes a stack): integer peak of the inverse FFT, refined by matrix DFTs to
    1/16 px over +-1 px, then to 1 / ``upsample`` px over +-1.5 / 16 px, then a parabola.
    ``width``: the windows' width when ``cross`` holds half spectra of real windows
    (:func:`cross_spectrum` with ``half``); the correlation is then real, summed over the
    non-negative frequencies with their conjugates folded in (weight 2, except 0 and Nyquist)."""
    single = cross.ndim == 2
    c = cross[None] if single else cross.reshape(-1, *cross.shape[-2:])
    real = width is not None
    k, n = c.shape[:2]
    m = width if real else c.shape[2]
    if real:
        corr = np.abs(sfft.irfft2(c, s=(n, m))).reshape(k, -1)
        fold = np.full(c.shape[2], 2.0, dtype=np.float32)
        fold[0] = 1.0
        if m % 2 == 0:
            fold[-1] = 1.0
        c = c * fold
    else:
        corr = np.abs(sfft.ifft2(c)).reshape(k, -1)
    flat = np.argmax(corr, axis=1)
    i, j = flat // m, flat % m
    d = np.stack([np.where(i <= n // 2, i, i - n), np.where(j <= m // 2, j, j - m)], axis=1).astype(float)
    fine = np.zeros((k, 1, 1))
    a = b = np.zeros(k, dtype=int)
    step = 1.0
    for factor, radius in ((16, 1.0), (upsample, 1.5 / 16)):
        half = int(np.ceil(radius * factor))
        grid = np.arange(-half, half + 1) / factor
        rows = _dft_rows(n, d[:, 0], grid, c.dtype)  # (k, g, n)
        cols = _dft_rows(m, d[:, 1], grid, c.dtype, real)  # (k, g, m), or (k, g, m // 2 + 1)
        values = rows @ c @ np.swapaxes(cols, 1, 2)
        fine = (np.abs(values.real if real else values) / (n * m)).astype(np.float64)
        best = np.argmax(fine.reshape(k, -1), axis=1)
        a, b = best // fine.shape[2], best % fine.shape[2]
        d = d + np.stack([grid[a], grid[b]], axis=1)
        step = 1.0 / factor
    g = fine.shape[1]
    ks = np.arange(k)
    f0 = fine[ks, a, b]

    def vertex(fm: np.ndarray, fp: np.ndarray, inside: np.ndarray) -> np.ndarray:
        den = fm - 2 * f0 + fp
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.where(den != 0, 0.5 * (fm - fp) / np.where(den != 0, den, 1), 0.0)
        return np.where(inside, v, 0.0)

    ia, ib = (a > 0) & (a < g - 1), (b > 0) & (b < g - 1)
    da_ = vertex(fine[ks, np.clip(a - 1, 0, g - 1), b], fine[ks, np.clip(a + 1, 0, g - 1), b], ia)
    db_ = vertex(fine[ks, a, np.clip(b - 1, 0, g - 1)], fine[ks, a, np.clip(b + 1, 0, g - 1)], ib)
    d = d + np.stack([da_, db_], axis=1) * step
    if single:
        return float(d[0, 0]), float(d[0, 1]), float(f0[0])
    shape = cross.shape[:-2]
    return d[:, 0].reshape(shape), d[:, 1].reshape(shape), f0.reshape(shape)


def correlate(primary: np.ndarray, secondary: np.ndarray, upsample: int = 128, weights: np.ndarray | None = None) -> tuple[Any, Any, Any]:
    """Sub-pixel shift (d_line, d_pixel) of ``secondary`` relative to ``primary`` (secondary(x) =
    primary(x - d)) and the normalised correlation at the peak. Windows of equal shape (last two
    axes; a stack of windows gives arrays, NaN where a window has no energy); complex windows are
    correlated coherently (use :func:`correlate_detected` when fringes are present). ``weights``
    (complex windows only): a real weight per frequency (FFT layout, :func:`spectral_weights`)
    applied to the cross spectrum for the peak search; the quality stays the unweighted normalised
    correlation at that peak."""
    real = not np.iscomplexobj(primary) and not np.iscomplexobj(secondary)
    width = primary.shape[-1] if real else None
    if weights is not None and real:
        raise ValueError("spectral weights are for complex windows")
    cross, energy = cross_spectrum(primary, secondary, half=real)
    searched = cross if weights is None else cross * weights
    if np.ndim(energy) == 0:
        if energy == 0 or not np.isfinite(energy):
            return np.nan, np.nan, 0.0
        d_l, d_p, value = peak(searched, upsample, width)
        if weights is not None:
            value = float(_value_at(cross[None], np.array([d_l]), np.array([d_p]))[0])
        return d_l, d_p, value / energy
    bad = ~(np.isfinite(energy) & (energy > 0))
    d_l, d_p, value = peak(np.where(bad[..., None, None], 0, searched), upsample, width)
    if weights is not None:
        flat = cross.reshape(-1, *cross.shape[-2:])
        value = _value_at(flat, np.nan_to_num(np.ravel(d_l)), np.nan_to_num(np.ravel(d_p))).reshape(np.shape(d_l))
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(bad, 0.0, value / np.where(bad, 1, energy))
    return np.where(bad, np.nan, d_l), np.where(bad, np.nan, d_p), q


def _value_at(cross: np.ndarray, d_l: np.ndarray, d_p: np.ndarray) -> np.ndarray:
    """|correlation| of full cross spectra (k, n, m) at the shifts (d_l, d_p) (k each), by a DFT."""
    n, m = cross.shape[1:]
    zero = np.zeros(1)
    rows = _dft_rows(n, d_l, zero, cross.dtype)  # (k, 1, n)
    cols = _dft_rows(m, d_p, zero, cross.dtype)  # (k, 1, m)
    return (np.abs(rows @ cross @ np.swapaxes(cols, 1, 2))[:, 0, 0] / (n * m)).astype(np.float64)


SPECTRAL_SUPPORT = 0.05
"""Frequencies (per axis) whose pooled power is below this fraction of the axis' maximum get no
weight in :func:`spectral_weights`."""


def spectral_weights(windows_p: np.ndarray, windows_s: np.ndarray, support: float = SPECTRAL_SUPPORT) -> np.ndarray | None:
    """Real weights per frequency (FFT layout) for coherent correlation: the inverse of the pooled
    power spectrum of Hann-tapered sample windows (stacks of complex windows, the secondary ones
    flattened), modelled as separable (azimuth x range, as SAR processing windows are), over the
    frequencies where each axis' power is at least ``support`` of its maximum, 0 elsewhere; scaled
    to 1 at the maximum power. None with fewer than 8 windows.

    Why: SAR spectra are weighted (Hamming / Kaiser processing windows) and narrower than the
    sampling rate, and the offset information of a frequency grows with its square: plain
    correlation weighs frequencies by their power and under-uses the band's outer part. When the
    coherence is the same at every frequency of the band (speckle and its decorrelation share the
    spectrum) the maximum-likelihood weighting (Hannan-Thomson, coherence^2 / (1 - coherence^2) /
    |cross power|) is this inverse power within the band. The band's skirts, where the processing
    window and the taper leave only a few per cent of the power, are left out: weighting them up
    amplifies leakage and edge effects (measured on simulated pairs: a bias of 0.01-0.02 px when
    they were kept, none with the 5 % support). The separable model averages each axis' power over
    the other axis and the windows, so a few dozen windows give smooth weights."""
    if windows_p.shape[0] < 8:
        return None
    taper = _hann2(*windows_p.shape[-2:])
    pp = np.mean(np.abs(sfft.fft2(windows_p.astype(WORK_DTYPE) * taper)) ** 2, axis=0, dtype=np.float64)
    ss = np.mean(np.abs(sfft.fft2(windows_s.astype(WORK_DTYPE) * taper)) ** 2, axis=0, dtype=np.float64)
    power = np.sqrt(pp * ss)
    if not np.isfinite(power).all() or power.max() <= 0:
        return None
    return separable_inverse(power, support)


def separable_inverse(power: np.ndarray, support: float, band: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
    """Separable inverse-power weights for a pooled power spectrum ``power`` (azimuth x range
    frequencies, any FFT layout): per axis, the power's marginal (its mean over the other axis) is
    inverted over the frequencies where it is at least ``support`` of its maximum, scaled to 1 at
    the maximum, and the two axes' weights are multiplied.

    Without ``band``, frequencies below the support get 0. With ``band`` (one boolean mask per
    axis, True where whitening may go), the weights are capped instead: every frequency's weight is
    the inverse of its power, but never more than that of the weakest frequency inside the band and
    the support (outside, where the power is aliased or too weak to be trusted, the spectrum keeps
    its own shape beyond that level). None when an axis has no frequency inside."""
    weights = np.ones(power.shape)
    for axis in (0, 1):
        marginal = power.mean(axis=1 - axis)
        inside = marginal >= support * marginal.max()
        if band is not None:
            inside &= band[axis]
        if not inside.any():
            return None
        top = marginal[inside].max()
        if band is None:
            w = np.where(inside, top / np.where(inside, marginal, 1.0), 0.0)
        else:
            w = top / np.maximum(marginal, marginal[inside].min())
        weights *= w[:, None] if axis == 0 else w[None, :]
    return weights.astype(np.float32)


def gcp_grid(shape: tuple[int, int], n: int, window: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """About ``n`` GCP centres on a regular grid that keeps whole windows inside the raster."""
    h, w = window
    ny, nx = shape[0] - h, shape[1] - w
    if ny < 1 or nx < 1:
        return np.zeros(0), np.zeros(0)
    aspect = ny / nx
    cols = max(1, round(np.sqrt(n / aspect)))
    rows = max(1, round(n / cols))
    lines = np.linspace(h / 2, shape[0] - h / 2, rows + 2)[1:-1] if rows > 1 else np.array([shape[0] / 2])
    pixels = np.linspace(w / 2, shape[1] - w / 2, cols + 2)[1:-1] if cols > 1 else np.array([shape[1] / 2])
    ll, pp = np.meshgrid(np.round(lines), np.round(pixels), indexing="ij")
    return ll.ravel(), pp.ravel()


class _Band:
    """A numpy tile of an array (rows from ``r0``, columns from ``c0``), with windows read from it
    (or, outside it, from the array itself)."""

    def __init__(self, array: Any, data: np.ndarray, r0: int, c0: int) -> None:
        self.array, self.data, self.r0, self.c0 = array, data, r0, c0

    def window(self, l0: int, p0: int, h: int, w: int) -> np.ndarray:
        i, j = l0 - self.r0, p0 - self.c0
        if i >= 0 and j >= 0 and i + h <= self.data.shape[0] and j + w <= self.data.shape[1]:
            return self.data[i : i + h, j : j + w]
        if self.array is None:  # a tile without a source: what it has of the window (a smaller array)
            return self.data[max(i, 0) : max(i + h, 0), max(j, 0) : max(j + w, 0)]
        win, _, _ = read_window(self.array, np.array([l0, l0 + h - 1], float), np.array([p0, p0 + w - 1], float), margin=0)
        return win


def _span_groups(values: np.ndarray, span: int) -> list[np.ndarray]:
    """Sorted unique ``values`` cut into consecutive groups spanning less than ``span``."""
    uniq = np.unique(values)
    groups, start = [], 0
    while start < uniq.size:
        stop = start + 1
        while stop < uniq.size and uniq[stop] - uniq[start] < span:
            stop += 1
        groups.append(uniq[start:stop])
        start = stop
    return groups


def _tiles(
    primary: Any,
    secondary: Any,
    lines: np.ndarray,
    pixels: np.ndarray,
    pred: tuple[np.ndarray, np.ndarray],
    window: tuple[int, int],
    pad: int,
) -> Iterator[tuple[list[np.ndarray], _Band, _Band]]:
    """GCPs in tiles of about one chunk: for each tile the GCP indices per GCP row, the primary tile
    covering their windows and the secondary tile covering the predicted windows (+- ``pad``), both
    computed in one go (a lazy input such as a geocoded image is computed once per tile, not once per
    window), so memory stays at a few chunks whatever the image size."""
    h, w = window
    if isinstance(primary, da.Array):
        ch, cw = primary.chunks[0][0], primary.chunks[1][0]
    else:
        ch = cw = 1024
    for rows in _span_groups(lines, max(ch, h)):
        in_rows = np.isin(lines, rows)
        for cols in _span_groups(pixels[in_rows], max(cw, w)):
            sel = np.flatnonzero(in_rows & np.isin(pixels, cols))
            p_r0, p_r1 = max(int(rows[0]) - h // 2, 0), min(int(rows[-1]) - h // 2 + h, primary.shape[0])
            p_c0, p_c1 = max(int(cols[0]) - w // 2, 0), min(int(cols[-1]) - w // 2 + w, primary.shape[1])
            pl, pp = pred[0][sel], pred[1][sel]
            ok = np.isfinite(pl) & np.isfinite(pp)
            if ok.any():
                s_r0 = int(np.clip(np.floor(pl[ok].min()) - h // 2 - pad, 0, secondary.shape[0]))
                s_r1 = int(np.clip(np.ceil(pl[ok].max()) + h // 2 + pad + 1, 0, secondary.shape[0]))
                s_c0 = int(np.clip(np.floor(pp[ok].min()) - w // 2 - pad, 0, secondary.shape[1]))
                s_c1 = int(np.clip(np.ceil(pp[ok].max()) + w // 2 + pad + 1, 0, secondary.shape[1]))
            else:
                s_r0 = s_r1 = s_c0 = s_c1 = 0
            bp, bs = primary[p_r0:p_r1, p_c0:p_c1], secondary[s_r0:s_r1, s_c0:s_c1]
            if isinstance(bp, da.Array) or isinstance(bs, da.Array):
                bp, bs = dask.compute(bp, bs)
            groups = [sel[lines[sel] == r] for r in np.unique(lines[sel])]
            yield groups, _Band(primary, np.asarray(bp), p_r0, p_c0), _Band(secondary, np.asarray(bs), s_r0, s_c0)


def _phasor(phase: np.ndarray) -> np.ndarray:
    """``exp(i phase)`` in :data:`WORK_DTYPE`: the phase (rad, any size) is reduced modulo 2 pi in
    double precision, then cosine and sine are taken in single precision (error ~3e-7, about 4 times
    faster than a double precision complex exponential)."""
    reduced = np.mod(phase, 2 * np.pi).astype(np.float32)
    out = np.empty(reduced.shape, dtype=WORK_DTYPE)
    np.cos(reduced, out=out.real)
    np.sin(reduced, out=out.imag)
    return out


def _phasor_grid(phase: Any, prior_window: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``exp(i phase)`` of the geometric phase on the primary grid ``rows x cols`` (1-D lines /
    pixels), the secondary positions from the grid evaluator ``prior_window``."""
    ps_l, ps_p = prior_window(rows, cols)
    return _phasor(phase(rows[:, None], cols[None, :], ps_l, ps_p))


def _flattening(
    phase: Any,
    prior: Any,
    prior_window: Any,
    r0: int,
    c0s: np.ndarray,
    window: tuple[int, int],
    current: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """``exp(i phase)`` for windows of one GCP row (first line ``r0``, first pixels ``c0s``): the
    geometric interferometric phase at every pixel, from the prior mapping pixel by pixel (a slant
    range error of 1 px is ~1000 rad, so only an exact geometric mapping gives the right fringes).
    With a grid evaluator (``prior_window``) the phase is computed once over the band the row's
    windows cover (they overlap) and cut into windows; otherwise window by window."""
    h, w = window
    rr = np.arange(r0, r0 + h, dtype=float)
    if prior_window is not None:
        first = int(c0s.min())
        band = _phasor_grid(phase, prior_window, rr, np.arange(first, int(c0s.max()) + w, dtype=float))
        return np.stack([band[:, c0 - first : c0 - first + w] for c0 in c0s.astype(int)])
    flat = np.empty((c0s.size, h, w), dtype=WORK_DTYPE)
    for k, c0 in enumerate(c0s):
        wl, wp = np.meshgrid(rr, np.arange(c0, c0 + w, dtype=float), indexing="ij")
        ps_l, ps_p = prior(wl, wp) if prior is not None else (wl + current[0][k], wp + current[1][k])
        flat[k] = _phasor(phase(wl, wp, ps_l, ps_p))
    return flat


def _flattening_band(phase: Any, prior_window: Any, band: _Band) -> _Band:
    """``exp(i phase)`` of the geometric phase over a whole primary tile (see :func:`_flattening`),
    windows cut from it like from the tile itself."""
    rr = np.arange(band.r0, band.r0 + band.data.shape[0], dtype=float)
    cc = np.arange(band.c0, band.c0 + band.data.shape[1], dtype=float)
    return _Band(None, _phasor_grid(phase, prior_window, rr, cc), band.r0, band.c0)


def _sample_weights(
    primary: Any,
    secondary: Any,
    lines: np.ndarray,
    pixels: np.ndarray,
    pred: tuple[np.ndarray, np.ndarray],
    window: tuple[int, int],
    phase: Any,
    prior: Any,
    prior_window: Any,
    n_sample: int = 32,
) -> np.ndarray | None:
    """:func:`spectral_weights` from up to ``n_sample`` GCP windows spread over the grid (primary
    windows and flattened secondary windows at the predicted positions)."""
    h, w = window
    picks, cuts_p, cuts_s = [], [], []
    for k in np.unique(np.linspace(0, lines.size - 1, min(n_sample, lines.size)).round().astype(int)):
        if not (np.isfinite(pred[0][k]) and np.isfinite(pred[1][k])):
            continue
        r0, c0 = int(lines[k]) - h // 2, int(pixels[k]) - w // 2
        s0, s1 = int(np.round(pred[0][k])) - h // 2, int(np.round(pred[1][k])) - w // 2
        if min(r0, c0, s0, s1) < 0 or r0 + h > primary.shape[0] or c0 + w > primary.shape[1]:
            continue
        if s0 + h > secondary.shape[0] or s1 + w > secondary.shape[1]:
            continue
        picks.append((k, r0, c0))
        cuts_p.append(primary[r0 : r0 + h, c0 : c0 + w])
        cuts_s.append(secondary[s0 : s0 + h, s1 : s1 + w])
    # one computation for all sample windows of a lazy input (not one per window)
    read_p, read_s = dask.compute(cuts_p, cuts_s)
    wins_p, wins_s = [], []
    for (k, r0, c0), wp, ws in zip(picks, read_p, read_s, strict=True):
        wp, ws = np.asarray(wp), np.asarray(ws)
        if not (np.isfinite(wp).all() and np.isfinite(ws).all()):
            continue
        cur = (np.array([pred[0][k] - lines[k]]), np.array([pred[1][k] - pixels[k]]))
        wins_p.append(wp)
        wins_s.append(ws * _flattening(phase, prior, prior_window, r0, np.array([c0]), (h, w), cur)[0])
    if not wins_p:
        return None
    return spectral_weights(np.stack(wins_p), np.stack(wins_s))


def measure_gcps(
    primary: Any,
    secondary: Any,
    cfg: CoregConfig,
    prior: Any = None,
    mask: Any = None,
    phase: Any = None,
    prior_window: Any = None,
) -> GCPTable:
    """Cross-correlate windows at the GCP grid. ``primary`` / ``secondary``: 2-D arrays (numpy or
    dask). ``prior(lines, pixels) -> (sec_lines, sec_pixels)``: predicted secondary positions
    (identity when None). ``mask``: GCPs to use (``onlyGCPsOnLand``), a boolean raster or a
    function of (lines, pixels). Complex data: with
    ``phase(lines, pixels, sec_lines, sec_pixels)`` (the interferometric phase the geometry predicts,
    rad) the secondary window is flattened by it and correlated coherently (most precise); without,
    the 2x-oversampled intensities are correlated (insensitive to fringes). ``prior_window(rows,
    cols)``: the prior on a grid of 1-D lines x pixels (faster than ``prior`` on every pixel)."""
    h, w = cfg.coarseRegistrationWindowHeight, cfg.coarseRegistrationWindowWidth
    lines, pixels = gcp_grid(primary.shape, cfg.nb_gcp, (h, w))
    if mask is not None:
        keep = mask(lines, pixels) if callable(mask) else mask[lines.astype(int), pixels.astype(int)]
        lines, pixels = lines[keep], pixels[keep]
    dl = np.full(lines.shape, np.nan)
    dp = np.full(lines.shape, np.nan)
    q = np.zeros(lines.shape)
    if prior is None:
        pred_l, pred_p = lines.astype(float), pixels.astype(float)
    else:
        pred_l, pred_p = prior(lines.astype(float), pixels.astype(float))

    weights = None
    if phase is not None and cfg.spectralWeighting == "band" and np.issubdtype(primary.dtype, np.complexfloating):
        weights = _sample_weights(primary, secondary, lines, pixels, (pred_l, pred_p), (h, w), phase, prior, prior_window)

    # GCP rows are read in bands of about a chunk (bounded memory)
    def do_row(sel: np.ndarray, band_p: _Band, band_s: _Band, band_flat: _Band | None) -> None:
        # the GCPs of one row, correlated as stacks of at most 32 windows per iteration (bounded memory)
        if sel.size > 32:
            for part in np.array_split(sel, -(-sel.size // 32)):
                do_row(part, band_p, band_s, band_flat)
            return
        r0 = int(lines[sel[0]]) - h // 2
        if r0 < 0 or r0 + h > primary.shape[0]:
            return
        c0s = pixels[sel].astype(int) - w // 2
        wins_p = np.stack([band_p.window(r0, c0, h, w) for c0 in c0s])
        if wins_p.shape[1:] != (h, w):
            return
        cur_l, cur_p = pred_l[sel] - lines[sel], pred_p[sel] - pixels[sel]
        active = np.isfinite(cur_l) & np.isfinite(cur_p)
        flat = None
        if band_flat is not None:
            cuts = [band_flat.window(r0, c0, h, w) for c0 in c0s]
            flat = np.stack(cuts) if all(c.shape == (h, w) for c in cuts) else None
        if flat is None and np.iscomplexobj(wins_p) and phase is not None:
            flat = _flattening(phase, prior, prior_window, r0, c0s, (h, w), (cur_l, cur_p))
        for _ in range(max(1, cfg.maxIteration)):
            sl0 = np.round(lines[sel] + np.where(active, cur_l, 0)).astype(int) - h // 2
            sp0 = np.round(pixels[sel] + np.where(active, cur_p, 0)).astype(int) - w // 2
            inside = active & (sl0 >= 0) & (sp0 >= 0) & (sl0 + h <= secondary.shape[0]) & (sp0 + w <= secondary.shape[1])
            use = np.flatnonzero(inside)
            if use.size == 0:
                break
            wins_s = [band_s.window(int(sl0[k]), int(sp0[k]), h, w) for k in use]
            ok = np.array([ws.shape == (h, w) for ws in wins_s])
            use = use[ok]
            if use.size == 0:
                break
            ws = np.stack([wins_s[k] for k in np.flatnonzero(ok)])
            wp_ = wins_p[use]
            if flat is not None:
                d_l, d_p, quality = correlate(wp_, ws * flat[use], cfg.upsampleFactor, weights)
            elif np.iscomplexobj(wp_):
                d_l, d_p, quality = correlate_detected(wp_, ws, cfg.upsampleFactor)
            else:
                d_l, d_p, quality = correlate(wp_, ws, cfg.upsampleFactor)
            good = np.isfinite(d_l) & np.isfinite(d_p)
            new_l = (sl0[use] + h // 2 - lines[sel][use]) + d_l
            new_p = (sp0[use] + w // 2 - pixels[sel][use]) + d_p
            change = np.hypot(new_l - cur_l[use], new_p - cur_p[use])
            upd = use[good]
            cur_l[upd], cur_p[upd] = new_l[good], new_p[good]
            idx = sel[upd]
            dl[idx], dp[idx], q[idx] = new_l[good], new_p[good], quality[good]
            # stop iterating GCPs that converged or failed
            active[use[~good]] = False
            active[use[good & (change < cfg.gcpTolerance)]] = False
            active[np.setdiff1d(np.arange(sel.size), use)] = False
            if not active.any():
                break

    with sfft.set_workers(FFT_WORKERS):
        for groups, band_p, band_s in _tiles(primary, secondary, lines, pixels, (pred_l, pred_p), (h, w), pad=max(h, w)):
            band_flat = None
            if phase is not None and prior_window is not None and np.iscomplexobj(band_p.data):
                # the flattening phase once per tile: the GCP rows' windows overlap (4 times at the defaults)
                band_flat = _flattening_band(phase, prior_window, band_p)
            for g in groups:
                do_row(g, band_p, band_s, band_flat)
    return GCPTable(lines.astype(float), pixels.astype(float), dl, dp, q)


@dataclass
class FineRegistration:
    """Result of :func:`fine_registration`: the residual shift (lines, pixels; secondary minus the
    coarse prediction) from the pooled coherence peak, the pooled coherence, the windows used, the
    per-window coherences (0 where a window could not be read), and whether at least 16 windows
    reached ``coherenceThreshold`` (``reliable``; otherwise all windows were pooled)."""

    shift_azimuth: float
    shift_range: float
    coherence: float
    windows_used: int
    window_coherence: np.ndarray
    reliable: bool = True


def fine_registration(
    primary: Any,
    secondary: Any,
    lines: np.ndarray,
    pixels: np.ndarray,
    prior: Any,
    cfg: CoregConfig,
    phase: Any = None,
    geometry: Any = None,
    geometry_window: Any = None,
) -> FineRegistration:
    """Fine registration of complex data (SNAP's ``applyFineRegistration``) by coherence maximisation.

    At each GCP (``lines``, ``pixels``) a ``fineRegistrationWindowHeight`` x ``Width`` window of the
    primary is paired with the secondary window at the integer position nearest to what ``prior``
    (the coarse result) predicts; the secondary is flattened by ``phase`` (geometric interferometric
    phase, rad, evaluated at the positions ``geometry`` maps to: the pure geometric mapping, since a
    warp's noise of 0.01 px across a window is already ~10 rad of slant-range phase;
    ``geometry_window(rows, cols)``: the same mapping on a grid, faster), else by the window's
    dominant fringe. Windows are processed a GCP row at a time. Each window's cross spectrum is
    shifted by its own fractional predicted offset, so all share the same residual shift; windows
    whose coherence reaches ``coherenceThreshold`` (all when fewer than 16 do) are summed with weights
    ``g^2 / (1 - g^2)`` and the peak of the pooled coherence, searched within half the extent
    ``fineRegistrationWindowAccAzimuth`` / ``AccRange`` and refined to ``1 / fineRegistrationOversampling``
    px and a parabola, is the residual shift. Pooling uses every window's information at once: single
    32 x 32 windows at coherence 0.6 scatter by ~0.05 px, their pooled peak by a few thousandths."""
    h, w = cfg.fineRegistrationWindowHeight, cfg.fineRegistrationWindowWidth
    upsample = max(cfg.fineRegistrationOversampling, 2)
    n = lines.size
    coh = np.zeros(n)
    spectra: dict[int, np.ndarray] = {}
    if n == 0:
        return FineRegistration(0.0, 0.0, 0.0, 0, coh)
    pl, pp = prior(lines.astype(float), pixels.astype(float))
    s0_all = np.round(pl).astype(int) - h // 2
    s1_all = np.round(pp).astype(int) - w // 2
    ku = np.fft.fftfreq(h)[:, None]
    kv = np.fft.fftfreq(w)[None, :]

    def do_row(sel: np.ndarray, band_p: _Band, band_s: _Band) -> None:
        l0 = int(lines[sel[0]]) - h // 2
        if l0 < 0 or l0 + h > primary.shape[0]:
            return
        idx, wins_p, wins_s = [], [], []
        for k in sel:
            p0 = int(pixels[k]) - w // 2
            s0, s1 = int(s0_all[k]), int(s1_all[k])
            if p0 < 0 or p0 + w > primary.shape[1] or s0 < 0 or s0 + h > secondary.shape[0] or s1 < 0 or s1 + w > secondary.shape[1]:
                continue
            win_p = band_p.window(l0, p0, h, w)
            win_s = band_s.window(s0, s1, h, w)
            if win_p.shape != (h, w) or win_s.shape != (h, w) or not (np.isfinite(win_p).all() and np.isfinite(win_s).all()):
                continue
            idx.append(int(k))
            wins_p.append(win_p)
            wins_s.append(win_s)
        if not idx:
            return
        ks = np.array(idx)
        p0s = pixels[ks].astype(int) - w // 2
        wp_, ws = np.stack(wins_p), np.stack(wins_s)
        # move each secondary window by its own predicted fractional offset first (Fourier shift):
        # the windows then differ only by the common residual, and the taper's pull towards zero
        # shift acts on that residual alone
        frac_l = (pl[ks] - (s0_all[ks] + h // 2))[:, None, None]
        frac_p = (pp[ks] - (s1_all[ks] + w // 2))[:, None, None]
        ws = sfft.ifft2(sfft.fft2(ws) * np.exp(2j * np.pi * (ku * frac_l + kv * frac_p)).astype(WORK_DTYPE))
        if phase is not None:
            ws = ws * _flattening(phase, geometry or prior, geometry_window, l0, p0s, (h, w), (frac_l, frac_p))
        else:
            # no geometric phase: flatten each window by its dominant fringe
            wl, wp = np.meshgrid(np.arange(h, dtype=float), np.arange(w, dtype=float), indexing="ij")
            spec = np.abs(sfft.fft2(wp_ * np.conj(ws), s=(4 * h, 4 * w)))
            best = np.argmax(spec.reshape(len(ks), -1), axis=1)
            fr = np.fft.fftfreq(4 * h)[best // (4 * w)][:, None, None]
            fc = np.fft.fftfreq(4 * w)[best % (4 * w)][:, None, None]
            ws = ws * np.exp(2j * np.pi * (fr * wl + fc * wp))
        cross, energy = cross_spectrum(wp_, ws)
        good = np.isfinite(energy) & (energy > 0)
        cross = cross[good] / energy[good, None, None].astype(cross.real.dtype)
        values = np.abs(sfft.ifft2(cross)).max(axis=(-2, -1))
        for k, c, v in zip(ks[good], cross, values, strict=True):
            coh[k] = float(v)
            spectra[int(k)] = c

    with sfft.set_workers(FFT_WORKERS):
        for groups, band_p, band_s in _tiles(primary, secondary, lines, pixels, (pl, pp), (h, w), pad=2):
            for g in groups:
                do_row(g, band_p, band_s)
    if not spectra:
        return FineRegistration(0.0, 0.0, 0.0, 0, coh)
    idx = np.array(sorted(spectra))
    good = idx[coh[idx] >= cfg.coherenceThreshold]
    use = good if good.size >= 16 else idx
    g2 = np.clip(coh[use], 0.0, 0.95) ** 2
    weights = g2 / (1 - g2)
    pooled = sum(wt * spectra[int(k)] for wt, k in zip(weights, use, strict=True)) / weights.sum()
    d_l, d_p, value = peak(pooled, upsample)
    acc_l, acc_p = cfg.fineRegistrationWindowAccAzimuth / 2, cfg.fineRegistrationWindowAccRange / 2
    if abs(d_l) > acc_l or abs(d_p) > acc_p:
        return FineRegistration(0.0, 0.0, float(value), 0, coh, good.size >= 16)
    return FineRegistration(d_l, d_p, float(value), int(use.size), coh, good.size >= 16)


def design(lines: np.ndarray, pixels: np.ndarray, order: int, scale: tuple[float, float]) -> np.ndarray:
    """Polynomial design matrix in normalised coordinates (l / scale[0], p / scale[1]), all terms of
    total degree <= ``order``: 1, l, p, l^2, l p, p^2, ..."""
    u, v = lines / scale[0], pixels / scale[1]
    return np.column_stack([u ** (d - j) * v**j for d in range(order + 1) for j in range(d + 1)])


WARP_TERM_ALPHA = 0.01
"""Significance level of the test that keeps a warp polynomial's highest-degree terms
(``warpOrderSelection: significant``, see :func:`select_order`)."""


@dataclass
class WarpFit:
    """Warp polynomials (coefficients for :func:`design` at ``order``; terms above
    ``fitted_order`` are zero when order selection dropped them), GCPs kept, residual RMS (px)."""

    coef_azimuth: np.ndarray
    coef_range: np.ndarray
    kept: np.ndarray
    rms_azimuth: float
    rms_range: float
    order: int
    scale: tuple[float, float]
    fitted_order: int | None = None
    effective_gcps: float | None = None


def n_terms(order: int) -> int:
    """Number of terms of a 2-D polynomial of total degree ``order``."""
    return (order + 1) * (order + 2) // 2


def effective_gcps(lines: np.ndarray, pixels: np.ndarray, window: tuple[int, int]) -> float:
    """Independent measurements among GCPs whose windows (``window`` lines x pixels) overlap: the
    area the windows cover over the equivalent area of one window, at most the number of GCPs.
    Overlapping windows share their speckle, so their errors are correlated and the GCP count
    overstates the evidence. A correlation sums ``taper^2``-weighted pixel products (both windows
    Hann-tapered), whose equivalent number of independent pixels is
    ``(sum taper^2)^2 / sum taper^4`` (3.78 times fewer than the window's pixels for Hann); the
    design effect of a dense GCP lattice follows from the same sums."""
    if lines.size == 0:
        return 0.0
    h, w = window
    taper2 = _hann2(h, w).astype(np.float64) ** 2
    equivalent = taper2.sum() ** 2 / np.sum(taper2**2)
    area = (np.ptp(lines) + h) * (np.ptp(pixels) + w)
    return float(min(lines.size, area / equivalent))


def select_order(
    lines: np.ndarray,
    pixels: np.ndarray,
    offsets: tuple[np.ndarray, np.ndarray],
    order: int,
    scale: tuple[float, float],
    n_eff: float,
    alpha: float = WARP_TERM_ALPHA,
) -> int:
    """The order to fit, at most ``order``: from ``order`` down, the highest-degree terms are
    tested jointly against the order below (an F-test per axis,
    Bonferroni over the two axes at level ``alpha``) and dropped when neither axis needs them.

    The F statistic is divided by the design effect ``n / n_eff`` (``n`` GCPs, ``n_eff`` independent
    ones, :func:`effective_gcps`): the noise of correlated GCPs fits extra terms ``n / n_eff`` times
    better than independent noise would, so the plain test would keep spurious terms. Why select at
    all: every term a polynomial fits from noisy GCPs adds its variance to the offset field; on a
    field that is constant (or affine) to within the noise, the order-2 fit of 1000 GCPs was 2-3 times
    less accurate than the constant one (simulated pairs, coherence 0.3-0.6)."""
    n = lines.size
    while order > 0:
        p_full, p_red = n_terms(order), n_terms(order - 1)
        dof_eff = n_eff - p_full
        if dof_eff < 1 or n - p_full < 1:
            order -= 1
            continue
        full = design(lines, pixels, order, scale)
        red = full[:, :p_red]
        keep = False
        for y in offsets:
            rss_f = float(np.sum((y - full @ np.linalg.lstsq(full, y, rcond=None)[0]) ** 2))
            rss_r = float(np.sum((y - red @ np.linalg.lstsq(red, y, rcond=None)[0]) ** 2))
            if rss_f <= 0:
                keep = keep or rss_r > 0
                continue
            stat = (rss_r - rss_f) / (p_full - p_red) / (rss_f / (n - p_full)) / (n / n_eff)
            if fdtrc(p_full - p_red, dof_eff, stat) < alpha / len(offsets):
                keep = True
        if keep:
            break
        order -= 1
    return order


def fit_warp(gcps: GCPTable, cfg: CoregConfig, shape: tuple[int, int]) -> WarpFit:
    """Least-squares warp polynomials for the azimuth and range offsets with iterative outlier
    rejection: residual norm above ``max(rmsThreshold, 3 * 1.4826 * MAD)``; low quality GCPs
    (``< minCoherence``) are never used. The order drops if too few GCPs remain for it. With
    ``warpOrderSelection: significant`` (default) ``warpPolynomialOrder`` is the highest order:
    after the outlier rejection, terms the GCPs do not support are dropped (:func:`select_order`) and
    the polynomial refitted; the coefficients keep the requested order's layout (dropped terms 0)."""
    usable = gcps.found & (gcps.quality >= cfg.minCoherence)
    scale = (max(shape[0] - 1, 1), max(shape[1] - 1, 1))
    order = cfg.warpPolynomialOrder
    while order > 0 and usable.sum() < 3 * n_terms(order):
        order -= 1
    if usable.sum() == 0:
        raise ValueError("no GCP could be matched (windows outside the overlap or no correlation)")
    kept = usable.copy()
    for _ in range(20):
        a = design(gcps.line[kept], gcps.pixel[kept], order, scale)
        ca, *_ = np.linalg.lstsq(a, gcps.offset_azimuth[kept], rcond=None)
        cr, *_ = np.linalg.lstsq(a, gcps.offset_range[kept], rcond=None)
        full = design(gcps.line, gcps.pixel, order, scale)
        res = np.hypot(full @ ca - gcps.offset_azimuth, full @ cr - gcps.offset_range)
        mad = np.median(np.abs(res[kept] - np.median(res[kept])))
        limit = max(cfg.rmsThreshold, 3.0 * 1.4826 * mad + np.median(res[kept]))
        new = usable & (res <= limit)
        if np.array_equal(new, kept) or new.sum() < n_terms(order):
            break
        kept = new
    lk, pk = gcps.line[kept], gcps.pixel[kept]
    yk = (gcps.offset_azimuth[kept], gcps.offset_range[kept])
    fitted, n_eff = order, None
    if cfg.warpOrderSelection == "significant" and order > 0:
        n_eff = effective_gcps(lk, pk, (cfg.coarseRegistrationWindowHeight, cfg.coarseRegistrationWindowWidth))
        fitted = select_order(lk, pk, yk, order, scale, n_eff)
        if fitted < order:
            a = design(lk, pk, fitted, scale)
            pad = np.zeros(n_terms(order) - n_terms(fitted))
            ca = np.r_[np.linalg.lstsq(a, yk[0], rcond=None)[0], pad]
            cr = np.r_[np.linalg.lstsq(a, yk[1], rcond=None)[0], pad]
    a = design(lk, pk, order, scale)
    ra, rr = a @ ca - yk[0], a @ cr - yk[1]
    return WarpFit(ca, cr, kept, float(np.sqrt(np.mean(ra**2))), float(np.sqrt(np.mean(rr**2))), order, scale, fitted, n_eff)
