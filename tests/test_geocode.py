"""Geocoding and radarcoding against independent truth: coordinate encoding (the isce3 pattern),
the simulator's class map known in map coordinates."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import rioxarray  # noqa: F401 - registers the .rio accessor
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.transform import Affine
from scipy.ndimage import binary_erosion, maximum_filter, minimum_filter

import alignsar
from alignsar.geometry import DEM, open_dem, rdr2geo
from alignsar.geometry.geocode import default_geobox, geocode, lookup_table, utm_crs
from alignsar.geometry.radarcode import radar_coordinates, radarcode
from alignsar.simulate import SceneConfig, simulate_scene

from .conftest import shared_path

ROME_GRD = ("sentinel1", "sarsen", "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE")


def _encode_decode(acq, geobox, dem, method):
    lut = lookup_table(acq, geobox, dem).compute()
    l0, l1 = int(np.nanmin(lut.line)) - 10, int(np.nanmax(lut.line)) + 10
    p0, p1 = int(np.nanmin(lut.pixel)) - 10, int(np.nanmax(lut.pixel)) + 10
    ll, pp = np.meshgrid(np.arange(l0, l1), np.arange(p0, p1), indexing="ij")
    ground = rdr2geo(acq, ll, pp, dem=dem)
    coords = {"line": ("azimuth", np.arange(l0, l1)), "pixel": ("range", np.arange(p0, p1))}
    lon = geocode(xr.DataArray(ground.lon, dims=("azimuth", "range"), coords=coords), lut, method).values
    lat = geocode(xr.DataArray(ground.lat, dims=("azimuth", "range"), coords=coords), lut, method).values
    xx, yy = np.meshgrid(lut.x.values, lut.y.values)
    lon_t, lat_t = pyproj.Transformer.from_crs(geobox.crs.to_wkt(), 4326, always_xy=True).transform(xx, yy)
    return np.maximum(np.abs(lon - lon_t), np.abs(lat - lat_t))[5:-5, 5:-5]


def _rome_box(half: float) -> GeoBox:
    crs = utm_crs(12.5, 42.0)
    x0, y0 = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(12.5, 42.0)
    return GeoBox.from_bbox((x0 - half, y0 - half, x0 + half, y0 + half), crs=crs.to_wkt(), resolution=10)


def test_coordinate_encoding_flat() -> None:
    acq = alignsar.open_product(shared_path(*ROME_GRD))
    err = _encode_decode(acq, _rome_box(2000), None, "bilinear")
    print(f"coordinate encoding, flat terrain, bilinear: max error {np.nanmax(err):.2e} deg")
    assert np.isfinite(err).all() and np.nanmax(err) < 1e-6


def test_coordinate_encoding_rome_dem() -> None:
    acq = alignsar.open_product(shared_path(*ROME_GRD))
    dem = open_dem(shared_path("dem", "sarsen", "Rome-30m-DEM.tif"), geoid=shared_path("geoid", "egm96_15.gtx"))
    err = _encode_decode(acq, _rome_box(2500), dem, "bilinear")
    print(f"coordinate encoding over the Rome DEM, bilinear: max {np.nanmax(err):.2e} deg, p99 {np.nanpercentile(err, 99):.2e} deg")
    assert np.nanpercentile(err, 99) < 1e-5 and np.nanmax(err) < 1e-4


def test_default_geobox_is_utm_10m() -> None:
    acq = alignsar.open_product(shared_path(*ROME_GRD))
    gb = default_geobox(acq)
    assert gb.crs.epsg == 32633 and gb.resolution.x == 10 and gb.resolution.y == -10
    assert default_geobox(acq, resolution=20, crs="EPSG:3035").crs.epsg == 3035


@pytest.fixture(scope="module")
def scene():
    return simulate_scene(SceneConfig(lines=200, samples=200, dates=1, polarizations=("VV",), seed=21, relief_m=80.0))


def _truth_raster(scene, name: str) -> xr.DataArray:
    tm = scene.truth_map
    da_ = xr.DataArray(tm[name].values, dims=("y", "x"), coords={"y": tm.y.values, "x": tm.x.values}, name=name)
    return da_.rio.write_crs(f"EPSG:{tm.attrs['epsg']}").rio.write_transform(Affine.from_gdal(*tm.attrs["transform"]))


def _sim_dem(scene) -> DEM:
    tm = scene.truth_map
    return DEM(tm["dem"].values.astype(np.float32), Affine.from_gdal(*tm.attrs["transform"]), pyproj.CRS.from_epsg(tm.attrs["epsg"]))


def _away_from_edges(classes: np.ndarray, width: int) -> np.ndarray:
    size = 2 * width + 1
    return (maximum_filter(classes, size) == minimum_filter(classes, size)) & (classes > 0)


def test_simulated_class_map_radarcoded_and_geocoded_back(scene) -> None:
    acq, truth = scene.acquisitions[0], scene.truth[0]
    dem = _sim_dem(scene)
    coords = radar_coordinates(acq, dem)
    radar_classes = radarcode(_truth_raster(scene, "class_map"), coords, "mode").values
    # 1. against the simulator's own radar-geometry class map (built by forward-projecting ground samples)
    sim = truth["class_map"].values
    good = _away_from_edges(sim, 2) & (truth["samples"].values > 0)
    agree_radar = (radar_classes[good] == sim[good]).mean()
    # 2. geocoded back onto the map grid vs the map truth
    tm = scene.truth_map
    gb = GeoBox(tm["class_map"].shape, Affine.from_gdal(*tm.attrs["transform"]), f"EPSG:{tm.attrs['epsg']}")
    lut = lookup_table(acq, gb, dem)
    back = geocode(xr.DataArray(radar_classes.astype(np.float32), dims=("azimuth", "range"), coords=coords.coords), lut, "nearest").values
    truth_map = tm["class_map"].values
    ok = np.isfinite(back) & _away_from_edges(truth_map, 3) & binary_erosion(np.isfinite(back), iterations=3)
    agree_map = (back[ok] == truth_map[ok]).mean()
    print(f"simulator class map: radarcoded {agree_radar:.4f} ({good.sum()} px), geocoded back {agree_map:.4f} ({ok.sum()} px)")
    assert good.sum() > 10000 and ok.sum() > 10000
    assert agree_radar >= 0.99 and agree_map >= 0.99


def test_radarcode_categorical_keeps_classes_and_continuous_is_smooth(scene) -> None:
    acq = scene.acquisitions[0]
    coords = radar_coordinates(acq, _sim_dem(scene))
    classes = radarcode(_truth_raster(scene, "class_map"), coords, "mode").values
    assert set(np.unique(classes)) <= set(np.unique(scene.truth_map["class_map"].values))
    heights = radarcode(_truth_raster(scene, "dem"), coords, "bilinear").values
    # the DEM sampled at each pixel's ground point equals the rdr2geo height there
    np.testing.assert_allclose(heights, coords["height"].values, atol=0.05)


def _lut_and_window(acq, geobox):
    lut = lookup_table(acq, geobox).compute()
    l0, l1 = int(np.nanmin(lut.line)) - 12, int(np.nanmax(lut.line)) + 12
    p0, p1 = int(np.nanmin(lut.pixel)) - 12, int(np.nanmax(lut.pixel)) + 12
    coords = {"line": ("azimuth", np.arange(l0, l1)), "pixel": ("range", np.arange(p0, p1))}
    ll, pp = np.meshgrid(np.arange(l0, l1, dtype=float), np.arange(p0, p1, dtype=float), indexing="ij")
    return lut, coords, ll, pp


def test_sinc_resampling_of_complex_plane_wave() -> None:
    """A band-limited complex signal (plane wave at 0.3 / 0.35 cycles per pixel): sinc reproduces it
    at the lookup table's fractional positions, bilinear does not."""
    acq = alignsar.open_product(shared_path(*ROME_GRD))
    lut, coords, ll, pp = _lut_and_window(acq, _rome_box(800))
    wave = lambda li, pi: np.exp(2j * np.pi * (0.3 * li + 0.35 * pi))  # noqa: E731
    image = xr.DataArray(wave(ll, pp).astype(np.complex64), dims=("azimuth", "range"), coords=coords)
    truth = wave(lut.line.values, lut.pixel.values)
    err = {m: np.nanmax(np.abs(geocode(image, lut, m).values - truth)) for m in ("sinc", "bilinear", "nearest")}
    print("plane-wave resampling max error:", err)
    assert geocode(image, lut, "sinc").dtype == np.complex64
    assert err["sinc"] < 0.01 and err["bilinear"] > 20 * err["sinc"]


def test_oversample_then_average_on_linear_field() -> None:
    """The mean of a linear field over a map pixel is its value at the centre: oversampled-averaged
    geocoding of a ramp equals plain bilinear geocoding."""
    acq = alignsar.open_product(shared_path(*ROME_GRD))
    box = _rome_box(600)
    lut, coords, ll, pp = _lut_and_window(acq, box)
    ramp = xr.DataArray(3.0 * ll - 2.0 * pp, dims=("azimuth", "range"), coords=coords)
    plain = geocode(ramp, lut, "bilinear").values
    over = geocode(ramp, lut, "bilinear", oversample=3, acq=acq, geobox=box).values
    inner = np.s_[2:-2, 2:-2]
    assert over.shape == plain.shape
    np.testing.assert_allclose(over[inner], plain[inner], atol=2e-3)
    # outside the swath: NaN, never zeros
    far = GeoBox.from_bbox((0, 0, 1000, 1000), crs=box.crs, resolution=10)
    assert np.isnan(geocode(ramp, lookup_table(acq, far), "bilinear").values).all()


def test_radarcode_average_close_to_bilinear_on_smooth_field(scene) -> None:
    coords = radar_coordinates(scene.acquisitions[0], _sim_dem(scene))
    bil = radarcode(_truth_raster(scene, "dem"), coords, "bilinear").values
    avg = radarcode(_truth_raster(scene, "dem"), coords, "average").values
    assert np.nanmax(np.abs(avg - bil)) < 1.0 and np.isfinite(avg).mean() > 0.99
