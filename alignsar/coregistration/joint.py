"""Joint (pooled) refinement of a warp polynomial on detected or complex images.

The GCP route estimates one offset per window (the peak of its correlation), rejects outliers and
fits the polynomial to the survivors. At low coherence the per-window peaks scatter widely and
some lock onto a speckle side lobe: the outlier rule then has to decide between noise and signal.
The joint refinement skips the per-window decision. It maximises, over the polynomial's
coefficients ``c``, the sum of every window's normalised correlation evaluated at the offset the
polynomial predicts there::

    F(c) = sum_k corr_k(r_k(c)),   r_k(c) = prior_k + A_k c - (integer position of window k)

(``A_k``: the polynomial's design row at the window centre). Each ``corr_k`` is the windowed
cross-correlation of window ``k`` as a continuous function of the sub-pixel shift (its Fourier
series: the cross spectrum times ``exp(2 pi i f . r)``), so its gradient and Hessian with respect
to ``r`` are exact sums over the spectrum; chained through ``A_k`` they give the gradient and
Hessian of ``F`` in the coefficients, and Newton steps climb to the joint maximum (a few
iterations from the GCP fit, which starts within a small fraction of a pixel). A window whose own
peak is elsewhere still adds its correlation's slope at the predicted offset, which on average
points to the truth: nothing is thrown away, and no window can pull by more than its bounded
correlation. Measured on simulated GRD-like pairs (1024 x 1024, 2 x 2 multilooked intensities,
1000 windows of 128 x 128, five speckle seeds, constant offset): field RMSE at coherence 0.3 from
0.045 / 0.040 px (GCP fit) to 0.016 / 0.016 px (azimuth / range; 0.022 / 0.022 px without the
order selection below); at 0.6 and 0.9 equal to the GCP fit within the scatter.

Where most windows' own peaks are speckle (coherence 0.3 without scene texture) the GCP fit can
land pixels off and the Newton steps would climb a side lobe; the refinement therefore also
tries the constant warp at the peak of the summed correlation surfaces of all windows
(:func:`pooled_shift`) and starts from whichever start correlates better (measured on band-limited
speckle pairs at coherence 0.3, 1024 x 1024, 1000 windows, eight seeds: GCP fit 0.90 / 1.38 px
RMSE, joint refinement 0.025 / 0.019 px).

The pooled objective weighs frequencies by their power, as plain correlation does; detected
images carry most of their power at low frequencies, where a shift moves the phase least.
:func:`band_weights` whitens the pooled spectrum up to the band where the detected spectrum is not
folded (the maximum-likelihood weighting when the coherence is the same at every frequency), which
halves the error at low coherence (numbers in its docstring). When the complex spectrum the
intensities were detected from is known (its band and weighting window per axis, annotated by the
product: ``detected_band``), the folding itself is modelled: the sampled frequency ``f`` holds the
intensity content of ``f - 1``, ``f`` and ``f + 1`` in known shares (:func:`alias_shares`), each
moved by a shift with its own frequency, so the windows' terms follow the phase of that mix and the
whole band is whitened (:data:`MODEL_BAND`). That removes the detected data's sub-pixel bias
("pixel locking") at its source and uses the outer band the capped weighting gives up: 17-40 %
less error than the capped weighting on detected speckle and on the simulated GRD-like products
(numbers at :data:`MODEL_BAND` and in ``coregistration.api``).

Complex images correlated coherently (SLC windows flattened by the geometric interferometric
phase) are refined the same way; each window contributes the magnitude of its complex correlation,
since the phase that flattening leaves (atmosphere, orbit errors) is unknown, and the spectra carry
the coherent correlation's weights (:func:`coherent_weights`). There the GCPs' peaks rarely go
astray and their least-squares mean is about as precise as the pooled maximum; what the refinement
adds is its order test, which drops warp terms the GCP fit's F-test lets through (on simulated SLC
products the GCP fit kept a spurious order-1 or order-2 term on 4 of 33 pairs at coherence 0.3-0.6
whose residual field is constant, the Wald test on 1). Measured on those products (1024 x 1024,
1000 windows, prior off by 0.25 / -0.15 px, seeds 11-16), combined RMSE GCP fit vs joint:

- coherence 0.6: constant 0.0032 vs 0.0024 px, affine 0.0035 vs 0.0036 px, DEM case 0.0050 vs
  0.0022 px (seeds 11-13);
- coherence 0.3: constant 0.0083 vs 0.0086 px, affine 0.0102 vs 0.0076 px, DEM case 0.0064 vs
  0.0067 px;
- coherence 0.9: DEM case 0.0008 vs 0.0014 px, affine 0.0013 vs 0.0015 px: above
  :data:`JOINT_COHERENT_BELOW` the GCP fit is kept.

Offsets: secondary minus primary position, px. Frequencies: cycles per pixel.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft as sfft
from scipy.special import chdtrc

from .xcorr import (
    FFT_WORKERS,
    SPECTRAL_SUPPORT,
    _flattening,
    _flattening_band,
    _tiles,
    cross_spectrum,
    design,
    effective_gcps,
    n_terms,
    peak,
    separable_inverse,
)

JOINT_ITERATIONS = 4
"""Newton iterations at most (the refinement starts from the GCP fit, within a small fraction of a
pixel of the optimum; the updates fall below 1e-4 px after two or three)."""

JOINT_STOP_PX = 1e-4
"""Stop when no window's predicted offset moves by more than this (px)."""

JOINT_MAX_STEP_PX = 0.5
"""Largest change of the predicted offset at any window in one Newton step (px); larger steps are
scaled down (the correlation model holds within the main lobe)."""

JOINT_RECUT_PX = 0.75
"""The windows stay cut at fixed integer secondary positions while the Newton steps move the
predictions (the objective is then smooth in the coefficients); they are cut again, at the
rounded predictions, when a prediction has moved further than this from its cut (px): the
tapered correlation's peak is pulled towards the cut by about 0.15 % of the distance."""

JOINT_BAND = (0.4, 0.3)
"""Frequencies (cycles per pixel; azimuth, range) up to which :func:`band_weights` whitens the
pooled spectrum of detected images; beyond, the weight stays at its value at the band's weakest
frequency. Detecting a complex image doubles its bandwidth (the intensity's spectrum is the
autocorrelation of the complex one), so at the sampling of an SLC, or of a GRD multilooked on it,
the intensity's outer spectrum holds folded (aliased) content whose phase does not follow the
shift; the wider the complex band, the further in the folding reaches (range is usually the wider:
0.85 against 0.75 of the sampling rate in the simulator). Chosen on simulated detected pairs
(1024 x 1024, 2 x 2 multilooked, coherence 0.3) by trying 0.3 and 0.4 per axis; whitening the
whole sampled band instead made the global shift of 512 x 512 pairs at coherence 0.9 four times
worse than no weighting (0.016 / 0.023 px against 0.0040 / 0.0047 px). Used when the complex
spectrum behind the intensities is unknown (plain rasters, ground-range GRDs); when it is known the
folding is modelled instead (:data:`MODEL_BAND`)."""

MODEL_BAND = (0.5, 0.5)
"""With the aliasing model (``joint_refine(detected_band=...)``, :func:`alias_shares`) the folded
part of the detected spectrum is modelled, not given up: :func:`band_weights` whitens the whole
sampled band (up to the Nyquist frequency, cycles / px, azimuth / range), whatever the coherence.
Measured on detected speckle pairs (1024 x 1024, 2 x 2 multilooked, bands 0.75 / 0.85, 1000
windows, constant shift), combined RMSE capped band vs aliasing model: coherence 0.9 0.0024 vs
0.0014 px (12 pairs), 0.6 0.0049 vs 0.0038 px (20), 0.3 0.0166 vs 0.0124 px (20); capping the
model's whitening at 0.4 / 0.3 cycles / px instead gave 0.0034 / 0.0051 px at 0.6 (six pairs:
the outer band is where the gain is)."""

JOINT_SUPPORT = 1e-3
"""Frequencies (per axis) whose pooled power is below this fraction of the axis' maximum do not set
the cap of :func:`band_weights` (the 5 % support of the coherent weights would stop the whitening
of a multilooked intensity spectrum near 0.3 cycles / px, where its information still grows)."""

JOINT_WEIGHTING_BELOW = 0.6
""":func:`band_weights` applies only when the windows' mean (unweighted) correlation at the start
is below this. Whitening trades bias for variance: it cuts the estimate's scatter, which grows as
``(1 - rho^2) / rho^2`` with the intensities' correlation ``rho``, but amplifies the detected
data's sub-pixel bias (the folded spectrum's share grows with frequency). Measured on simulated
detected products with a geometric prior (``coregister``, 1024 x 1024, 1000 windows, seeds 11-13,
combined RMSE unweighted vs weighted): coherence 0.9 (mean correlation 0.82-0.84) 0.0018 vs
0.0038 px on the DEM case, 0.0033 vs 0.0027 px (seed 11) on a constant shift; coherence 0.6 (mean
correlation 0.34-0.38) 0.0083 vs 0.0036 px on the affine case (seed 11), 0.0075 vs 0.0029 px on
the DEM case (seeds 16-21; seeds 11-15: 0.0066 vs 0.0075 px, the per-seed errors scatter by about
0.005 px). The pooled coherence of these pairs is the same at every frequency below 0.4 cycles /
px (0.43-0.46 for seeds 12 of both cases), as the weighting assumes."""

JOINT_COHERENT_BELOW = 0.8
"""Complex data are refined jointly only when the GCPs' mean coherence (their peaks' normalised
correlation) is below this. Above, the GCP peaks scatter by less than 0.01 px and the GCP fit's
order test kept no spurious term on the simulated SLC products (0 of 12 pairs at coherence 0.9),
while the pooled maximum was off by about 0.001 px more in range on the DEM case (seeds 11-16,
combined RMSE GCP fit vs joint: 0.0008 vs 0.0014 px)."""

JOINT_CACHE_BYTES = 128 * 2**20
"""The windows' cross spectra are kept between Newton steps up to this size (about 2000 windows of
128 x 128); beyond, they are recomputed from the images (tile by tile) at every step, so memory
stays bounded whatever the number of GCPs."""


def intensity_spectrum(fraction: float, coefficient: float, freqs: np.ndarray) -> np.ndarray:
    """Power spectrum (unnormalised) of the intensity ``|z|^2`` of a circular Gaussian field ``z``
    whose amplitude spectrum is a generalised Hamming window ``coefficient + (1 - coefficient)
    cos(2 pi nu / fraction)`` over ``|nu| <= fraction / 2`` (cycles per sample, one axis), at the
    frequencies ``freqs`` (not folded): the autocorrelation of the complex power spectrum (the
    intensity's autocovariance is the squared magnitude of the field's), zero beyond
    ``|nu| = fraction``."""
    grid, step = np.linspace(-fraction / 2, fraction / 2, 2001, retstep=True)
    power = (coefficient + (1 - coefficient) * np.cos(2 * np.pi * grid / fraction)) ** 2
    auto = np.correlate(power, power, mode="full") * step
    lags = (np.arange(auto.size) - (power.size - 1)) * step
    return np.interp(freqs, lags, auto, left=0.0, right=0.0)


def alias_shares(fraction: float, coefficient: float, freqs: np.ndarray) -> np.ndarray:
    """(3, len(freqs)): the shares of the detected spectrum at the sampled frequencies ``freqs``
    (cycles / px, within +-0.5) that come from ``f - 1``, ``f`` and ``f + 1``, for an intensity
    image detected from a complex one sampled on the same grid, with the band ``fraction`` of the
    sampling rate and a generalised Hamming window ``coefficient`` (:func:`intensity_spectrum`).
    Detection doubles the band, so beyond ``1 - fraction`` cycles / px the sampled spectrum mixes
    two frequencies, and a shift moves each with its own: the phase of the mix does not follow
    ``2 pi f r``, which is the detected data's sub-pixel bias ("pixel locking"). A filter applied
    after detection on the same grid (a boxcar multilook) scales both parts alike and leaves the
    shares unchanged. Frequencies with no content keep share 1 at ``f``."""
    parts = np.stack([intensity_spectrum(fraction, coefficient, freqs + j) for j in (-1, 0, 1)])
    total = parts.sum(axis=0)
    shares = np.zeros_like(parts)
    shares[1] = 1.0
    ok = total > 0
    shares[:, ok] = parts[:, ok] / total[ok]
    return shares


@dataclass
class JointFit:
    """Refined warp coefficients (the layout of :func:`~alignsar.coregistration.xcorr.design` at
    the order they were given at), the windows that contributed, the Newton iterations done, the
    mean normalised correlation before and after, the largest change of the predicted offset
    over the windows (px), where the iterations started (``GCP fit`` or ``pooled shift``), the
    order of the refined polynomial (terms above it are 0), whether the spectra were weighted
    by :func:`band_weights` (the correlations are then the weighted ones) and whether the detected
    data's aliasing model was used (``detected_band``)."""

    coef_azimuth: np.ndarray
    coef_range: np.ndarray
    windows: int
    iterations: int
    correlation_before: float
    correlation_after: float
    max_change_px: float
    start: str = "GCP fit"
    order: int = 0
    weighted: bool = False
    aliasing_model: bool = False


def _shift_terms(freqs: np.ndarray, shift: np.ndarray, share: np.ndarray | None) -> list[np.ndarray]:
    """Per window (``shift``: k x 1, px) and frequency (``freqs``, cycles / px): the phase factor a
    shift applies, ``exp(i phi)`` with ``phi = 2 pi f r``, and the factors ``phi' / (2 pi)`` and
    ``(phi'^2 - i phi'') / (2 pi)^2`` times it (its first and second derivatives in ``r`` over
    ``2 pi i`` and ``(2 pi i)^2``: ``f`` and ``f^2`` times it for the plain shift).

    With ``share`` (3 x len(freqs), :func:`alias_shares`): the sampled frequency ``f`` holds the
    content of ``f + j``, j = -1, 0, 1, in those shares, each moved by the shift with its own
    frequency, so the expected cross spectrum turns with ``M(r) = sum_j share_j exp(2 pi i (f + j)
    r)``; its phase ``phi = arg M`` is used (unit magnitude: ``|M|`` varies with ``r`` where two
    frequencies interfere, and a model whose magnitude moves would pull the correlation's maximum
    off the true shift)."""
    if share is None:
        e = np.exp(2j * np.pi * freqs[None, :] * shift)
        return [e, freqs * e, freqs**2 * e]
    m0 = np.zeros((shift.shape[0], freqs.size), np.complex128)
    m1, m2 = np.zeros_like(m0), np.zeros_like(m0)
    for part, j in zip(share, (-1, 0, 1), strict=True):
        g = freqs + j
        e = part[None, :] * np.exp(2j * np.pi * g[None, :] * shift)
        m0 += e
        m1 += g * e
        m2 += g**2 * e
    size = np.abs(m0)
    ok = size > 1e-9
    unit = np.where(ok, m0 / np.where(ok, size, 1.0), 0.0)
    # phi' / (2 pi) = Im(M' / M) / (2 pi) = Re(m1 / m0); phi'' / (2 pi)^2 = -Im(m2 / m0 - (m1 / m0)^2)
    r1 = np.where(ok, m1 / np.where(ok, m0, 1.0), 0.0)
    r2 = np.where(ok, m2 / np.where(ok, m0, 1.0), 0.0)
    slope = r1.real
    curve = -(r2 - r1**2).imag
    return [unit, slope * unit, (slope**2 - 1j * curve) * unit]


def _window_terms(
    cross: np.ndarray, energy: np.ndarray, residual: np.ndarray, width: int, alias: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised correlation, its gradient and Hessian with respect to the shift, for the cross
    spectra ``cross`` of windows ``width`` px wide at the shifts ``residual`` (k, 2: lines,
    pixels; px). Returns (k,), (k, 2), (k, 2, 2).

    Real windows (half spectra, k x n x (width // 2 + 1)): the correlation at shift r is
    Re sum_f fold(f) C(f) exp(2 pi i f . r) / (n m energy). Complex windows (full spectra, k x n x
    width): the correlation is complex, c(r) = sum_f C(f) exp(2 pi i f . r) / (n m energy), and its
    magnitude |c| is used (each window's interferometric phase is a nuisance: what the geometric
    flattening leaves, atmosphere for instance); its derivatives follow from those of c:
    d|c| = Re(conj(c) dc) / |c|, d2|c| = (Re(conj(dc_i) dc_j) + Re(conj(c) d2c_ij)) / |c| -
    d_i|c| d_j|c| / |c|. The derivatives of c bring down powers of 2 pi i f. The exponential is
    separable, so every sum is ``u^T C v`` with u = f_line^a exp(2 pi i f_line r_line),
    v = f_pixel^b exp(...) (fold): one batched matrix product gives all of them."""
    _, n, cols = cross.shape
    real = cols != width
    f_l = np.fft.fftfreq(n)
    if real:
        f_p = np.fft.rfftfreq(width)
        fold = np.full(cols, 2.0)
        fold[0] = 1.0
        if width % 2 == 0:
            fold[-1] = 1.0
    else:
        f_p, fold = np.fft.fftfreq(width), np.ones(cols)
    share_l, share_p = alias if alias is not None else (None, None)
    u = np.stack(_shift_terms(f_l, residual[:, :1], share_l), axis=1)  # (k, 3, n)
    v = np.stack(_shift_terms(f_p, residual[:, 1:], share_p), axis=2) * fold[None, :, None]  # (k, cols, 3)
    m = u @ (cross.astype(np.complex128) @ v) / (n * width * energy[:, None, None])  # (k, 3, 3): sum f_l^a f_p^b z
    two_pi = 2 * np.pi
    # the complex correlation c, its gradient dc (k, 2) and Hessian d2c (k, 2, 2)
    c = m[:, 0, 0]
    dc = 2j * np.pi * np.stack([m[:, 1, 0], m[:, 0, 1]], axis=1)
    h_ll, h_lp, h_pp = m[:, 2, 0], m[:, 1, 1], m[:, 0, 2]
    d2c = -(two_pi**2) * np.stack([np.stack([h_ll, h_lp], axis=1), np.stack([h_lp, h_pp], axis=1)], axis=1)
    if real:
        return c.real, dc.real, d2c.real
    value = np.abs(c)
    safe = np.where(value > 0, value, 1.0)
    grad = np.real(np.conj(c)[:, None] * dc) / safe[:, None]
    hess = (np.real(np.conj(dc)[:, :, None] * dc[:, None, :]) + np.real(np.conj(c)[:, None, None] * d2c)) / safe[:, None, None]
    hess -= grad[:, :, None] * grad[:, None, :] / safe[:, None, None]
    return value, grad, hess


@dataclass(frozen=True)
class _Windows:
    """The images and the windows to correlate: ``window`` (lines x pixels) centred on the primary
    positions ``lines`` / ``pixels`` (px). Complex images: ``phase(lines, pixels, sec_lines,
    sec_pixels)`` (rad), the interferometric phase the geometry predicts, flattens the secondary
    windows, the secondary positions from ``geometry(lines, pixels)`` or, faster, its grid
    evaluator ``geometry_window(rows, cols)`` (as in
    :func:`~alignsar.coregistration.xcorr.measure_gcps`)."""

    primary: Any
    secondary: Any
    lines: np.ndarray
    pixels: np.ndarray
    window: tuple[int, int]
    phase: Any = None
    geometry: Any = None
    geometry_window: Any = None
    alias: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def complex(self) -> bool:
        """Whether the images are complex (full cross spectra, correlation magnitudes)."""
        return bool(np.issubdtype(self.primary.dtype, np.complexfloating))

    def spectrum_bytes(self) -> int:
        """Size of one window's cross spectrum (half for real images)."""
        h, w = self.window
        return h * (w if self.complex else w // 2 + 1) * np.dtype(np.complex64).itemsize


def _window_spectra(src: _Windows, cut: tuple[np.ndarray, np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Cross spectra of the windows (``window`` lines x pixels) centred on the primary positions
    and on the integer secondary positions ``cut``, in stacks of at most 64: (indices into
    ``lines``, cross spectra, energies); half spectra for real images, full ones for complex
    images (their secondary windows flattened by ``src.phase`` when given). Windows are read tile
    by tile (bounded memory); windows that leave either image, hold no-data (NaN) or have no
    energy are skipped."""
    primary, secondary, lines, pixels, (h, w) = src.primary, src.secondary, src.lines, src.pixels, src.window
    centres = (cut[0].astype(float), cut[1].astype(float))
    flatten = src.complex and src.phase is not None
    for groups, band_p, band_s in _tiles(primary, secondary, lines, pixels, centres, src.window, pad=1):
        # the flattening phase once per tile (the windows overlap), cut like the primary windows
        band_flat = _flattening_band(src.phase, src.geometry_window, band_p) if flatten and src.geometry_window is not None else None
        for sel in groups:
            for part in np.array_split(sel, -(-sel.size // 64)):
                r0 = int(lines[part[0]]) - h // 2
                keep, wins_p, wins_s = [], [], []
                for i, k in enumerate(part):
                    c0, s0, s1 = int(pixels[k]) - w // 2, int(cut[0][k]) - h // 2, int(cut[1][k]) - w // 2
                    if min(r0, c0, s0, s1) < 0 or s0 + h > secondary.shape[0] or s1 + w > secondary.shape[1]:
                        continue
                    if r0 + h > primary.shape[0] or c0 + w > primary.shape[1]:
                        continue
                    wp, ws = band_p.window(r0, c0, h, w), band_s.window(s0, s1, h, w)
                    if wp.shape != (h, w) or ws.shape != (h, w) or not (np.isfinite(wp).all() and np.isfinite(ws).all()):
                        continue
                    if flatten:
                        flat = band_flat.window(r0, c0, h, w) if band_flat is not None else None
                        if flat is None or flat.shape != (h, w):
                            flat = _flattening(src.phase, src.geometry, None, r0, np.array([c0]), (h, w), (np.zeros(1), np.zeros(1)))[0]
                        ws = ws * flat
                    keep.append(i)
                    wins_p.append(wp)
                    wins_s.append(ws)
                if not keep:
                    continue
                cross, energy = cross_spectrum(np.stack(wins_p), np.stack(wins_s), half=not src.complex)
                good = np.isfinite(energy) & (energy > 0)
                if good.any():
                    yield part[np.asarray(keep)[good]], cross[good], energy[good]


class _Spectra:
    """The windows' cross spectra at fixed cuts (integer secondary positions, px): computed once
    and kept when they fit in :data:`JOINT_CACHE_BYTES`, otherwise recomputed on every pass."""

    def __init__(self, src: _Windows, pred: tuple[np.ndarray, np.ndarray], weight: np.ndarray | None = None) -> None:
        self.src = src
        self.weight = weight
        self.cut = (np.round(pred[0]).astype(int), np.round(pred[1]).astype(int))
        size = src.lines.size * src.spectrum_bytes()
        self.cached = list(_window_spectra(src, self.cut)) if size <= JOINT_CACHE_BYTES else None

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(window indices, cross spectra times ``weight`` when set, energies), in stacks."""
        if self.weight is None:
            return self.raw()
        weight = self.weight
        return ((rows, cross * weight, energy) for rows, cross, energy in self.raw())

    def raw(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The unweighted stacks."""
        return iter(self.cached) if self.cached is not None else _window_spectra(self.src, self.cut)

    def offset(self, pred: tuple[np.ndarray, np.ndarray]) -> float:
        """Largest distance of the predictions from the cuts (px)."""
        return float(np.max(np.maximum(np.abs(pred[0] - self.cut[0]), np.abs(pred[1] - self.cut[1])), initial=0.0))


def band_weights(
    spectra: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    width: int,
    band: tuple[float, float] = JOINT_BAND,
    support: float = JOINT_SUPPORT,
) -> np.ndarray | None:
    """Real weights per frequency of the windows' half cross spectra (``spectra``: stacks of
    (indices, cross spectra of ``width``-pixel windows, energies), unweighted): the inverse of their
    pooled power, separable (azimuth x range), whitening up to ``band`` cycles / px per axis and
    capped beyond it (:func:`~alignsar.coregistration.xcorr.separable_inverse`), scaled so the
    weighted pooled power equals the unweighted (the weighted correlations stay on the scale of
    the plain ones: equal where the coherence is the same at every frequency). None without
    windows.

    The pooled power is the sum of the windows' ``|conj(P) S| / energy``: for any coherence
    ``E |P| |S|`` follows the shape of the images' power spectra, so the cross spectra already
    computed give it (no second transform of the windows).

    Why: the offset information of a frequency grows with its square, but plain correlation weighs
    frequencies by their power, which in a detected image falls towards high frequencies (speckle's
    intensity spectrum is the autocorrelation of the complex one, and multilooking tapers it
    further). Where the coherence is the same at every frequency (speckle and its decorrelation
    share the spectrum) the maximum-likelihood weighting is the inverse power; above the band the
    folded content does not follow the shift (:data:`JOINT_BAND`) and is not amplified. Measured
    with :func:`joint_refine` through ``coregister_rasters`` on simulated detected pairs (1024 x
    1024, 2 x 2 multilooked, 1000 windows of 128 x 128, constant offset), combined RMSE weighted vs
    not: coherence 0.3 0.0192 vs 0.0372 px (15 seeds, better on 12), 0.6 0.0053 vs 0.0082 px
    (6 seeds), 0.9 0.0030 vs 0.0028 px (15 seeds: equal within the scatter)."""
    total = _pooled_power(spectra)
    if total is None:
        return None
    freqs = (np.abs(np.fft.fftfreq(total.shape[0])), np.abs(np.fft.rfftfreq(width)))
    return _power_preserving(separable_inverse(total, support, (freqs[0] <= band[0], freqs[1] <= band[1])), total)


def coherent_weights(spectra: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], support: float = SPECTRAL_SUPPORT) -> np.ndarray | None:
    """Real weights per frequency of complex windows' full cross spectra (``spectra`` as for
    :func:`band_weights`): the coherent correlation's weighting
    (:func:`~alignsar.coregistration.xcorr.spectral_weights`: the inverse pooled power, separable,
    over the frequencies where each axis' power is at least ``support`` of its maximum, 0 outside),
    from the pooled ``|conj(P) S| / energy`` of all windows, scaled so the weighted pooled power
    equals the unweighted. None without windows."""
    total = _pooled_power(spectra)
    return None if total is None else _power_preserving(separable_inverse(total, support), total)


def _pooled_power(spectra: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray | None:
    """Sum over the windows of ``|cross spectrum| / energy`` (float64), None without windows."""
    total = None
    for _, cross, energy in spectra:
        part = np.sum(np.abs(cross) / energy[:, None, None], axis=0, dtype=np.float64)
        total = part if total is None else total + part
    if total is None or not np.isfinite(total).all() or total.max() <= 0:
        return None
    return total


def _power_preserving(weights: np.ndarray | None, total: np.ndarray) -> np.ndarray | None:
    """``weights`` scaled so that the weighted pooled power ``total`` equals the unweighted."""
    if weights is None:
        return None
    return (weights * (total.sum() / np.sum(weights * total))).astype(np.float32)


def _accumulate(
    spectra: _Spectra, pred: tuple[np.ndarray, np.ndarray], a: np.ndarray, width: int
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, int]:
    """Sum over the windows of the normalised correlation at the predicted positions ``pred``
    (relative to the windows' cuts), its gradient (2 p) and Hessian (2 p x 2 p) in the
    coefficients (azimuth terms, then range terms; ``a``: the design rows, k x p), the sum of the
    outer products of the windows' own gradients (2 p x 2 p: the gradient's covariance if the
    windows were independent) and the number of windows that contributed."""
    p = a.shape[1]
    total, grad, hess, outer, used = 0.0, np.zeros(2 * p), np.zeros((2 * p, 2 * p)), np.zeros((2 * p, 2 * p)), 0
    blocks = ((0, 0, slice(0, p), slice(0, p)), (0, 1, slice(0, p), slice(p, None)), (1, 1, slice(p, None), slice(p, None)))
    for rows, cross, energy in spectra:
        residual = np.stack([pred[0][rows] - spectra.cut[0][rows], pred[1][rows] - spectra.cut[1][rows]], axis=1)
        value, g, hk = _window_terms(cross, energy, residual, width, spectra.src.alias)
        ak = a[rows]
        total += float(value.sum())
        u = np.hstack([ak * g[:, :1], ak * g[:, 1:]])
        grad += u.sum(axis=0)
        outer += u.T @ u
        for i, j, sl_i, sl_j in blocks:
            block = (ak * hk[:, i, j, None]).T @ ak
            hess[sl_i, sl_j] += block
            if i != j:
                hess[sl_j, sl_i] += block.T
        used += int(rows.size)
    return total, grad, hess, outer, used


def pooled_shift(src: _Windows, base: tuple[np.ndarray, np.ndarray], upsample: int = 128) -> tuple[float, float, int] | None:
    """One shift for all windows: the peak of the sum of their normalised correlation surfaces,
    the windows cut at the rounded ``base`` positions (px; returned relative to ``base``: the mean
    rounding is added back), and the number of windows. Robust where single windows are not:
    the noise of N independent windows averages down by sqrt(N) while the common peak stays, so
    it finds the shift even when most GCPs' own peaks are speckle. None without windows."""
    cut = (np.round(base[0]).astype(int), np.round(base[1]).astype(int))
    pooled, used, rounding = None, 0, np.zeros(2)
    for rows, cross, energy in _window_spectra(src, cut):
        part = np.sum(cross / energy[:, None, None].astype(np.float32), axis=0)
        pooled = part if pooled is None else pooled + part
        used += int(rows.size)
        rounding += [np.sum(base[0][rows] - cut[0][rows]), np.sum(base[1][rows] - cut[1][rows])]
    if pooled is None:
        return None
    d_l, d_p, _ = peak(pooled, upsample, src.window[1])
    return float(d_l - rounding[0] / used), float(d_p - rounding[1] / used), used


def _newton(
    spectra: _Spectra,
    c: np.ndarray,
    predict: Any,
    a: np.ndarray,
    width: int,
    recut: Any,
    state: tuple[float, np.ndarray, np.ndarray, np.ndarray, int] | None = None,
) -> tuple[_Spectra, np.ndarray, tuple[float, np.ndarray, np.ndarray, np.ndarray, int], int] | None:
    """Newton steps on the summed correlation from the coefficients ``c`` (``state``: the
    :func:`_accumulate` state there when already known): the windows' spectra, the coefficients,
    the last state and the steps taken. None when the Hessian at the start is not negative
    definite (no maximum there)."""
    if state is None:
        state = _accumulate(spectra, predict(c), a, width)
    p = a.shape[1]
    iterations = 0
    for _ in range(JOINT_ITERATIONS):
        value, grad, hess, _, used = state
        if used == 0 or np.linalg.eigvalsh(hess).max() >= 0:
            if iterations == 0:
                return None
            break
        step = -np.linalg.solve(hess, grad)
        change = np.hypot(a @ step[:p], a @ step[p:]).max()
        if change > JOINT_MAX_STEP_PX:
            step *= JOINT_MAX_STEP_PX / change
            change = JOINT_MAX_STEP_PX
        trial = c + step
        t_state = _accumulate(spectra, predict(trial), a, width)
        if t_state[4] == 0 or t_state[0] / t_state[4] < value / used - 1e-12:
            break
        c, state = trial, t_state
        iterations += 1
        if spectra.offset(predict(c)) > JOINT_RECUT_PX:
            spectra = recut(predict(c))
            state = _accumulate(spectra, predict(c), a, width)
        if change < JOINT_STOP_PX:
            break
    return spectra, c, state, iterations


def _top_terms_significant(c: np.ndarray, covariance: np.ndarray, order: int, alpha: float) -> bool:
    """Whether the degree-``order`` terms of either axis differ from 0 (Wald test, chi-square with
    as many degrees of freedom as terms, Bonferroni over the two axes at level ``alpha``)."""
    p, q = n_terms(order), n_terms(order) - n_terms(order - 1)
    for axis in (0, 1):
        idx = np.arange(p - q, p) + axis * p
        sub = covariance[np.ix_(idx, idx)]
        try:
            stat = float(c[idx] @ np.linalg.solve(sub, c[idx]))
        except np.linalg.LinAlgError:
            return True
        if chdtrc(q, stat) < alpha / 2:
            return True
    return False


def joint_refine(
    primary: Any,
    secondary: Any,
    lines: np.ndarray,
    pixels: np.ndarray,
    coef: tuple[np.ndarray, np.ndarray],
    order: int,
    scale: tuple[float, float],
    window: tuple[int, int],
    base: tuple[np.ndarray, np.ndarray] | None = None,
    pooled_start: bool = True,
    select: bool = False,
    alpha: float = 0.01,
    weighted: bool = True,
    phase: Any = None,
    geometry: Any = None,
    geometry_window: Any = None,
    detected_band: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> JointFit | None:
    """Refine the warp coefficients ``coef`` (azimuth, range; :func:`design` layout at ``order``,
    offsets in px) by maximising the summed normalised correlation of the windows (``window``
    lines x pixels) centred on the primary positions ``lines`` / ``pixels``. ``primary`` /
    ``secondary``: 2-D arrays (numpy or dask), real or complex. Complex images are correlated
    coherently and each window contributes its correlation's magnitude (its interferometric phase
    is a nuisance); ``phase`` / ``geometry`` / ``geometry_window`` flatten the secondary windows
    as in :func:`~alignsar.coregistration.xcorr.measure_gcps` (``phase(lines, pixels, sec_lines,
    sec_pixels)``, rad; the geometric mapping pixel by pixel, or on a grid). ``base``: the secondary positions the
    polynomial's offsets are added to (a geometric prior; default: the primary positions).
    ``pooled_start``: also try the constant warp at :func:`pooled_shift` and start from whichever
    of the two has the higher mean correlation (where most GCPs are speckle the GCP fit is
    arbitrary, the pooled peak is not). Real images only: the pooled peak sums the windows'
    correlations, which for complex windows would need their phases to agree.

    ``select``: ``order`` is the highest order; after each maximisation the highest-degree terms
    are tested (Wald, level ``alpha``, Bonferroni over the axes) with the sandwich covariance of
    the estimate, ``H^-1 B H^-1 n / n_eff`` (``H``: the Hessian, ``B``: the summed outer products of
    the windows' gradients, ``n / n_eff``: the design effect of overlapping windows, see
    :func:`~alignsar.coregistration.xcorr.effective_gcps`), and dropped when neither axis needs
    them. The pooled estimate's covariance is smaller than the GCP fit's at low coherence, where
    the test drops terms the GCPs' outliers let through; at high coherence it is small enough to
    call the detected data's spatially varying sub-pixel bias (~0.005 px) significant, so callers
    start it at the order the GCPs support (see ``coregistration.api``).

    ``detected_band``: real (detected) images formed from a known complex spectrum: per axis
    (azimuth, range) its band as a fraction of the sampling rate and its generalised Hamming
    coefficient (``coregistration.api.detected_spectrum``), valid for intensities detected on the
    complex data's own grid (a boxcar multilook on that grid does not change it). The windows'
    terms then follow the folded spectrum's phase (:func:`alias_shares`) and the weighting whitens
    the whole band at any coherence (:data:`MODEL_BAND`). Ignored for complex images.

    ``weighted``: real images: once the start is chosen, if its mean correlation is below
    :data:`JOINT_WEIGHTING_BELOW` or ``detected_band`` is given, the windows' cross spectra are
    weighted by :func:`band_weights` (inverse pooled power up to :data:`JOINT_BAND`, or over the
    whole band with ``detected_band``); complex images: always, by
    :func:`coherent_weights` (as the GCPs' coherent correlation is). The correlations maximised and
    reported are then the weighted ones (:attr:`JointFit.weighted`).

    Returns None when the refinement cannot be trusted: fewer windows than twice the number of
    coefficients, a Hessian that is not negative definite at the start (no maximum near the GCP
    fit), or no increase of the summed correlation."""
    p = n_terms(order)
    c = np.r_[np.asarray(coef[0], float)[:p], np.asarray(coef[1], float)[:p]]
    b_l, b_p = base if base is not None else (lines.astype(float), pixels.astype(float))
    width = window[1]

    def predictor(a: np.ndarray, q: int) -> Any:
        return lambda cv: (b_l + a @ cv[:q], b_p + a @ cv[q:])

    alias = None
    if detected_band is not None and not np.issubdtype(np.dtype(primary.dtype), np.complexfloating):
        (frac_l, coef_l), (frac_p, coef_p) = detected_band
        alias = (alias_shares(frac_l, coef_l, np.fft.fftfreq(window[0])), alias_shares(frac_p, coef_p, np.fft.rfftfreq(window[1])))
    src = _Windows(primary, secondary, lines, pixels, window, phase, geometry, geometry_window, alias)

    weight: np.ndarray | None = None

    def recut(pred: tuple[np.ndarray, np.ndarray]) -> _Spectra:
        return _Spectra(src, pred, weight)

    a = design(lines, pixels, order, scale)
    predict = predictor(a, p)
    start = "GCP fit"
    with sfft.set_workers(FFT_WORKERS):
        spectra = recut(predict(c))
        state = _accumulate(spectra, predict(c), a, width)
        value, used = state[0], state[4]
        if pooled_start and not src.complex:
            pooled = pooled_shift(src, (b_l, b_p))
            if pooled is not None:
                alt = np.zeros(2 * p)
                alt[0], alt[p] = pooled[0], pooled[1]
                alt_pred = predict(alt)
                same_cut = np.array_equal(np.round(alt_pred[0]), spectra.cut[0]) and np.array_equal(np.round(alt_pred[1]), spectra.cut[1])
                alt_spectra = spectra if same_cut else recut(alt_pred)
                alt_state = _accumulate(alt_spectra, alt_pred, a, width)
                if alt_state[4] and (used == 0 or alt_state[0] / alt_state[4] > value / used):
                    c, spectra, state, start = alt, alt_spectra, alt_state, "pooled shift"
                    value, used = state[0], state[4]
                del alt_spectra
        if weighted and used and (src.complex or alias is not None or value / used < JOINT_WEIGHTING_BELOW):
            if src.complex:
                weight = coherent_weights(spectra.raw())
            elif alias is not None:
                weight = band_weights(spectra.raw(), width, MODEL_BAND)
            else:
                weight = band_weights(spectra.raw(), width)
            if weight is not None:  # the objective changes: evaluate the start afresh
                spectra.weight = weight
                state = _accumulate(spectra, predict(c), a, width)
                value, used = state[0], state[4]
        c_start, start_value, start_used = c, value, used
        if used < 2 * p:
            return None
        n_eff = effective_gcps(lines, pixels, window)
        fitted, iterations = order, 0
        while True:
            result = _newton(spectra, c, predict, a, width, recut, state)
            if result is None:
                return None
            spectra, c, state, steps = result
            value, _, hess, outer, used = state
            iterations += steps
            if not select or fitted == 0:
                break
            h_inv = np.linalg.inv(hess)
            covariance = h_inv @ outer @ h_inv * max(used / max(n_eff, 1.0), 1.0)
            if _top_terms_significant(c, covariance, fitted, alpha):
                break
            fitted -= 1
            q = n_terms(fitted)
            c = np.r_[c[:q], c[p : p + q]]
            p, a = q, a[:, :q]
            predict = predictor(a, p)
            state = None  # the design changed: evaluate afresh
    if iterations == 0:
        return None
    n_full = n_terms(order)

    def expand(cv: np.ndarray) -> np.ndarray:
        q, pad = len(cv) // 2, np.zeros(n_full - len(cv) // 2)
        return np.r_[cv[:q], pad, cv[q:], pad]

    delta = expand(c) - expand(c_start)
    full = design(lines, pixels, order, scale)
    moved = float(np.hypot(full @ delta[:n_full], full @ delta[n_full:]).max())
    return JointFit(
        np.r_[c[:p], np.zeros(len(coef[0]) - p)],
        np.r_[c[p:], np.zeros(len(coef[0]) - p)],
        used,
        iterations,
        start_value / start_used,
        value / used,
        moved,
        start,
        fitted,
        weight is not None,
        alias is not None,
    )
