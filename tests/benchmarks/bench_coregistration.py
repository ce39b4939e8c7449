"""Benchmark: coregistration accuracy (RMSE of the recovered offset field against the known truth,
inner area, shadow excluded) and wall time, for alignsar's methods and peers in the same run.

Cases:

* simulated 1024 x 1024 pairs (``--size``) at coherence 0.9 / 0.6 / 0.3 with the simulator's known
  offset fields (``--cases``, see :data:`CASES`): constant sub-pixel, affine and DEM-induced, each
  with a shift whose fractional parts are 1/8, 3/8, 5/8 or 7/8 px (``dem-random``: the shift seed 11
  draws, -0.51 / -1.49 px, where amplitude estimators happen to be unbiased); SLC (complex data)
  and GRD-like (intensities multilooked 2 x 2 by a boxcar, same sampling:
  :func:`alignsar.simulate.variants.detected`). ``--seeds``: speckle / scene seeds (default 11);
  with several, every row's RMSE is pooled over them (root mean square) and times are summed;
* real texture: the Amsterdam Sentinel-1 IW SLC crop of the shared test data (84 x 338), shifted by
  known amounts (exact Fourier shifts in range, integer lines in azimuth, as in
  ``tests/test_coregistration.py``); windows of 64 px there (the crop has 84 lines). Skipped when
  the shared data is missing (``ALIGNSAR_SHARED_DATA`` or ``../shared/data``).

The methods that use the geometry (``dem_assisted``, the product runs of ``cross_corr``) get the
secondary with its annotated timing late by ``--prior-error`` (default 0.25 lines, -0.15 samples;
:func:`alignsar.simulate.variants.with_timing_error`), as an orbit / timing error or a tropospheric
delay would make it: the geometric prior is then off by that constant, which ``dem_assisted``
alone shows and the correlation has to measure (``--prior-error 0 0``: the simulator's exact
geometry).

Methods: alignsar ``dem_assisted`` (alone and with its constant refinement) and ``cross_corr``: on
the SLC products (with the geometric prior of orbits + DEM), on the GRD-like products (the same
prior, intensity correlation) and on the GRD-like pixels as bare rasters (no prior: what
``coregister_rasters`` and the peers see; on the DEM case its warp polynomial cannot follow the
terrain), and the peers, all on detected amplitudes (SLC: ``|slc|``; GRD-like: the multilooked
intensities):

* scikit-image ``phase_cross_correlation`` (upsample 100, one global shift);
* arosics ``COREG`` (one global shift) and ``COREG_LOCAL`` (tie points every ``grid_res`` px,
  ``grid_res`` chosen so that about ``--nb-gcp`` tie points fall in the area where alignsar places
  its GCPs; ``min_reliability=0``, its default filter level 3; window 128 like alignsar's coarse
  window; ``max_shift`` = largest true offset + 3 px; ``CPUs=2``; ``q=True``), fed the images as
  temporary GeoTIFFs (EPSG:32631, 1 m pixels, north up: see ``_peers_arosics.py``; its times
  include writing them).

How the RMSE is computed (every row the same mask: inner area with a margin of 64 px, half a
window on the real texture, and no shadow): alignsar's fields and the COREG_LOCAL polynomial are
evaluated at every pixel of the mask; global shifts (scikit-image, COREG) are compared as a
constant with the truth on the same mask; ``COREG_LOCAL tie pts`` compares the tie points arosics
keeps (matched, not flagged by its filters) that fall inside the mask with the truth at those
pixels; ``COREG_LOCAL + poly`` fits, by plain least squares, a polynomial of alignsar's order (2 for
SLC, 1 for GRD) to all the tie points arosics keeps and evaluates it like alignsar's fields. The real
texture rows pool the errors of all known shifts (times: summed). All offsets: secondary minus
primary position, px (arosics reports the opposite sign, converted in ``_peers_arosics.py`` and
checked at start-up on a known 2 / 3 px roll). arosics is given ``max_shift`` from the truth, which
alignsar never gets; alignsar's product runs of ``cross_corr`` have the geometric prior (orbits +
DEM, off by ``--prior-error``), the peers and alignsar's raster run have none. Times are single runs, first calls included (numba compilation),
or with ``--repeat N`` the median of N runs of every method (the machine's background load makes
single runs vary by +-30 %).

Reference rows of the simulated cases: ``best constant`` (the truth's mean: the floor of any
global-shift method) and ``bound: one constant shift`` (:func:`shift_bound`: the Cramer-Rao bound
of a constant shift from the pair's second-order statistics at the case's coherence, for SLC and,
with the detected spectrum's folding included, for detected data: :func:`detected_bound`). The ratio lines put ours and each peer's target (a tenth of its RMSE) over the
bound: a target below the bound is out of reach of any correlation method.

scikit-image and arosics are peers, not dependencies; each is skipped with a note when missing.
scikit-image alone: ``.venv/bin/pip install scikit-image``. arosics needs GDAL's Python bindings,
so it gets a separate environment (Debian 12, which ships GDAL 3.6.2)::

    apt-get install -y libgdal-dev gdal-bin          # gdal-config --version: 3.6.2
    python3 -m venv /work/bench-arosics
    /work/bench-arosics/bin/pip install setuptools wheel "numpy<2"
    /work/bench-arosics/bin/pip install --no-build-isolation --no-cache-dir gdal==3.6.2
    printf 'gdal==3.6.2\\nnumpy<2\\n' > /tmp/constraints.txt
    /work/bench-arosics/bin/pip install -c /tmp/constraints.txt arosics==1.12.1 scikit-image
    /work/bench-arosics/bin/pip install --no-deps -e .
    /work/bench-arosics/bin/python -c "import arosics, alignsar, skimage"

Run (from the repository root)::

    .venv/bin/python tests/benchmarks/bench_coregistration.py [--size 1024] [--nb-gcp 1000]
    /work/bench-arosics/bin/python tests/benchmarks/bench_coregistration.py --size 1024

Seeds pooled, scikit-image only (single-seed ratios scatter with the seed)::

    .venv/bin/python tests/benchmarks/bench_coregistration.py --seeds 11 12 13 --no-arosics --no-real

Fewer cases: ``--coherence 0.9`` (or no value: none simulated), ``--no-real``, ``--no-arosics``;
``--repeat 3`` for steadier times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr
from rasterio.transform import Affine

from alignsar.coregistration import CoregConfig, coregister, coregister_rasters
from alignsar.geometry import DEM
from alignsar.simulate import SceneConfig, simulate_scene
from alignsar.simulate.scene import SIMULATOR_WINDOW_COEFFICIENT
from alignsar.simulate.variants import detected, with_timing_error

REAL_SHIFTS = ((0, 0.37), (2, -0.81), (-1, 1.23), (1, -0.05))  # (lines, pixels), as in the unit test
REAL_WINDOW = 64


REPEAT = [1]
"""Runs per timed call (``--repeat``); every method's time is the median of its runs."""


def timed(run):
    """``run()``'s result and median wall time (s) over :data:`REPEAT` runs."""
    times = []
    for _ in range(REPEAT[0]):
        t = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t)
    return out, float(np.median(times))


def timed_peer(run):
    """The same for a peer helper that times itself (its result's ``seconds``, which excludes its
    set-up): the last result and the median of those times."""
    outs = [run() for _ in range(REPEAT[0])]
    return outs[-1], float(np.median([o.seconds for o in outs]))


def inner_mask(truth: xr.Dataset, margin: int) -> np.ndarray:
    ok = truth["samples"].values > 0
    ok[:margin], ok[-margin:], ok[:, :margin], ok[:, -margin:] = False, False, False, False
    return ok


def rmse_grid(d_az: np.ndarray, d_rg: np.ndarray, truth: xr.Dataset, margin: int = 64) -> tuple[float, float]:
    """RMSE of offset grids (or constants) against the truth over the inner mask."""
    ok = inner_mask(truth, margin)
    e_az = np.broadcast_to(d_az, ok.shape) - truth["offset_azimuth"].values
    e_rg = np.broadcast_to(d_rg, ok.shape) - truth["offset_range"].values
    return float(np.sqrt(np.mean(e_az[ok] ** 2))), float(np.sqrt(np.mean(e_rg[ok] ** 2)))


def rmse(field, truth: xr.Dataset, margin: int = 64) -> tuple[float, float]:
    sl, sp = (a.compute() for a in field.on_grid())
    n0, n1 = sl.shape
    ll, pp = np.meshgrid(np.arange(n0, dtype=float), np.arange(n1, dtype=float), indexing="ij")
    return rmse_grid(sl - ll, sp - pp, truth, margin)


def multilook(intensity: np.ndarray) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    return uniform_filter(intensity, 2)


def poly_design(lines: np.ndarray, pixels: np.ndarray, order: int, shape: tuple[int, int]) -> np.ndarray:
    u, v = lines / max(shape[0] - 1, 1), pixels / max(shape[1] - 1, 1)
    return np.column_stack([u ** (d - j) * v**j for d in range(order + 1) for j in range(d + 1)])


def skimage_rows(pairs, truth: xr.Dataset, margin: int) -> list[tuple]:
    """scikit-image phase_cross_correlation on (data, primary amplitude, secondary amplitude) pairs."""
    try:
        from skimage.registration import phase_cross_correlation
    except ImportError:
        print("(scikit-image not installed: peer skipped; .venv/bin/pip install scikit-image)")
        return []
    rows = []
    for data, a, b in pairs:
        (shift, _, _), dt = timed(lambda a=a, b=b: phase_cross_correlation(a, b, upsample_factor=100))
        d = -np.asarray(shift)  # skimage returns the shift that registers b onto a
        rows.append((data, "skimage phase_cross_correlation", *rmse_grid(d[0], d[1], truth, margin), dt, ""))
    return rows


def arosics_rows(pairs, truth: xr.Dataset, margin: int, *, window: int, grid_res: int, order: dict[str, int]) -> list[tuple]:
    """arosics COREG and COREG_LOCAL on (data, primary amplitude, secondary amplitude) pairs."""
    peers = _arosics()
    if peers is None:
        return []
    ok = inner_mask(truth, margin)
    t_az, t_rg = truth["offset_azimuth"].values, truth["offset_range"].values
    max_shift = int(np.ceil(max(np.abs(t_az[ok]).max(), np.abs(t_rg[ok]).max()))) + 3
    rows = []
    for data, a, b in pairs:
        g, g_sec = timed_peer(lambda a=a, b=b: peers.global_shift(a, b, window=window, max_shift=max_shift, cpus=2))
        note = f"reliability {g.reliability:.0f} %" if g.success else "failed"
        rows.append((data, "arosics COREG", *rmse_grid(g.d_az, g.d_rg, truth, margin), g_sec, note))
        tp, tp_sec = timed_peer(
            lambda a=a, b=b: peers.tie_points(a, b, grid_res=grid_res, window=window, max_shift=max_shift, cpus=2, min_reliability=0)
        )
        li, pi = tp.line.astype(int), tp.pixel.astype(int)
        inside = (li >= 0) & (li < ok.shape[0]) & (pi >= 0) & (pi < ok.shape[1])
        inside[inside] = ok[li[inside], pi[inside]]
        li, pi = li[inside], pi[inside]
        note = f"{tp.total} pts, {tp.matched} matched, {tp.outliers} outliers, {inside.sum()} kept in mask, max_shift {max_shift}"
        if inside.sum() == 0:
            rows.append((data, "arosics COREG_LOCAL tie pts", np.nan, np.nan, tp_sec, note))
            continue
        e_az, e_rg = tp.d_az[inside] - t_az[li, pi], tp.d_rg[inside] - t_rg[li, pi]
        rows.append((data, "arosics COREG_LOCAL tie pts", float(np.sqrt(np.mean(e_az**2))), float(np.sqrt(np.mean(e_rg**2))), tp_sec, note))
        # the same tie points (all kept ones, as alignsar fits all its GCPs) fitted by a polynomial
        n = min(order[data], 2 if len(tp.line) >= 18 else 1 if len(tp.line) >= 9 else 0)
        design = poly_design(tp.line, tp.pixel, n, ok.shape)
        ca = np.linalg.lstsq(design, tp.d_az, rcond=None)[0]
        cr = np.linalg.lstsq(design, tp.d_rg, rcond=None)[0]
        ll, pp = np.meshgrid(np.arange(ok.shape[0], dtype=float), np.arange(ok.shape[1], dtype=float), indexing="ij")
        full = poly_design(ll.ravel(), pp.ravel(), n, ok.shape)
        fa, fr = (full @ ca).reshape(ok.shape), (full @ cr).reshape(ok.shape)
        rows.append((data, f"arosics COREG_LOCAL + poly{n}", *rmse_grid(fa, fr, truth, margin), tp_sec, "fit time not counted"))
    return rows


_AROSICS: list = []


def _arosics():
    """The helper module, or None (with a note, once) when arosics cannot be imported."""
    if not _AROSICS:
        try:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            import _peers_arosics
        except ImportError as exc:
            print(f"(arosics not importable ({exc}): peers COREG / COREG_LOCAL skipped; see the docstring of {__file__} to install them)")
            _peers_arosics = None
        _AROSICS.append(_peers_arosics)
    return _AROSICS[0]


def grid_res_for(shape: tuple[int, int], window: int, nb_gcp: int) -> int:
    """arosics tie point spacing giving about ``nb_gcp`` points where alignsar places its GCPs
    (whole windows inside the raster); arosics also tries the points nearer the edges."""
    return max(4, round(np.sqrt((shape[0] - window) * (shape[1] - window) / nb_gcp)))


CASES: dict[str, dict] = {
    # flat terrain, no baseline: the offset field is the constant secondary shift
    "constant": {"relief_m": 0.0, "baseline_m": 0.0, "secondary_shifts_px": ((-1.875, 2.375),)},
    # flat terrain, cross-track baseline (range offsets linear in range) and a 0.05 % longer line
    # interval (azimuth offsets linear in line, -0.26 .. +0.26 lines over 1024 lines)
    "affine": {"relief_m": 0.0, "secondary_shifts_px": ((0.625, -1.125),), "line_interval_ratio": (1.0005,)},
    # 80 m of relief and the baseline: DEM-induced offsets on top of the shift
    "dem": {"relief_m": 80.0, "secondary_shifts_px": ((2.875, -0.625),)},
    # the random shift seed 11 draws (-0.51 / -1.49 px: fractions near 0.5, where pixel locking vanishes)
    "dem-random": {"relief_m": 80.0},
}
"""Simulated offset fields. The shifts' fractional parts (1/8, 3/8, 5/8, 7/8 of a pixel) have
|sin(2 pi f)| = 0.71, the root mean square over uniformly distributed fractions: amplitude
estimators' pixel-locking bias (about -0.24 sin(2 pi f) px) weighs as it would for random offsets."""


def simulated(gamma: float, case: str, args: argparse.Namespace, seed: int) -> list[tuple]:
    scene = simulate_scene(
        SceneConfig(lines=args.size, samples=args.size, dates=2, polarizations=("VV",), coherence=gamma, seed=seed, **CASES[case])
    )
    tm = scene.truth_map
    dem = DEM(tm["dem"].values, Affine.from_gdal(*tm.attrs["transform"]), __import__("pyproj").CRS.from_epsg(tm.attrs["epsg"]))
    p, s = scene.acquisitions
    s_annot = with_timing_error(s, *args.prior_error)
    truth = scene.truth[1]
    rows = []
    slc_cfg = CoregConfig.defaults("SLC")
    slc_cfg.nb_gcp = args.nb_gcp
    grd_cfg = CoregConfig.defaults("GRD")
    grd_cfg.nb_gcp = args.nb_gcp
    dem_cfg = CoregConfig.defaults("SLC")
    dem_cfg.demAssistedRefinement = "constant"
    dem_cfg.nb_gcp = args.nb_gcp
    for name, method, cfg in (
        ("dem_assisted", "dem_assisted", None),
        ("dem_assisted + constant", "dem_assisted", dem_cfg),
        (f"cross_corr (SLC, {args.nb_gcp} GCPs)", "cross_corr", slc_cfg),
    ):
        res, dt = timed(lambda method=method, cfg=cfg: coregister(p, s_annot, method, dem=dem, config=cfg))
        rows.append(("SLC", name, *rmse(res.offsets, truth), dt, ""))
    # GRD-like: detected, multilooked intensities on the same grid; as bare rasters (no geometry)
    # and as products (the geometric prior from orbits and DEM, as for real GRDs)
    pg, sg = detected(p), detected(s_annot)
    # float64 for the peers (scikit-image's float32 power products overflow on intensities)
    ip, is_ = (a.measurement("VV").values.astype(np.float64) for a in (pg, sg))
    res, dt = timed(
        lambda: coregister_rasters(xr.DataArray(ip, dims=("y", "x"), name="p"), xr.DataArray(is_, dims=("y", "x"), name="s"), grd_cfg)
    )
    rows.append(("GRD", f"cross_corr (GRD, {args.nb_gcp} GCPs)", *rmse(res.offsets, truth), dt, "rasters, no prior"))
    res, dt = timed(lambda: coregister(pg, sg, "cross_corr", dem=dem, config=grd_cfg))
    rows.append(("GRD", f"cross_corr (GRD product, {args.nb_gcp} GCPs)", *rmse(res.offsets, truth), dt, "geometric prior"))
    pairs = [("SLC", np.abs(p.measurement("VV").values), np.abs(s.measurement("VV").values)), ("GRD", ip, is_)]
    # the floor of any global-shift method: the truth's own spread about its mean over the mask
    ok = inner_mask(truth, 64)
    mean_az, mean_rg = truth["offset_azimuth"].values[ok].mean(), truth["offset_range"].values[ok].mean()
    rows.append(("-", "best constant (truth mean)", *rmse_grid(mean_az, mean_rg, truth, 64), 0.0, "reference for global shifts"))
    fraction = SceneConfig.bandwidth_fraction
    rows.append(("SLC", BOUND, *shift_bound(gamma, args.size * args.size, False, fraction), 0.0, "Cramer-Rao, second-order statistics (Gaussian model)"))
    bound = detected_bound(gamma, args.size * args.size, fraction, SIMULATOR_WINDOW_COEFFICIENT, (mean_az, mean_rg))
    rows.append(("GRD", BOUND, *bound, 0.0, "Cramer-Rao, second-order statistics (Gaussian model, folding included)"))
    rows += skimage_rows(pairs, truth, 64)
    if not args.no_arosics:
        window = slc_cfg.coarseRegistrationWindowHeight
        order = {"SLC": slc_cfg.warpPolynomialOrder, "GRD": grd_cfg.warpPolynomialOrder}
        rows += arosics_rows(
            pairs, truth, 64, window=window, grid_res=grid_res_for((args.size, args.size), window, args.nb_gcp), order=order
        )
    return rows


BOUND = "bound: one constant shift"
"""Name of the rows holding :func:`shift_bound` (not a peer: no ratio against it)."""


def shift_bound(gamma: float, pixels: int, detected_data: bool, fraction: tuple[float, float]) -> tuple[float, float]:
    """Cramer-Rao bound (px, azimuth / range; one standard deviation) of one constant shift
    estimated from the cross spectrum of a pair of ``pixels`` pixels with coherence ``gamma``:
    the bound of the Gaussian (Whittle) model, in which the spectrum's frequency bins are
    independent and each one's cross-spectral phase carries Fisher information
    ``2 rho^2 / (1 - rho^2)`` (``rho``: the coherence at that frequency; the shift's information is
    that times ``(2 pi f)^2``, f in cycles / px). It bounds every estimator that uses the pair's
    second-order statistics (correlation peaks, cross-spectral phase), ours and the peers'.

    * Complex (SLC): rho = gamma over the band (``fraction`` of the sampling rate per axis; the
      processing window's weighting does not enter when the coherence is the same at every
      frequency), so ``J = pixels * B_a * B_r * 2 gamma^2 / (1 - gamma^2) * pi^2 B^2 / 3`` per axis.
    * Detected (intensities, multilooked or not on the same grid): circular Gaussian speckle's
      intensities have coherence ``gamma^2`` at every frequency, the detected spectrum (twice the
      complex band) fills the whole sampled band, and a real image's bins pair up (f, -f):
      ``J = pixels * rho^2 / (1 - rho^2) * pi^2 / 3``, rho = gamma^2.

    Optimistic, so a lower bound for the simulated pairs: it counts every pixel as data (windows
    and margins lose some), gives aliased frequencies the shift's phase (their phase does not
    follow it), and ignores that intensities are not Gaussian; scene texture, which it also
    ignores, is weak in the simulated scenes (about 6 % within a class, against speckle's 100 %)."""
    if detected_data:
        rho = gamma**2
        info = pixels * rho**2 / (1 - rho**2) * np.pi**2 / 3
        return float(1 / np.sqrt(info)), float(1 / np.sqrt(info))
    return _complex_bound(gamma, pixels, fraction)


def _complex_bound(gamma: float, pixels: int, fraction: tuple[float, float]) -> tuple[float, float]:
    """:func:`shift_bound` of complex data (flat coherence over the band)."""
    band = fraction[0] * fraction[1]
    per_bin = 2 * gamma**2 / (1 - gamma**2)
    az, rg = (pixels * band * per_bin * np.pi**2 * b**2 / 3 for b in fraction)
    return float(1 / np.sqrt(az)), float(1 / np.sqrt(rg))


def detected_bound(
    gamma: float, pixels: int, fraction: tuple[float, float], coefficient: float, shift: tuple[float, float], bins: int = 256
) -> tuple[float, float]:
    """Cramer-Rao bound (px, azimuth / range) of one constant shift from detected data, the folding
    included: the Gaussian (Whittle) model of the sampled intensities, whose spectrum at the
    sampled frequency ``f`` holds the continuous intensity spectrum at ``f - 1``, ``f`` and ``f + 1``
    (:func:`alignsar.coregistration.joint.intensity_spectrum`: complex band ``fraction`` of the
    sampling rate per axis, generalised Hamming ``coefficient``), each turned by the shift with its
    own frequency: per frequency bin the pair (X1, X2) is circular Gaussian with covariance
    ``[[P, C], [conj(C), P]]``, ``P = sum_j S(f + j)``, ``C = gamma^2 sum_j S(f + j) exp(-2 pi i
    (f + j) d)``, and the bin's Fisher information is ``tr(Sigma^-1 dSigma Sigma^-1 dSigma)``; a
    real image's bins pair up (f, -f). A filter on the sampled grid (the 2 x 2 boxcar) scales P
    and C alike and drops out. Depends on the shift's fractional part (``shift``, px). Tighter than
    :func:`shift_bound`'s detected formula (which gives the folded frequencies the shift's phase) by
    a factor 1.0-1.2 for the simulator's bands; still optimistic (Gaussian model: intensities are
    not Gaussian; every pixel counted)."""
    from alignsar.coregistration.joint import intensity_spectrum

    f = (np.arange(bins) - bins // 2) / bins
    terms = []
    for frac, d in zip(fraction, shift, strict=True):
        parts = [intensity_spectrum(frac, coefficient, f + j) for j in (-1, 0, 1)]
        phases = [np.exp(-2j * np.pi * (f + j) * d) for j in (-1, 0, 1)]
        power = sum(parts)
        cross = sum(p * e for p, e in zip(parts, phases, strict=True))
        slope = sum(p * (-2j * np.pi * (f + j)) * e for p, e, j in zip(parts, phases, (-1, 0, 1), strict=True))
        terms.append((power, cross, slope))
    (pa, ca, sa), (pr, cr, sr) = terms
    power = pa[:, None] * pr[None, :]
    ok = power > 0
    p = np.where(ok, power, 1.0)
    # per bin, relative to the power: c = C / P, alpha_i = dC / dd_i / P (the shift's derivative)
    rho = gamma**2
    c = rho * ca[:, None] * cr[None, :] / p
    alphas = (rho * sa[:, None] * cr[None, :] / p, rho * ca[:, None] * sr[None, :] / p)
    info = np.zeros((2, 2))
    for i in range(2):
        for k in range(2):
            a, b = alphas[i], alphas[k]
            # tr(Sigma^-1 dSigma_i Sigma^-1 dSigma_k), Sigma = P [[1, c], [conj(c), 1]]
            trace = (c**2 * np.conj(a) * np.conj(b) + a * np.conj(b) + np.conj(a) * b + np.conj(c) ** 2 * a * b) / (1 - np.abs(c) ** 2) ** 2
            info[i, k] = 0.5 * float(np.sum(np.real(trace[ok])))  # a real image's bins pair up (f, -f)
    cov = np.linalg.inv(info * pixels / bins**2)
    return float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1]))


def pooled(runs: list[list[tuple]]) -> list[tuple]:
    """Rows of several runs (seeds, shifts) pooled per (data, method): RMSE over all of them (the
    root mean square of the runs' RMSEs), times summed, the last run's note."""
    errors: dict[tuple[str, str], list] = {}
    seconds: dict[tuple[str, str], float] = {}
    notes: dict[tuple[str, str], str] = {}
    for rows in runs:
        for data, name, ra, rr, sec, note in rows:
            errors.setdefault((data, name), []).append((ra, rr))
            seconds[(data, name)] = seconds.get((data, name), 0.0) + sec
            notes[(data, name)] = note
    out = []
    for key, errs in errors.items():
        e = np.asarray(errs)
        out.append((*key, float(np.sqrt(np.mean(e[:, 0] ** 2))), float(np.sqrt(np.mean(e[:, 1] ** 2))), seconds[key], notes[key]))
    return out


def real_texture(args: argparse.Namespace) -> list[tuple]:
    """The Amsterdam SLC crop and copies shifted by REAL_SHIFTS; errors pooled over the shifts."""
    shared = Path(os.environ.get("ALIGNSAR_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    store = shared / "sentinel1" / "sarxarray-snap-zarr" / "20230319-coreg.znap"
    if not store.exists():
        print(f"(real texture skipped: {store} not found)")
        return []
    ds = xr.open_zarr(store, consolidated=False)
    i_name = next(v for v in ds.data_vars if v.startswith("i_VV"))
    slc = ds[i_name].values.astype(np.float64) + 1j * ds[i_name.replace("i_", "q_")].values.astype(np.float64)
    slc = np.nan_to_num(slc)  # the crop has one NaN pixel (line 1), which a Fourier shift would spread along its line
    fx = np.fft.fftfreq(slc.shape[1])[None, :]
    nb_gcp = max(9, args.nb_gcp // 10)
    cfgs = {}
    for data in ("SLC", "GRD"):
        cfg = CoregConfig.defaults(data)
        cfg.nb_gcp = nb_gcp
        cfg.coarseRegistrationWindowHeight = cfg.coarseRegistrationWindowWidth = REAL_WINDOW
        cfgs[data] = cfg
    margin = REAL_WINDOW // 2
    runs = []
    for d_l, d_p in REAL_SHIFTS:
        shifted = np.roll(np.fft.ifft(np.fft.fft(slc, axis=1) * np.exp(-2j * np.pi * fx * d_p), axis=1), d_l, axis=0)
        truth = xr.Dataset(
            {
                "samples": (("azimuth", "range"), np.ones(slc.shape, np.int32)),
                "offset_azimuth": (("azimuth", "range"), np.full(slc.shape, float(d_l))),
                "offset_range": (("azimuth", "range"), np.full(slc.shape, float(d_p))),
            }
        )
        ip, is_ = multilook(np.abs(slc) ** 2), multilook(np.abs(shifted) ** 2)
        rows = []
        for data, a, b in (("SLC", slc, shifted), ("GRD", ip, is_)):
            res, dt = timed(
                lambda a=a, b=b, data=data: coregister_rasters(
                    xr.DataArray(a, dims=("y", "x"), name="p"), xr.DataArray(b, dims=("y", "x"), name="s"), cfgs[data]
                )
            )
            rows.append((data, f"cross_corr ({data}, {res.quality.gcps_kept} GCPs)", *rmse(res.offsets, truth, margin), dt, ""))
        pairs = [("SLC", np.abs(slc), np.abs(shifted)), ("GRD", ip, is_)]
        rows += skimage_rows(pairs, truth, margin)
        if not args.no_arosics:
            gr = grid_res_for(slc.shape, REAL_WINDOW, nb_gcp)
            order = {k: c.warpPolynomialOrder for k, c in cfgs.items()}
            rows += arosics_rows(pairs, truth, margin, window=REAL_WINDOW, grid_res=gr, order=order)
        runs.append(rows)
    return pooled(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--nb-gcp", type=int, default=1000, help="GCPs (the ICEYE defaults, 8000 / 10000, are for full-size products)")
    parser.add_argument("--coherence", type=float, nargs="*", default=[0.9, 0.6, 0.3], help="simulated coherences (none: only real)")
    parser.add_argument("--cases", nargs="*", default=["constant", "affine", "dem"], choices=list(CASES), help="simulated offset fields")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11], help="simulator seeds; errors pooled (RMS) over them, times summed")
    parser.add_argument(
        "--prior-error",
        type=float,
        nargs=2,
        default=(0.25, -0.15),
        metavar=("LINES", "PIXELS"),
        help="timing error of the secondary's annotation (px) for the methods that use the geometry (0 0: exact prior)",
    )
    parser.add_argument("--no-real", action="store_true", help="skip the real-texture case")
    parser.add_argument("--no-arosics", action="store_true", help="skip the arosics peers even when importable")
    parser.add_argument("--repeat", type=int, default=1, help="runs per timed call; times are medians (default 1: first calls included)")
    args = parser.parse_args()
    REPEAT[0] = max(1, args.repeat)
    if not args.no_arosics and _arosics() is not None:
        print(f"arosics {_arosics().VERSION}: sign check, 2 / 3 px roll recovered as {_arosics().check_sign()} (lines, pixels)")
    print(f"{'case':>14s} {'data':5s} {'method':32s} {'rmse az':>8s} {'rmse rg':>8s} {'seconds':>8s}  notes")
    cases = [
        (f"{g:.1f} {c}", lambda g=g, c=c: pooled([simulated(g, c, args, seed) for seed in args.seeds]))
        for g in args.coherence
        for c in args.cases
    ]
    if not args.no_real:
        cases.append(("real", lambda: real_texture(args)))
    for label, run in cases:
        rows = run()
        for data, name, ra, rr, sec, note in rows:
            print(f"{label:>14s} {data:5s} {name:32s} {ra:8.4f} {rr:8.4f} {sec:8.1f}  {note}", flush=True)
        for line in ratios(rows):
            print(f"{label:>14s} {line}", flush=True)


def ratios(rows: list[tuple]) -> list[str]:
    """alignsar ``cross_corr`` against each peer on the same data: combined RMSE (hypot of az / rg)
    ratio (target <= 0.1) and speed ratio against COREG_LOCAL (target >= 3); where the simulated
    pairs have a :func:`shift_bound` row, ours over the bound, and each peer's target (a tenth of
    its RMSE) over the bound (below 1: no second-order estimator can reach that target)."""
    out = []
    for data in ("SLC", "GRD"):
        bounds = [np.hypot(r[2], r[3]) for r in rows if r[0] == data and r[1] == BOUND]
        for _, ours, ra, rr, sec, _ in (r for r in rows if r[0] == data and r[1].startswith("cross_corr")):
            parts = []
            peers = (r for r in rows if r[0] == data and not r[1].startswith(("cross_corr", "dem_assisted", BOUND)))
            for _, name, pa, pr, psec, _ in peers:
                ratio = np.hypot(ra, rr) / np.hypot(pa, pr) if np.isfinite(np.hypot(pa, pr)) else np.nan
                parts.append(f"{name}: {ratio:.3f}")
                if bounds:
                    parts.append(f"(target / bound {np.hypot(pa, pr) / 10 / bounds[0]:.1f})")
                if name == "arosics COREG_LOCAL tie pts":
                    parts.append(f"speed vs COREG_LOCAL {psec / sec:.1f}x")
            if bounds:
                parts.append(f"ours / bound {np.hypot(ra, rr) / bounds[0]:.1f}")
            out.append(f"{data:5s} {ours}: ratio of RMSE (ours / peer): " + "; ".join(parts))
    return out


if __name__ == "__main__":
    main()
