"""STAC items as input: a local static catalog over the shared products, and a locally served API."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pystac
import pytest
import shapely.geometry

import alignsar
from alignsar.errors import MissingDataError, UnsupportedProductError
from alignsar.readers import open_item, search

from .conftest import shared_path

S1 = ("sentinel1", "xarray-sentinel")
# (relative path under shared/data, orbit state, relative orbit, polarisations) as the products state them
PRODUCTS = {
    "s1b-iw-slc-zip": (
        "sentinel1/xarray-sentinel/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.zip",
        "descending",
        168,
        ["VV", "VH"],
    ),
    "s1a-sm-slc": (
        "sentinel1/xarray-sentinel/S1A_S3_SLC__1SDV_20210401T152855_20210401T152914_037258_04638E_6001.SAFE",
        "ascending",
        86,
        ["VV", "VH"],
    ),
    "s1a-ew-slc": (
        "sentinel1/xarray-sentinel/S1A_EW_SLC__1SDH_20210403T122536_20210403T122630_037286_046484_8152.SAFE",
        "descending",
        114,
        ["HH", "HV"],
    ),
    "s1b-grd-rome": (
        "sentinel1/sarsen/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE",
        "descending",
        22,
        ["VV", "VH"],
    ),
    "iceye-grd": ("iceye/icecube/grd_stack/ICEYE_GRD_54549_20210427T215124_hollow_10x10pixels_fake_0.tif", "ascending", 9915, ["VV"]),
}


def make_item(key: str, root: Path) -> pystac.Item:
    rel, state, rel_orbit, pols = PRODUCTS[key]
    path = shared_path(*rel.split("/"))
    acq = alignsar.open_product(path)
    fp = acq.footprint
    t = acq.start_time.astype("datetime64[us]").item().replace(tzinfo=UTC)
    item = pystac.Item(
        key,
        shapely.geometry.mapping(fp),
        list(fp.bounds),
        t,
        {"sat:orbit_state": state, "sat:relative_orbit": rel_orbit, "sar:polarizations": pols},
    )
    item.add_asset("product", pystac.Asset(str(path.resolve()), roles=["data"]))
    return item


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    cat = pystac.Catalog("products", "shared test products")
    for key in PRODUCTS:
        cat.add_item(make_item(key, root))
    # one item with a relative href: the product copied beside the catalog
    env = next(shared_path("envisat", "pyrosar").glob("*.N1"))
    local = root / "data" / env.name
    local.parent.mkdir()
    shutil.copy(env, local)
    acq = alignsar.open_product(local)
    item = pystac.Item(
        "envisat",
        shapely.geometry.mapping(acq.footprint),
        list(acq.footprint.bounds),
        datetime(2004, 7, 3, 20, 53, 38, tzinfo=UTC),
        {"sat:orbit_state": "ascending", "sat:relative_orbit": 172, "sar:polarizations": ["VV"]},
    )
    item.add_asset("product", pystac.Asset(str(local), roles=["data"]))
    cat.add_item(item)
    cat.normalize_hrefs(str(root))
    cat.make_all_asset_hrefs_relative()
    cat.save(pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


def test_items_round_trip_into_identical_acquisitions(catalog: Path) -> None:
    cat = pystac.Catalog.from_file(str(catalog))
    items = {it.id: it for it in cat.get_items(recursive=True)}
    assert items["envisat"].assets["product"].href.startswith("../data/") or not Path(items["envisat"].assets["product"].href).is_absolute()
    for key, item in items.items():
        via_item = alignsar.open_product(item)
        direct = alignsar.open_product(Path(item.assets["product"].get_absolute_href()))
        assert via_item.info() | {"source_path": None} == direct.info() | {"source_path": None}, key
        href = item.get_self_href()
        assert open_item(href).product_name == direct.product_name


@pytest.mark.parametrize(
    "filters,expected",
    [
        ({}, {"s1b-iw-slc-zip", "s1a-sm-slc", "s1a-ew-slc", "s1b-grd-rome", "iceye-grd", "envisat"}),
        ({"start": "2021-04-01", "end": "2021-04-01"}, {"s1b-iw-slc-zip", "s1a-sm-slc"}),
        ({"start": "2021-04-02T00:00:00", "end": "2021-12-31"}, {"s1a-ew-slc", "s1b-grd-rome", "iceye-grd"}),
        ({"orbit_direction": "ascending"}, {"s1a-sm-slc", "iceye-grd", "envisat"}),
        ({"relative_orbit": 168}, {"s1b-iw-slc-zip"}),
        ({"polarizations": ["VH"]}, {"s1b-iw-slc-zip", "s1a-sm-slc", "s1b-grd-rome"}),
        ({"polarizations": ["HH", "HV"], "orbit_direction": "descending"}, {"s1a-ew-slc"}),
        ({"bbox": [12.3, 41.8, 12.7, 42.2]}, {"s1b-grd-rome", "envisat"}),
        ({"bbox": [-6.3, 37.4, -6.2, 37.5], "polarizations": ["VV"]}, {"iceye-grd"}),
    ],
)
def test_search_static_catalog(catalog: Path, filters: dict, expected: set[str]) -> None:
    found = search(catalog, **filters)
    assert {it.id for it in found} == expected
    times = [it.datetime for it in found]
    assert times == sorted(times)


def test_search_locally_served_api(catalog: Path) -> None:
    items = [it.to_dict() for it in pystac.Catalog.from_file(str(catalog)).get_items(recursive=True)]
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/geo+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            base = f"http://127.0.0.1:{self.server.server_port}"
            if url.path in ("", "/"):
                self._send(
                    {
                        "type": "Catalog",
                        "id": "api",
                        "description": "test API",
                        "stac_version": "1.0.0",
                        "conformsTo": ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search"],
                        "links": [
                            {"rel": "self", "href": base + "/"},
                            {"rel": "root", "href": base + "/"},
                            {"rel": "search", "href": base + "/search", "type": "application/geo+json", "method": "GET"},
                        ],
                    }
                )
            elif url.path == "/search":
                requests.append(parse_qs(url.query))
                self._send({"type": "FeatureCollection", "features": items, "links": []})
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            requests.append(json.loads(self.rfile.read(length) or b"{}"))
            self._send({"type": "FeatureCollection", "features": items, "links": []})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        found = search(url, start="2021-04-01", end="2021-04-03", orbit_direction="descending", polarizations=["VV"])
        assert {it.id for it in found} == {"s1b-iw-slc-zip"}
        sent = requests[-1]
        assert "datetime" in sent and "2021-04-01" in str(sent["datetime"])
        found = search(url, bbox=[12.3, 41.8, 12.7, 42.2])
        assert {it.id for it in found} == {"s1b-grd-rome", "envisat"}
        assert "bbox" in requests[-1]
    finally:
        server.shutdown()
        server.server_close()


def test_bad_items(tmp_path: Path) -> None:
    item = pystac.Item("x", None, None, datetime(2020, 1, 1, tzinfo=UTC), {})
    item.add_asset("thumb", pystac.Asset("thumb.png", roles=["thumbnail"]))
    with pytest.raises(UnsupportedProductError, match="no asset points"):
        alignsar.open_product(item)
    with pytest.raises(MissingDataError, match="no asset 'data'"):
        open_item(item, asset="data")
    junk = tmp_path / "item.json"
    junk.write_text("{not json")
    with pytest.raises(UnsupportedProductError, match="not a readable STAC item"):
        alignsar.open_product(junk)
    with pytest.raises(MissingDataError, match="cannot read STAC catalog"):
        search(tmp_path / "absent.json")
