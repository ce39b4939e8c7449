"""Radarcoding of vector polygons (alignsar.layers.vector): exact area weighting on radar and map grids."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from odc.geo.geobox import GeoBox
from rasterio.transform import Affine
from scipy.ndimage import maximum_filter, minimum_filter

from alignsar.errors import UnsupportedProductError
from alignsar.geometry.dem import DEM
from alignsar.layers import radarcode_vectors
from alignsar.simulate.scene import SceneConfig, simulate_scene

from .conftest import shared_path

UTM33 = "EPSG:32633"


@pytest.fixture(scope="module")
def scene():
    return simulate_scene(SceneConfig(lines=128, samples=128, dates=1, polarizations=("VV",), seed=3))


def _fractions(ds) -> list[str]:
    return [v for v in ds.data_vars if v.startswith("fraction_")]


def test_simulated_polygons_give_the_true_radar_class_map(scene) -> None:
    tm = scene.truth_map
    crs = pyproj.CRS.from_epsg(tm.attrs["epsg"])
    # the simulator projects ground samples at the DEM heights: use the same terrain
    dem = DEM(tm["dem"].values.astype(np.float32), Affine.from_gdal(*tm.attrs["transform"]), crs)
    polygons = gpd.GeoDataFrame({"cover": [v for v, _ in scene.polygons]}, geometry=[g for _, g in scene.polygons], crs=crs)
    t0 = time.perf_counter()
    ds = radarcode_vectors(polygons, scene.acquisitions[0], column="cover", dem=dem)
    elapsed = time.perf_counter() - t0
    truth = scene.truth[0]["class_map"].values
    samples = scene.truth[0]["samples"].values
    assert ds["class_majority"].dims == ("azimuth", "range") and ds["class_majority"].shape == truth.shape
    # away from class edges (1 px), shadow (no sample) and layover (more ground samples than usual)
    away = (maximum_filter(truth, 3) == minimum_filter(truth, 3)) & (truth > 0)
    no_layover = (samples > 0) & (samples <= 1.5 * np.median(samples))
    good = away & no_layover
    agree = (ds["class_majority"].values[good] == truth[good]).mean()
    print(f"class_majority vs simulator truth: {agree:.4f} on {good.sum()} px, {elapsed:.2f} s")
    assert good.sum() > 0.7 * truth.size
    assert agree >= 0.98
    # the simulated polygons partition the scene: every pixel is fully covered, fractions sum to 1
    total = sum(ds[v].values.astype(np.float64) for v in _fractions(ds))
    covered = ds["coverage"].values >= 1 - 1e-6
    assert covered.mean() > 0.99
    np.testing.assert_allclose(total[covered], 1.0, atol=1e-6)
    for v in _fractions(ds):
        assert ds[v].dtype == np.float32 and float(ds[v].min()) >= 0 and float(ds[v].max()) <= 1
    assert ds.attrs["class_codes"] == sorted({v for v, _ in scene.polygons})
    assert set(ds["class_majority"].attrs) >= {"units", "long_name", "formula"}
    # row blocks do not change anything
    blocked = radarcode_vectors(polygons, scene.acquisitions[0], column="cover", dem=dem, block_rows=40)
    np.testing.assert_array_equal(blocked["class_majority"].values, ds["class_majority"].values)
    np.testing.assert_allclose(blocked["coverage"].values, ds["coverage"].values, atol=1e-7)


def test_half_pixel_fraction_and_attributes_on_a_map_grid() -> None:
    gb = GeoBox.from_bbox((300000, 4600000, 300100, 4600100), crs=UTM33, resolution=10)  # 10 x 10 px of 10 m
    # pixel (row 2, col 3): x 300030..300040, y 4600070..4600080 (north-up, row 0 at the top)
    x0, y1 = 300030.0, 4600080.0
    half = shapely.box(x0, y1 - 10, x0 + 5, y1)  # left half of the pixel
    quarter = shapely.box(x0 + 5, y1 - 5, x0 + 10, y1)  # top-right quarter
    gdf = gpd.GeoDataFrame({"kind": ["forest", "urban"], "value": [10.0, 2.0]}, geometry=[half, quarter], crs=UTM33)
    ds = radarcode_vectors(gdf, gb, column="kind", attributes=("value", "kind"))
    assert ds.attrs["classes"] == ["forest", "urban"] and ds.attrs["class_codes"] == [0, 1]
    assert abs(float(ds["fraction_forest"].values[2, 3]) - 0.5) < 1e-9
    assert abs(float(ds["fraction_urban"].values[2, 3]) - 0.25) < 1e-9
    assert ds["class_majority"].values[2, 3] == 0
    assert abs(float(ds["attr_value"].values[2, 3]) - (0.5 * 10 + 0.25 * 2) / 0.75) < 1e-9
    assert ds["attr_kind"].values[2, 3] == "forest"
    # nothing elsewhere
    others = np.ones(gb.shape, bool)
    others[2, 3] = False
    assert (ds["class_majority"].values[others] == -1).all() and np.isnan(ds["attr_value"].values[others]).all()
    assert (ds["fraction_forest"].values[others] == 0).all()


def test_fractions_sum_to_one_on_a_partition_of_a_map_grid() -> None:
    gb = GeoBox.from_bbox((300000, 4600000, 300200, 4600200), crs=UTM33, resolution=10)
    # a square split along an oblique line and a circle cut out of it: three classes
    square = shapely.box(300020, 4600020, 300180, 4600180)
    cut = shapely.Polygon([(300000, 4600000), (300200, 4600000), (300200, 4600137.3)])
    disc = shapely.Point(300070.7, 4600121.9).buffer(33.3)
    parts = [shapely.difference(shapely.intersection(square, cut), disc), shapely.difference(shapely.difference(square, cut), disc)]
    parts.append(shapely.intersection(disc, square))
    gdf = gpd.GeoDataFrame({"c": [7, 8, 9]}, geometry=parts, crs=UTM33).to_crs("EPSG:4326")  # reprojected back
    ds = radarcode_vectors(gdf, gb, column="c")
    total = sum(ds[v].values.astype(np.float64) for v in _fractions(ds))
    inner = np.zeros(gb.shape, bool)
    inner[3:17, 3:17] = True  # pixels well inside the square
    np.testing.assert_allclose(total[inner], 1.0, atol=1e-6)
    assert (total[~inner] <= 1 + 1e-6).all()
    assert set(np.unique(ds["class_majority"].values[inner])) == {7, 8, 9}


def test_natural_earth_countries_on_a_coarse_grid() -> None:
    shp = shared_path("vector", "naturalearth_lowres", "naturalearth_lowres.shp")
    gb = GeoBox.from_bbox((-10, 35, 30, 60), crs="EPSG:4326", resolution=1.0)
    t0 = time.perf_counter()
    ds = radarcode_vectors(shp, gb, column="name", attributes=("continent", "pop_est"))
    print(f"natural earth on {gb.shape}: {time.perf_counter() - t0:.2f} s")
    classes = ds.attrs["classes"]
    assert ds.attrs["source"] == str(shp) and "4326" in ds.attrs["source_crs"]
    for v in _fractions(ds):
        a = ds[v].values
        assert a.min() >= 0 and a.max() <= 1
    world = gpd.read_file(shp).set_index("name")
    row = {"France": (2.5, 46.5), "Germany": (10.5, 51.5), "Spain": (-3.5, 40.5), "Poland": (19.5, 52.5)}
    for country, (lon, lat) in row.items():
        cell = shapely.box(lon - 0.5, lat - 0.5, lon + 0.5, lat + 0.5)
        assert world.geometry[country].contains(cell), country  # independent check: the cell is inside
        pix = {"longitude": lon, "latitude": lat}
        assert int(ds["class_majority"].sel(pix, method="nearest")) == classes.index(country)
        assert float(ds[f"fraction_{country}"].sel(pix, method="nearest")) == pytest.approx(1.0, abs=1e-6)
        assert ds["attr_continent"].sel(pix, method="nearest").item() == "Europe"
        assert float(ds["attr_pop_est"].sel(pix, method="nearest")) == pytest.approx(float(world.loc[country, "pop_est"]))
    # open sea
    assert int(ds["class_majority"].sel({"longitude": -9.5, "latitude": 59.5}, method="nearest")) == -1


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_missing_crs_names_the_file(tmp_path) -> None:
    path = tmp_path / "no_crs.shp"
    gpd.GeoDataFrame({"c": [1]}, geometry=[shapely.box(0, 0, 1, 1)]).to_file(path)
    assert not path.with_suffix(".prj").exists()
    gb = GeoBox.from_bbox((0, 0, 1, 1), crs="EPSG:4326", resolution=0.5)
    with pytest.raises(UnsupportedProductError) as err:
        radarcode_vectors(path, gb, column="c")
    assert err.value.path == str(path) and "CRS" in err.value.reason


def test_osm_pbf_polygon_layer_is_found() -> None:
    pbf = shared_path("vector", "pyogrio_osm", "sample.osm.pbf")
    gb = GeoBox.from_bbox((-0.2372, 51.7627, -0.2162, 51.7743), crs="EPSG:4326", resolution=0.001)
    ds = radarcode_vectors(pbf, gb, column="landuse")  # polygons come from the "multipolygons" layer
    assert ds.attrs["classes"] == ["garages", "residential"]
    assert 0 < float(ds["coverage"].max()) <= 1 and (ds["class_majority"].values >= 0).any()
