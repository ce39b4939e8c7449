"""STAC publication of the demo: offline validation (ours and the shared validator), stackstac loads
equal to direct COG reads, the radar Zarr from its item, the extension fields, incremental and
atomic catalog builds."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import xarray as xr
import yaml

from alignsar.cube.build import open_cube
from alignsar.demo import run_demo
from alignsar.stac import load_items
from alignsar.stac.cli import build_catalog, main
from alignsar.stac.validate import validate_path

from .conftest import shared_path


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stacdemo")
    run_demo(out, lines=192, samples=192, dates=3, chip_size=32)
    return out


def _json_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json") if "data" not in p.relative_to(root).parts)


def test_demo_catalog_validates_offline_both_validators(demo) -> None:
    schemas = shared_path("..", "stac", "schemas")
    validator = shared_path("..", "stac", "validate_offline.py")
    catalog = demo / "catalog" / "catalog.json"
    report = validate_path(catalog, schemas)
    files = _json_files(demo / "catalog")
    assert report.ok, report.lines()
    assert len(report.files) == len(files) > 10
    res = subprocess.run([sys.executable, str(validator), *map(str, files)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:]
    assert f"{len(files)} valid, 0 with problems" in res.stdout
    cat = pystac.Catalog.from_file(str(catalog))
    assert {c.id for c in cat.get_children()} == {"sar-map", "sar-radar", "layers", "labels", "ml-chips"}
    assert main(["-q", "validate", str(catalog), "--schemas", str(schemas)]) == 0


def test_stackstac_equals_rasterio_reads(demo) -> None:
    stackstac = pytest.importorskip("stackstac")
    items = load_items(demo / "catalog" / "catalog.json", "sar-map")
    assert len(items) == 3
    stack = stackstac.stack(items, assets=["sigma0_vv_db", "rvi"])
    assert stack.dims == ("time", "band", "y", "x")
    epsg = items[0]["assets"]["sigma0_vv_db"]["proj:epsg"]
    assert stack.attrs["crs"].lower() == f"epsg:{epsg}" and stack.attrs["resolution"] == 10.0
    values = stack.values
    for k, item in enumerate(items):
        for b, name in enumerate(("sigma0_vv_db", "rvi")):
            with rasterio.open(item["assets"][name]["href"]) as src:
                direct = src.read(1)
                assert src.crs.to_epsg() == epsg and src.res == (10.0, 10.0)
            np.testing.assert_array_equal(values[k, b], direct)
    # pystac migrates items to projection v2 (proj:code only): stackstac then needs the EPSG, and
    # its bounds come from the lon / lat bbox (a slightly larger grid holding the same pixels)
    pitems = [i.make_asset_hrefs_absolute() for i in pystac.Catalog.from_file(str(demo / "catalog" / "catalog.json")).get_child("sar-map").get_items()]
    again = stackstac.stack(pitems, assets=["rvi"], epsg=epsg, resolution=10.0).sortby("time")
    same = again.sel(x=stack["x"], y=stack["y"])
    np.testing.assert_array_equal(same.values[:, 0], values[:, 1])


def test_radar_zarr_from_item_matches_cube(demo) -> None:
    cat = pystac.Catalog.from_file(str(demo / "catalog" / "catalog.json"))
    item = next(cat.get_child("sar-radar").get_items())
    asset = item.assets["cube"]
    ds = xr.open_zarr(asset.get_absolute_href(), consolidated=False)
    cube = open_cube(demo / "cube.zarr")
    for name in ("sigma0_vv", "coherence_vh", "label"):
        np.testing.assert_array_equal(ds[name].values, cube[name].values)
    d = item.to_dict()
    assert d["assets"]["cube"]["proj:code"] is None and d["assets"]["cube"]["proj:shape"] == [192, 192]
    dims = d["properties"]["cube:dimensions"]
    assert set(dims) == {"time", "azimuth", "range"} and dims["range"]["extent"] == [0, 191]
    assert "sigma0_vv" in d["properties"]["cube:variables"]
    coll = cat.get_child("sar-radar")
    assert {"latlon", "radar_line", "radar_pixel", "config", "provenance"} <= set(coll.assets)
    latlon = xr.open_zarr(coll.assets["latlon"].get_absolute_href(), consolidated=False)
    np.testing.assert_array_equal(latlon["lat"].values, cube["lat"].values)


def test_item_fields(demo) -> None:
    items = load_items(demo / "catalog" / "catalog.json", "sar-map")
    cube = open_cube(demo / "cube.zarr")
    props = items[1]["properties"]
    assert props["sar:polarizations"] == ["VH", "VV"] and props["sar:frequency_band"] == "C"
    assert abs(props["sar:center_frequency"] - 5.405) < 1e-9
    assert props["sat:orbit_state"] == "ascending"
    assert abs(props["view:incidence_angle"] - float(cube["incidence_angle_mid"].values[1])) < 1e-4
    assert props["alignsar:coreg_method"] == "dem_assisted"
    assert props["processing:software"]["alignsar"]
    asset = items[1]["assets"]["sigma0_vv_db"]
    assert asset["proj:code"] == f"EPSG:{asset['proj:epsg']}" and len(asset["proj:transform"]) == 6
    band = asset["raster:bands"][0]
    assert band["nodata"] == "nan" and band["unit"] == "dB" and band["statistics"]["minimum"] < band["statistics"]["maximum"]
    path = Path(asset["href"])
    assert asset["file:size"] == path.stat().st_size
    assert asset["file:checksum"] == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
    with rasterio.open(path) as src:  # a tiled COG with nodata and statistics
        assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
        assert np.isnan(src.nodata)
        assert float(src.tags(1)["STATISTICS_MINIMUM"]) == pytest.approx(band["statistics"]["minimum"], rel=1e-6)
        assert src.overviews(1), "COG overviews"
    thumb = Path(items[1]["assets"]["thumbnail"]["href"])
    assert thumb.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = load_items(demo / "catalog" / "catalog.json", "labels")[0]
    assert labels["properties"]["label:type"] == "raster"
    assert labels["properties"]["label:classes"][0]["classes"] == ["water", "forest", "cropland", "urban", "bare_soil"]
    chips = load_items(demo / "catalog" / "catalog.json", "ml-chips")
    index = json.loads((demo / "chips" / "index.json").read_text())
    assert len(chips) == len(index["chips"])
    splits = {c["id"]: c["properties"]["ml-aoi:split"] for c in chips}
    assert set(splits.values()) <= {"train", "validate", "test"}
    assert all(splits[e["id"]] == {"val": "validate"}.get(e["split"], e["split"]) for e in index["chips"])


def _config(demo: Path, products: list[Path], tmp: Path) -> Path:
    cfg = yaml.safe_load((demo / "config.yaml").read_text())
    cfg["products"] = [str(p) for p in products]
    cfg["dem"] = str(demo / "truth" / "dem.tif")
    for part in (*cfg["layers"], cfg["labels"]):
        part["path"] = str(demo / part["path"])
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


KILL = """
import os, signal, sys
from alignsar.stac.cli import build_catalog
def progress(message, done, total):
    if message.startswith("date 3/"):
        os.kill(os.getpid(), signal.SIGKILL)
build_catalog(sys.argv[1], sys.argv[2], progress=progress)
"""


def test_build_adds_dates_without_rewriting_items_and_survives_a_kill(demo, tmp_path) -> None:
    products = sorted((demo / "products").iterdir())
    out = tmp_path / "catalogs" / "demo"
    build_catalog(_config(demo, products[:2], tmp_path), out)
    first = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "sar-map").rglob("*.json") if p.name != "collection.json"}
    cogs = {p: p.stat().st_mtime_ns for p in (out / "data" / "map").rglob("*.tif")}
    assert len(first) == 2
    cfg = _config(demo, products, tmp_path)
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(KILL), str(cfg), str(out)], capture_output=True)
    assert res.returncode == -9, res.stderr.decode()[-2000:]
    assert len(load_items(out / "catalog.json", "sar-map")) == 2  # the previous catalog, intact
    assert validate_path(out / "catalog.json", shared_path("..", "stac", "schemas")).ok
    build_catalog(cfg, out)
    items = load_items(out / "catalog.json", "sar-map")
    assert len(items) == 3
    for p, ident in first.items():
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == ident, p
    for p, mtime in cogs.items():
        assert p.stat().st_mtime_ns == mtime, p
    assert open_cube(out / "data" / "cube.zarr").sizes["time"] == 3
    assert validate_path(out / "catalog.json", shared_path("..", "stac", "schemas")).ok
    assert not [p for p in out.parent.iterdir() if p.name != "demo"]


def test_publish_to_a_relative_path(demo, tmp_path, monkeypatch) -> None:
    from alignsar.stac import publish

    monkeypatch.chdir(tmp_path)
    path = publish(demo / "cube.zarr", Path("rel") / "cat")
    assert path == Path("rel") / "cat" / "catalog.json" and path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rel"]
    assert len(load_items(path, "sar-map")) == 3
