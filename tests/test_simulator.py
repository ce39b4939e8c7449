"""Scene simulator: determinism, speckle statistics, coherence and phase against the configuration."""

from __future__ import annotations

import numpy as np
import pytest

from alignsar.simulate import SceneConfig, simulate_scene
from alignsar.simulate.orbit import geodetic_to_ecef


@pytest.fixture(scope="module")
def small_scene():
    return simulate_scene(SceneConfig(lines=128, samples=128, dates=2, seed=7))


def test_deterministic(small_scene) -> None:
    again = simulate_scene(SceneConfig(lines=128, samples=128, dates=2, seed=7))
    other = simulate_scene(SceneConfig(lines=128, samples=128, dates=2, seed=8))
    for a, b in zip(small_scene.acquisitions, again.acquisitions, strict=True):
        np.testing.assert_array_equal(a.measurement("VV").values, b.measurement("VV").values)
        assert a.start_time == b.start_time
    np.testing.assert_array_equal(small_scene.truth[1].offset_range.values, again.truth[1].offset_range.values)
    assert not np.array_equal(small_scene.acquisitions[0].measurement("VV").values, other.acquisitions[0].measurement("VV").values)


def test_speckle_is_exponential_with_configured_mean() -> None:
    scene = simulate_scene(SceneConfig(lines=512, samples=512, dates=1, polarizations=("VV",), seed=11))
    acq, truth = scene.acquisitions[0], scene.truth[0]
    sigma0 = acq.measurement("VV", calibration="sigma0").values.astype(np.float64)
    mean = truth["intensity_vv"].values
    ok = mean > 0
    z = sigma0[ok] / mean[ok]  # unit-mean exponential if the model holds
    assert abs(z.mean() - 1.0) < 0.02
    assert abs(z.var() - 1.0) < 0.06  # exponential: variance = mean^2
    assert abs((z > 1.0).mean() - np.exp(-1.0)) < 0.01
    assert abs((z > 3.0).mean() - np.exp(-3.0)) < 0.005
    # per class: the configured sigma0 on flat-ish, well-sampled pixels
    cls = truth["class_map"].values
    for c in scene.config.classes:
        sel = (cls == c.value) & (truth["samples"].values > 0)
        if sel.sum() > 20000:
            ratio = sigma0[sel].mean() / c.sigma0["VV"]
            assert 0.8 < ratio < 1.25  # terrain slopes change the area seen by each pixel


def _fourier_shift(img: np.ndarray, dl: float, dp: float) -> np.ndarray:
    """Exact shift of a band-limited image: out(l, p) = img(l + dl, p + dp)."""
    fy = np.fft.fftfreq(img.shape[0])[:, None]
    fx = np.fft.fftfreq(img.shape[1])[None, :]
    return np.fft.ifft2(np.fft.fft2(img) * np.exp(2j * np.pi * (fy * dl + fx * dp)))


@pytest.mark.parametrize("gamma", [0.9, 0.6, 0.3])
def test_pair_coherence_and_phase(gamma: float) -> None:
    cfg = SceneConfig(lines=384, samples=384, dates=2, coherence=gamma, max_shift_px=2.5, seed=5, relief_m=40.0, polarizations=("VV",))
    scene = simulate_scene(cfg)
    truth = scene.truth[1]
    s0 = scene.acquisitions[0].measurement("VV").values.astype(np.complex128)
    s1 = scene.acquisitions[1].measurement("VV").values.astype(np.complex128)
    off_l, off_p = truth["offset_azimuth"].values, truth["offset_range"].values
    assert abs(off_l.mean()) > 0.1 or abs(off_p.mean()) > 0.1  # the dates really are offset
    # resample the secondary onto the primary grid with the (nearly constant) true offset
    assert off_l.std() < 0.02 and off_p.std() < 0.02
    s1c = _fourier_shift(s1, off_l.mean(), off_p.mean())
    ifg = s0 * np.conj(s1c) * np.exp(-1j * truth["phase"].values)  # remove the true phase
    m = slice(24, -24)
    num = ifg[m, m].sum()
    coh = np.abs(num) / np.sqrt((np.abs(s0[m, m]) ** 2).sum() * (np.abs(s1c[m, m]) ** 2).sum())
    # intensities differ per class; normalise each by its true mean before estimating
    w0 = s0 / np.sqrt(np.maximum(scene.truth[0]["intensity_vv"].values, 1e-12))
    w1 = _fourier_shift(s1 / np.sqrt(np.maximum(truth["intensity_vv"].values, 1e-12)), off_l.mean(), off_p.mean())
    nifg = (w0 * np.conj(w1) * np.exp(-1j * truth["phase"].values))[m, m]
    coh_n = np.abs(nifg.sum()) / np.sqrt((np.abs(w0[m, m]) ** 2).sum() * (np.abs(w1[m, m]) ** 2).sum())
    assert abs(coh_n - gamma) < 0.02, (coh_n, coh)
    # with the true phase removed, what remains has no systematic phase
    assert abs(np.angle(nifg.sum())) < 0.05


def test_truth_offsets_against_orbit_geometry(small_scene) -> None:
    """Truth offsets (binned from ground samples) against the two dates' zero-Doppler coordinates of
    single ground points, computed from scratch with the analytic orbits."""
    from scipy.ndimage import map_coordinates

    cfg = small_scene.config
    tm = small_scene.truth_map
    rng = np.random.default_rng(0)
    c = 299_792_458.0
    checked = 0
    for _ in range(40):
        iy, ix = rng.integers(tm.sizes["y"] // 4, 3 * tm.sizes["y"] // 4, 2)
        import pyproj

        lon, lat = pyproj.Transformer.from_crs(tm.attrs["epsg"], 4326, always_xy=True).transform(float(tm.x[ix]), float(tm.y[iy]))
        point = geodetic_to_ecef(lon, lat, float(tm["dem"][iy, ix]))[None, :]
        coords = []
        for k, (acq, orb) in enumerate(zip(small_scene.acquisitions, small_scene.orbits, strict=True)):
            epoch = np.datetime64(cfg.start, "ns") + np.timedelta64(round(k * cfg.revisit_days * 86400e9), "ns")
            grid = acq.swath().grid
            t, r = orb.zero_doppler(point, 0.0)
            t_first = (grid.first_azimuth_time - epoch) / np.timedelta64(1, "ns") * 1e-9
            coords.append(
                ((t[0] - t_first) / grid.azimuth_time_interval, (2 * r[0] / c - grid.first_slant_range_time) * grid.range_sampling_rate)
            )
        (l0, p0), (l1, p1) = coords
        if not (2 < l0 < cfg.lines - 3 and 2 < p0 < cfg.samples - 3):
            continue
        truth = small_scene.truth[1]
        got_l = map_coordinates(truth["offset_azimuth"].values, [[l0], [p0]], order=1)[0]
        got_p = map_coordinates(truth["offset_range"].values, [[l0], [p0]], order=1)[0]
        assert abs(got_l - (l1 - l0)) < 0.005 and abs(got_p - (p1 - p0)) < 0.005
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("direction", ["ascending", "descending"])
def test_orbit_direction_and_right_looking(direction: str) -> None:
    scene = simulate_scene(SceneConfig(lines=64, samples=64, dates=1, pass_direction=direction, polarizations=("VV",)))
    acq = scene.acquisitions[0]
    assert acq.pass_direction == direction and acq.look_side == "right"
    mid = acq.start_time + (acq.stop_time - acq.start_time) // 2
    state = acq.orbit.interpolate(np.array([mid]))
    pos, vel = state.position[0], state.velocity[0]
    assert (vel[2] > 0) == (direction == "ascending")  # northbound when ascending
    geo = acq.swath().geolocation
    target = geodetic_to_ecef(float(geo["longitude"].mean()), float(geo["latitude"].mean()), 0.0)
    assert np.dot(target - pos, np.cross(-pos, vel)) > 0  # the scene is right of the ground track
    near, _, far = acq.incidence_angles
    assert 30 < near < far < 45
    assert abs(np.linalg.norm(pos) - 6378137.0 - scene.config.altitude_m) < 25e3


def test_explicit_secondary_timing_gives_constant_and_affine_offsets() -> None:
    """``secondary_shifts_px`` and ``line_interval_ratio`` against the analytic offsets they imply:
    flat terrain and no baseline give the constant shift; a line interval ratio r adds
    (line - lines / 2)(1 / r - 1) lines (truth binned from the projected ground samples, 0.005 px)."""
    cfg = SceneConfig(
        lines=128,
        samples=128,
        dates=3,
        polarizations=("VV",),
        relief_m=0.0,
        baseline_m=0.0,
        secondary_shifts_px=((0.125, -2.375), (1.625, 0.875)),
        line_interval_ratio=(1.0, 1.002),
        seed=5,
    )
    scene = simulate_scene(cfg)
    inner = (slice(8, -8), slice(8, -8))
    const = scene.truth[1]
    np.testing.assert_allclose(const["offset_azimuth"].values[inner], 0.125, atol=0.005)
    np.testing.assert_allclose(const["offset_range"].values[inner], -2.375, atol=0.005)
    affine = scene.truth[2]
    lines = np.arange(cfg.lines, dtype=float)[:, None]
    expected = 1.625 + (lines - cfg.lines / 2) * (1 / 1.002 - 1)
    np.testing.assert_allclose(affine["offset_azimuth"].values[inner], np.broadcast_to(expected, (128, 128))[inner], atol=0.005)
    np.testing.assert_allclose(affine["offset_range"].values[inner], 0.875, atol=0.005)
    assert scene.acquisitions[2].swath().grid.azimuth_time_interval == pytest.approx(
        1.002 * scene.acquisitions[0].swath().grid.azimuth_time_interval, rel=1e-12
    )
    with pytest.raises(ValueError, match="one entry per secondary"):
        SceneConfig(dates=3, secondary_shifts_px=((0.0, 0.0),))
