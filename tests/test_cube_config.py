"""Cube configuration (pydantic models, YAML / JSON, icecube compatibility) and the time selection."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import yaml

from alignsar.cube.config import CubeConfig, Selection, load_icecube_config, write_json_schema
from alignsar.cube.timeline import AcquisitionInfo, select
from alignsar.errors import ConfigError

from .conftest import shared_path


def acq(
    name: str,
    time: str,
    inc: float = 30.0,
    direction: str = "ascending",
    orbit: int | None = 117,
    footprint: Any = None,
) -> AcquisitionInfo:
    """A hand-made acquisition record (time ISO UTC, incidence deg)."""
    return AcquisitionInfo(
        path=f"/data/{name}.zip",
        product_name=name,
        start_time=np.datetime64(time),
        incidence_angle_mid=inc,
        pass_direction=direction,
        relative_orbit=orbit,
        platform="sentinel-1a",
        footprint=footprint,
    )


def names(step_or_list: Any) -> list[str]:
    members = step_or_list.members if hasattr(step_or_list, "members") else step_or_list
    return [m.product_name for m in members]


def reasons(timeline: Any) -> dict[str, str]:
    return {a.product_name: r for a, r in timeline.excluded}


STACK = [
    acq("a", "2021-04-25T05:10:00"),
    acq("b", "2021-04-27T05:10:00"),
    acq("c", "2021-04-27T17:40:00", direction="descending", orbit=44),
    acq("d", "2021-05-06T05:10:00"),
    acq("e", "2021-05-07T23:59:59.999"),
]


# ----- timeline ----------------------------------------------------------------------------------
def test_natural_timeline_every_acquisition_a_step() -> None:
    tl = select(reversed(STACK), Selection())
    assert [names(s) for s in tl.steps] == [["a"], ["b"], ["c"], ["d"], ["e"]]
    assert tl.times.dtype == np.dtype("datetime64[ns]")
    assert tl.times[1] == np.datetime64("2021-04-27T05:10:00", "ns")
    assert tl.steps[0].end is None and tl.excluded == []


def test_daily_bins_and_inclusive_end_date() -> None:
    sel = Selection(start_date="20210425", end_date=20210507, temporal_resolution=1)
    tl = select(STACK, sel)
    assert [str(t)[:10] for t in tl.times] == ["2021-04-25", "2021-04-27", "2021-05-06", "2021-05-07"]
    assert all(str(t).endswith("T00:00:00.000000000") for t in tl.times)
    assert names(tl.steps[1]) == ["b", "c"] and tl.steps[1].aggregation == "mean"
    assert names(tl.steps[3]) == ["e"]  # 23:59:59.999 on the end date is inside
    assert tl.steps[1].end == np.datetime64("2021-04-28", "ns")
    tl = select(STACK, sel.model_copy(update={"end_date": dt.date(2021, 5, 6)}))
    assert reasons(tl) == {"e": "end_date: 2021-05-07T23:59:59.999000Z is after 2021-05-06"}


def test_twelve_day_bins_start_at_start_date_or_first_day() -> None:
    tl = select(STACK, Selection(temporal_resolution=12))
    # origin = 2021-04-25 00:00 (first acquisition's day): [04-25, 05-07) and [05-07, 05-19)
    assert [str(t)[:10] for t in tl.times] == ["2021-04-25", "2021-05-07"]
    assert [names(s) for s in tl.steps] == [["a", "b", "c", "d"], ["e"]]
    tl = select(STACK, Selection(start_date="2021-04-20", temporal_resolution=12))
    assert [str(t)[:10] for t in tl.times] == ["2021-04-20", "2021-05-02"]
    assert [names(s) for s in tl.steps] == [["a", "b", "c"], ["d", "e"]]


def test_half_day_bins() -> None:
    tl = select(STACK, Selection(temporal_resolution=0.5))
    assert [str(t)[:16] for t in tl.times] == [
        "2021-04-25T00:00",
        "2021-04-27T00:00",
        "2021-04-27T12:00",
        "2021-05-06T00:00",
        "2021-05-07T12:00",
    ]
    assert [names(s) for s in tl.steps] == [["a"], ["b"], ["c"], ["d"], ["e"]]


def test_empty_bins_kept_only_on_request() -> None:
    sel = Selection(start_date="2021-04-24", end_date="2021-04-30", temporal_resolution=2)
    assert len(select(STACK, sel)) == 2
    tl = select(STACK, sel, keep_empty=True)
    assert [str(t)[:10] for t in tl.times] == ["2021-04-24", "2021-04-26", "2021-04-28", "2021-04-30"]  # 04-30 bin holds the end date
    assert [names(s) for s in tl.steps] == [["a"], ["b", "c"], [], []]
    assert select(STACK, sel.model_copy(update={"keep_empty": True})).describe()["n_empty_steps"] == 2
    # no end date: up to the last acquisition's bin; no acquisition and no dates: no steps
    assert len(select(STACK, Selection(temporal_resolution=1), keep_empty=True)) == 13
    assert len(select([], Selection(temporal_resolution=1), keep_empty=True)) == 0


@pytest.mark.parametrize(
    ("mode", "steps", "excluded"),
    [
        ("aggregate", [["b", "c"]], {}),
        ("keep_all", [["b"], ["c"]], {}),
        ("first", [["b"]], {"c": "temporal_overlap=first: time step 2021-04-27T00:00:00.000000Z keeps b"}),
        ("last", [["c"]], {"b": "temporal_overlap=last: time step 2021-04-27T00:00:00.000000Z keeps c"}),
    ],
)
def test_temporal_overlap_modes(mode: str, steps: list[list[str]], excluded: dict[str, str]) -> None:
    sel = Selection(start_date="2021-04-27", end_date="2021-04-27", temporal_resolution=1, temporal_overlap=mode)
    tl = select(STACK, sel)
    assert [names(s) for s in tl.steps] == steps
    got = {k: v for k, v in reasons(tl).items() if k in ("b", "c")}
    assert got == excluded
    if mode == "keep_all":  # sub-steps at their own times
        assert list(tl.times) == [np.datetime64("2021-04-27T05:10", "ns"), np.datetime64("2021-04-27T17:40", "ns")]


def test_temporal_overlap_error_names_products() -> None:
    sel = Selection(temporal_resolution=1, temporal_overlap="error")
    with pytest.raises(ConfigError, match=r"selection\.temporal_overlap.*b, c"):
        select(STACK, sel)
    # identical times without binning are one step too
    twins = [acq("x", "2021-01-01T00:00"), acq("y", "2021-01-01T00:00")]
    assert [names(s) for s in select(twins).steps] == [["x", "y"]]
    with pytest.raises(ConfigError, match="x, y"):
        select(twins, Selection(temporal_overlap="error"))


def test_filters_and_reasons() -> None:
    stack = [*STACK, acq("nan", "2021-04-28T05:00", inc=float("nan")), acq("nat", "NaT")]
    sel = Selection(
        start_date="2021-04-26", min_incidence_angle=20, max_incidence_angle=34, pass_direction="ASCENDING", relative_orbits=[117]
    )
    stack[0] = acq("a", "2021-04-25T05:10:00", inc=35.5)
    tl = select(stack, sel)
    assert names(tl.members) == ["b", "d", "e"]
    r = reasons(tl)
    assert r["a"] == "start_date: 2021-04-25T05:10:00.000000Z is before 2021-04-26; incidence_angle: 35.500 deg outside [20, 34] deg"
    assert r["c"] == "pass_direction: descending, required ascending; relative_orbits: 44 not in [117]"
    assert r["nan"] == "incidence_angle: unknown, required in [20, 34] deg"
    assert r["nat"].startswith("start_time: acquisition time unknown")
    # nothing disappears: members + excluded == input
    assert sorted(names(tl.members) + list(r)) == sorted(a.product_name for a in stack)
    # bounds are inclusive
    edge = [acq("lo", "2021-01-01", inc=20.0), acq("hi", "2021-01-02", inc=34.0)]
    assert len(select(edge, Selection(min_incidence_angle=20, max_incidence_angle=34))) == 2
    d = tl.describe()
    assert json.loads(json.dumps(d)) == d and d["n_excluded"] == 4 and d["steps"][0]["members"] == ["b"]


def test_space_overlap() -> None:
    box = shapely.box
    stack = [
        acq("p", "2021-01-01", footprint=box(0, 0, 1, 1)),
        acq("q", "2021-01-02", footprint=box(0.5, 0.5, 2, 2)),
        acq("r", "2021-01-03", footprint=box(5, 5, 6, 6)),
    ]
    tl = select(stack, Selection(space_overlap=True))
    assert names(tl.members) == ["p", "q"] and reasons(tl)["r"].startswith("space_overlap:")
    with pytest.raises(ConfigError, match="footprints"):
        select([acq("z", "2021-01-01")], Selection(space_overlap=True))


# ----- selection values ------------------------------------------------------------------------------
def test_date_forms_and_overlap_booleans() -> None:
    for value in ("20210427", 20210427, "2021-04-27", dt.date(2021, 4, 27), dt.datetime(2021, 4, 27), "2021-04-27T00:00:00Z"):
        assert Selection(start_date=value).start_date == dt.date(2021, 4, 27)
    for bad in ("2021-04-27T10:00", "20211327", True, "tomorrow"):
        with pytest.raises(ValueError, match=r"date"):
            Selection(start_date=bad)
    expect = [(True, "keep_all"), (1, "keep_all"), ("true", "keep_all"), (False, "last"), (0, "last"), ("FIRST", "first")]
    for value, mode in expect:
        assert Selection(temporal_overlap=value).temporal_overlap == mode
    for bad_overlap in (2, "sometimes"):
        with pytest.raises(ValueError, match="temporal_overlap"):
            Selection(temporal_overlap=bad_overlap)
    assert Selection(temporal_resolution=0).temporal_resolution is None
    for bad_res in (-1, True, float("inf")):
        with pytest.raises(ValueError, match="temporal_resolution"):
            Selection(temporal_resolution=bad_res)
    with pytest.raises(ValueError, match="before start_date"):
        Selection(start_date="20210502", end_date="20210501")
    with pytest.raises(ValueError, match="below min_incidence_angle"):
        Selection(min_incidence_angle=40, max_incidence_angle=30)


# ----- icecube ---------------------------------------------------------------------------------------
def icecube(name: str) -> Path:
    return shared_path("iceye", "icecube", "json_config", f"config_use_case{name}.json")


def test_icecube_configs_load() -> None:
    d = dt.date
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only use case 2 warns
        s1 = load_icecube_config(icecube("1"))
        s3 = load_icecube_config(icecube("3"))
        s4 = load_icecube_config(icecube("4"))
        s5 = load_icecube_config(icecube("5"))
        s6 = load_icecube_config(icecube("6"))
        s0 = load_icecube_config(icecube("_default"))
    assert (s1.start_date, s1.end_date, s1.min_incidence_angle, s1.max_incidence_angle) == (d(2020, 4, 2), d(2021, 4, 20), 20, 21)
    assert s1.temporal_resolution == 1 and s1.temporal_overlap == "keep_all" and s1.keep_empty
    assert not s1.space_overlap  # space_overlap: true is ignored by icecube when coregistered: true
    assert s3.temporal_resolution == 0.5 and s3.start_date is None and s3.keep_empty
    assert s4.start_date == s4.end_date == d(2021, 4, 27) and s4.temporal_overlap == "keep_all" and s4.temporal_resolution == 1
    assert (s5.start_date, s5.end_date, s5.max_incidence_angle) == (d(2021, 4, 25), d(2021, 4, 30), 34)
    assert s6.temporal_resolution is None and s6.temporal_overlap == "keep_all" and not s6.keep_empty
    assert s0.start_date is None and s0.end_date is None and s0.min_incidence_angle is None and s0.temporal_resolution is None
    with pytest.warns(UserWarning, match="test1, test2, test3"):
        s2 = load_icecube_config(icecube("2"))
    assert (s2.start_date, s2.end_date) == (d(2020, 4, 2), d(2021, 4, 20))
    # use case 4 on three images of one day: keep_all -> three sub-steps (icecube would raise)
    day = [acq(f"i{k}", f"2021-04-27T21:51:2{k}", inc=25) for k in range(3)] + [acq("other", "2021-04-28T21:51", inc=25)]
    tl = select(day, s4)
    assert [names(s) for s in tl.steps] == [["i0"], ["i1"], ["i2"]] and reasons(tl) == {
        "other": "end_date: 2021-04-28T21:51:00.000000Z is after 2021-04-27"
    }
    # use case 5: every day from 04-25 to 04-30 is a step (icecube's dummy layers), 04-27 as three sub-steps
    tl = select(day, s5)
    assert len(tl) == 5 + 3 and [len(s.members) for s in tl.steps] == [0, 0, 1, 1, 1, 1, 0, 0]


def test_icecube_false_overlap_and_bad_values(tmp_path: Path) -> None:
    p = tmp_path / "ice.json"
    p.write_text(json.dumps({"temporal_overlap": False, "space_overlap": 1}))
    s = load_icecube_config(p)
    assert s.temporal_overlap == "last" and s.temporal_resolution == 1 and not s.keep_empty and s.space_overlap
    fp = shapely.box(0, 0, 1, 1)
    day = [
        acq("early", "2021-04-27T05:00", footprint=fp),
        acq("late", "2021-04-27T21:00", footprint=fp),
        acq("next", "2021-04-28T05:00", footprint=fp),
    ]
    assert names(select(day, s).members) == ["late", "next"]  # icecube keeps the latest of a calendar day
    p.write_text(json.dumps({"start_date": "2021-13-01"}))
    with pytest.raises(ConfigError, match=r"ice\.json: start_date: invalid date"):
        load_icecube_config(p)
    p.write_text(json.dumps({"coregistered": "maybe"}))
    with pytest.raises(ConfigError, match="coregistered must be true/false"):
        load_icecube_config(p)
    cfg = CubeConfig.from_icecube(icecube("4"), products=["/data/*.h5"])
    assert cfg.selection.start_date == dt.date(2021, 4, 27) and cfg.products == ["/data/*.h5"]
    with pytest.raises(ConfigError, match="products"):
        CubeConfig.from_icecube(icecube("4"))


# ----- cube config files ---------------------------------------------------------------------------
FULL: dict[str, Any] = {
    "title": "test cube",
    "products": ["prods/*.zip"],
    "dem": "dem/dem.tif",
    "dem_vertical": "egm96",
    "orbit_files": ["orbits/a.EOF"],
    "reference": {"type": "map", "crs": "EPSG:32633", "resolution": 20, "bounds": [0, 0, 1000, 2000]},
    "coregistration": {"method": "cross_corr", "options": {"nb_gcp": 2000, "anything": [1, 2]}, "resampling": "bilinear"},
    "polarizations": ["vv", "Vh"],
    "signatures": {"variables": ["intensity", "db", "coherence"], "window": 7, "speckle_filter": "lee", "multilook": [2, 4]},
    "layers": [
        {"type": "vector", "path": "landcover.gpkg", "class_field": "code", "attributes": ["height"]},
        {"type": "raster", "path": "/abs/clc.tif", "method": "mode", "nodata": 255},
        {"type": "lidar", "paths": ["las/a.laz"], "vertical": "egm2008"},
        {"type": "geometry", "which": ["height", "layover_shadow"], "name": "geom"},
    ],
    "labels": {"type": "vector", "path": "labels.geojson", "classes": {"water": 1, "forest": 2}},
    "start_date": 20210401,  # icecube style, at the top level
    "temporal_overlap": 0,
    "selection": {"temporal_resolution": 6, "aggregation": "median"},
    "output": {"format": "netcdf", "chunks": {"time": 1, "y": 256, "x": 256}, "compression_level": 5},
    "dataset": {"size": 128, "fractions": {"train": 0.8, "test": 0.2}, "block_size": 1024},
}


def test_yaml_and_json_round_trip(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    src = tmp_path / "a" / "cube.yaml"
    src.write_text(yaml.safe_dump(FULL))
    cfg = CubeConfig.load(src)
    base = str(tmp_path / "a")
    assert cfg.products == [f"{base}/prods/*.zip"] and cfg.dem == f"{base}/dem/dem.tif"
    assert cfg.layers[0].path == f"{base}/landcover.gpkg" and cfg.layers[1].path == "/abs/clc.tif"
    assert cfg.layers[2].paths == [f"{base}/las/a.laz"] and cfg.labels is not None and cfg.labels.path == f"{base}/labels.geojson"
    assert cfg.polarizations == ["VV", "VH"] and cfg.signatures.multilook == (2, 4)
    sel = cfg.selection
    assert (sel.start_date, sel.temporal_overlap, sel.temporal_resolution, sel.aggregation) == (dt.date(2021, 4, 1), "last", 6, "median")
    assert cfg.output.dim_chunks(("time", "azimuth", "range")) == {"time": 1, "azimuth": 256, "range": 256}
    assert cfg.coregistration.options["anything"] == [1, 2]
    # YAML round trip (in another folder: paths are absolute now)
    (tmp_path / "b").mkdir()
    again = tmp_path / "b" / "copy.yml"
    again.write_text(cfg.dump_yaml())
    assert CubeConfig.load(again) == cfg
    # JSON
    js = tmp_path / "b" / "copy.json"
    cfg.save(js)
    assert CubeConfig.load(js) == cfg
    js.write_text(json.dumps(FULL))
    assert CubeConfig.load(js).products == [f"{tmp_path}/b/prods/*.zip"]
    # defaults
    small = CubeConfig(products=["x.zip"])
    assert (
        small.reference.type == "radar"
        and small.signatures.variables == ["intensity", "db"]
        and small.output.chunks == {"y": 512, "x": 512}
    )
    assert small.selection == Selection() and small.dataset is None
    assert CubeConfig.model_validate(yaml.safe_load(small.dump_yaml())) == small


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"reference": {"type": "radar", "bogus": 1}}, r"cube\.yaml: reference\.bogus: unknown key"),
        ({"signatures": {"window": 4}}, r"cube\.yaml: signatures\.window: must be odd, got 4"),
        ({"selection": {"max_incidence_angle": 95}}, r"selection\.max_incidence_angle: .*less than or equal to 90"),
        ({"layers": [{"type": "raster", "path": "x.tif", "method": "cubic"}]}, r"layers\[0\]\.raster\.method"),
        ({"layers": [{"type": "pointcloud"}]}, r"layers\[0\]: .*pointcloud"),
        ({"reference": {"window": [0, 10, 5, 5]}}, r"reference: window must be"),
        ({"products": [], "stac": None}, r"one of 'products' .* or 'stac'"),
        ({"stac": {"collections": ["s1"]}}, r"stac: give exactly one of 'url'"),
        ({"dataset": {"fractions": {"train": 0.9, "test": 0.2}}}, r"dataset\.fractions: .*sum to 1"),
        (
            {"end_date": "2021-01-01", "selection": {"end_date": "2021-02-01"}},
            r"both at the top level and under 'selection': \['end_date'\]",
        ),
        ({"layers": [{"type": "raster", "path": "a/label.tif"}]}, r"names must be unique.*'label'"),
        ({"reference": {"type": "map", "crs": "EPSG:999999"}}, r"reference\.crs: not a CRS"),
    ],
)
def test_bad_key_or_value_names_file_and_key(tmp_path: Path, change: dict[str, Any], match: str) -> None:
    data = {"products": ["*.zip"], "labels": {"type": "raster", "path": "l.tif"}, **change}
    p = tmp_path / "cube.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=match) as info:
        CubeConfig.load(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        CubeConfig.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("products: [a\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        CubeConfig.load(bad)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be a mapping"):
        CubeConfig.load(tmp_path / "list.json")
    (tmp_path / "c.toml").write_text("")
    with pytest.raises(ConfigError, match="unknown config format"):
        CubeConfig.load(tmp_path / "c.toml")


def test_json_schema_documents_every_key(tmp_path: Path) -> None:
    out = tmp_path / "schema" / "cube.schema.json"
    write_json_schema(out)
    schema = json.loads(out.read_text())
    assert schema == CubeConfig.json_schema() and schema["$schema"].endswith("2020-12/schema")
    assert CubeConfig.model_json_schema()["properties"].keys() == schema["properties"].keys()
    models = {"CubeConfig": schema, **schema["$defs"]}
    assert {"Selection", "ReferenceGrid", "VectorLayer", "GeometryLayer", "ChipsConfig"} <= models.keys()
    for model, sub in models.items():
        assert sub.get("description"), model
        for key, prop in sub["properties"].items():
            assert prop.get("description"), f"{model}.{key} has no description"
    assert "deg" in schema["$defs"]["Selection"]["properties"]["min_incidence_angle"]["description"]
    assert "days" in schema["$defs"]["Selection"]["properties"]["temporal_resolution"]["description"]


def test_geometry_names_match_the_geometry_layers() -> None:
    from typing import get_args

    from alignsar.cube.config import GeometryName
    from alignsar.geometry.layers import NAMES

    assert set(get_args(GeometryName)) == set(NAMES)


def test_product_glob_expansion(tmp_path: Path) -> None:
    for rel in ("p/S1A_2.zip", "p/S1A_1.zip", "p/sub/S1B_3.zip", "p/readme.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    cfgfile = tmp_path / "cube.yaml"
    cfgfile.write_text(yaml.safe_dump({"products": ["p/*.zip", "p/**/S1B_*.zip", "p/S1A_1.zip"]}))
    paths = CubeConfig.load(cfgfile).product_paths()
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["p/S1A_1.zip", "p/S1A_2.zip", "p/sub/S1B_3.zip"]
    cfgfile.write_text(yaml.safe_dump({"products": ["p/*.zip", "q/*.SAFE"]}))
    with pytest.raises(ConfigError, match=r"products\[1\]: .*q/\*\.SAFE' matches no file"):
        CubeConfig.load(cfgfile).product_paths()
    cfgfile.write_text(yaml.safe_dump({"products": ["p/missing.zip"]}))
    with pytest.raises(ConfigError, match="matches no file"):
        CubeConfig.load(cfgfile).product_paths()
