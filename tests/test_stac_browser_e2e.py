"""End to end: the demo catalog, served by alignsar.stac.serve, opens in a real STAC Browser in headless Chromium.

The catalog is the one ``alignsar demo`` publishes (:func:`alignsar.demo.run_demo`, small: 128 x 128 pixels,
2 dates), built once for the module. The tests check that the catalog, its collections, the ``sar-map`` items
and their thumbnails render, and that a COG of an item is drawn on the map (read with HTTP Range requests).

Needs Debian's ``chromium`` (or ``$ALIGNSAR_CHROMIUM``), a STAC Browser build (``tests/e2e/build_stac_browser.sh``,
found at ``$ALIGNSAR_STAC_BROWSER_DIST`` or ``.ci/cache/stac-browser/dist``) and ``websocket-client``; the tests
are skipped with the reason when one is missing (before the demo is built). ``.ci/run`` installs/builds the
first two when it can.

Chromium is driven through the DevTools protocol (a plain ``--screenshot`` can miss map tiles decoded in
web workers). Every host name but 127.0.0.1 resolves to nothing, so no traffic leaves the machine (the
basemap stays blank). Screenshots land in ``tests/e2e/artifacts/`` (git-ignored; kept as CI artefacts).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import posixpath
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from alignsar.stac.serve import STACServer, browser_url, make_server, start_in_thread

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"
DEFAULT_DIST = ROOT / ".ci" / "cache" / "stac-browser" / "dist"
# what the demo publishes (alignsar.demo.demo_config, alignsar.stac.publish)
CATALOG_TITLE = "alignsar demo: simulated dual-pol SLC stack"
COLLECTION_TITLES = {
    "sar-map": "SAR signatures on the map grid",
    "sar-radar": "SAR datacube on the radar grid",
    "layers": "External layers",
    "labels": "Labels",
    "ml-chips": "ML chips",
}
MAP_COLLECTION = "sar-map"
SHOWN_COG = "sigma0_vv_db"  # the COG asset put on the item map
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1280,1000",
]


# -- what is needed, or why we skip ------------------------------------------------------------------
def _chromium() -> str:
    env = os.environ.get("ALIGNSAR_CHROMIUM")
    if env:
        if not Path(env).is_file():
            pytest.skip(f"ALIGNSAR_CHROMIUM={env} does not exist")
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium not found (Debian: apt-get install chromium; .ci/run installs it when it runs as root)")


def _stac_browser_dist() -> Path:
    dist = Path(os.environ.get("ALIGNSAR_STAC_BROWSER_DIST", DEFAULT_DIST))
    if not (dist / "index.html").is_file():
        pytest.skip(f"STAC Browser build not found at {dist} (build it with tests/e2e/build_stac_browser.sh; .ci/run does)")
    return dist


# -- a minimal DevTools protocol client ----------------------------------------------------------------
class DevTools:
    """One page target of a Chromium started by us, driven over its DevTools websocket."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # websocket-client

        self._ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        msg_id = self._next_id
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"DevTools {method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0, what: str = "") -> Any:
        """Poll a JS expression until it is truthy; fail with the page's text and console errors otherwise."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        text = self.evaluate("document.body ? document.body.innerText : ''") or ""
        pytest.fail(
            f"timed out after {timeout:.0f} s waiting for {what or expression}\npage text:\n{text[:2000]}\nconsole:\n{self.console()}"
        )

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def screenshot_bytes(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"])

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.screenshot_bytes())
        return path

    def console(self) -> str:
        lines = []
        for e in self.events:
            if e["method"] == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "warning"):
                args = e["params"].get("args", [])
                lines.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
            elif e["method"] == "Runtime.exceptionThrown":
                lines.append(json.dumps(e["params"]["exceptionDetails"])[:500])
        return "\n".join(lines[-30:])

    def response_statuses(self) -> list[tuple[str, int]]:
        return [
            (e["params"]["response"]["url"], int(e["params"]["response"]["status"]))
            for e in self.events
            if e["method"] == "Network.responseReceived"
        ]

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]


@contextlib.contextmanager
def chromium_page(binary: str) -> Iterator[DevTools]:
    """Start headless Chromium on a private profile, yield a DevTools client on its first page, stop it."""
    profile = Path(tempfile.mkdtemp(prefix="alignsar-chromium-"))
    log = (profile / "chromium.log").open("wb")
    proc = subprocess.Popen(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    page: DevTools | None = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    f"Chromium did not start (exit {proc.poll()}):\n{(profile / 'chromium.log').read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        page = DevTools(ws_url)
        for domain in ("Page", "Runtime", "Network"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=1000, deviceScaleFactor=1, mobile=False)
        yield page
    finally:
        if page is not None:
            page.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


# -- the served demo catalog -----------------------------------------------------------------------------
@dataclass(frozen=True)
class MapItem:
    """A ``sar-map`` item as published: its id, JSON path (relative to the catalog) and thumbnail."""

    id: str
    path: str
    thumbnail_url: str
    thumbnail_width: int


@dataclass(frozen=True)
class ServedDemo:
    server: STACServer
    catalog_dir: Path
    items: list[MapItem]

    @property
    def base(self) -> str:
        return self.server.url

    def browser(self, path: str) -> str:
        """The STAC Browser URL showing the served document ``path`` (relative to the catalog folder)."""
        return browser_url(self.base, path)


def _png_width(path: Path) -> int:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big")


def _map_items(catalog_dir: Path, base: str) -> list[MapItem]:
    """The items of the ``sar-map`` collection, in the collection's order, read from the published JSON."""
    collection = json.loads((catalog_dir / MAP_COLLECTION / "collection.json").read_text())
    items = []
    for link in (lk for lk in collection["links"] if lk["rel"] == "item"):
        path = posixpath.normpath(posixpath.join(MAP_COLLECTION, link["href"]))
        item = json.loads((catalog_dir / path).read_text())
        thumb = item["assets"]["thumbnail"]["href"]
        thumb_path = posixpath.normpath(posixpath.join(posixpath.dirname(path), thumb))
        items.append(MapItem(item["id"], path, f"{base}/{thumb_path}", _png_width(catalog_dir / thumb_path)))
    return items


@pytest.fixture(scope="module")
def chromium_binary() -> str:
    """The Chromium to drive (checked before the demo is built, so a skip is immediate)."""
    pytest.importorskip("websocket", reason="websocket-client is needed to drive Chromium over DevTools (pip install websocket-client)")
    return _chromium()


@pytest.fixture(scope="module")
def served_demo(chromium_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDemo]:
    """The demo catalog (``run_demo``, small), served with a STAC Browser build at ``/browser/``."""
    dist = _stac_browser_dist()
    from alignsar.demo import run_demo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the PNG quicklooks have no georeference, by design
        result = run_demo(tmp_path_factory.mktemp("demo"), lines=128, samples=128, dates=2, chip_size=32)
    catalog_dir = result.catalog.parent
    server = make_server(catalog_dir, "127.0.0.1", 0, browser_dir=dist)
    start_in_thread(server)
    try:
        demo = ServedDemo(server, catalog_dir, _map_items(catalog_dir, server.url))
        # one sar-map item per simulated product, named after it
        assert sorted(i.id for i in demo.items) == sorted(p.name for p in result.products)
        yield demo
    finally:
        server.shutdown()
        server.server_close()


def _grey_fraction(png: bytes, rect: list[int]) -> float:
    """Share of the pixels in ``rect`` (left, top, width, height) that are mid greys (the rendered COG).

    The blank map is white, the footprint outline blue; a COG drawn without statistics is black.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.MemoryFile(png) as mem, mem.open() as ds:
            rgb = ds.read()[:3].astype(np.int16)
    left, top, width, height = rect
    crop = rgb[:, top : top + height, left : left + width]
    if crop.size == 0:
        return 0.0
    spread = crop.max(axis=0) - crop.min(axis=0)
    level = crop.mean(axis=0)
    grey = (spread < 12) & (level > 40) & (level < 215)
    return float(grey.mean())


def _text_has(*texts: str) -> str:
    """A JS expression: the page text contains every one of ``texts``."""
    return " && ".join(["document.body !== null", *(f"document.body.innerText.includes({json.dumps(t)})" for t in texts)])


def _assert_only_local(page: DevTools, base: str) -> None:
    """The page read the catalog from our server, and no response came from anywhere but 127.0.0.1.

    (The basemap, tile.openstreetmap.org, is asked for, but the resolver rule lets nothing leave the machine.)
    """
    assert any(u.startswith(base) and u.endswith("/catalog.json") for u in page.requested_urls())
    answered_from_outside = [
        u for u, _ in page.response_statuses() if u.startswith(("http://", "https://")) and urllib.parse.urlsplit(u).hostname != "127.0.0.1"
    ]
    assert answered_from_outside == []


def test_catalog_page_shows_the_collections(chromium_binary: str, served_demo: ServedDemo) -> None:
    with chromium_page(chromium_binary) as page:
        page.navigate(served_demo.browser("catalog.json"))
        page.wait_for(_text_has(CATALOG_TITLE, *COLLECTION_TITLES.values()), what="catalog title and all collection titles")
        # the sar-map collection card shows its thumbnail (the first item's quicklook)
        first = served_demo.items[0]
        page.wait_for(
            f"Array.from(document.querySelectorAll('.catalog-card img')).some(i => i.currentSrc === {json.dumps(first.thumbnail_url)}"
            " && i.complete && i.naturalWidth > 0)",
            what="the sar-map collection thumbnail loaded on the catalog page",
        )
        shot = page.screenshot(ARTIFACTS / "stac_browser_catalog.png")
        assert shot.stat().st_size > 10_000
        _assert_only_local(page, served_demo.base)


_ITEM_CARDS_JS = """(() => Array.from(document.querySelectorAll('.item-card')).map(c => ({
  text: c.innerText,
  images: Array.from(c.querySelectorAll('img')).map(i => ({src: i.currentSrc || i.src, complete: i.complete, width: i.naturalWidth})),
})))()"""


def test_collection_page_shows_items_and_thumbnails(chromium_binary: str, served_demo: ServedDemo) -> None:
    items = served_demo.items
    with chromium_page(chromium_binary) as page:
        page.navigate(served_demo.browser(f"{MAP_COLLECTION}/collection.json"))
        page.wait_for(_text_has(COLLECTION_TITLES[MAP_COLLECTION], *(i.id for i in items)), what="collection title and every item id")
        loaded = " && ".join(
            f"Array.from(document.querySelectorAll('.item-card img')).some(i => i.currentSrc === {json.dumps(i.thumbnail_url)}"
            " && i.complete && i.naturalWidth > 0)"
            for i in items
        )
        page.wait_for(loaded, what="every item thumbnail loaded in its item card")
        # each item's card names the item and shows that item's own thumbnail at its full width
        cards = page.evaluate(_ITEM_CARDS_JS)
        for item in items:
            card = next((c for c in cards if item.id in c["text"]), None)
            assert card is not None, (item.id, cards)
            assert {"src": item.thumbnail_url, "complete": True, "width": item.thumbnail_width} in card["images"], (item, card)
        time.sleep(1.0)  # let the map draw the footprints
        shot = page.screenshot(ARTIFACTS / "stac_browser_collection.png")
        assert shot.stat().st_size > 10_000
        _assert_only_local(page, served_demo.base)


def _map_rect(page: DevTools) -> list[int]:
    return page.evaluate(
        "(() => { const r = document.querySelector('.ol-viewport').getBoundingClientRect();"
        " return [Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)]; })()"
    )


def _show_on_map(page: DevTools, key: str) -> None:
    """Put the item's asset ``key`` on the map as a user would: open its asset card, click "Show on map".

    By default STAC Browser shows its best-ranked GeoTIFF: the first "data" COG in asset order unless one
    has a "visual" or "overview" role. That may be a COG without a valid pixel (the demo's coherence of
    the primary date with itself), so the asset to draw is chosen explicitly (no click if it is already
    the shown one: its card then has no "Show on map" button).
    """
    header = f"document.querySelector('button[aria-controls=\"asset-{key}\"]')"
    shown = f"{header}.querySelector('.badge.shown') !== null"
    page.wait_for(f"{header} !== null && document.querySelector('.assets .badge.shown') !== null", what="an asset shown on the map")
    if not page.evaluate(shown):
        page.evaluate(f"{header}.click()")
        button = f"Array.from(document.querySelectorAll('#asset-{key} .actions button')).find(b => b.innerText.trim() === 'Show on map')"
        page.wait_for(f"{button} !== undefined", what=f"the 'Show on map' button of the {key} asset")
        page.evaluate(f"{button}.click()")
    page.wait_for(shown, what=f"the {key} asset marked as shown")


def test_item_page_draws_a_cog_on_the_map(chromium_binary: str, served_demo: ServedDemo) -> None:
    item = served_demo.items[0]
    item_json = json.loads((served_demo.catalog_dir / item.path).read_text())
    cog = item_json["assets"][SHOWN_COG]
    cog_url = f"{served_demo.base}/{posixpath.normpath(posixpath.join(posixpath.dirname(item.path), cog['href']))}"
    with chromium_page(chromium_binary) as page:
        page.navigate(served_demo.browser(item.path))
        page.wait_for(
            _text_has(item.id, cog["title"]) + " && document.querySelector('.ol-viewport canvas') !== null",
            what=f"item page with its {SHOWN_COG} asset and a map",
        )
        _show_on_map(page, SHOWN_COG)
        rect = _map_rect(page)
        deadline = time.monotonic() + 60
        grey = 0.0
        while time.monotonic() < deadline:
            grey = _grey_fraction(page.screenshot_bytes(), rect)
            if grey > 0.05:
                break
            time.sleep(0.5)
        page.screenshot(ARTIFACTS / "stac_browser_item.png")
        assert grey > 0.05, f"the COG is not drawn in grey levels on the item map ({grey:.3f} of the map area)\n{page.console()}"
        # the COG was read by HTTP Range requests
        assert 206 in {status for url, status in page.response_statuses() if url == cog_url}, page.response_statuses()
        _assert_only_local(page, served_demo.base)
