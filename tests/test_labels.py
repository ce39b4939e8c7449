"""Training labels (alignsar.layers.labels): vector / raster / mask label rasters, icecube label
files, COCO export."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import rasterio.features
import shapely
from odc.geo.geobox import GeoBox
from rasterio.transform import Affine, from_origin
from scipy.ndimage import maximum_filter, minimum_filter

from alignsar.errors import ConfigError, CorruptProductError, MissingDataError
from alignsar.geometry.dem import DEM
from alignsar.geometry.radarcode import radar_coordinates
from alignsar.layers import (
    CocoRecord,
    LabelObject,
    icecube_coco_records,
    mask_labels,
    objects_from_label_raster,
    raster_labels,
    rasterize_icecube,
    read_icecube_labels,
    to_coco,
    vector_labels,
)
from alignsar.simulate import SceneConfig, simulate_scene

from .conftest import shared_path

UTM33 = "EPSG:32633"
ICECUBE = ("iceye", "icecube")
PRODUCT = "ICEYE_GRD_54549_20210427T215124_hollow_10x10pixels_fake_{}"


def _away_from_edges(classes: np.ndarray, width: int = 1) -> np.ndarray:
    size = 2 * width + 1
    return maximum_filter(classes, size) == minimum_filter(classes, size)


# --------------------------------------------------------------------------------------------------
# vector labels
def test_vector_labels_on_a_geobox_match_rasterize(tmp_path) -> None:
    gb = GeoBox.from_bbox((300000, 4600000, 301000, 4600800), crs=UTM33, resolution=10)  # 80 x 100 px
    # hand-made polygons in lon / lat (another CRS than the grid), classes with spaces
    to_ll = pyproj.Transformer.from_crs(UTM33, 4326, always_xy=True)

    def ll(coords: list[tuple[float, float]]) -> shapely.Polygon:
        return shapely.Polygon([to_ll.transform(x, y) for x, y in coords])

    polys = [
        ll([(300050, 4600050), (300420, 4600080), (300300, 4600500)]),  # triangle
        ll([(300500, 4600100), (300950, 4600100), (300950, 4600350), (300500, 4600350)]),  # rectangle
        ll([(300480, 4600420), (300700, 4600400), (300900, 4600600), (300720, 4600760), (300520, 4600700)]),  # pentagon
        ll([(300030, 4600550), (300250, 4600560), (300200, 4600780), (300040, 4600760)]),
    ]
    kinds = ["tree cover", "water", "urban  area", "water"]
    gdf = gpd.GeoDataFrame({"class": kinds}, geometry=polys, crs=4326)
    path = tmp_path / "labels.geojson"
    gdf.to_file(path, driver="GeoJSON")

    out = vector_labels(path, gb)
    # truth: the polygons in the grid CRS burned at pixel centres (GDAL), codes in sorted class order
    names = sorted(set(kinds))
    utm = gdf.to_crs(UTM33)
    truth = rasterio.features.rasterize(
        [(g, names.index(c) + 1) for g, c in zip(utm.geometry, utm["class"], strict=True)],
        out_shape=gb.shape,
        transform=gb.affine,
        fill=0,
        dtype="uint8",
    )
    away = _away_from_edges(truth)
    agree = (out.values[away] == truth[away]).mean()
    print(f"vector labels vs rasterize at pixel centres: {agree:.4f} on {away.sum()} of {truth.size} px")
    assert away.sum() > 0.8 * truth.size and agree >= 0.98
    assert (out.values == truth).mean() >= 0.95  # edges included: majority of the footprint vs centre
    assert out.name == "label" and out.dims == ("y", "x") and out.dtype == np.uint8
    assert out.attrs["flag_values"] == [1, 2, 3]
    assert out.attrs["flag_meanings"] == "tree_cover urban_area water"
    assert out.attrs["classes"] == ["tree cover", "urban  area", "water"]
    assert {"long_name", "units"} <= set(out.attrs) and out.attrs["units"] == "1"
    assert set(np.unique(out.values).tolist()) == {0, 1, 2, 3}

    # given classes fix the codes; classes not listed are unlabelled
    two = vector_labels(gdf, gb, classes=["water", "tree cover"], name="lc")
    assert two.name == "lc" and two.attrs["flag_meanings"] == "water tree_cover"
    water, tree = truth == names.index("water") + 1, truth == names.index("tree cover") + 1
    assert (two.values[away & water] == 1).all() and (two.values[away & tree] == 2).all()
    assert (two.values[away & (truth == names.index("urban  area") + 1)] == 0).all()
    with pytest.raises(ConfigError):
        vector_labels(gdf, gb, class_field="nope")


def test_vector_labels_on_a_radar_grid() -> None:
    scene = simulate_scene(SceneConfig(lines=128, samples=128, dates=1, polarizations=("VV",), seed=3))
    tm = scene.truth_map
    crs = pyproj.CRS.from_epsg(tm.attrs["epsg"])
    dem = DEM(tm["dem"].values.astype(np.float32), Affine.from_gdal(*tm.attrs["transform"]), crs)
    gdf = gpd.GeoDataFrame({"class": [f"c {v}" for v, _ in scene.polygons]}, geometry=[g for _, g in scene.polygons], crs=crs)
    out = vector_labels(gdf, scene.acquisitions[0], dem=dem, subsamples=2)
    truth_codes = scene.truth[0]["class_map"].values
    names = out.attrs["classes"]
    truth = np.array([0] + [names.index(f"c {v}") + 1 if f"c {v}" in names else 0 for v in range(1, truth_codes.max() + 1)])[truth_codes]
    good = _away_from_edges(truth_codes) & (scene.truth[0]["samples"].values > 0) & (truth_codes > 0)
    agree = (out.values[good] == truth[good]).mean()
    print(f"radar-grid vector labels vs simulator class map: {agree:.4f} on {good.sum()} px")
    assert out.dims == ("azimuth", "range") and good.sum() > 0.6 * truth.size and agree >= 0.97


# --------------------------------------------------------------------------------------------------
# raster labels
def _class_tif(tmp_path) -> tuple[str, np.ndarray, GeoBox]:
    """1 m classes {3, 7, 11} and nodata 0; every 10 m target cell holds 60 % of one class and 40 %
    of another (truth of the mode by construction)."""
    rng = np.random.default_rng(1)
    n, m = 12, 15  # target cells
    major = rng.choice([3, 7, 11], size=(n, m))
    minor = np.where(major == 3, 11, major - 4)
    fine = np.repeat(np.repeat(major, 10, 0), 10, 1)
    sub = np.zeros((10, 10), bool)
    sub[6:, :] = True  # the 40 % part of each cell: its last 4 rows
    minor_fine = np.repeat(np.repeat(minor, 10, 0), 10, 1)
    fine = np.where(np.tile(sub, (n, m)), minor_fine, fine).astype(np.uint8)
    fine[:10, :10] = 0  # one nodata cell
    x0, y0 = 500000.0, 4650000.0
    path = tmp_path / "classes.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=m * 10,
        height=n * 10,
        count=1,
        dtype="uint8",
        crs=UTM33,
        transform=from_origin(x0, y0, 1, 1),
        nodata=0,
    ) as dst:
        dst.write(fine, 1)
    truth = major.copy()
    truth[0, 0] = 0
    gb = GeoBox.from_bbox((x0, y0 - n * 10, x0 + m * 10, y0), crs=UTM33, resolution=10)
    return str(path), truth, gb


def test_raster_labels_mode_keeps_the_class_set(tmp_path) -> None:
    path, truth, gb = _class_tif(tmp_path)
    out = raster_labels(path, gb)
    assert out.attrs["source_values"] == [3, 7, 11] and out.attrs["flag_values"] == [1, 2, 3]
    assert out.attrs["flag_meanings"] == "value_3 value_7 value_11"
    codes = np.array([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3])[truth]
    np.testing.assert_array_equal(out.values, codes)  # the 60 % class everywhere, never a blend
    assert set(np.unique(out.values).tolist()) == {0, 1, 2, 3}
    # a mapping value -> name: order gives the codes, unlisted values are unlabelled; lazy
    named = raster_labels(path, gb, classes={11: "bare soil", 3: "water"})
    assert named.chunks is not None and named.attrs["flag_meanings"] == "bare_soil water"
    expect = np.select([truth == 11, truth == 3], [1, 2], 0)
    np.testing.assert_array_equal(named.values, expect)


def test_raster_labels_on_a_radar_grid(tmp_path) -> None:
    scene = simulate_scene(SceneConfig(lines=128, samples=128, dates=1, polarizations=("VV",), seed=3))
    tm = scene.truth_map
    crs = pyproj.CRS.from_epsg(tm.attrs["epsg"])
    transform = Affine.from_gdal(*tm.attrs["transform"])
    cmap = tm["class_map"].values.astype(np.uint8)
    path = tmp_path / "truth.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=cmap.shape[1], height=cmap.shape[0], count=1, dtype="uint8", crs=crs, transform=transform, nodata=0
    ) as dst:
        dst.write(cmap, 1)
    dem = DEM(tm["dem"].values.astype(np.float32), transform, crs)
    out = raster_labels(path, radar_coordinates(scene.acquisitions[0], dem))
    values = out.attrs["source_values"]
    assert set(values) <= set(np.unique(cmap).tolist()) - {0}
    radar_truth = scene.truth[0]["class_map"].values
    back = np.array([0, *values])[out.values]  # codes -> class values
    good = _away_from_edges(radar_truth, 2) & (scene.truth[0]["samples"].values > 0) & (radar_truth > 0)
    agree = (back[good] == radar_truth[good]).mean()
    print(f"raster labels on the radar grid vs simulator truth: {agree:.4f} on {good.sum()} px")
    assert out.dims == ("azimuth", "range") and agree >= 0.98


# --------------------------------------------------------------------------------------------------
# icecube
def test_icecube_masks_load_on_the_product_grid() -> None:
    masks = shared_path(*ICECUBE, "masks")
    grd = shared_path(*ICECUBE, "grd_stack")
    for k in range(3):
        png = masks / f"{PRODUCT.format(k)}.png"
        with rasterio.open(grd / f"{PRODUCT.format(k)}.tif") as src:
            shape = src.shape
        with pytest.warns(rasterio.errors.NotGeoreferencedWarning), rasterio.open(png) as src:
            raw = src.read(1)
        out = mask_labels(png, shape)
        assert out.shape == shape == (10, 10) and out.dims == ("azimuth", "range")
        assert out.attrs["source_values"] == [255] and out.attrs["flag_values"] == [1]
        np.testing.assert_array_equal(out.values, (raw == 255).astype(np.uint8))
    with pytest.raises(ConfigError, match="differs"):
        mask_labels(masks / f"{PRODUCT.format(0)}.png", (10, 11))
    with pytest.raises(MissingDataError):
        mask_labels(masks / "absent.png", (10, 10))


def test_icecube_dummy_vector_labels() -> None:
    path = shared_path(*ICECUBE, "labels", "dummy_vector_labels.json")
    labels = read_icecube_labels(path)
    assert len(labels) == 3 and labels.classes == ["rand-a", "rand-b", "rand-c"]
    first = labels[f"{PRODUCT.format(0)}.tif"]
    assert len(first.objects) == 32 and first.classification == () and first.segmentation is None
    assert first.objects[0] == LabelObject("rand-b", "bbox", ((2.0, 5.0), (9.0, 7.0)))
    assert first.objects[1] == LabelObject("rand-a", "bbox", ((3.0, 3.0), (6.0, 9.0)))
    assert first.objects[2] == LabelObject("rand-c", "bbox", ((1.0, 2.0), (3.0, 3.0)))
    # bbox 0: rows 5..7, columns 2..9, both inclusive -> 3 x 8 pixels of rand-b (code 2)
    one = rasterize_icecube(first.objects[:1], (10, 10), labels.classes)
    expect = np.zeros((10, 10), np.uint8)
    expect[5:8, 2:10] = 2
    np.testing.assert_array_equal(one, expect)
    assert (one > 0).sum() == 24
    # the first three, painted in file order: rand-a (1) over it, then rand-c (3)
    three = rasterize_icecube(first.objects[:3], (10, 10), labels.classes)
    expect[3:10, 3:7] = 1
    expect[2:4, 1:4] = 3
    np.testing.assert_array_equal(three, expect)
    # a single-pixel-wide box (xmin == xmax) still covers its column
    thin = next(o for o in first.objects if o.bbox[0] == o.bbox[2])
    assert (rasterize_icecube([thin], (10, 10), labels.classes) > 0).sum() == thin.bbox[3] - thin.bbox[1] + 1


def _write(tmp_path, data, name="labels.json") -> str:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(p)


def test_icecube_polygons_points_tags_and_segmentation(tmp_path) -> None:
    data = [
        {
            "product_file": "a.tif",
            "labels": {
                "objects": [
                    {"class": "ship", "polygon": [[0.5, 0.5], [4.5, 0.5], [4.5, 3.5], [0.5, 3.5]]},
                    [{"class": "buoy", "point": {"x": 7, "y": 2}}],  # icecube's nested-list quirk
                    {"class": "ship", "polygon": "POLYGON ((5.5 5.5, 8.5 5.5, 8.5 8.5, 5.5 8.5, 5.5 5.5))"},
                    {"classification": ["harbour", "calm sea"]},
                ]
            },
        },
        {"product_file": "b.tif", "labels": {"Segmentation": "masks/b.png"}},
    ]
    labels = read_icecube_labels(_write(tmp_path, data))
    a = labels["a.tif"]
    assert [o.geometry for o in a.objects] == ["polygon", "point", "polygon"] and a.classification == ("harbour", "calm sea")
    assert labels["b.tif"].segmentation == tmp_path / "masks" / "b.png" and labels["b.tif"].objects == ()
    out = rasterize_icecube(a.objects, (10, 10), ["buoy", "ship"])
    expect = np.zeros((10, 10), np.uint8)
    expect[1:4, 1:5] = 2  # centres x 1..4, y 1..3 inside the first polygon
    expect[6:9, 6:9] = 2
    expect[2, 7] = 1
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize(
    ("content", "what"),
    [
        ('[{"product_file": "a.tif", "labels": {"objects": [', "not valid JSON"),
        ('{"labels": {"objects": []}}', "missing key 'product_file'"),
        ('[{"product_file": "a.tif"}]', "missing key 'labels'"),
        ('[{"product_file": "a.tif", "labels": {"boxes": []}}]', "neither 'objects' nor 'segmentation'"),
        (
            '[{"product_file": "a.tif", "labels": {"objects": [{"bbox": {"xmin": 1, "ymin": 1, "xmax": 2, "ymax": 2}}]}}]',
            "missing key 'class'",
        ),
        (
            '[{"product_file": "a.tif", "labels": {"objects": [{"class": "x", "bbox": {"xmin": 1, "ymin": 1, "xmax": 2}}]}}]',
            "bbox misses ymax",
        ),
        (
            '[{"product_file": "a.tif", "labels": {"objects": [{"class": "x", "bbox": {"xmin": 3, "ymin": 1, "xmax": 2, "ymax": 2}}]}}]',
            "xmax < xmin",
        ),
        ('[{"product_file": "a.tif", "labels": {"objects": [{"class": "x", "polygon": [[0, 0], [1, 1]]}]}}]', "at least 3 vertices"),
        (
            '[{"product_file": "a.tif", "labels": {"objects": [{"class": "x", "point": "POLYGON ((0 0, 1 0, 1 1, 0 0))"}]}}]',
            "expected a point",
        ),
        ('[{"product_file": "a.tif", "labels": {"objects": [{"class": "x"}]}}]', "no geometry"),
    ],
)
def test_malformed_icecube_json_raises(tmp_path, content: str, what: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(CorruptProductError) as err:
        read_icecube_labels(path)
    assert what in str(err.value) and err.value.path == path


def test_missing_icecube_file(tmp_path) -> None:
    with pytest.raises(MissingDataError):
        read_icecube_labels(tmp_path / "absent.json")


# --------------------------------------------------------------------------------------------------
# COCO
def _check_coco_structure(coco: dict) -> None:
    image_ids = [im["id"] for im in coco["images"]]
    ann_ids = [a["id"] for a in coco["annotations"]]
    cat_ids = [c["id"] for c in coco["categories"]]
    assert len(set(image_ids)) == len(image_ids) and len(set(ann_ids)) == len(ann_ids) and len(set(cat_ids)) == len(cat_ids)
    for im in coco["images"]:
        assert {"id", "file_name", "width", "height"} <= set(im)
    for a in coco["annotations"]:
        assert a["image_id"] in image_ids and a["category_id"] in cat_ids and a["iscrowd"] == 0
        x, y, w, h = a["bbox"]
        assert all(isinstance(v, float) for v in a["bbox"]) and w > 0 and h > 0 and a["area"] > 0
        im = next(i for i in coco["images"] if i["id"] == a["image_id"])
        assert 0 <= x and 0 <= y and x + w <= im["width"] and y + h <= im["height"]


def test_coco_export_round_trips(tmp_path) -> None:
    boxes = (
        LabelObject("rand-b", "bbox", ((2.0, 5.0), (9.0, 7.0))),
        LabelObject("rand-c", "bbox", ((4.0, 4.0), (4.0, 4.0))),  # one pixel
    )
    polygon = LabelObject("rand-a", "polygon", ((0.5, 0.5), (4.5, 0.5), (4.5, 3.5), (0.5, 3.5)))
    records = [CocoRecord("img_0.tif", 10, 12, (*boxes, polygon)), CocoRecord("img_1.tif", 20, 10, ())]
    out = tmp_path / "coco" / "train.json"
    written = to_coco(records, ["rand-a", "rand-b", "rand-c"], out)
    coco = json.loads(out.read_text())
    assert coco == written and not list(out.parent.glob(".*partial"))
    _check_coco_structure(coco)
    assert [(i["file_name"], i["width"], i["height"]) for i in coco["images"]] == [("img_0.tif", 10, 12), ("img_1.tif", 20, 10)]
    assert coco["categories"][:3] == [
        {"id": 1, "name": "rand-a", "supercategory": "none"},
        {"id": 2, "name": "rand-b", "supercategory": "none"},
        {"id": 3, "name": "rand-c", "supercategory": "none"},
    ]
    a0, a1, a2 = coco["annotations"]
    # inclusive box columns 2..9, rows 5..7 -> x 2, y 5, w 8, h 3 (pixel edges at integers)
    assert a0["bbox"] == [2.0, 5.0, 8.0, 3.0] and a0["area"] == 24.0 and a0["category_id"] == 2 and "segmentation" not in a0
    assert a1["bbox"] == [4.0, 4.0, 1.0, 1.0] and a1["area"] == 1.0
    # polygon vertices at pixel-centre coordinates +0.5 -> corner coordinates
    assert a2["bbox"] == [1.0, 1.0, 4.0, 3.0] and a2["area"] == 12.0
    assert a2["segmentation"] == [[1.0, 1.0, 5.0, 1.0, 5.0, 4.0, 1.0, 4.0]]
    with pytest.raises(ConfigError, match="not one of the categories"):
        to_coco(records, ["rand-a"], tmp_path / "bad.json")

    # label raster -> components -> COCO boxes: the boxes burned are found again
    raster = rasterize_icecube(boxes, (12, 10), ["rand-a", "rand-b", "rand-c"])
    found = objects_from_label_raster(raster, ["rand-a", "rand-b", "rand-c"])
    assert sorted((o.label, o.bbox, o.area) for o in found) == [
        ("rand-b", (2.0, 5.0, 9.0, 7.0), 24.0),
        ("rand-c", (4.0, 4.0, 4.0, 4.0), 1.0),
    ]
    two = raster.copy()
    two[0:2, 0:2] = 2  # a second, separate rand-b component
    comps = objects_from_label_raster(two, ["rand-a", "rand-b", "rand-c"])
    assert sorted(o.bbox for o in comps if o.label == "rand-b") == [(0.0, 0.0, 1.0, 1.0), (2.0, 5.0, 9.0, 7.0)]


def test_icecube_dummy_labels_to_coco(tmp_path) -> None:
    labels = read_icecube_labels(shared_path(*ICECUBE, "labels", "dummy_vector_labels.json"))
    coco = to_coco(icecube_coco_records(labels, (10, 10)), labels.classes, tmp_path / "icecube_coco.json")
    _check_coco_structure(coco)
    assert len(coco["images"]) == 3 and len(coco["annotations"]) == sum(len(p.objects) for p in labels)
    first = coco["annotations"][0]  # rand-b, xmin 2 ymin 5 xmax 9 ymax 7
    assert first["bbox"] == [2.0, 5.0, 8.0, 3.0] and first["category_id"] == 2 and first["image_id"] == 1
