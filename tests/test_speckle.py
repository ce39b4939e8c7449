"""Speckle filters against independent truth: simulated speckle with known statistics.

Single-look speckle is exponential intensity (ENL 1) and L-look speckle the mean of L independent
exponentials (gamma, ENL L), multiplying a known mean. The truth is the simulation's mean and the
theoretical ENL; every tolerance below is stated with its reasoning. Statistics are taken away
from the image border (the windows shrink there by convention).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from alignsar import speckle
from alignsar.errors import ConfigError


def _image(values: np.ndarray, dims: tuple[str, ...] = ("azimuth", "range")) -> xr.DataArray:
    coords = {d: np.arange(n) for d, n in zip(dims, values.shape, strict=True)}
    return xr.DataArray(values, dims=dims, coords=coords, attrs={"units": "1", "long_name": "sigma0"})


def _speckle(rng: np.random.Generator, shape: tuple[int, ...], looks: int = 1) -> np.ndarray:
    """Unit-mean L-look intensity speckle (gamma with shape L, scale 1/L: ENL exactly L)."""
    return rng.gamma(looks, 1.0 / looks, shape)


def _enl(values: np.ndarray) -> float:
    return float(values.mean() ** 2 / values.var(ddof=1))


def _inner(values: np.ndarray, margin: int) -> np.ndarray:
    return values[..., margin:-margin, margin:-margin]


def _transition_width(profile: np.ndarray, low: float, high: float) -> int:
    """Number of samples strictly between 20 % and 80 % of the step from ``low`` to ``high``."""
    lo, hi = low + 0.2 * (high - low), low + 0.8 * (high - low)
    return int(np.sum((profile > lo) & (profile < hi)))


def test_boxcar_mean_enl_and_nan() -> None:
    """Mean of a constant-mean field kept (< 1 %); ENL ~ window area (within 10 %).

    Tolerances: the mean of 1e6 unit exponentials has 0.1 % standard error; the boxcar of 49
    independent exponentials is gamma(49) exactly, and the sample variance of ~1e6 outputs
    correlated over 49 pixels (~2e4 independent) has ~1 % standard error.
    """
    rng = np.random.default_rng(1)
    mean = 3.0
    img = _image(mean * _speckle(rng, (1024, 1024)))
    out = speckle.boxcar(img, 7)
    inner = _inner(out.values, 3)
    assert abs(inner.mean() / mean - 1) < 0.01
    assert _enl(inner) == pytest.approx(49, rel=0.10)
    assert out.dims == img.dims and out.attrs["units"] == "1" and out.attrs["window"] == [7, 7]
    assert out.attrs["speckle_filter"] == "boxcar" and "formula" in out.attrs and "long_name" in out.attrs
    # a rectangular window: ENL ~ 3 x 9
    assert _enl(_inner(speckle.boxcar(img, (3, 9)).values, 4)) == pytest.approx(27, rel=0.10)

    # NaN-aware: a NaN pixel stays NaN but does not spread; its neighbours average the valid pixels
    values = np.ones((21, 21))
    values[10, 10] = np.nan
    values[10, 11] = 10.0
    nan_out = speckle.boxcar(_image(values), 3).values
    assert np.isnan(nan_out[10, 10]) and np.isfinite(np.delete(nan_out.ravel(), 10 * 21 + 10)).all()
    assert nan_out[9, 10] == pytest.approx((7 + 10) / 8)  # 8 valid pixels in its 3x3 window
    assert nan_out[0, 0] == pytest.approx(1.0)  # the window shrinks at the border


def test_enl_of_multilook_gamma_speckle() -> None:
    """ENL of L-look gamma speckle = L within 5 % (the sample variance of 2.6e5 values: ~0.4 % error)."""
    rng = np.random.default_rng(2)
    for looks in (1, 4):
        img = _image(_speckle(rng, (512, 512), looks) * 5.0)
        value = speckle.enl(img)
        assert isinstance(value, float)
        assert value == pytest.approx(looks, rel=0.05)
    local = speckle.enl(img, 31)
    assert local.attrs["units"] == "1" and local.dims == img.dims
    # local estimates over 961 pixels: ratio-estimator bias and noise ~ a few %, averaged over the map
    assert float(_inner(local.values, 15).mean()) == pytest.approx(4, rel=0.05)


def test_lee_homogeneous_area() -> None:
    """Lee on single-look homogeneous speckle: mean kept (< 1 %), ENL raised towards the window area.

    The classic Lee weight k is 0 where the local variance is consistent with pure speckle and
    grows with the (noisy) variance estimate, so the ENL stays below the boxcar's 49 but well above
    half of it (measured ~36 for 7x7). The refined filter averages in 28-pixel directional windows
    chosen to avoid bright outliers: ENL ~ 17 (bounded by 28) and a small low bias for single-look
    data (measured ~ -1.5 %, inherent to choosing the most homogeneous half); tolerance 3 %.
    """
    rng = np.random.default_rng(3)
    img = _image(2.0 * _speckle(rng, (512, 512)))
    lee = _inner(speckle.lee(img, 7, looks=1).values, 3)
    assert abs(lee.mean() / 2.0 - 1) < 0.01
    assert 0.5 * 49 < _enl(lee) < 49
    refined = _inner(speckle.refined_lee(img, 7, looks=1).values, 3)
    assert abs(refined.mean() / 2.0 - 1) < 0.03
    assert 10 < _enl(refined) < 28
    # with 4-look input the bias vanishes (< 1 %) and the ENL rises (measured ~58)
    img4 = _image(2.0 * _speckle(rng, (512, 512), 4))
    refined4 = _inner(speckle.refined_lee(img4, 7, looks=4).values, 3)
    assert abs(refined4.mean() / 2.0 - 1) < 0.01
    assert _enl(refined4) > 4 * 10


@pytest.mark.parametrize("orientation", ["vertical", "horizontal", "diagonal", "anti-diagonal"])
def test_refined_lee_keeps_step_edge_sharp(orientation: str) -> None:
    """A step from mean 1 to 10: refined Lee's transition is narrower than boxcar's (same 7x7 window).

    The profile across the edge averages the pixels by their (rounded) signed distance to the edge
    (>= 100 pixels a bin: speckle on a bin mean <= 10 %, below the 20 %..80 % band of the step).
    Boxcar ramps over ~7 pixels (3-4 bins inside the band); refined Lee picks the directional
    window on the pixel's side of the edge (measured: 0 bins inside the band).
    """
    rng = np.random.default_rng(4)
    n = 192
    i, j = np.mgrid[:n, :n].astype(float)
    distance = {
        "vertical": j - n / 2 + 1,
        "horizontal": i - n / 2 + 1,
        "diagonal": (j - i) / np.sqrt(2),
        "anti-diagonal": (i + j - n) / np.sqrt(2),
    }[orientation]
    img = _image(np.where(distance > 0, 10.0, 1.0) * _speckle(rng, (n, n)))
    inside = (np.minimum(i, j) >= 8) & (np.maximum(i, j) < n - 8)
    bins = np.round(distance).astype(int)

    def profile(out: xr.DataArray) -> np.ndarray:
        return np.array([out.values[inside & (bins == b)].mean() for b in range(-8, 9)])

    boxcar = profile(speckle.boxcar(img, 7))
    refined = profile(speckle.refined_lee(img, 7, looks=1))
    boxcar_width, refined_width = _transition_width(boxcar, 1.0, 10.0), _transition_width(refined, 1.0, 10.0)
    assert boxcar_width >= 3
    assert refined_width < boxcar_width
    assert refined_width <= 1
    # away from the edge both sides keep their means (10 %: speckle and the single-look low bias)
    assert refined[:3].mean() == pytest.approx(1.0, rel=0.10)
    assert refined[-3:].mean() == pytest.approx(10.0, rel=0.10)


def test_quegan_multitemporal() -> None:
    """N = 10 uncorrelated single-look dates with means 1..10: each date's mean kept, ENL ~ N.

    Theory: with exact local means J_k = mu_k/N sum_i v_i, a gamma of ENL N. The 15x15 estimate of
    <I_k> carries its own speckle (ENL 225), so 1/ENL ~ 1/N + 1/225 (+ ~1/(225 N) from the ratios):
    ENL ~ 9.5; the 10 % tolerance covers that estimation loss. Bias: the ratio I_i/<I_i> is biased
    at O(1/225) and the mean over 2.5e5 pixels has ~0.2 % standard error (correlated over 225
    pixels), so < 1 % holds.
    """
    rng = np.random.default_rng(5)
    n = 10
    means = np.arange(1.0, n + 1)
    stack = _image(means[:, None, None] * _speckle(rng, (n, 512, 512)), ("date", "y", "x"))
    out = speckle.quegan(stack, 15)
    inner = _inner(out.values, 7)
    for k in range(n):
        assert abs(inner[k].mean() / means[k] - 1) < 0.01
        assert _enl(inner[k]) == pytest.approx(n, rel=0.10)
    assert out.dims == stack.dims and out.attrs["speckle_filter"] == "quegan" and out.attrs["window"] == [15, 15]
    assert out.attrs["formula"].startswith("Quegan & Yu 2001")

    # dask: lazy, same chunks, and chunk borders exact
    chunked = stack.chunk({"date": 3, "y": 100, "x": 130})
    lazy = speckle.quegan(chunked, 15)
    assert lazy.chunks == chunked.chunks
    np.testing.assert_allclose(lazy.values, out.values, rtol=1e-6)


@pytest.mark.parametrize(
    "apply",
    [
        lambda x: speckle.boxcar(x, (5, 7)),
        lambda x: speckle.lee(x, 7, looks=1),
        lambda x: speckle.refined_lee(x, 9, looks=1),
        lambda x: speckle.enl(x, 5),
        lambda x: speckle.quegan(x, 7, dim="time"),
    ],
    ids=["boxcar", "lee", "refined_lee", "enl", "quegan"],
)
def test_dask_chunks_equal_numpy(apply) -> None:
    """Chunked input (with chunks smaller than the halo) gives the numpy result to 1e-6, lazily, same chunks."""
    rng = np.random.default_rng(6)
    values = rng.exponential(1.0, (3, 90, 70)).astype(np.float32)
    values[1, 40, 33] = np.nan
    stack = _image(values, ("time", "y", "x"))
    chunked = stack.chunk({"time": 2, "y": (40, 2, 48), "x": 35})
    lazy = apply(chunked)
    assert isinstance(lazy.data, da.Array) and lazy.chunks == chunked.chunks
    assert lazy.dtype == np.float32
    np.testing.assert_allclose(lazy.values, apply(stack).values, rtol=1e-6)


def test_bad_parameters() -> None:
    img = _image(np.ones((16, 16)))
    for window in (4, 0, -3, (3, 4), (3, 3, 3), 2.5):
        with pytest.raises(ConfigError):
            speckle.boxcar(img, window)
    with pytest.raises(ConfigError):
        speckle.refined_lee(img, 5, looks=1)
    with pytest.raises(ConfigError):
        speckle.lee(img, 5, looks=0)
    with pytest.raises(ConfigError):
        speckle.quegan(img, 5, dim="date")
    with pytest.raises(ConfigError):
        speckle.quegan(img, 5, dim="range")
    db = img.copy()
    db.attrs["units"] = "dB"
    with pytest.raises(ConfigError):
        speckle.lee(db, 5, looks=1)
