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

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft as sfft

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


def _dft_matrix(n: int, positions: np.ndarray) -> np.ndarray:
    """E[u, k] = exp(2 pi i k u / n) for frequencies k in FFT order."""
    k = np.fft.fftfreq(n) * n
    return np.exp(2j * np.pi * np.outer(positions, k) / n)


def oversample(window: np.ndarray, factor: int = 2) -> np.ndarray:
    """Band-limited (FFT zero-padding) oversampling of a complex window by ``factor`` per axis."""
    n, m = window.shape
    spec = sfft.fftshift(sfft.fft2(window))
    out = np.zeros((n * factor, m * factor), dtype=np.complex128)
    r0, c0 = (n * factor - n) // 2, (m * factor - m) // 2
    out[r0 : r0 + n, c0 : c0 + m] = spec
    return sfft.ifft2(sfft.ifftshift(out)) * factor**2


def correlate_detected(primary: np.ndarray, secondary: np.ndarray, upsample: int = 128, factor: int = 2) -> tuple[float, float, float]:
    """Shift of complex windows measured on their intensities after oversampling the complex data
    ``factor`` times (detection doubles the bandwidth: without oversampling it aliases and the
    estimate locks towards integer pixels). Insensitive to interferometric fringes."""
    p = np.abs(oversample(primary, factor)) ** 2
    s = np.abs(oversample(secondary, factor)) ** 2
    d_l, d_p, q = correlate(p, s, upsample)
    return d_l / factor, d_p / factor, q


def correlate(primary: np.ndarray, secondary: np.ndarray, upsample: int = 128) -> tuple[float, float, float]:
    """Sub-pixel shift (d_line, d_pixel) of ``secondary`` relative to ``primary`` (secondary(x) =
    primary(x - d)) and the normalised correlation at the peak. Windows of equal shape; complex
    windows are correlated coherently (use :func:`correlate_detected` when fringes are present)."""
    p = primary.astype(np.complex128)
    s = secondary.astype(np.complex128)
    if not np.iscomplexobj(primary) and not np.iscomplexobj(secondary):
        p = p - p.mean()
        s = s - s.mean()
    # a Hann taper removes the edge effects of cutting windows (pull towards integer / zero shifts)
    taper = np.outer(np.hanning(p.shape[0]), np.hanning(p.shape[1]))
    p, s = p * taper, s * taper
    energy = np.sqrt(np.sum(np.abs(p) ** 2) * np.sum(np.abs(s) ** 2))
    if energy == 0 or not np.isfinite(energy):
        return np.nan, np.nan, 0.0
    cross = np.conj(sfft.fft2(p)) * sfft.fft2(s)
    corr = sfft.ifft2(cross)
    n, m = corr.shape
    i, j = np.unravel_index(np.argmax(np.abs(corr)), corr.shape)
    d0 = np.array([i if i <= n // 2 else i - n, j if j <= m // 2 else j - m], dtype=float)
    # refine around the integer peak in two stages (the matrix DFT cost grows with the points
    # evaluated): 1/16 px over +-1 px, then 1 / upsample px over +-1.5 / 16 px, then a parabola
    d = d0.copy()
    fine = np.zeros((1, 1))
    a = b = 0
    step = 1.0
    for factor, radius in ((16, 1.0), (upsample, 1.5 / 16)):
        half = int(np.ceil(radius * factor))
        grid = np.arange(-half, half + 1) / factor
        rows = _dft_matrix(n, d[0] + grid)
        cols = _dft_matrix(m, d[1] + grid)
        fine = np.abs(rows @ cross @ cols.T) / (n * m)
        a, b = np.unravel_index(np.argmax(fine), fine.shape)
        d = d + np.array([grid[a], grid[b]])
        step = 1.0 / factor

    def vertex(fm: float, f0: float, fp: float) -> float:
        den = fm - 2 * f0 + fp
        return 0.0 if den == 0 else 0.5 * (fm - fp) / den

    da_ = vertex(fine[a - 1, b], fine[a, b], fine[a + 1, b]) if 0 < a < fine.shape[0] - 1 else 0.0
    db_ = vertex(fine[a, b - 1], fine[a, b], fine[a, b + 1]) if 0 < b < fine.shape[1] - 1 else 0.0
    d = d + np.array([da_, db_]) * step
    return float(d[0]), float(d[1]), float(fine[a, b] / energy)


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


def measure_gcps(
    primary: Any, secondary: Any, cfg: CoregConfig, prior: Any = None, mask: np.ndarray | None = None, phase: Any = None
) -> GCPTable:
    """Cross-correlate windows at the GCP grid. ``primary`` / ``secondary``: 2-D arrays (numpy or
    dask). ``prior(lines, pixels) -> (sec_lines, sec_pixels)``: predicted secondary positions
    (identity when None). ``mask``: GCPs to use (``onlyGCPsOnLand``). Complex data: with
    ``phase(lines, pixels, sec_lines, sec_pixels)`` (the interferometric phase the geometry predicts,
    rad) the secondary window is flattened by it and correlated coherently (most precise); without,
    the 2x-oversampled intensities are correlated (insensitive to fringes)."""
    h, w = cfg.coarseRegistrationWindowHeight, cfg.coarseRegistrationWindowWidth
    lines, pixels = gcp_grid(primary.shape, cfg.nb_gcp, (h, w))
    if mask is not None:
        keep = mask[lines.astype(int), pixels.astype(int)]
        lines, pixels = lines[keep], pixels[keep]
    dl = np.full(lines.shape, np.nan)
    dp = np.full(lines.shape, np.nan)
    q = np.zeros(lines.shape)
    if prior is None:
        pred_l, pred_p = lines.astype(float), pixels.astype(float)
    else:
        pred_l, pred_p = prior(lines.astype(float), pixels.astype(float))

    # GCP rows are read as bands (bounded memory) and processed in threads (FFTs and BLAS release the GIL)
    def do_row(row: float) -> None:
        sel = np.flatnonzero(lines == row)
        r0 = int(row) - h // 2
        band_p, b_r0, b_c0 = read_window(primary, np.array([r0, r0 + h - 1], float), np.array([0, primary.shape[1] - 1], float), margin=0)
        if band_p.shape[0] < h:
            return
        for idx in sel:
            c0 = int(pixels[idx]) - w // 2
            win_p = band_p[r0 - b_r0 : r0 - b_r0 + h, c0 - b_c0 : c0 - b_c0 + w]
            cur_l, cur_p = pred_l[idx] - lines[idx], pred_p[idx] - pixels[idx]
            for _ in range(max(1, cfg.maxIteration)):
                sl0 = round(lines[idx] + cur_l) - h // 2
                sp0 = round(pixels[idx] + cur_p) - w // 2
                if sl0 < 0 or sp0 < 0 or sl0 + h > secondary.shape[0] or sp0 + w > secondary.shape[1]:
                    break
                win_s, _, _ = read_window(secondary, np.array([sl0, sl0 + h - 1], float), np.array([sp0, sp0 + w - 1], float), margin=0)
                if win_s.shape != win_p.shape:
                    break
                if np.iscomplexobj(win_p) and phase is not None:
                    # the phase needs the prior mapping pixel by pixel: a slant range error of 1 px is
                    # ~1000 rad, so only an exact geometric mapping gives the right fringe gradient
                    wl, wp = np.meshgrid(np.arange(r0, r0 + h, dtype=float), np.arange(c0, c0 + w, dtype=float), indexing="ij")
                    ps_l, ps_p = prior(wl, wp) if prior is not None else (wl + cur_l, wp + cur_p)
                    flat = np.exp(1j * phase(wl, wp, ps_l, ps_p))
                    d_l, d_p, quality = correlate(win_p, win_s * flat, cfg.upsampleFactor)
                elif np.iscomplexobj(win_p):
                    d_l, d_p, quality = correlate_detected(win_p, win_s, cfg.upsampleFactor)
                else:
                    d_l, d_p, quality = correlate(win_p, win_s, cfg.upsampleFactor)
                new_l = (sl0 + h // 2 - lines[idx]) + d_l
                new_p = (sp0 + w // 2 - pixels[idx]) + d_p
                change = np.hypot(new_l - cur_l, new_p - cur_p)
                cur_l, cur_p = new_l, new_p
                dl[idx], dp[idx], q[idx] = cur_l, cur_p, quality
                if change < cfg.gcpTolerance:
                    break

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(do_row, np.unique(lines)))
    return GCPTable(lines.astype(float), pixels.astype(float), dl, dp, q)


def design(lines: np.ndarray, pixels: np.ndarray, order: int, scale: tuple[float, float]) -> np.ndarray:
    """Polynomial design matrix in normalised coordinates (l / scale[0], p / scale[1]), all terms of
    total degree <= ``order``: 1, l, p, l^2, l p, p^2, ..."""
    u, v = lines / scale[0], pixels / scale[1]
    return np.column_stack([u ** (d - j) * v**j for d in range(order + 1) for j in range(d + 1)])


@dataclass
class WarpFit:
    coef_azimuth: np.ndarray
    coef_range: np.ndarray
    kept: np.ndarray
    rms_azimuth: float
    rms_range: float
    order: int
    scale: tuple[float, float]


def fit_warp(gcps: GCPTable, cfg: CoregConfig, shape: tuple[int, int]) -> WarpFit:
    """Least-squares warp polynomials for the azimuth and range offsets with iterative outlier
    rejection: residual norm above ``max(rmsThreshold, 3 * 1.4826 * MAD)``; low quality GCPs
    (``< minCoherence``) are never used. The order drops if too few GCPs remain for it."""
    usable = gcps.found & (gcps.quality >= cfg.minCoherence)
    scale = (max(shape[0] - 1, 1), max(shape[1] - 1, 1))
    order = cfg.warpPolynomialOrder
    while order > 0 and usable.sum() < 3 * (order + 1) * (order + 2) // 2:
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
        if np.array_equal(new, kept) or new.sum() < (order + 1) * (order + 2) // 2:
            break
        kept = new
    a = design(gcps.line[kept], gcps.pixel[kept], order, scale)
    ra = a @ ca - gcps.offset_azimuth[kept]
    rr = a @ cr - gcps.offset_range[kept]
    return WarpFit(ca, cr, kept, float(np.sqrt(np.mean(ra**2))), float(np.sqrt(np.mean(rr**2))), order, scale)
