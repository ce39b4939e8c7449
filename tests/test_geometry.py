"""Geometry engine against independent truth: the products' geolocation grids, closed-form orbits,
round trips over real relief, the EGM96 geoid."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import alignsar
from alignsar.errors import GeometryError
from alignsar.geometry import geo2rdr, geoid_undulation, lonlat_to_ecef, open_dem, rdr2geo
from alignsar.geometry.radar import line_to_time, time_to_line
from alignsar.simulate import SceneConfig, simulate_scene
from alignsar.simulate.orbit import geodetic_to_ecef

from .conftest import s1_products, shared_path

PRODUCTS = s1_products()
ROME_GRD = ("sentinel1", "sarsen", "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE")
GEOID = ("geoid", "egm96_15.gtx")
ROME_DEM = ("dem", "sarsen", "Rome-30m-DEM.tif")


@pytest.mark.parametrize(
    "path", [p for p in PRODUCTS if p.suffix != ".zip"] + [p for p in PRODUCTS if "s1-reader" in str(p)], ids=lambda p: p.name[:40]
)
def test_geo2rdr_reproduces_geolocation_grid(path) -> None:
    acq = alignsar.open_product(path)
    for sw in acq.swaths.values():
        g, grid = sw.geolocation, sw.grid
        res = geo2rdr(acq, g["longitude"].values, g["latitude"].values, g["height"].values, swath=sw.name)
        assert res.converged.all()
        az_px = np.abs((res.azimuth_time - g["azimuth_time"].values) / np.timedelta64(1, "ns") * 1e-9) / grid.azimuth_time_interval
        rg_px = np.abs(res.slant_range_time - g["slant_range_time"].values) * grid.range_sampling_rate
        slc = acq.product_type == "SLC"
        print(f"{acq.product_name[:40]} {sw.name}: max azimuth {az_px.max():.5f} px, max range {rg_px.max():.6f} px")
        assert rg_px.max() <= 0.002
        assert az_px.max() <= (0.02 if slc else 0.002)
        # the line where each point really is: grid times are zero-Doppler, lines are bistatic-shifted
        if not grid.bursts:
            line_err = np.abs(res.line - g["line"].values[:, None])
            assert line_err.max() <= (0.02 if slc else 0.002)
        else:
            back = line_to_time(grid, acq.orbit, time_to_line(grid, acq.orbit, acq.orbit.seconds(g["azimuth_time"].values)))
            assert np.abs(back - acq.orbit.seconds(g["azimuth_time"].values)).max() < 1e-6
        if grid.projection == "slant_range":
            assert np.abs(res.pixel - g["pixel"].values[None, :]).max() <= 0.002


def test_geo2rdr_against_closed_form_orbit() -> None:
    """Simulated acquisitions: state-vector interpolation + Newton vs the simulator's analytic orbit."""
    scene = simulate_scene(SceneConfig(lines=128, samples=128, dates=2, polarizations=("VV",), seed=3))
    tm = scene.truth_map
    import pyproj

    xx, yy = np.meshgrid(tm.x.values[::7], tm.y.values[::7])
    lon, lat = pyproj.Transformer.from_crs(tm.attrs["epsg"], 4326, always_xy=True).transform(xx, yy)
    h = tm["dem"].values[::7, ::7].astype(float)
    cfg = scene.config
    for k, (acq, orb) in enumerate(zip(scene.acquisitions, scene.orbits, strict=True)):
        res = geo2rdr(acq, lon, lat, h)
        epoch = np.datetime64(cfg.start, "ns") + np.timedelta64(round(k * cfg.revisit_days * 86400e9), "ns")
        t, r = orb.zero_doppler(geodetic_to_ecef(lon, lat, h), 0.0)
        grid = acq.swath().grid
        t_first = (grid.first_azimuth_time - epoch) / np.timedelta64(1, "ns") * 1e-9
        line = (t - t_first) / grid.azimuth_time_interval
        pixel = (2 * r / 299_792_458.0 - grid.first_slant_range_time) * grid.range_sampling_rate
        assert np.abs(res.line - line).max() < 1e-3
        assert np.abs(res.pixel - pixel).max() < 1e-3


def test_dask_equals_numpy() -> None:
    acq = alignsar.open_product(shared_path(*ROME_GRD))
    g = acq.swath().geolocation
    lon = np.linspace(float(g["longitude"].min()), float(g["longitude"].max()), 40 * 37).reshape(40, 37)
    lat = np.linspace(float(g["latitude"].min()), float(g["latitude"].max()), 40)[:, None] * np.ones((1, 37))
    ref = geo2rdr(acq, lon, lat, 100.0)
    lazy = geo2rdr(acq, da.from_array(lon, chunks=(13, 11)), da.from_array(lat, chunks=(13, 11)), 100.0)
    assert isinstance(lazy.line, da.Array)
    np.testing.assert_allclose(lazy.line.compute(), ref.line, atol=1e-6)
    np.testing.assert_allclose(lazy.pixel.compute(), ref.pixel, atol=1e-6)
    assert (lazy.azimuth_time.compute() == ref.azimuth_time).mean() > 0.99


def test_geoid_undulation_rome() -> None:
    n = geoid_undulation(12.5, 42.0, "egm96", shared_path(*GEOID))
    assert float(n) == pytest.approx(48.6, abs=0.05)


def test_open_dem_converts_egm96_and_refuses_unknown(tmp_path) -> None:
    import rasterio

    path = shared_path(*ROME_DEM)
    dem = open_dem(path, geoid=shared_path(*GEOID))
    assert dem.source_vertical == "egm96"
    with rasterio.open(path) as src:
        raw = src.read(1).astype(float)
    assert np.nanmean(dem.heights - raw) == pytest.approx(48.6, abs=0.5)
    # the same heights in a file with no vertical CRS must be declared
    plain = tmp_path / "plain.tif"
    with rasterio.open(path) as src:
        profile = src.profile | {"crs": "EPSG:4326"}
        with rasterio.open(plain, "w", **profile) as dst:
            dst.write(src.read())
    with pytest.raises(GeometryError, match="no vertical reference"):
        open_dem(plain)
    as_ellipsoid = open_dem(plain, vertical="ellipsoid")
    np.testing.assert_allclose(as_ellipsoid.heights, raw)
    with pytest.raises(GeometryError, match="says heights are egm96"):
        open_dem(path, vertical="ellipsoid")


def test_geoid_changes_slant_range_as_expected() -> None:
    """The Rome DEM read as EGM96 vs (wrongly) as ellipsoidal: slant range changes by -N cos(theta)."""
    acq = alignsar.open_product(shared_path(*ROME_GRD))
    dem = open_dem(shared_path(*ROME_DEM), geoid=shared_path(*GEOID))
    rows, cols = np.mgrid[10:350:40, 10:350:40]
    x, y = dem.transform @ (cols + 0.5, rows + 0.5)
    h_ell = dem.heights[rows, cols].astype(float)
    n = geoid_undulation(x, y, "egm96", shared_path(*GEOID))
    right = geo2rdr(acq, x, y, h_ell)
    wrong = geo2rdr(acq, x, y, h_ell - n)
    p = lonlat_to_ecef(x, y, h_ell)
    s = acq.orbit.interpolate(right.azimuth_time).position
    look = (p - s) / np.linalg.norm(p - s, axis=-1, keepdims=True)
    from alignsar.geometry import ellipsoid_normal

    cos_inc = -np.einsum("...i,...i", look, ellipsoid_normal(x, y))
    expected = -n * cos_inc  # raising a point by N shortens the range by N cos(incidence)
    np.testing.assert_allclose(right.slant_range - wrong.slant_range, expected, rtol=2e-3)
    shift_px = np.abs(right.pixel - wrong.pixel).mean()
    print(f"EGM96 vs ellipsoid over Rome: {np.abs(expected).mean():.1f} m slant range, {shift_px:.2f} GRD pixels")
    assert 30 < np.abs(expected).mean() < 40 and 4.5 < shift_px < 7


def test_rdr2geo_geo2rdr_round_trip_over_relief() -> None:
    acq = alignsar.open_product(shared_path(*ROME_GRD))
    dem = open_dem(shared_path(*ROME_DEM), geoid=shared_path(*GEOID))
    # radar pixels whose ground lies on the DEM: project DEM points, take the pixels around them
    rows, cols = np.mgrid[40:320:35, 40:320:35]
    x, y = dem.transform @ (cols + 0.5, rows + 0.5)
    seed = geo2rdr(acq, x, y, dem.heights[rows, cols])
    line, pixel = np.round(seed.line) + 0.25, np.round(seed.pixel) - 0.4
    ground = rdr2geo(acq, line, pixel, dem=dem)
    assert ground.converged.all()
    assert np.ptp(ground.height) > 50  # real relief (Rome: ~90 m over the sampled points)
    back = geo2rdr(acq, ground.lon, ground.lat, ground.height)
    assert np.abs(back.line - line).max() < 1e-4
    assert np.abs(back.pixel - pixel).max() < 1e-4
    np.testing.assert_allclose(ground.height, dem.height(ground.lon, ground.lat), atol=1e-3)


def test_rdr2geo_round_trip_tops_and_constant_height() -> None:
    acq = alignsar.open_product(
        shared_path("sentinel1", "s1-reader", "S1A_IW_SLC__1SDV_20220828T042306_20220828T042335_044748_0557C6_F396.zip")
    )
    grid = acq.swath("IW2").grid
    line = np.linspace(5, grid.lines - 5, 50)
    pixel = np.linspace(5, grid.samples - 5, 50)
    ground = rdr2geo(acq, line, pixel, height=250.0, swath="IW2")
    back = geo2rdr(acq, ground.lon, ground.lat, ground.height, swath="IW2")
    np.testing.assert_allclose(ground.height, 250.0, atol=1e-3)
    assert np.abs(back.pixel - pixel).max() < 1e-4
    # TOPS: the same time may sit in two bursts; compare times
    t_in = line_to_time(grid, acq.orbit, line)
    t_back = line_to_time(grid, acq.orbit, back.line)
    assert np.abs(t_back - t_in).max() / grid.azimuth_time_interval < 1e-4


def test_dem_not_covering_raises() -> None:
    acq = alignsar.open_product(shared_path(*ROME_GRD))
    dem = open_dem(shared_path(*ROME_DEM), geoid=shared_path(*GEOID))
    with pytest.raises(GeometryError, match="DEM does not cover"):
        rdr2geo(acq, np.array([10.0]), np.array([10.0]), dem=dem)
    with pytest.raises(GeometryError, match="does not cover the scene"):
        dem.check_covers(acq.footprint)


def test_geometry_layers_incidence_matches_annotation() -> None:
    from alignsar.geometry.layers import geometry_layers

    acq = alignsar.open_product(shared_path(*ROME_GRD))
    dem = open_dem(shared_path(*ROME_DEM), geoid=shared_path(*GEOID))
    geo = acq.swath().geolocation
    seed = geo2rdr(acq, 12.5, 42.0, 50.0)
    l0, p0 = int(seed.line) - 300, int(seed.pixel) - 300
    lay = geometry_layers(acq, dem, window=(slice(l0, l0 + 600, 60), slice(p0, p0 + 600, 60))).compute()
    # ellipsoid incidence from the product's own grid, interpolated to the same pixels
    from scipy.interpolate import RegularGridInterpolator

    interp = RegularGridInterpolator((geo["line"].values, geo["pixel"].values), geo["incidence_angle"].values)
    ll, pp = np.meshgrid(lay["line"].values, lay["pixel"].values, indexing="ij")
    expected = interp(np.stack([ll, pp], -1))
    # the annotation is interpolated linearly between grid points ~1300 px apart and refers to the
    # grid's own heights: agreement to a few hundredths of a degree is what that allows
    assert np.abs(lay["incidence_angle"].values - expected).max() < 0.05
    assert 80 < float(lay["los_azimuth"].mean()) < 120  # descending, right-looking: the sensor is to the east
    assert np.allclose(lay["los_east"] ** 2 + lay["los_north"] ** 2 + lay["los_up"] ** 2, 1.0)


@pytest.mark.parametrize("slope_deg,expected", [(20.0, 0), (50.0, 1), (-60.0, 2)])
def test_layover_shadow_on_tilted_planes(slope_deg: float, expected: int) -> None:
    """A plane tilted towards (+) or away from (-) the sensor: layover when the slope exceeds the look
    angle (~36 deg), shadow when it exceeds 90 deg minus the look angle facing away."""
    from odc.geo.geobox import GeoBox
    from rasterio.transform import Affine

    from alignsar.geometry import DEM
    from alignsar.geometry.geocode import utm_crs
    from alignsar.geometry.layers import geometry_layers

    scene = simulate_scene(SceneConfig(lines=64, samples=64, dates=1, polarizations=("VV",), seed=2))
    acq = scene.acquisitions[0]
    import pyproj

    crs = utm_crs(scene.config.center_lon, scene.config.center_lat)
    x0, y0 = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(scene.config.center_lon, scene.config.center_lat)
    # horizontal direction towards the sensor, from the flat-terrain line of sight
    flat = geometry_layers(
        acq,
        DEM(np.zeros((3, 3), np.float32), Affine(2000, 0, x0 - 3000, 0, -2000, y0 + 3000), crs),
        geobox=GeoBox((1, 1), Affine(10, 0, x0, 0, -10, y0), crs),
    ).compute()
    az = np.radians(flat["los_azimuth"].values.item())
    n = 201
    xs = x0 - 1000 + 10 * (np.arange(n) + 0.5)
    ys = y0 + 1000 - 10 * (np.arange(n) + 0.5)
    xx, yy = np.meshgrid(xs, ys)
    # terrain that descends towards the sensor faces it
    heights = 500 - np.tan(np.radians(slope_deg)) * ((xx - x0) * np.sin(az) + (yy - y0) * np.cos(az))
    dem = DEM(heights.astype(np.float32), Affine(10, 0, x0 - 1000, 0, -10, y0 + 1000), crs)
    box = GeoBox((20, 20), Affine(10, 0, x0 - 100, 0, -10, y0 + 100), crs)
    lay = geometry_layers(acq, dem, geobox=box).compute()
    flags = lay["layover_shadow"].values
    assert (flags == expected).all(), np.unique(flags)
    local = lay["local_incidence_angle"].values
    look = flat["incidence_angle"].values.item()
    assert np.allclose(local, abs(look - slope_deg), atol=0.5)


def test_geo2rdr_ecef_input() -> None:
    acq = alignsar.open_product(shared_path(*ROME_GRD))
    g = acq.swath().geolocation
    lon, lat, h = g["longitude"].values, g["latitude"].values, g["height"].values
    a = geo2rdr(acq, lon, lat, h)
    b = geo2rdr(acq, ecef=lonlat_to_ecef(lon, lat, h))
    np.testing.assert_allclose(a.line, b.line, atol=1e-6)
    np.testing.assert_allclose(a.pixel, b.pixel, atol=1e-6)
