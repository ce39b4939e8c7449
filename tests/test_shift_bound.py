"""The coregistration benchmark's reference bound (``tests/benchmarks/bench_coregistration.py``,
:func:`shift_bound`) against a Monte Carlo of the estimator that attains it: for circular complex
Gaussian pairs with a flat spectrum and coherence, the cross-correlation peak is the maximum-
likelihood shift, whose spread approaches the Cramer-Rao bound."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

_BENCH = Path(__file__).resolve().parent / "benchmarks" / "bench_coregistration.py"


def _shift_bound():
    spec = importlib.util.spec_from_file_location("bench_coregistration", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.shift_bound


def test_shift_bound_matches_the_spread_of_the_maximum_likelihood_shift():
    n, gamma, trials = 64, 0.6, 200
    rng = np.random.default_rng(5)
    f = np.fft.fftfreq(n)
    errors = []
    for _ in range(trials):
        d = rng.uniform(-0.5, 0.5, 2)

        def field():
            return (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) / np.sqrt(2)

        common = np.fft.fft2(field())
        p = np.sqrt(gamma) * common + np.sqrt(1 - gamma) * np.fft.fft2(field())
        s = (np.sqrt(gamma) * common + np.sqrt(1 - gamma) * np.fft.fft2(field())) * np.exp(
            -2j * np.pi * (f[:, None] * d[0] + f[None, :] * d[1])
        )  # s(x) = p(x - d): secondary minus primary position = d
        cross = s * np.conj(p)

        def neg_corr(x, cross=cross):
            return -np.real(np.sum(cross * np.exp(2j * np.pi * (f[:, None] * x[0] + f[None, :] * x[1]))))

        fit = minimize(neg_corr, d + rng.normal(0, 0.01, 2), method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-10})
        errors.append(fit.x - d)
    spread = np.sqrt(np.mean(np.square(errors), axis=0))
    bound = np.asarray(_shift_bound()(gamma, n * n, False, (1.0, 1.0)))
    # 200 trials: the spread's own sampling error is ~5 %; the bound is asymptotic (4096 pixels)
    assert np.all(spread / bound > 0.85), (spread, bound)
    assert np.all(spread / bound < 1.2), (spread, bound)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_coregistration", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_detected_bound_reduces_to_the_unfolded_formula():
    """The detected bound with the folding modelled: with a complex band of half the sampling rate
    the intensity spectrum just fills the sampled band without folding, and every bin carries the
    shift's phase with coherence gamma^2, so the bound is the closed form ``1 / sqrt(pixels rho^2 /
    (1 - rho^2) pi^2 / 3)`` (within 1 %: the bins' discretisation) for any shift. With the
    simulator's wider bands (0.75 / 0.85) the folded bins follow the shift only in part: the bound
    rises, by less than 30 % (measured 3-20 %), and depends on the shift's fractional part."""
    bench = _bench()
    pixels = 1024 * 1024
    for gamma in (0.9, 0.6, 0.3):
        closed = np.asarray(bench.shift_bound(gamma, pixels, True, (0.5, 0.5)))
        for shift in ((0.0, 0.0), (0.125, 0.375), (-1.875, 2.375)):
            unfolded = np.asarray(bench.detected_bound(gamma, pixels, (0.5, 0.5), 0.54, shift))
            np.testing.assert_allclose(unfolded, closed, rtol=0.01)
        folded = np.asarray(bench.detected_bound(gamma, pixels, (0.75, 0.85), 0.54, (-1.875, 2.375)))
        assert np.all(folded > closed) and np.all(folded < 1.3 * closed)
    other = np.asarray(bench.detected_bound(0.6, pixels, (0.75, 0.85), 0.54, (0.0, 0.0)))
    assert not np.allclose(other, bench.detected_bound(0.6, pixels, (0.75, 0.85), 0.54, (0.5, 0.5)), rtol=0.02)
