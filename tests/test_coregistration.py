"""Coregistration against known truth: simulated pairs (offset fields, coherence, phase), real SLC
texture shifted by known amounts, synthetic GCP sets, the CLI end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from alignsar.coregistration import CoregConfig, coregister, correlate, fit_warp
from alignsar.coregistration.xcorr import GCPTable, correlate_detected, design, effective_gcps, select_order
from alignsar.errors import ConfigError
from alignsar.simulate import SceneConfig, simulate_scene

from .conftest import shared_path
from .test_geocode import _sim_dem


@pytest.fixture(scope="module")
def pair():
    scene = simulate_scene(SceneConfig(lines=320, samples=320, dates=2, polarizations=("VV",), coherence=0.6, seed=4, relief_m=120.0))
    return scene, _sim_dem(scene)


def _rmse_vs_truth(result, truth: xr.Dataset) -> tuple[float, float]:
    sl, sp = (a.compute() for a in result.offsets.on_grid())
    n0, n1 = sl.shape
    ll, pp = np.meshgrid(np.arange(n0, dtype=float), np.arange(n1, dtype=float), indexing="ij")
    ok = truth["samples"].values > 0
    inner = np.zeros_like(ok)
    inner[16:-16, 16:-16] = True
    sel = ok & inner
    el = (sl - ll - truth["offset_azimuth"].values)[sel]
    ep = (sp - pp - truth["offset_range"].values)[sel]
    return float(np.sqrt(np.mean(el**2))), float(np.sqrt(np.mean(ep**2)))


def test_dem_assisted_and_stack_against_truth(pair) -> None:
    scene, dem = pair
    p, s = scene.acquisitions
    res = coregister(p, s, "dem_assisted", dem=dem)
    rmse = _rmse_vs_truth(res, scene.truth[1])
    print(f"dem_assisted RMSE vs truth: {rmse[0]:.4f} px azimuth, {rmse[1]:.4f} px range")
    assert max(rmse) <= 0.01
    q = res.quality.to_dict()
    assert q["method"] == "dem_assisted" and q["mean_offset_azimuth_px"] == pytest.approx(
        float(scene.truth[1]["offset_azimuth"].mean()), abs=0.02
    )
    # orbits only (height 0 here: the scene has up to 120 m of relief, so residual DEM-induced offsets remain)
    stack = coregister(p, s, "stack")
    rmse_stack = _rmse_vs_truth(stack, scene.truth[1])
    print(f"stack RMSE vs truth: {rmse_stack[0]:.4f} px azimuth, {rmse_stack[1]:.4f} px range")
    assert max(rmse_stack) < 0.1


def test_phase_preservation(pair) -> None:
    scene, dem = pair
    p, s = scene.acquisitions
    res = coregister(p, s, "dem_assisted", dem=dem)
    primary = p.measurement("VV").values.astype(np.complex128)
    secondary = res.data.values.astype(np.complex128)
    truth = scene.truth[1]
    ifg = primary * np.conj(secondary) * np.exp(-1j * truth["phase"].values)
    # one land-cover class (uniform intensity on both dates), away from its edges and the borders
    from scipy.ndimage import binary_erosion

    classes = scene.truth[0]["class_map"].values
    values, counts = np.unique(classes[classes > 0], return_counts=True)
    mask = binary_erosion(classes == values[np.argmax(counts)], iterations=4)
    mask[:20], mask[-20:], mask[:, :20], mask[:, -20:] = False, False, False, False
    coh = np.abs(np.sum(ifg[mask])) / np.sqrt(np.sum(np.abs(primary[mask]) ** 2) * np.sum(np.abs(secondary[mask]) ** 2))
    residual_phase = float(np.angle(np.sum(ifg[mask])))
    print(
        f"coherence after coregistration {coh:.4f} (true 0.6, {mask.sum()} px), residual phase {residual_phase:+.4f} rad; record: {res.quality.coherence_after:.3f}"
    )
    assert abs(coh - 0.6) < 0.02 and abs(residual_phase) < 0.05
    assert res.quality.coherence_after == pytest.approx(0.6, abs=0.05)


def test_cross_corr_on_simulated_slc(pair) -> None:
    scene, dem = pair
    p, s = scene.acquisitions
    cfg = CoregConfig.defaults("SLC")
    cfg.nb_gcp, cfg.coarseRegistrationWindowWidth, cfg.coarseRegistrationWindowHeight, cfg.warpPolynomialOrder = 300, 64, 64, 1
    # with the DEM the prior predicts the topographic fringes too and the correlation is coherent
    res = coregister(p, s, "cross_corr", config=cfg, dem=dem)
    rmse = _rmse_vs_truth(res, scene.truth[1])
    q = res.quality
    print(
        f"cross_corr (300 GCPs of 64 px, coherence 0.6): RMSE {rmse[0]:.4f} / {rmse[1]:.4f} px; kept {q.gcps_kept}/{q.gcps_found}, residual RMS {q.residual_rms_azimuth_px:.3f} / {q.residual_rms_range_px:.3f} px"
    )
    assert q.gcps_found >= 250 and q.gcps_kept >= 0.8 * q.gcps_found
    assert max(rmse) < 0.05
    assert q.polynomial["order"] == 1 and len(q.polynomial["azimuth"]) == 3
    # coherence 0.6 (below JOINT_COHERENT_BELOW): the warp is refined on the pooled coherent correlation
    assert any(n.startswith("joint refinement of the order") and "band-weighted" in n for n in q.notes), q.notes


def test_correlate_sign_with_known_shifts() -> None:
    rng = np.random.default_rng(0)
    img = rng.standard_normal((96, 96))
    shifted = np.roll(img, (3, -2), axis=(0, 1))  # shifted(x) = img(x - d), d = (3, -2)
    d_l, d_p, q = correlate(img[16:80, 16:80], shifted[16:80, 16:80])
    assert abs(d_l - 3.0) < 0.01 and abs(d_p + 2.0) < 0.01 and q > 0.5


def test_real_slc_texture_shifted_by_known_amounts() -> None:
    """Real Sentinel-1 IW SLC texture (Amsterdam crop), shifted by exact Fourier shifts in range
    (range spectra are basebanded; azimuth TOPS spectra would need deramping) and integer lines."""
    store = shared_path("sentinel1", "sarxarray-snap-zarr", "20230319-coreg.znap")
    ds = xr.open_zarr(store, consolidated=False)
    i_name = next(v for v in ds.data_vars if v.startswith("i_VV"))
    slc = ds[i_name].values.astype(np.float64) + 1j * ds[i_name.replace("i_", "q_")].values.astype(np.float64)
    fx = np.fft.fftfreq(slc.shape[1])[None, :]
    errors = []
    for d_l, d_p in ((0, 0.37), (2, -0.81), (-1, 1.23), (1, -0.05)):
        shifted = np.fft.ifft(np.fft.fft(slc, axis=1) * np.exp(-2j * np.pi * fx * d_p), axis=1)
        shifted = np.roll(shifted, d_l, axis=0)
        win = np.s_[10:74, 21:317]
        est = correlate_detected(slc[win], shifted[win])
        errors.append((est[0] - d_l, est[1] - d_p))
    err = np.abs(np.array(errors))
    print(f"real texture, known shifts: max error {err[:, 0].max():.4f} px azimuth, {err[:, 1].max():.4f} px range")
    assert err.max() <= 0.02


def test_fit_warp_rejects_outliers() -> None:
    rng = np.random.default_rng(1)
    shape = (1000, 800)
    n = 400
    lines, pixels = rng.uniform(0, 999, n), rng.uniform(0, 799, n)
    scale = (999.0, 799.0)
    ca, cr = np.array([0.3, 0.5, -0.2]), np.array([-1.1, 0.05, 0.4])
    a = design(lines, pixels, 1, scale)
    dl = a @ ca + rng.normal(0, 0.1, n)
    dp = a @ cr + rng.normal(0, 0.1, n)
    bad = rng.choice(n, 60, replace=False)
    dl[bad] += rng.uniform(2, 5, 60) * rng.choice([-1, 1], 60)
    cfg = CoregConfig(warpPolynomialOrder=1)
    fit = fit_warp(GCPTable(lines, pixels, dl, dp, np.ones(n)), cfg, shape)
    assert not fit.kept[bad].any() and fit.kept.sum() >= 0.95 * (n - 60)
    # the same as a least-squares fit that knows which points are outliers, and close to the truth
    good = np.ones(n, bool)
    good[bad] = False
    oracle = np.linalg.lstsq(a[good], dl[good], rcond=None)[0]
    np.testing.assert_allclose(fit.coef_azimuth, oracle, atol=0.01)
    np.testing.assert_allclose(fit.coef_azimuth, ca, atol=0.1)
    np.testing.assert_allclose(fit.coef_range, cr, atol=0.1)
    assert 0.08 < fit.rms_azimuth < 0.12  # the noise, not SNAP's 0.05 px threshold


def _correlated_gcp_noise(
    rng: np.random.Generator, shape: tuple[int, int], window: int, lines: np.ndarray, pixels: np.ndarray
) -> np.ndarray:
    """GCP errors as overlapping Hann-tapered windows see them: white noise summed with the weights
    ``hann^2`` of a ``window``-square window around each GCP (a correlation sums the products of two
    tapered windows), so neighbours closer than a window share noise."""
    kernel = np.zeros(shape)
    kernel[:window, :window] = np.outer(np.hanning(window), np.hanning(window)) ** 2
    kernel = np.roll(kernel, (-(window // 2), -(window // 2)), axis=(0, 1))
    field = np.fft.ifft2(np.fft.fft2(rng.standard_normal(shape)) * np.fft.fft2(kernel)).real / np.sqrt(np.sum(kernel**2))
    return field[lines.astype(int), pixels.astype(int)]


def test_warp_order_selection_false_positive_rate() -> None:
    """On a constant field, higher-order terms are kept at most about as often as the test's level
    says (alpha = 0.01 per step, two steps, Bonferroni over two axes: <= 0.02 expected), with GCPs
    whose tapered windows overlap (900 GCPs, 64 px windows, 512 px square: 3.7 GCPs per independent
    measurement); without the
    design-effect correction they would be kept most of the time."""
    rng = np.random.default_rng(5)
    shape, window = (512, 512), 64
    g = np.linspace(window / 2, shape[0] - window / 2, 30)
    ll, pp = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))
    scale = (shape[0] - 1.0, shape[1] - 1.0)
    n_eff = effective_gcps(ll, pp, (window, window))
    assert n_eff == pytest.approx(3.78 * (512 / 64) ** 2, rel=0.05)  # Hann: 3.78 equivalent areas per window
    runs = 200
    kept, kept_naive = 0, 0
    for _ in range(runs):
        offsets = (
            0.3 + 0.05 * _correlated_gcp_noise(rng, shape, window, ll, pp),
            -1.2 + 0.05 * _correlated_gcp_noise(rng, shape, window, ll, pp),
        )
        kept += select_order(ll, pp, offsets, 2, scale, n_eff) > 0
        kept_naive += select_order(ll, pp, offsets, 2, scale, float(ll.size)) > 0
    print(f"order > 0 selected on constant fields: {kept}/{runs} (naive F-test: {kept_naive}/{runs})")
    assert kept <= 0.05 * runs  # binomial: P(X > 10 | p = 0.02, n = 200) < 0.01
    assert kept_naive >= 0.3 * runs


def test_warp_order_selection_keeps_real_terms() -> None:
    """Affine and quadratic fields whose terms stand well above the GCP noise keep their order;
    a constant field is fitted by a constant, closer to the truth than the requested order-2 fit."""
    rng = np.random.default_rng(6)
    shape = (1000, 800)
    n = 600
    ll, pp = rng.uniform(0, 999, n), rng.uniform(0, 799, n)
    scale = (999.0, 799.0)
    noise = (rng.normal(0, 0.05, n), rng.normal(0, 0.05, n))
    a2 = design(ll, pp, 2, scale)
    cases = {
        0: (np.array([0.3, 0, 0, 0, 0, 0]), np.array([-1.2, 0, 0, 0, 0, 0])),
        1: (np.array([0.3, 0.1, 0, 0, 0, 0]), np.array([-1.2, 0, -0.08, 0, 0, 0])),
        2: (np.array([0.3, 0, 0, 1.0, 0, 0]), np.array([-1.2, 0, 0, 0, 0, 0.8])),
    }
    for expected, (ca, cr) in cases.items():
        gcps = GCPTable(ll, pp, a2 @ ca + noise[0], a2 @ cr + noise[1], np.ones(n))
        fit = fit_warp(gcps, CoregConfig(warpPolynomialOrder=2, coarseRegistrationWindowWidth=64, coarseRegistrationWindowHeight=64), shape)
        fixed = fit_warp(gcps, CoregConfig(warpPolynomialOrder=2, warpOrderSelection="fixed"), shape)
        assert fit.fitted_order == expected and fixed.fitted_order == 2 and fit.order == 2 and len(fit.coef_azimuth) == 6
        grid = design(*(a.ravel() for a in np.meshgrid(np.arange(0, 1000, 10.0), np.arange(0, 800, 10.0), indexing="ij")), 2, scale)
        err = np.sqrt(np.mean((grid @ (fit.coef_azimuth - ca)) ** 2))
        err_fixed = np.sqrt(np.mean((grid @ (fixed.coef_azimuth - ca)) ** 2))
        # the field within a few times its expected error (0.05 px * sqrt(6 terms / 600 GCPs) = 0.005 px)
        assert err < 0.015 and np.sqrt(np.mean((grid @ (fit.coef_range - cr)) ** 2)) < 0.015
        if expected == 0:
            # truth: the constant fit's error is the mean noise of the GCPs kept; the order-2 fit adds 5 terms' noise
            assert err == pytest.approx(abs(noise[0][fit.kept].mean()), abs=1e-9) and err < err_fixed


def test_config_yaml(tmp_path: Path) -> None:
    good = tmp_path / "c.yaml"
    good.write_text("nb_gcp: 500\nwarpPolynomialOrder: 2\nrmsThreshold: 0.1\n")
    cfg = CoregConfig.from_yaml(good, "SLC")
    assert cfg.nb_gcp == 500 and cfg.warpPolynomialOrder == 2 and cfg.fineRegistrationOversampling == 16 and cfg.gcpTolerance == 0.5
    bad = tmp_path / "b.yaml"
    bad.write_text("nb_gcps: 5\n")
    with pytest.raises(ConfigError, match="unknown coregistration parameters"):
        CoregConfig.from_yaml(bad)
    bad.write_text("warpPolynomialOrder: 5\n")
    with pytest.raises(ConfigError, match="warpPolynomialOrder"):
        CoregConfig.from_yaml(bad)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alignsar", *args], capture_output=True, text=True, timeout=600)


def _simulated_products(folder: Path, lines: int, dates: int) -> list[str]:
    from alignsar.simulate.io import write_scene

    return [str(p) for p in write_scene(simulate_scene(SceneConfig(lines=lines, samples=lines, dates=dates)), folder)]


def test_cli_on_simulated_products_and_rasters(tmp_path: Path) -> None:
    products = _simulated_products(tmp_path / "demo", 160, 3)
    dem = tmp_path / "demo" / "truth" / "dem.tif"
    out = tmp_path / "stack.zarr"
    res = _cli("coregister", "-pp", products[0], "-sp", *products[1:], "-op", str(out), "--dem", str(dem), "--dem-vertical", "ellipsoid")
    assert res.returncode == 0, res.stderr
    report = json.loads(Path(str(out) + ".coreg.json").read_text())
    assert len(report["secondaries"]) == 2
    for rec in report["secondaries"]:
        for key in (
            "method",
            "gcps_found",
            "gcps_kept",
            "residual_rms_azimuth_px",
            "residual_rms_range_px",
            "mean_offset_azimuth_px",
            "mean_offset_range_px",
            "polynomial",
        ):
            assert key in rec
    stack = xr.open_zarr(out, consolidated=False)["data"]
    assert stack.sizes["date"] == 3 and stack.dtype == np.complex64
    # plain GeoTIFF pair: a real raster and a copy shifted by (2, -3) pixels
    src = shared_path("sentinel1", "pyrosar", "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif")
    with rasterio.open(src) as ds:
        arr = ds.read(1).astype(np.float32)
        profile = ds.profile | {"dtype": "float32", "nodata": None}
    arr = np.where(arr == -99, np.nanmedian(arr[arr != -99]), arr)
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    for path, data in ((a, arr), (b, np.roll(arr, (2, -3), axis=(0, 1)))):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("nb_gcp: 30\ncoarseRegistrationWindowWidth: 64\ncoarseRegistrationWindowHeight: 64\n")
    res = _cli("coregister", "-pp", str(a), "-sp", str(b), "-op", str(tmp_path / "out.tif"), "-ct", "cross_corr", "-cp", str(cfg))
    assert res.returncode == 0, res.stderr
    rec = json.loads((tmp_path / "out.tif.coreg.json").read_text())["secondaries"][0]
    assert rec["mean_offset_azimuth_px"] == pytest.approx(2.0, abs=0.05) and rec["mean_offset_range_px"] == pytest.approx(-3.0, abs=0.05)
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.count == 2 and ds.crs is not None


def test_cli_bad_input(tmp_path: Path) -> None:
    products = _simulated_products(tmp_path / "demo", 64, 2)
    cases = [
        (["-pp", products[0], "-sp", products[1], "-op", str(tmp_path / "o.zarr")], "dem_assisted needs --dem"),
        (["-pp", products[0], "-sp", products[1], "-op", str(tmp_path / "o.zarr"), "-ct", "stack", "--pol", "HH"], "has no HH"),
        (
            [
                "-pp",
                products[0],
                "-sp",
                str(next(shared_path("envisat", "pyrosar").glob("*.N1"))),
                "-op",
                str(tmp_path / "o.zarr"),
                "-ct",
                "stack",
            ],
            "different sensors",
        ),
    ]
    rome = shared_path("sentinel1", "sarsen", "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE")
    cases.append(
        (
            [
                "-pp",
                str(rome),
                "-sp",
                str(
                    shared_path("sentinel1", "xarray-sentinel", "S1B_IW_GRDH_1SDV_20210401T052623_20210401T052648_026269_032297_ECC8.SAFE")
                ),
                "-op",
                str(tmp_path / "o.zarr"),
                "-ct",
                "stack",
            ],
            "does not overlap",
        )
    )
    for args, message in cases:
        res = _cli("coregister", *args)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 1 and len(lines) == 1 and message in lines[0], res.stderr
    assert not (tmp_path / "o.zarr").exists()


def test_cross_corr_on_detected_multilooked_pair(pair) -> None:
    """GRD-like data: intensities multilooked 2 x 2, no phase: amplitude correlation."""
    from scipy.ndimage import uniform_filter

    from alignsar.coregistration import coregister_rasters

    scene, _ = pair
    p, s = scene.acquisitions
    ip = uniform_filter(np.abs(p.measurement("VV").values.astype(np.complex128)) ** 2, 2)
    is_ = uniform_filter(np.abs(s.measurement("VV").values.astype(np.complex128)) ** 2, 2)
    cfg = CoregConfig.defaults("GRD")
    cfg.nb_gcp, cfg.coarseRegistrationWindowWidth, cfg.coarseRegistrationWindowHeight = 300, 64, 64
    res = coregister_rasters(xr.DataArray(ip, dims=("y", "x"), name="p"), xr.DataArray(is_, dims=("y", "x"), name="s"), cfg)
    rmse = _rmse_vs_truth(res, scene.truth[1])
    print(f"cross_corr on detected 2x2-multilooked data (300 GCPs of 64 px): RMSE {rmse[0]:.4f} / {rmse[1]:.4f} px")
    assert max(rmse) < 0.08
    assert res.data.dims == ("y", "x") and np.isfinite(res.data.values[20:-20, 20:-20]).all()


@pytest.mark.parametrize("integer_offset", [(0, 0), (2, -3)])
def test_fine_registration_pools_coherence(integer_offset) -> None:
    """Fine registration (32 x 32 complex windows, coherence maximisation pooled over windows): a
    band-limited complex pair at coherence 0.6 with a residual (0.04, -0.03) px beyond a known
    prediction (integer offsets plus 0.25 / 0.1 px) gives the residual to 0.01 px and the coherence
    to 0.1 (truth: exact Fourier shift, independent noise)."""
    from alignsar.coregistration.xcorr import fine_registration, gcp_grid

    rng = np.random.default_rng(0)
    n = 512
    k0, k1 = np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :]
    band = (np.abs(k0) <= 0.4) & (np.abs(k1) <= 0.4)

    def speckle() -> np.ndarray:
        return np.fft.fft2(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) * band

    spec = speckle()
    pred = (integer_offset[0] + 0.25, integer_offset[1] + 0.1)
    resid = (0.04, -0.03)
    shift = np.exp(-2j * np.pi * (k0 * (pred[0] + resid[0]) + k1 * (pred[1] + resid[1])))
    primary = np.fft.ifft2(spec)
    secondary = 0.6 * np.fft.ifft2(spec * shift) + 0.8 * np.fft.ifft2(speckle() * shift)
    lines, pixels = gcp_grid((n, n), 400, (64, 64))
    res = fine_registration(primary, secondary, lines, pixels, lambda ln, px: (ln + pred[0], px + pred[1]), CoregConfig.defaults("SLC"))
    assert res.windows_used >= 100
    assert res.shift_azimuth == pytest.approx(resid[0], abs=0.01)
    assert res.shift_range == pytest.approx(resid[1], abs=0.01)
    assert res.coherence == pytest.approx(0.6, abs=0.1)


def test_geocode_method_refines_geotransform() -> None:
    """Coregistration by geocoding: a secondary whose orbit is 3 lines late is geolocated displaced on
    the map; ``geocodeRefinement: constant`` measures that displacement (truth: rdr2geo of the scene
    centre with the late and the true orbit) to 0.1 map pixel and removes it."""
    import dataclasses

    import pyproj

    from alignsar.geometry import rdr2geo
    from alignsar.geometry.geocode import default_geobox

    scene = simulate_scene(SceneConfig(lines=320, samples=320, dates=2, polarizations=("VV",), coherence=0.9, seed=7, relief_m=0.0))
    p, s = scene.acquisitions
    dt = s.swath().grid.azimuth_time_interval
    late = dataclasses.replace(s, orbit=dataclasses.replace(s.orbit, time=s.orbit.time + np.timedelta64(round(3 * dt * 1e9), "ns")))
    box = default_geobox(p, resolution=20.0)
    centre = (np.array([160.0]), np.array([160.0]))
    a, b = rdr2geo(late, *centre), rdr2geo(s, *centre)
    to = pyproj.Transformer.from_crs(4326, box.crs.to_wkt(), always_xy=True)
    inv = ~box.affine
    ca = inv * to.transform(a.lon[0], a.lat[0])
    cb = inv * to.transform(b.lon[0], b.lat[0])
    truth = (ca[1] - cb[1], ca[0] - cb[0])  # (rows, columns) of the displacement
    cfg = CoregConfig.defaults("SLC")
    cfg.geocodeRefinement, cfg.nb_gcp, cfg.coarseRegistrationWindowWidth, cfg.coarseRegistrationWindowHeight = "constant", 200, 32, 32
    res = coregister(p, late, "geocode", config=cfg, geobox=box)
    q = res.quality
    print(
        f"geocode refinement: truth {truth[0]:+.3f} / {truth[1]:+.3f}, found {q.polynomial['azimuth'][0]:+.3f} / {q.polynomial['range'][0]:+.3f} map px"
    )
    assert abs(truth[0]) + abs(truth[1]) > 1.0
    assert q.polynomial["azimuth"][0] == pytest.approx(truth[0], abs=0.1)
    assert q.polynomial["range"][0] == pytest.approx(truth[1], abs=0.1)
    # refined: primary and secondary now agree (correlation of the geocoded pair ~ no shift)
    from alignsar.coregistration.xcorr import measure_gcps

    g = measure_gcps(res.primary.data, res.data.data, dataclasses.replace(cfg, warpPolynomialOrder=0))
    ok = g.found
    assert abs(np.median(g.offset_azimuth[ok])) < 0.1 and abs(np.median(g.offset_range[ok])) < 0.1


def test_only_gcps_on_land(pair) -> None:
    """onlyGCPsOnLand: with 'land' = the half of the scene west of its centre, only GCPs whose ground
    position lies west of the centre are used (about half), and the offsets still match the truth;
    with the real Natural Earth land polygons (the scene is inland near Rome) every GCP is kept;
    without a land polygon the option is a configuration error."""
    import shapely

    from alignsar.geometry import rdr2geo

    scene, dem = pair
    p, s = scene.acquisitions
    cfg = CoregConfig.defaults("SLC")
    cfg.nb_gcp, cfg.coarseRegistrationWindowWidth, cfg.coarseRegistrationWindowHeight, cfg.warpPolynomialOrder = 300, 64, 64, 1
    cfg.onlyGCPsOnLand = True
    lon0 = float(p.footprint.centroid.x)
    west = shapely.box(lon0 - 5, -90, lon0, 90)
    res = coregister(p, s, "cross_corr", config=cfg, dem=dem, land=west)
    all_res = coregister(p, s, "cross_corr", config=_without_land_mask(cfg), dem=dem)
    assert 0.3 * all_res.quality.gcps_found < res.quality.gcps_found < 0.7 * all_res.quality.gcps_found
    from alignsar.coregistration.xcorr import gcp_grid

    lines, pixels = gcp_grid(p.swath().grid.shape, 300, (64, 64))
    g = rdr2geo(p, lines, pixels, dem=dem)
    assert res.quality.gcps_found <= int((g.lon < lon0).sum())
    assert max(_rmse_vs_truth(res, scene.truth[1])) < 0.05
    import geopandas

    land = geopandas.read_file(shared_path("vector/naturalearth_lowres/naturalearth_lowres.shp")).to_crs(4326).geometry.union_all()
    assert coregister(p, s, "cross_corr", config=cfg, dem=dem, land=land).quality.gcps_found == all_res.quality.gcps_found
    with pytest.raises(ConfigError):
        coregister(p, s, "cross_corr", config=cfg, dem=dem)


def _without_land_mask(cfg: CoregConfig) -> CoregConfig:
    import dataclasses

    return dataclasses.replace(cfg, onlyGCPsOnLand=False)


def test_spectral_weights_on_hamming_weighted_speckle() -> None:
    """Band-limited, Hamming-weighted complex speckle (bandwidth 0.75 / 0.85 of the sampling rate, as
    Sentinel-1 SLCs) at coherence 0.6, the secondary an exact Fourier shift by (0.3, -0.2) px:
    with :func:`spectral_weights` the per-window scatter drops below plain correlation's (measured
    0.64 / 0.76 of it on 96 windows of 64 px) and the mean stays unbiased (truth known)."""
    from alignsar.coregistration.xcorr import spectral_weights

    rng = np.random.default_rng(3)
    n, k, gamma, shift = 64, 96, 0.6, (0.3, -0.2)
    fu, fv = np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :]

    def hamming(f: np.ndarray, b: float) -> np.ndarray:
        return np.where(np.abs(f) < b / 2, 0.54 + 0.46 * np.cos(2 * np.pi * f / b), 0.0)

    shape_ = hamming(fu, 0.75) * hamming(fv, 0.85)

    def speckle() -> np.ndarray:
        white = rng.standard_normal((k, 2 * n, 2 * n)) + 1j * rng.standard_normal((k, 2 * n, 2 * n))
        big_u, big_v = np.fft.fftfreq(2 * n)[:, None], np.fft.fftfreq(2 * n)[None, :]
        return np.fft.ifft2(np.fft.fft2(white) * hamming(big_u, 0.75) * hamming(big_v, 0.85))

    common, own_p, own_s = speckle(), speckle(), speckle()
    ramp = np.exp(-2j * np.pi * (np.fft.fftfreq(2 * n)[:, None] * shift[0] + np.fft.fftfreq(2 * n)[None, :] * shift[1]))
    moved = np.fft.ifft2(np.fft.fft2(common) * ramp)
    cut = (slice(None), slice(n // 2, n // 2 + n), slice(n // 2, n // 2 + n))
    prim = (np.sqrt(gamma) * common + np.sqrt(1 - gamma) * own_p)[cut].astype(np.complex64)
    sec = (np.sqrt(gamma) * moved + np.sqrt(1 - gamma) * own_s)[cut].astype(np.complex64)
    weights = spectral_weights(prim, sec)
    assert weights is not None and weights.shape == shape_.shape
    # no weight outside the processed band; inside, the weights rise towards its edges
    assert np.all(weights[shape_ == 0] == 0) and weights[0, 0] == pytest.approx(1.0, rel=0.1)
    assert weights[0, 12] > 1.5 and weights[12, 0] > 1.5
    plain = np.array(correlate(prim, sec)[:2])
    weighted = np.array(correlate(prim, sec, weights=weights)[:2])
    truth = np.array(shift)[:, None]
    scatter_plain, scatter_weighted = (np.sqrt(np.mean((d - truth) ** 2, axis=1)) for d in (plain, weighted))
    print(f"per-window RMSE az / rg: plain {scatter_plain}, weighted {scatter_weighted}")
    assert np.all(scatter_weighted < 0.85 * scatter_plain)
    assert np.all(np.abs(np.mean(weighted - truth, axis=1)) < 3 * scatter_weighted / np.sqrt(k) + 0.003)
    # the quality stays the unweighted normalised correlation
    q_plain, q_weighted = correlate(prim, sec)[2], correlate(prim, sec, weights=weights)[2]
    assert np.allclose(q_weighted, q_plain, atol=0.02) and 0.45 < np.median(q_plain) < 0.7


def test_joint_window_terms_match_correlation_peak_and_finite_differences() -> None:
    """The pooled objective's per-window terms: the correlation at the peak that :func:`correlate`
    finds equals the window's normalised peak correlation (with zero gradient there: it is the
    maximum), and the analytic gradient / Hessian equal finite differences of the value."""
    from scipy.ndimage import uniform_filter

    from alignsar.coregistration.joint import _window_terms
    from alignsar.coregistration.xcorr import cross_spectrum

    rng = np.random.default_rng(3)
    n = 64
    slc = rng.normal(size=(n + 8, n + 8)) + 1j * rng.normal(size=(n + 8, n + 8))
    noise = rng.normal(size=slc.shape) + 1j * rng.normal(size=slc.shape)
    f_l, f_p = np.fft.fftfreq(slc.shape[0])[:, None], np.fft.fftfreq(slc.shape[1])[None, :]
    shifted = np.fft.ifft2(np.fft.fft2(slc) * np.exp(-2j * np.pi * (f_l * 0.3 + f_p * -0.2)))
    a = uniform_filter(np.abs(slc) ** 2, 2)[4:-4, 4:-4]
    b = uniform_filter(np.abs(0.8 * shifted + 0.6 * noise) ** 2, 2)[4:-4, 4:-4]
    d_l, d_p, q = correlate(a, b)
    cross, energy = cross_spectrum(a[None], b[None], half=True)
    value, grad, hess = _window_terms(cross, np.atleast_1d(energy), np.array([[d_l, d_p]]), n)
    assert value[0] == pytest.approx(q, abs=1e-5)
    assert np.abs(grad[0]).max() < 1e-3 * np.abs(hess[0]).max()
    assert np.linalg.eigvalsh(hess[0]).max() < 0
    r0, eps = np.array([[0.11, -0.37]]), 1e-4
    _, g0, h0 = _window_terms(cross, np.atleast_1d(energy), r0, n)
    for axis in (0, 1):
        step = np.zeros((1, 2))
        step[0, axis] = eps
        vp, gp, _ = _window_terms(cross, np.atleast_1d(energy), r0 + step, n)
        vm, gm, _ = _window_terms(cross, np.atleast_1d(energy), r0 - step, n)
        assert (vp[0] - vm[0]) / (2 * eps) == pytest.approx(g0[0, axis], rel=1e-5, abs=1e-8)
        np.testing.assert_allclose((gp[0] - gm[0]) / (2 * eps), h0[0, axis], rtol=1e-5, atol=1e-8)


def test_joint_window_terms_on_complex_windows() -> None:
    """Complex (coherent) windows: the pooled objective's term is the correlation magnitude, whose
    maximum is where :func:`correlate` finds the peak (same value, zero gradient) whatever the
    window's interferometric phase, and whose analytic gradient / Hessian equal finite differences
    of the value. Truth: a known Fourier shift (0.3 / -0.2 px) of complex speckle at coherence
    0.8 with a constant phase of 1.3 rad."""
    from alignsar.coregistration.joint import _window_terms
    from alignsar.coregistration.xcorr import cross_spectrum

    rng = np.random.default_rng(4)
    n = 64
    slc = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    noise = rng.normal(size=slc.shape) + 1j * rng.normal(size=slc.shape)
    f_l, f_p = np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :]
    shifted = np.fft.ifft2(np.fft.fft2(slc) * np.exp(-2j * np.pi * (f_l * 0.3 + f_p * -0.2)))
    sec = (0.8 * shifted + 0.6 * noise) * np.exp(1.3j)
    d_l, d_p, q = correlate(slc, sec)
    assert abs(d_l - 0.3) < 0.05 and abs(d_p + 0.2) < 0.05
    cross, energy = cross_spectrum(slc[None], sec[None])
    e = np.atleast_1d(energy)
    value, grad, hess = _window_terms(cross, e, np.array([[d_l, d_p]]), n)
    # correlate reports the value at its finest grid's best point, the refined peak is a little higher
    assert q - 1e-6 <= value[0] <= q + 1e-4
    assert np.abs(grad[0]).max() < 1e-3 * np.abs(hess[0]).max()
    assert np.linalg.eigvalsh(hess[0]).max() < 0
    r0, eps = np.array([[0.21, -0.07]]), 1e-4
    _, g0, h0 = _window_terms(cross, e, r0, n)
    for axis in (0, 1):
        step = np.zeros((1, 2))
        step[0, axis] = eps
        vp, gp, _ = _window_terms(cross, e, r0 + step, n)
        vm, gm, _ = _window_terms(cross, e, r0 - step, n)
        assert (vp[0] - vm[0]) / (2 * eps) == pytest.approx(g0[0, axis], rel=1e-5, abs=1e-8)
        np.testing.assert_allclose((gp[0] - gm[0]) / (2 * eps), h0[0, axis], rtol=1e-5, atol=1e-8)


def _speckle_pair(
    seed: int, size: int, coherence: float, shift: tuple[float, float], range_slope: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """GRD-like pair from band-limited (Hamming-weighted, as the simulator's) complex speckle: the
    secondary is the primary shifted by ``shift`` (exact Fourier shift, secondary minus primary
    position, px; with ``range_slope``, the range shift of secondary line i grows by
    ``range_slope * i / (size - 1)``, each line shifted exactly) mixed with independent speckle to
    ``coherence``; both detected and multilooked 2 x 2 (intensities)."""
    from scipy.ndimage import uniform_filter

    from alignsar.simulate.scene import _band_limited_field

    rng = np.random.default_rng(seed)
    a = _band_limited_field(rng, (size, size), (0.75, 0.85)).astype(np.complex128)
    f_l, f_p = np.fft.fftfreq(size)[:, None], np.fft.fftfreq(size)[None, :]
    shifted = np.fft.ifft2(np.fft.fft2(a) * np.exp(-2j * np.pi * f_l * shift[0]))
    d_p = shift[1] + range_slope * np.arange(size)[:, None] / (size - 1)
    shifted = np.fft.ifft(np.fft.fft(shifted, axis=1) * np.exp(-2j * np.pi * f_p * d_p), axis=1)
    b = coherence * shifted + np.sqrt(1 - coherence**2) * _band_limited_field(rng, (size, size), (0.75, 0.85))
    return uniform_filter(np.abs(a) ** 2, 2), uniform_filter(np.abs(b) ** 2, 2)


def test_joint_refinement_converges_to_the_true_shift() -> None:
    """Joint refinement of an order-1 warp at coherence 0.6 (constant true field): started 0.3 /
    0.25 px off and started at the truth, it reaches the same maximum (within 1e-3 px at the image
    corners), whose offset at the image centre is the known shift within 0.02 px; the default
    pipeline (GCP fit + joint refinement) on the same pair is within 0.02 px too."""
    from alignsar.coregistration import coregister_rasters
    from alignsar.coregistration.joint import joint_refine
    from alignsar.coregistration.xcorr import gcp_grid

    shift, size, window = (-1.875, 2.375), 768, 128
    ip, is_ = _speckle_pair(5, size, 0.6, shift)
    lines, pixels = gcp_grid((size, size), 400, (window, window))
    scale = (size - 1, size - 1)
    fits = []
    for off_l, off_p in ((0.3, -0.25), (0.0, 0.0)):
        start = (np.array([shift[0] + off_l, 0.0, 0.0]), np.array([shift[1] + off_p, 0.0, 0.0]))
        fit = joint_refine(ip, is_, lines, pixels, start, 1, scale, (window, window))
        assert fit is not None and fit.windows == lines.size
        fits.append(fit)
    far, near = fits
    assert far.iterations >= 2 and far.correlation_after > far.correlation_before
    corners = design(np.array([0.0, 0, size - 1, size - 1]), np.array([0.0, size - 1, 0, size - 1]), 1, scale)
    np.testing.assert_allclose(corners @ far.coef_azimuth, corners @ near.coef_azimuth, atol=1e-3)
    np.testing.assert_allclose(corners @ far.coef_range, corners @ near.coef_range, atol=1e-3)
    centre = design(np.array([(size - 1) / 2]), np.array([(size - 1) / 2]), 1, scale)
    err = (float((centre @ far.coef_azimuth)[0]) - shift[0], float((centre @ far.coef_range)[0]) - shift[1])
    print(f"joint refinement from a 0.3 / 0.25 px start: error at the centre {err[0]:+.4f} / {err[1]:+.4f} px")
    assert abs(err[0]) < 0.02 and abs(err[1]) < 0.02
    cfg = CoregConfig.defaults("GRD")
    cfg.nb_gcp = 400
    res = coregister_rasters(xr.DataArray(ip, dims=("y", "x"), name="p"), xr.DataArray(is_, dims=("y", "x"), name="s"), cfg)
    assert any(n.startswith("joint refinement of the order") for n in res.quality.notes), res.quality.notes
    mean_l, mean_p = res.offsets.mean_offset()
    assert abs(mean_l - shift[0]) < 0.02 and abs(mean_p - shift[1]) < 0.02


def test_joint_refinement_of_complex_windows() -> None:
    """Joint refinement on complex (coherent) data: band-limited complex speckle at coherence 0.6,
    the secondary shifted by a known Fourier shift and rotated by an interferometric phase of 2 rad,
    order-1 warp started 0.3 / 0.25 px off. Truth: the known shift (tolerance 0.015 px per axis at
    the image centre; measured 0.0004-0.010 px), the order the Wald test keeps (0: the field is
    constant) and the coherence (the maximised mean correlation magnitude is the coherence within
    0.03). The result does not depend on the phase (magnitude objective): same coefficients within
    1e-6 px without it."""
    from alignsar.coregistration.joint import joint_refine
    from alignsar.coregistration.xcorr import gcp_grid
    from alignsar.simulate.scene import _band_limited_field

    size, window, shift, coherence = 512, 128, (-1.875, 2.375), 0.6
    lines, pixels = gcp_grid((size, size), 200, (window, window))
    scale = (size - 1, size - 1)
    start = (np.array([shift[0] + 0.3, 0.0, 0.0]), np.array([shift[1] - 0.25, 0.0, 0.0]))
    centre = design(np.array([(size - 1) / 2]), np.array([(size - 1) / 2]), 1, scale)
    f_l, f_p = np.fft.fftfreq(size)[:, None], np.fft.fftfreq(size)[None, :]
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        a = _band_limited_field(rng, (size, size), (0.75, 0.85)).astype(np.complex128)
        moved = np.fft.ifft2(np.fft.fft2(a) * np.exp(-2j * np.pi * (f_l * shift[0] + f_p * shift[1])))
        b = coherence * moved + np.sqrt(1 - coherence**2) * _band_limited_field(rng, (size, size), (0.75, 0.85))
        fits = [joint_refine(a, b * np.exp(1j * phi), lines, pixels, start, 1, scale, (window, window), select=True) for phi in (2.0, 0.0)]
        fit = fits[0]
        assert fit is not None and fits[1] is not None and fit.weighted and fit.start == "GCP fit"
        err = (float((centre @ fit.coef_azimuth)[0]) - shift[0], float((centre @ fit.coef_range)[0]) - shift[1])
        print(f"seed {seed}: order {fit.order}, error {err[0]:+.4f} / {err[1]:+.4f} px, correlation {fit.correlation_after:.3f}")
        assert fit.order == 0 and abs(err[0]) < 0.015 and abs(err[1]) < 0.015
        assert fit.correlation_after == pytest.approx(coherence, abs=0.03)
        np.testing.assert_allclose(fit.coef_azimuth, fits[1].coef_azimuth, atol=1e-6)
        np.testing.assert_allclose(fit.coef_range, fits[1].coef_range, atol=1e-6)


def test_joint_refinement_finds_the_shift_where_gcps_are_speckle() -> None:
    """Coherence 0.3 on speckle alone (no scene texture): most 128 px windows' own peaks are
    speckle, so the outlier rule cannot tell signal from noise and the GCP fit lands anywhere
    (measured: 0.4-2.9 px off); the pooled correlation surface of all windows peaks at the true
    shift and the joint refinement starts there. Truth: the known Fourier shift; tolerance
    0.06 px per pair (measured 0.01-0.05 px over six pairs unweighted, 0.002-0.034 px with the
    default band weighting)."""
    from alignsar.coregistration import coregister_rasters

    shift = (-1.875, 2.375)
    for seed in (1, 3, 4):
        ip, is_ = _speckle_pair(seed, 768, 0.3, shift)
        cfg = CoregConfig.defaults("GRD")
        cfg.nb_gcp = 400
        res = coregister_rasters(xr.DataArray(ip, dims=("y", "x"), name="p"), xr.DataArray(is_, dims=("y", "x"), name="s"), cfg)
        mean_l, mean_p = res.offsets.mean_offset()
        print(f"coherence 0.3, seed {seed}: error {mean_l - shift[0]:+.4f} / {mean_p - shift[1]:+.4f} px;", res.quality.notes[-1])
        assert abs(mean_l - shift[0]) < 0.06 and abs(mean_p - shift[1]) < 0.06


def test_joint_band_weights_invert_the_intensity_spectrum() -> None:
    """The joint refinement's weights on detected speckle (2 x 2 multilooked intensities of
    Hamming-weighted complex speckle, bands 0.75 / 0.85 of the sampling rate, coherence 0.6) are
    the inverse of the intensity's power spectrum up to the band, then capped. Truth: the analytic
    spectrum per axis, the Fourier transform of the squared complex autocorrelation (sampled, so
    aliasing included) times the boxcar's squared response cos^2(pi f); relative weights within 8 %
    (measured within 3 % up to 0.375 cycles / px). Also: the weighted pooled power equals the
    unweighted."""
    from alignsar.coregistration.joint import JOINT_BAND, _Spectra, _Windows, band_weights
    from alignsar.coregistration.xcorr import gcp_grid

    size, win, shift = 768, 128, (-1.875, 2.375)
    ip, is_ = _speckle_pair(2, size, 0.6, shift)
    lines, pixels = gcp_grid((size, size), 300, (win, win))
    spectra = _Spectra(_Windows(ip, is_, lines, pixels, (win, win)), (lines + shift[0], pixels + shift[1]))
    weights = band_weights(spectra.raw(), win)
    assert weights is not None and weights.shape == (win, win // 2 + 1)
    power = sum(np.sum(np.abs(cross) / energy[:, None, None], axis=0) for _, cross, energy in spectra.raw())
    assert np.sum(weights * power) == pytest.approx(np.sum(power), rel=1e-4)
    fine = np.fft.fftfreq(8 * win)
    for axis, fraction in ((0, 0.75), (1, 0.85)):
        h2 = np.where(np.abs(fine) <= fraction / 2, 0.54 + 0.46 * np.cos(2 * np.pi * fine / fraction), 0.0) ** 2
        analytic = np.abs(np.fft.fft(np.abs(np.fft.ifft(h2)) ** 2)) * np.cos(np.pi * fine) ** 2
        w = weights[:, 0] if axis == 0 else weights[0, :]
        freqs = np.abs(np.fft.fftfreq(win)) if axis == 0 else np.fft.rfftfreq(win)
        ref = 4  # 1/32 cycles / px (the DC bin of demeaned windows is not the spectrum's)
        inside = np.flatnonzero((freqs > 0) & (freqs <= JOINT_BAND[axis]) & (np.arange(freqs.size) < win // 2))
        truth = analytic[8 * ref] / analytic[8 * inside]
        np.testing.assert_allclose(w[inside] / w[ref], truth, rtol=0.08)
        # beyond the band the weight stays at the band's highest (the folded spectrum is not amplified)
        beyond = freqs > JOINT_BAND[axis]
        np.testing.assert_allclose(w[beyond], w[~beyond].max(), rtol=1e-6)


def test_joint_band_weighting_reduces_the_error_at_low_coherence() -> None:
    """``spectralWeighting: band`` against ``none`` on detected speckle pairs at coherence 0.3 (no
    scene texture, constant shift, 768 x 768, 400 windows of 128 x 128), six pairs: the combined
    RMSE of the mean offset against the known Fourier shift falls by at least 40 % and stays
    below 0.03 px (measured 0.050 -> 0.017 px). At coherence 0.9 the weighting is not applied."""
    from alignsar.coregistration import coregister_rasters

    shift = (-1.875, 2.375)
    errors: dict[str, list[tuple[float, float]]] = {"none": [], "band": []}
    for seed in range(1, 7):
        ip, is_ = _speckle_pair(seed, 768, 0.3, shift)
        for mode, out in errors.items():
            cfg = CoregConfig.defaults("GRD")
            cfg.nb_gcp, cfg.spectralWeighting = 400, mode
            res = coregister_rasters(xr.DataArray(ip, dims=("y", "x"), name="p"), xr.DataArray(is_, dims=("y", "x"), name="s"), cfg)
            mean_l, mean_p = res.offsets.mean_offset()
            out.append((mean_l - shift[0], mean_p - shift[1]))
            assert any(("band-weighted" in n) == (mode == "band") for n in res.quality.notes if n.startswith("joint"))
    rmse = {mode: float(np.sqrt(np.mean(np.sum(np.square(e), axis=1)))) for mode, e in errors.items()}
    print(f"coherence 0.3, six speckle pairs: combined RMSE {rmse['none']:.4f} px unweighted, {rmse['band']:.4f} px band-weighted")
    assert rmse["band"] < 0.6 * rmse["none"] and rmse["band"] < 0.03
    # at high coherence (intensity correlation ~0.8, above JOINT_WEIGHTING_BELOW) the spectra stay unweighted
    ip, is_ = _speckle_pair(1, 768, 0.9, shift)
    cfg = CoregConfig.defaults("GRD")
    cfg.nb_gcp = 400
    res = coregister_rasters(xr.DataArray(ip, dims=("y", "x"), name="p"), xr.DataArray(is_, dims=("y", "x"), name="s"), cfg)
    joint = [n for n in res.quality.notes if n.startswith("joint refinement of")]
    assert joint and "band-weighted" not in joint[0], res.quality.notes


def test_joint_refinement_order_selection() -> None:
    """The joint refinement's Wald test on the warp's linear terms (sandwich covariance with the
    overlap's design effect, level 0.01): on constant shifts it keeps order 0 (the truth), on a
    range offset growing by 0.35 px down the image it keeps order 1 and recovers the field within
    0.04 px RMSE (measured 0.003-0.026; an order-0 fit would leave 0.084 px; inner area; truth:
    the exact per-line Fourier shifts). Coherence 0.6."""
    from alignsar.coregistration import coregister_rasters

    size, shift, slope = 768, (-1.875, 2.2), 0.35
    ll, pp = np.meshgrid(np.arange(size, dtype=float), np.arange(size, dtype=float), indexing="ij")
    inner = (slice(64, -64), slice(64, -64))
    for seed, s in ((1, 0.0), (2, 0.0), (3, 0.0), (4, slope), (5, slope)):
        ip, is_ = _speckle_pair(seed, size, 0.6, shift, s)
        cfg = CoregConfig.defaults("GRD")
        cfg.nb_gcp = 400
        res = coregister_rasters(xr.DataArray(ip, dims=("y", "x"), name="p"), xr.DataArray(is_, dims=("y", "x"), name="s"), cfg)
        assert any("order by its Wald test" in n for n in res.quality.notes), res.quality.notes
        sl, sp = (x.compute() for x in res.offsets.on_grid())
        # secondary line l + shift[0] carries the range shift of that line
        t_rg = shift[1] + s * (ll + shift[0]) / (size - 1)
        e_l = float(np.sqrt(np.mean((sl - ll - shift[0])[inner] ** 2)))
        e_p = float(np.sqrt(np.mean((sp - pp - t_rg)[inner] ** 2)))
        order = res.quality.polynomial["fitted_order"]
        print(f"seed {seed}, range slope {s}: fitted order {order}, RMSE {e_l:.4f} / {e_p:.4f} px")
        assert order == (1 if s else 0)
        assert e_l < 0.04 and e_p < 0.04


def test_cross_corr_on_detected_products_measures_a_timing_error(pair) -> None:
    """Detected (GRD-like) products with orbits: ``cross_corr`` starts from the geometric prior
    (orbits + DEM), which follows the terrain, and measures the constant the secondary's annotation
    is off by (a timing error of +0.3 lines / -0.2 samples). Truth: the simulator's offset field."""
    from alignsar.simulate.variants import detected, with_timing_error

    scene, dem = pair
    p, s = scene.acquisitions
    late = with_timing_error(s, 0.3, -0.2)
    truth = scene.truth[1]
    # the injected error is what the geometry now gets wrong (dem_assisted alone: within 0.01 px of
    # the truth without it, see test_dem_assisted_and_stack_against_truth)
    off = coregister(p, late, "dem_assisted", dem=dem)
    assert _rmse_vs_truth(off, truth) == pytest.approx((0.3, 0.2), abs=0.01)
    pg, sg = detected(p), detected(late)
    assert pg.product_type == "GRD" and not np.iscomplexobj(pg.measurement("VV").dtype.type(0))
    cfg = CoregConfig.defaults("GRD")
    cfg.nb_gcp, cfg.coarseRegistrationWindowWidth, cfg.coarseRegistrationWindowHeight = 300, 64, 64
    res = coregister(pg, sg, "cross_corr", dem=dem, config=cfg)
    rmse = _rmse_vs_truth(res, truth)
    print(f"cross_corr on detected products with a geometric prior off by (0.3, -0.2) px: RMSE {rmse[0]:.4f} / {rmse[1]:.4f} px")
    assert max(rmse) < 0.03
    assert "warp polynomial fitted to the offsets relative to the geometric prior and added to it" in res.quality.notes
    assert res.quality.mean_offset_azimuth_px - float(truth["offset_azimuth"].mean()) == pytest.approx(0.0, abs=0.03)


def test_joint_window_terms_with_the_aliasing_model() -> None:
    """The per-window terms under the detected data's aliasing model (:func:`alias_shares`): the
    analytic gradient / Hessian equal finite differences of the value, and shares that put all
    content at the sampled frequency give the plain terms exactly."""
    from alignsar.coregistration.joint import _window_terms, alias_shares
    from alignsar.coregistration.xcorr import cross_spectrum

    n = 64
    a, b = _speckle_pair(5, n, 0.7, (0.3, -0.2))
    cross, energy = cross_spectrum(a[None], b[None], half=True)
    energy = np.atleast_1d(energy)
    shares = (alias_shares(0.75, 0.54, np.fft.fftfreq(n)), alias_shares(0.85, 0.54, np.fft.rfftfreq(n)))
    f_l = np.fft.fftfreq(n)
    assert np.allclose(np.sum(shares[0], axis=0), 1.0) and np.allclose(np.sum(shares[1], axis=0), 1.0)
    # no folding below 1 - band (the intensity's band is twice the complex one); at -0.5 half from +0.5
    assert np.allclose(shares[0][1][np.abs(f_l) <= 0.25], 1.0, rtol=0, atol=1e-6) and np.allclose(shares[0][:, f_l == -0.5].ravel(), [0.0, 0.5, 0.5])
    r0, eps = np.array([[0.31, -0.17]]), 1e-4
    _, g0, h0 = _window_terms(cross, energy, r0, n, shares)
    for axis in (0, 1):
        step = np.zeros((1, 2))
        step[0, axis] = eps
        vp, gp, _ = _window_terms(cross, energy, r0 + step, n, shares)
        vm, gm, _ = _window_terms(cross, energy, r0 - step, n, shares)
        assert (vp[0] - vm[0]) / (2 * eps) == pytest.approx(g0[0, axis], rel=1e-5, abs=1e-8)
        np.testing.assert_allclose((gp[0] - gm[0]) / (2 * eps), h0[0, axis], rtol=1e-5, atol=1e-8)
    plain = _window_terms(cross, energy, r0, n)
    unit = tuple(np.stack([np.zeros(s.shape[1]), np.ones(s.shape[1]), np.zeros(s.shape[1])]) for s in shares)
    for x, y in zip(plain, _window_terms(cross, energy, r0, n, unit), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)


def test_joint_aliasing_model_on_detected_speckle() -> None:
    """The aliasing model against the band-capped weighting on detected speckle pairs (Hamming
    bands 0.75 / 0.85, 2 x 2 multilooked, 1024 x 1024, 1000 windows of 128 x 128), known constant
    shift (fractions 1/8, 3/8 px), started 0.05 / 0.04 px off, six pairs per coherence. The model
    whitens the whole band and follows each frequency's folded content, so it uses the outer band
    the capped weighting gives up: combined RMSE at least 25 % lower at coherence 0.9 and lower at
    0.6 (measured 0.0024 -> 0.0014 px at 0.9 over 12 pairs, 0.0049 -> 0.0038 px at 0.6 over 20)."""
    from alignsar.coregistration.joint import joint_refine
    from alignsar.coregistration.xcorr import gcp_grid

    size, win, shift = 1024, 128, (-1.875, 2.375)
    lines, pixels = gcp_grid((size, size), 1000, (win, win))
    band = ((0.75, 0.54), (0.85, 0.54))
    for coherence, gain in ((0.9, 0.75), (0.6, 1.0)):
        errors: dict[str, list[tuple[float, float]]] = {"capped": [], "aliasing model": []}
        for seed in range(6):
            ip, is_ = _speckle_pair(seed, size, coherence, shift)
            start = (np.array([shift[0] + 0.05]), np.array([shift[1] - 0.04]))
            for mode, out in errors.items():
                model = band if mode == "aliasing model" else None
                fit = joint_refine(ip, is_, lines, pixels, start, 0, (size - 1, size - 1), (win, win), pooled_start=False, detected_band=model)
                assert fit is not None and fit.weighted == (model is not None or coherence < 0.75)
                out.append((fit.coef_azimuth[0] - shift[0], fit.coef_range[0] - shift[1]))
        rmse = {mode: float(np.sqrt(np.mean(np.sum(np.square(e), axis=1)))) for mode, e in errors.items()}
        print(f"coherence {coherence}: combined RMSE capped {rmse['capped']:.4f} px, aliasing model {rmse['aliasing model']:.4f} px")
        assert rmse["aliasing model"] < gain * rmse["capped"]


def test_detected_spectrum_of_simulated_products(tmp_path) -> None:
    """The complex spectrum behind detected products, for the aliasing model: the simulator's
    swaths annotate their band (0.75 / 0.85 of the sampling rates, Hamming 0.54), kept by
    :func:`detected` (same grid) and through a written and re-read product; a ground-range grid has
    none (its multilooking and resampling change the spectrum)."""
    import dataclasses

    from alignsar.coregistration.api import detected_spectrum
    from alignsar.readers import open_product
    from alignsar.simulate import SceneConfig, simulate_scene
    from alignsar.simulate.io import write_product
    from alignsar.simulate.variants import detected

    scene = simulate_scene(SceneConfig(lines=64, samples=64, dates=2, polarizations=("VV",), seed=3))
    p, s = scene.acquisitions
    expected = ((0.75, 0.54), (0.85, 0.54))
    np.testing.assert_allclose(detected_spectrum(detected(p), detected(s)), expected, rtol=1e-9)
    again = open_product(write_product(p, tmp_path / "p"))
    assert again.swath().spectrum == p.swath().spectrum
    np.testing.assert_allclose(detected_spectrum(again, s), expected, rtol=1e-9)
    sw = p.swath()
    ground = dataclasses.replace(p, swaths={sw.name: dataclasses.replace(sw, grid=dataclasses.replace(sw.grid, projection="ground_range"))})
    assert detected_spectrum(ground, s) is None
