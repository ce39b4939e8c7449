"""alignsar.stac.validate: offline validation against the shared schema mirror, recursion, agreement with
../shared/stac/validate_offline.py, and the online code path (with the fetcher replaced: no network here)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pystac
import pytest
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.sar import FrequencyBand, Polarization, SarExtension

from alignsar.errors import ConfigError, MissingDataError
from alignsar.stac import validate as v
from alignsar.stac.validate import SCHEMAS_ENV, core_schema_url, offline_registry, validate_path

from .conftest import shared_path

SAR_EXAMPLE = "stac-extensions-sar/sentinel-1-grd-ew.json"
GOOD_EXAMPLES = [
    SAR_EXAMPLE,
    "stac-extensions-sar/envisat.json",
    "stac-extensions-sar/sentinel-1-slc-iw.json",
    "stac-extensions-sat/example-sentinel1.json",
    "stac-extensions-view/item.json",
    "stac-extensions-processing/item.json",
    "stac-extensions-raster/item-sentinel2.json",
    "stac-extensions-projection/item.json",
    "stac-extensions-datacube/collection.json",
    "stac-extensions-file/item.json",
    "stac-extensions-sentinel-1/mspc-s1-grd.json",
    "stac-spec/core-item.json",
    "stac-spec/collection.json",
    "stac-spec/catalog.json",
]
ABSENT_EXTENSION = "https://stac-extensions.github.io/not-an-extension/v9.9.9/schema.json"


@pytest.fixture(scope="module")
def stac_shared() -> Path:
    """../shared/stac (examples, schemas, validate_offline.py)."""
    return shared_path("..", "stac").resolve()


@pytest.fixture(scope="module")
def schemas(stac_shared: Path) -> Path:
    path = stac_shared / "schemas"
    if not path.is_dir():
        pytest.skip(f"STAC schema mirror not available: {path}")
    return path


@pytest.fixture(scope="module")
def examples(stac_shared: Path) -> Path:
    path = stac_shared / "examples"
    if not path.is_dir():
        pytest.skip(f"STAC examples not available: {path}")
    return path


def _write(path: Path, obj: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    return path


def _sar_example(examples: Path) -> dict[str, Any]:
    return json.loads((examples / SAR_EXAMPLE).read_text(encoding="utf-8"))


def _sar_url(doc: dict[str, Any]) -> str:
    return next(u for u in doc["stac_extensions"] if "/sar/" in u)


def _bad_polarizations(examples: Path, tmp_path: Path) -> Path:
    doc = _sar_example(examples)
    doc["properties"]["sar:polarizations"] = "HH"  # must be an array
    return _write(tmp_path / "bad-polarizations.json", doc)


def _absent_extension(examples: Path, tmp_path: Path) -> Path:
    doc = _sar_example(examples)
    doc["stac_extensions"].append(ABSENT_EXTENSION)
    return _write(tmp_path / "absent-extension.json", doc)


@pytest.mark.parametrize("name", GOOD_EXAMPLES)
def test_examples_validate(examples: Path, schemas: Path, name: str) -> None:
    report = validate_path(examples / name, schemas, recursive=False)
    assert report.ok, report.lines()
    (only,) = report.files
    doc = json.loads((examples / name).read_text(encoding="utf-8"))
    assert only.schemas[0] == core_schema_url(doc["type"], doc["stac_version"])
    assert set(only.schemas[1:]) == set(doc.get("stac_extensions", []))


def test_wrong_polarizations_type_names_sar_schema(examples: Path, schemas: Path, tmp_path: Path) -> None:
    path = _bad_polarizations(examples, tmp_path)
    report = validate_path(path, schemas)
    assert not report.ok
    (problem,) = report.files[0].problems
    assert problem.kind == "invalid"
    assert problem.schema == _sar_url(_sar_example(examples))
    assert "sar:polarizations" in problem.json_path
    assert "'HH'" in problem.message
    line = str(report.files[0])
    assert "INVALID against https://stac-extensions.github.io/sar/" in line and "sar:polarizations" in line
    assert "with problems" in report.summary()


def test_absent_extension_is_missing_not_skipped(examples: Path, schemas: Path, tmp_path: Path) -> None:
    report = validate_path(_absent_extension(examples, tmp_path), schemas)
    assert not report.ok
    (problem,) = report.files[0].problems
    assert problem.kind == "missing"
    assert problem.schema == ABSENT_EXTENSION
    assert str(problem).startswith(f"MISSING schema {ABSENT_EXTENSION}")


def test_missing_referenced_schema_is_reported(examples: Path, schemas: Path, tmp_path: Path) -> None:
    """An extension schema present in the mirror whose own $ref is not: missing, naming the reference."""
    mirror = tmp_path / "mirror"
    shutil.copytree(schemas, mirror)
    ext = "https://example.org/broken/v1.0.0/schema.json"
    _write(
        mirror / "example.org/broken/v1.0.0/schema.json",
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": ext,
            "allOf": [{"$ref": "https://example.org/broken/v1.0.0/absent.json"}],
        },
    )
    doc = _sar_example(examples)
    doc["stac_extensions"].append(ext)
    report = validate_path(_write(tmp_path / "item.json", doc), mirror)
    (problem,) = report.files[0].problems
    assert problem.kind == "missing" and problem.schema == ext
    assert "https://example.org/broken/v1.0.0/absent.json" in problem.message


def _pystac_tree(root: Path) -> Path:
    """catalog -> collection -> 2 items (sar + projection), saved self-contained with relative links."""
    catalog = pystac.Catalog("validate-test", "a small catalog", title="Validate test catalog")
    bbox = [11.0, 46.0, 11.1, 46.1]
    geometry = {
        "type": "Polygon",
        "coordinates": [[[11.0, 46.0], [11.1, 46.0], [11.1, 46.1], [11.0, 46.1], [11.0, 46.0]]],
    }
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    extent = pystac.Extent(pystac.SpatialExtent([bbox]), pystac.TemporalExtent([[t0, t0 + dt.timedelta(days=12)]]))
    collection = pystac.Collection("stack", "a SAR stack", extent, title="Stack", license="CC-BY-4.0")
    catalog.add_child(collection)
    for k in range(2):
        item = pystac.Item(f"date-{k}", geometry, bbox, t0 + dt.timedelta(days=12 * k), {})
        SarExtension.ext(item, add_if_missing=True).apply(
            instrument_mode="IW", frequency_band=FrequencyBand.C, polarizations=[Polarization.VV, Polarization.VH], product_type="SLC"
        )
        ProjectionExtension.ext(item, add_if_missing=True).apply(epsg=32632, shape=[10, 10])
        item.add_asset("data", pystac.Asset("./data.tif", media_type=pystac.MediaType.COG, roles=["data"]))
        collection.add_item(item)
    catalog.normalize_hrefs(str(root))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


def test_tree_validates_recursively(schemas: Path, tmp_path: Path) -> None:
    path = _pystac_tree(tmp_path / "cat")
    report = validate_path(path, schemas)
    assert report.ok, report.lines()
    assert [f.stac_type for f in report.files] == ["Catalog", "Collection", "Feature", "Feature"]
    assert sorted(f.stac_id for f in report.files if f.stac_type == "Feature") == ["date-0", "date-1"]
    assert all(Path(f.path).is_file() for f in report.files)
    assert report.skipped_links == []
    only_root = validate_path(path, schemas, recursive=False)
    assert len(only_root.files) == 1

    # break one item: only that file is reported
    item_path = tmp_path / "cat" / "stack" / "date-1" / "date-1.json"
    doc = json.loads(item_path.read_text(encoding="utf-8"))
    doc["properties"]["sar:frequency_band"] = "Q"
    _write(item_path, doc)
    report = validate_path(path, schemas)
    assert not report.ok
    assert [Path(f.path).name for f in report.invalid] == ["date-1.json"]
    (problem,) = report.invalid[0].problems
    assert "/sar/" in (problem.schema or "") and "sar:frequency_band" in problem.json_path

    # a dangling child link is an unreadable file, not an exception
    (tmp_path / "cat" / "stack" / "date-0" / "date-0.json").unlink()
    report = validate_path(path, schemas)
    unreadable = [f for f in report.files if any(p.kind == "unreadable" for p in f.problems)]
    assert [Path(f.path).name for f in unreadable] == ["date-0.json"]

    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["file_count"] == 4 and data["invalid_count"] == 2
    assert {p["kind"] for f in data["files"] for p in f["problems"]} == {"invalid", "unreadable"}


def test_cycles_and_remote_links(schemas: Path, tmp_path: Path) -> None:
    path = _pystac_tree(tmp_path / "cat")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["links"] += [
        {"rel": "child", "href": "./catalog.json"},
        {"rel": "child", "href": "https://example.org/remote/catalog.json"},
    ]
    _write(path, doc)
    report = validate_path(path, schemas)
    assert report.ok, report.lines()
    assert len(report.files) == 4
    assert report.skipped_links == [f"{path}: https://example.org/remote/catalog.json"]


def test_not_stac_and_not_json(schemas: Path, tmp_path: Path) -> None:
    report = validate_path(_write(tmp_path / "x.json", {"type": "FeatureCollection", "features": []}), schemas)
    assert [p.kind for p in report.files[0].problems] == ["not-stac"]
    bad = tmp_path / "y.json"
    bad.write_text("{not json", encoding="utf-8")
    report = validate_path(bad, schemas)
    assert [p.kind for p in report.files[0].problems] == ["unreadable"]


def test_errors(schemas: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingDataError):
        validate_path(tmp_path / "absent.json", schemas)
    item = _write(tmp_path / "item.json", {"type": "Feature"})
    with pytest.raises(ConfigError) as err:
        validate_path(item, tmp_path / "no-mirror")
    assert err.value.path == "schemas"
    monkeypatch.setenv(SCHEMAS_ENV, str(tmp_path / "no-mirror"))
    with pytest.raises(ConfigError) as err:
        validate_path(item)
    assert err.value.path == SCHEMAS_ENV


def test_env_var_selects_offline_mirror(examples: Path, schemas: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCHEMAS_ENV, str(schemas))
    report = validate_path(examples / SAR_EXAMPLE)
    assert report.ok and report.mode == str(schemas.resolve())


def test_registry_is_cached(schemas: Path) -> None:
    assert offline_registry(str(schemas)) is offline_registry(str(schemas))


def test_online_mode_uses_fetcher(examples: Path, schemas: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """schemas=None without the env var: schemas come from the (here: replaced) HTTP fetcher."""
    fetched: list[str] = []

    def fake_fetch(url: str) -> Any:
        fetched.append(url)
        local = schemas / re.sub(r"^https?://", "", url)
        if not local.is_file():
            raise OSError(f"HTTP Error 404: Not Found ({url})")
        return json.loads(local.read_text(encoding="utf-8"))

    monkeypatch.delenv(SCHEMAS_ENV, raising=False)
    monkeypatch.setattr(v, "_fetch_json", fake_fetch)
    v._online_registry.cache_clear()
    try:
        report = validate_path(examples / SAR_EXAMPLE)
        assert report.ok and report.mode == "online", report.lines()
        assert _sar_url(_sar_example(examples)) in fetched
        report = validate_path(_absent_extension(examples, tmp_path))
        (problem,) = report.files[0].problems
        assert problem.kind == "missing" and problem.schema == ABSENT_EXTENSION and "404" in problem.message
        report = validate_path(_bad_polarizations(examples, tmp_path))
        assert [p.kind for p in report.files[0].problems] == ["invalid"]
    finally:
        v._online_registry.cache_clear()


def _parse_offline_output(stdout: str) -> dict[str, tuple[set[str], set[str]]]:
    """validate_offline.py's lines -> {path: (missing URLs, invalid URLs)}."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    for line in stdout.splitlines():
        if ": " not in line or not line.split(": ", 1)[0].endswith(".json"):
            continue
        path, status = line.split(": ", 1)
        missing, invalid = set(), set()
        if status != "OK":
            missing = set(re.findall(r"MISSING schema (\S+)", status))
            invalid = {u.rstrip(":") for u in re.findall(r"INVALID against (\S+)", status)}
        out[path] = (missing, invalid)
    return out


def test_agrees_with_shared_validate_offline(stac_shared: Path, examples: Path, schemas: Path, tmp_path: Path) -> None:
    script = stac_shared / "validate_offline.py"
    if not script.is_file():
        pytest.skip(f"reference validator not available: {script}")
    files = sorted(str(p) for p in examples.rglob("*.json"))
    files += [str(_bad_polarizations(examples, tmp_path)), str(_absent_extension(examples, tmp_path))]
    pystac_tree = _pystac_tree(tmp_path / "cat")
    files += [str(p) for p in sorted(pystac_tree.parent.rglob("*.json"))]
    done = subprocess.run([sys.executable, str(script), *files], capture_output=True, text=True, timeout=300, check=True)
    theirs = _parse_offline_output(done.stdout)
    assert set(theirs) == set(files)
    disagreements = []
    for f in files:
        report = validate_path(f, schemas, recursive=False)
        problems = report.files[0].problems
        ours = ({p.schema for p in problems if p.kind == "missing"}, {p.schema for p in problems if p.kind == "invalid"})
        if ours != theirs[f]:
            disagreements.append((f, ours, theirs[f]))
    assert not disagreements
    # the comparison is not vacuous: both sides found valid and invalid files
    assert sum(1 for m, i in theirs.values() if not m and not i) > 10
    assert sum(1 for m, i in theirs.values() if i) >= 1 and sum(1 for m, i in theirs.values() if m) >= 1


def test_report_dict_roundtrip(examples: Path, schemas: Path, tmp_path: Path) -> None:
    report = validate_path(_bad_polarizations(examples, tmp_path), schemas)
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    problem = data["files"][0]["problems"][0]
    assert set(problem) == {"kind", "schema", "message", "json_path", "error_count"}
    assert copy.deepcopy(report).ok is False
