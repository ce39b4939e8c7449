"""Radarcoding of LiDAR point clouds (alignsar.layers.lidar) against direct computations."""

from __future__ import annotations

import re
from pathlib import Path

import laspy
import numpy as np
import pyproj
import pytest
from affine import Affine
from odc.geo.geobox import GeoBox

from alignsar.errors import GeometryError, MissingDataError, UnsupportedProductError
from alignsar.geometry import geo2rdr, rdr2geo
from alignsar.layers import radarcode_points
from alignsar.simulate import SceneConfig, simulate_scene

from .conftest import shared_path

pytestmark = pytest.mark.shared_data
FOOT, US_FOOT = 0.3048, 1200.0 / 3937.0


def lidar(name: str) -> str:
    return str(shared_path("lidar", "laspy", name))


def read(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pyproj.CRS | None]:
    las = laspy.read(path)
    return np.asarray(las.x), np.asarray(las.y), np.asarray(las.z), np.asarray(las.classification), las.header.parse_crs()


def direct_stats(index: np.ndarray, h: np.ndarray, ground: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Per-pixel statistics by sorting (independent of the bincount / ufunc.at accumulation)."""
    out = {k: np.full(size, np.nan) for k in ("height_min", "height_mean", "height_max", "ground_height")}
    count = np.zeros(size, np.int64)
    for i in np.unique(index):
        v = h[index == i]
        g = h[(index == i) & ground]
        count[i] = v.size
        out["height_min"][i], out["height_mean"][i], out["height_max"][i] = v.min(), v.mean(), v.max()
        if g.size:
            out["ground_height"][i] = g.mean()
    out["point_count"] = count
    out["canopy_height"] = out["height_max"] - out["ground_height"]
    return out


def compare(ds, expected: dict[str, np.ndarray], shape: tuple[int, int]) -> None:
    np.testing.assert_array_equal(ds["point_count"].values, expected["point_count"].reshape(shape))
    for name in ("height_min", "height_mean", "height_max", "ground_height", "canopy_height"):
        np.testing.assert_allclose(ds[name].values, expected[name].reshape(shape), rtol=0, atol=1e-6, equal_nan=True, err_msg=name)


@pytest.fixture(scope="module")
def autzen() -> dict:
    path = lidar("autzen_trim.laz")
    x, y, z, cls, crs = read(path)
    return {"path": path, "x": x, "y": y, "z": z, "cls": cls, "crs": crs}


# --------------------------------------------------------------------------------------------------
def test_map_grid_matches_direct_binning(autzen: dict) -> None:
    crs = autzen["crs"]
    assert crs.axis_info[0].unit_name == "foot" and crs.axis_info[0].unit_conversion_factor == FOOT
    assert set(np.unique(autzen["cls"])) == {1, 2}  # unclassified + ground
    # 30 ft (9.144 m) pixels; edges at .005 ft so that no point (0.01 ft resolution) sits on an edge;
    # the grid covers part of the cloud only
    res, x0, y1 = 30.0, 636100.005, 849400.005
    shape = (14, 30)
    gbox = GeoBox(shape, Affine(res, 0, x0, 0, -res, y1), crs)
    ds = radarcode_points(autzen["path"], gbox, chunk_points=7_000)  # 16 chunks

    x, y = autzen["x"], autzen["y"]
    col = np.floor((x - x0) / res).astype(int)
    row = np.floor((y1 - y) / res).astype(int)
    inside = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
    assert 0 < inside.sum() < x.size
    h = autzen["z"] * FOOT  # heights in feet -> m
    expected = direct_stats((row * shape[1] + col)[inside], h[inside], autzen["cls"][inside] == 2, shape[0] * shape[1])
    compare(ds, expected, shape)
    assert int(ds["point_count"].sum()) == int(inside.sum()) == ds.attrs["points_on_grid"]
    assert ds.attrs["points_read"] == x.size
    assert ds.sizes == {"y": shape[0], "x": shape[1]}
    np.testing.assert_allclose(ds["x"].values, x0 + res * (np.arange(shape[1]) + 0.5))
    for name in ("height_min", "height_mean", "height_max", "ground_height", "canopy_height"):
        assert ds[name].attrs["units"] == "m" and ds[name].attrs["long_name"] and ds[name].attrs["formula"]
    assert ds["point_count"].dtype == np.int32 and ds["point_count"].attrs["units"] == "1"
    assert "unknown vertical reference" in ds.attrs["height_reference"]
    # pixels with ground points and others: canopy defined exactly where ground exists
    assert np.isfinite(ds["canopy_height"].values).sum() == (ds["ground_point_count"].values > 0).sum() > 0
    assert np.nanmax(ds["canopy_height"].values) > 5.0


def test_map_grid_in_another_crs(autzen: dict) -> None:
    """A UTM GeoBox: points are transformed with PROJ, then binned with the affine."""
    utm = pyproj.CRS.from_epsg(32610)
    tr = pyproj.Transformer.from_crs(autzen["crs"], utm, always_xy=True)
    e, n = tr.transform(autzen["x"], autzen["y"])
    res = 10.0
    x0, y1 = np.floor(e.min() / res) * res + 0.0005, np.ceil(n.max() / res) * res + 0.0005
    shape = (int((y1 - n.min()) // res) + 1, int((e.max() - x0) // res) + 1)
    gbox = GeoBox(shape, Affine(res, 0, x0, 0, -res, y1), utm)
    ds = radarcode_points(autzen["path"], gbox)
    col, row = np.floor((e - x0) / res).astype(int), np.floor((y1 - n) / res).astype(int)
    expected = direct_stats(row * shape[1] + col, autzen["z"] * FOOT, autzen["cls"] == 2, shape[0] * shape[1])
    compare(ds, expected, shape)
    assert int(ds["point_count"].sum()) == autzen["x"].size


# --------------------------------------------------------------------------------------------------
def test_radar_grid_matches_geo2rdr_and_rdr2geo(autzen: dict) -> None:
    crs = autzen["crs"]
    to_geo = pyproj.Transformer.from_crs(crs.to_3d(), "EPSG:4979", always_xy=True)
    lon, lat, h = (np.asarray(v) for v in to_geo.transform(autzen["x"], autzen["y"], autzen["z"] * FOOT))
    scene = simulate_scene(
        SceneConfig(
            center_lon=float(lon.mean()),
            center_lat=float(lat.mean()),
            lines=24,
            samples=24,
            dates=1,
            n_polygons=4,
            mean_height_m=float(h.mean()),
        )
    )
    acq = scene.acquisitions[0]
    shape = acq.swath(None).grid.shape
    ds = radarcode_points(autzen["path"], acq, vertical="ellipsoid", chunk_points=40_000)

    rc = geo2rdr(acq, lon, lat, h)
    line, pixel = np.asarray(rc.line), np.asarray(rc.pixel)
    assert np.all(rc.converged)
    li, pi = np.rint(line).astype(int), np.rint(pixel).astype(int)
    inside = (li >= 0) & (li < shape[0]) & (pi >= 0) & (pi < shape[1])
    assert 0 < inside.sum() < lon.size  # the 240 m x 240 m footprint covers part of the cloud
    expected = direct_stats((li * shape[1] + pi)[inside], h[inside], autzen["cls"][inside] == 2, shape[0] * shape[1])
    compare(ds, expected, shape)
    assert int(ds["point_count"].sum()) == int(inside.sum())
    assert ds.sizes == {"azimuth": shape[0], "range": shape[1]}
    assert "WGS84" in ds.attrs["height_reference"] and "WGS84" in ds["height_mean"].attrs["height_reference"]
    # independent check of geo2rdr: back to the ground with rdr2geo at each point's own height
    pick = np.flatnonzero(inside)[:: max(1, inside.sum() // 8)][:8]
    back = rdr2geo(acq, line[pick], pixel[pick], height=h[pick])
    np.testing.assert_allclose(back.lon, lon[pick], rtol=0, atol=1e-6)
    np.testing.assert_allclose(back.lat, lat[pick], rtol=0, atol=1e-6)
    # an unknown vertical datum is refused on a radar grid
    with pytest.raises(GeometryError, match="vertical"):
        radarcode_points(autzen["path"], acq)


# --------------------------------------------------------------------------------------------------
def test_las_laz_copc_identical_and_us_survey_feet() -> None:
    paths = [lidar(n) for n in ("simple.las", "simple.laz", "simple.copc.laz")]
    x, y, z, cls, _ = read(paths[0])
    ft = pyproj.CRS.from_epsg(2994)  # NAD83(HARN) / Oregon GIC Lambert (ft): the coordinates' true CRS
    res, x0, y1 = 200.0, np.floor(x.min()) - 0.005, np.ceil(y.max()) + 0.005
    shape = (int((y1 - y.min()) // res) + 1, int((x.max() - x0) // res) + 1)
    gbox = GeoBox(shape, Affine(res, 0, x0, 0, -res, y1), ft)
    # simple.las / .laz carry no CRS; simple.copc.laz says metres + NAVD88 (ftUS): override both
    results = [radarcode_points(p, gbox, horizontal_crs=ft, z_unit="foot", chunk_points=300) for p in paths]
    col, row = np.floor((x - x0) / res).astype(int), np.floor((y1 - y) / res).astype(int)
    compare(results[0], direct_stats(row * shape[1] + col, z * FOOT, cls == 2, shape[0] * shape[1]), shape)
    for other in results[1:]:
        np.testing.assert_array_equal(other["point_count"].values, results[0]["point_count"].values)
        for name in ("height_min", "height_max", "ground_height", "height_mean", "canopy_height"):
            np.testing.assert_allclose(other[name].values, results[0][name].values, rtol=1e-12, atol=0, equal_nan=True)
    assert int(results[0]["point_count"].sum()) == x.size == 1065
    # without z_unit the COPC heights follow its vertical CRS, NAVD88 height in US survey feet
    copc = radarcode_points(paths[2], gbox, horizontal_crs=ft)
    assert copc.attrs["z_unit_in_metres"] == [pytest.approx(US_FOOT, rel=1e-12)]
    assert copc.attrs["height_reference"] == "NAVD88 height (ftUS)"
    np.testing.assert_allclose(copc["height_max"].values, results[2]["height_max"].values * US_FOOT / FOOT, rtol=1e-12, equal_nan=True)
    # several files accumulate into one grid
    both = radarcode_points(paths[:2], gbox, horizontal_crs=ft, z_unit="foot")
    np.testing.assert_array_equal(both["point_count"].values, 2 * results[0]["point_count"].values)
    np.testing.assert_allclose(both["height_mean"].values, results[0]["height_mean"].values, rtol=1e-12, equal_nan=True)
    # a file without CRS and no override
    with pytest.raises(GeometryError, match="no CRS"):
        radarcode_points(paths[0], gbox)


def test_unreadable_files(tmp_path) -> None:
    src = lidar("simple.laz")
    bad = tmp_path / "bad.laz"
    bad.write_bytes(b"LASF\x00\x00garbage")
    with pytest.raises(UnsupportedProductError, match=re.escape(str(bad))):
        radarcode_points(bad, GeoBox((2, 2), Affine(1, 0, 0, 0, -1, 2), "EPSG:32610"))
    text = tmp_path / "notes.las"
    text.write_text("not a point cloud\n")
    with pytest.raises(UnsupportedProductError, match=re.escape(str(text))):
        radarcode_points(text, GeoBox((2, 2), Affine(1, 0, 0, 0, -1, 2), "EPSG:32610"))
    cut = tmp_path / "truncated.laz"
    data = Path(src).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    gbox = GeoBox((50, 50), Affine(100, 0, 635000, 0, -100, 854000), "EPSG:2994")
    with pytest.raises(UnsupportedProductError, match=re.escape(str(cut))):
        radarcode_points(cut, gbox, horizontal_crs=2994, chunk_points=100)
    with pytest.raises(MissingDataError, match="absent"):
        radarcode_points(tmp_path / "absent.laz", gbox)
    # readable but entirely off the grid
    far = GeoBox((4, 4), Affine(10, 0, 0, 0, -10, 40), "EPSG:2994")
    with pytest.raises(GeometryError, match="none of the 1065 points"):
        radarcode_points(src, far, horizontal_crs=2994)


# --------------------------------------------------------------------------------------------------
def test_ground_and_canopy_on_synthetic_cloud(tmp_path) -> None:
    """Known ground (class 2) and vegetation (class 5) points in 10 m UTM pixels."""
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = np.array([0.01, 0.01, 0.01])
    header.offsets = np.array([500000.0, 4000000.0, 0.0])
    header.add_crs(pyproj.CRS.from_epsg(32633))
    # pixel (0, 0): ground 10.00, 10.20; trees 25.50, 18.00 -> ground 10.10, canopy 15.40
    # pixel (0, 1): trees only -> no ground, canopy NaN;  pixel (1, 0): ground only 3.00, 5.00 -> canopy 1.00
    pts = [
        (500002.0, 4000018.0, 10.00, 2),
        (500008.5, 4000011.0, 10.20, 2),
        (500005.0, 4000015.0, 25.50, 5),
        (500001.0, 4000012.0, 18.00, 5),
        (500015.0, 4000015.0, 12.00, 5),
        (500003.0, 4000005.0, 3.00, 2),
        (500004.0, 4000004.0, 5.00, 2),
        (500100.0, 4000100.0, 99.00, 2),  # off the grid
    ]
    las = laspy.LasData(header)
    las.x = np.array([p[0] for p in pts])
    las.y = np.array([p[1] for p in pts])
    las.z = np.array([p[2] for p in pts])
    las.classification = np.array([p[3] for p in pts], dtype=np.uint8)
    path = tmp_path / "synthetic.las"
    las.write(path)
    gbox = GeoBox((2, 2), Affine(10, 0, 500000, 0, -10, 4000020), "EPSG:32633")
    ds = radarcode_points(path, gbox, chunk_points=3)
    nan = np.nan
    np.testing.assert_array_equal(ds["point_count"].values, [[4, 1], [2, 0]])
    np.testing.assert_array_equal(ds["ground_point_count"].values, [[2, 0], [2, 0]])
    np.testing.assert_allclose(ds["ground_height"].values, [[10.10, nan], [4.00, nan]], atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(ds["canopy_height"].values, [[15.40, nan], [1.00, nan]], atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(ds["height_min"].values, [[10.00, 12.00], [3.00, nan]], atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(ds["height_max"].values, [[25.50, 12.00], [5.00, nan]], atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(ds["height_mean"].values, [[15.925, 12.00], [4.00, nan]], atol=1e-9, equal_nan=True)
    assert ds.attrs["z_unit_in_metres"] == [1.0]
    assert ds.attrs["points_read"] == 8 and ds.attrs["points_on_grid"] == 7


def test_geoid_grid_and_truncated_las(tmp_path, autzen: dict) -> None:
    """vertical=<geoid grid>: h = H + N with a constant-undulation GTX grid; a LAS cut at a record
    boundary (fewer points than the header announces) is refused."""
    gtx = tmp_path / "flat_geoid.gtx"
    n_value = -21.25
    rows, cols = 21, 21  # lat 43..45, lon -124..-122 (0.1 deg)
    header = np.array([43.0, -124.0, 0.1, 0.1], ">f8").tobytes() + np.array([rows, cols], ">i4").tobytes()
    gtx.write_bytes(header + np.full(rows * cols, n_value, ">f4").tobytes())
    res, x0, y1 = 100.0, 635999.995, 849600.005
    gbox = GeoBox((8, 12), Affine(res, 0, x0, 0, -res, y1), autzen["crs"])
    plain = radarcode_points(autzen["path"], gbox)
    shifted = radarcode_points(autzen["path"], gbox, vertical=gtx)
    np.testing.assert_array_equal(shifted["point_count"].values, plain["point_count"].values)
    for name in ("height_min", "height_mean", "height_max", "ground_height"):
        np.testing.assert_allclose(shifted[name].values, plain[name].values + n_value, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(shifted["canopy_height"].values, plain["canopy_height"].values, atol=1e-9, equal_nan=True)
    assert "flat_geoid.gtx" in shifted.attrs["height_reference"]

    src = lidar("simple.las")
    with laspy.open(src) as reader:
        cut_at = reader.header.offset_to_point_data + 500 * reader.header.point_format.size
    cut = tmp_path / "cut.las"
    cut.write_bytes(Path(src).read_bytes()[:cut_at])
    with pytest.raises(UnsupportedProductError, match="announces 1065 points, 500"):
        radarcode_points(cut, gbox, horizontal_crs=2994)
