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
