"""alignsar.stac.serve: CORS, OPTIONS preflight, byte-exact Range answers, 416, content types, no traversal."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from alignsar.errors import ConfigError, MissingDataError
from alignsar.stac.serve import STACServer, browser_url, make_server, parse_range, start_in_thread

PAYLOAD = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable modulo 256


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "items").mkdir(parents=True)
    (root / "catalog.json").write_text('{"type": "Catalog"}', encoding="utf-8")
    (root / "items" / "a.tif").write_bytes(PAYLOAD)
    (root / "items" / "thumb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 8)
    (root / "items" / "empty.bin").write_bytes(b"")
    store = root / "cube.zarr" / "sigma0"
    store.mkdir(parents=True)
    (store / ".zarray").write_text("{}", encoding="utf-8")
    (store / "0.0.1").write_bytes(b"\x00" * 16)
    (store / "zarr.json").write_text("{}", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("top secret", encoding="utf-8")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    browser = tmp_path / "browser-dist"
    (browser / "js").mkdir(parents=True)
    (browser / "index.html").write_text("<html>browser</html>", encoding="utf-8")
    (browser / "js" / "app.js").write_text("console.log(1)", encoding="utf-8")
    return root


@pytest.fixture()
def server(site: Path) -> Iterator[STACServer]:
    srv = make_server(site, port=0, browser_dir=site.parent / "browser-dist")
    start_in_thread(srv)
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _get(server: STACServer, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Raw request (http.client sends the path as given, no client-side normalisation)."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_cors_headers_and_types(server: STACServer) -> None:
    with urllib.request.urlopen(f"{server.url}/catalog.json", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "Range" in r.headers["Access-Control-Allow-Headers"]
        exposed = {h.strip() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"Content-Range", "Content-Length", "Accept-Ranges"} <= exposed
        assert r.headers["Accept-Ranges"] == "bytes"
        assert r.headers["Content-Type"] == "application/json"
        assert r.read() == b'{"type": "Catalog"}'
    expected = {
        "/items/a.tif": "image/tiff; application=geotiff",
        "/items/thumb.png": "image/png",
        "/cube.zarr/sigma0/0.0.1": "application/octet-stream",
        "/cube.zarr/sigma0/.zarray": "application/json",
        "/cube.zarr/sigma0/zarr.json": "application/json",
    }
    for path, ctype in expected.items():
        status, headers, _ = _get(server, path, "HEAD")
        assert (status, headers["content-type"]) == (200, ctype), path
    # errors carry CORS headers too (a browser must be able to read the 404)
    status, headers, _ = _get(server, "/absent.json")
    assert status == 404 and headers["access-control-allow-origin"] == "*"


def test_options_preflight(server: STACServer) -> None:
    status, headers, body = _get(
        server,
        "/items/a.tif",
        "OPTIONS",
        {"Origin": "http://localhost:8080", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"},
    )
    assert status == 204 and body == b""
    assert headers["access-control-allow-origin"] == "*"
    assert "GET" in headers["access-control-allow-methods"]
    assert "range" in headers["access-control-allow-headers"].lower()


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=0-99", 0, 99),
        ("bytes=1000-4095", 1000, 4095),
        ("bytes=10000-", 10000, len(PAYLOAD) - 1),
        ("bytes=-300", len(PAYLOAD) - 300, len(PAYLOAD) - 1),
        ("bytes=10200-99999", 10200, len(PAYLOAD) - 1),
        ("bytes=-99999", 0, len(PAYLOAD) - 1),
    ],
)
def test_range_is_byte_exact(server: STACServer, header: str, start: int, end: int) -> None:
    request = urllib.request.Request(f"{server.url}/items/a.tif", headers={"Range": header})
    with urllib.request.urlopen(request, timeout=10) as r:
        body = r.read()
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(PAYLOAD)}"
        assert int(r.headers["Content-Length"]) == end - start + 1
        assert r.headers["Accept-Ranges"] == "bytes"
    assert body == PAYLOAD[start : end + 1]


def test_head_with_range(server: STACServer) -> None:
    status, headers, body = _get(server, "/items/a.tif", "HEAD", {"Range": "bytes=16-31"})
    assert status == 206 and body == b""
    assert headers["content-range"] == f"bytes 16-31/{len(PAYLOAD)}" and headers["content-length"] == "16"


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=20000-20001", "bytes=-0"])
def test_unsatisfiable_range_is_416(server: STACServer, header: str) -> None:
    status, headers, _ = _get(server, "/items/a.tif", headers={"Range": header})
    assert status == 416
    assert headers["content-range"] == f"bytes */{len(PAYLOAD)}"
    assert headers["access-control-allow-origin"] == "*"
    status, headers, _ = _get(server, "/items/empty.bin", headers={"Range": "bytes=0-"})
    assert status == 416 and headers["content-range"] == "bytes */0"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "garbage"])
def test_unsupported_or_malformed_range_sends_whole_file(server: STACServer, header: str) -> None:
    status, headers, body = _get(server, "/items/a.tif", headers={"Range": header})
    assert status == 200 and body == PAYLOAD and "content-range" not in headers


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/items/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/items/%2E%2E/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/items/..%5c..%5csecret.txt",
        "/escape.txt",
        "/browser/../../secret.txt",
        "/browser/%2e%2e/%2e%2e/secret.txt",
    ],
)
def test_traversal_refused(server: STACServer, path: str) -> None:
    status, _, body = _get(server, path)
    assert status in (403, 404), (path, status)
    assert b"top secret" not in body


def test_plain_dotdot_inside_root_is_fine(server: STACServer) -> None:
    status, _, body = _get(server, "/items/../catalog.json")
    assert status == 200 and body == b'{"type": "Catalog"}'


def test_browser_mount(server: STACServer) -> None:
    status, headers, _ = _get(server, "/browser")
    assert status == 301 and headers["location"] == "/browser/"
    status, headers, body = _get(server, "/browser/")
    assert status == 200 and body == b"<html>browser</html>" and headers["content-type"].startswith("text/html")
    status, headers, body = _get(server, "/browser/js/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    url = browser_url(server.url)
    host, port = server.server_address[:2]
    assert url == f"http://{host}:{port}/browser/#/external/http:/{host}:{port}/catalog.json"


def test_directory_listing_and_redirect(server: STACServer) -> None:
    status, headers, _ = _get(server, "/items")
    assert status == 301 and headers["location"] == "/items/"
    status, _, body = _get(server, "/items/")
    assert status == 200 and b"a.tif" in body


def test_no_browser_means_404(site: Path) -> None:
    srv = make_server(site)
    start_in_thread(srv)
    try:
        status, _, _ = _get(srv, "/browser/")
        assert status == 404
    finally:
        srv.shutdown()
        srv.server_close()


def test_make_server_errors(site: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingDataError):
        make_server(tmp_path / "absent")
    with pytest.raises(MissingDataError):
        make_server(site, browser_dir=tmp_path)
    with pytest.raises(ConfigError):
        make_server(site, port=70000)


def test_parse_range() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-5", 10) == (2, 5)
    assert parse_range("bytes=2-", 10) == (2, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=10-", 10) == "unsatisfiable"
    assert parse_range("bytes=-0", 10) == "unsatisfiable"
    assert parse_range("bytes=0-1,3-4", 10) is None


def test_urlopen_error_body_is_readable(server: STACServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{server.url}/nope.tif", timeout=10)
    assert err.value.code == 404
