"""A small static file server for a STAC catalog folder, fit for STAC Browser and COG viewers.

Beyond :mod:`http.server`'s ``SimpleHTTPRequestHandler`` it

* sends CORS headers on every response and answers ``OPTIONS`` preflight requests, so a browser app
  served from another origin can read the catalog;
* answers single HTTP ``Range`` requests (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) with ``206`` and
  ``Content-Range`` (``416`` when unsatisfiable), as cloud-optimised GeoTIFF readers need;
* names STAC-relevant content types explicitly (JSON, GeoTIFF, PNG, Zarr metadata and chunks),
  independently of the machine's ``/etc/mime.types``;
* refuses any path that leaves the served folder (``..``, encoded or not, and symlinks pointing out);
* optionally serves a built STAC Browser at ``/browser/`` (``browser_dir=``), built with
  ``--pathPrefix=/browser/ --historyMode=hash`` (see ``tests/e2e/build_stac_browser.sh``), so that
  ``http://HOST:PORT/browser/#/external/http:/HOST:PORT/catalog.json`` opens the served catalog.

It is meant for local viewing and tests: it binds to ``127.0.0.1`` unless told otherwise.
"""

from __future__ import annotations

import email.utils
import os
import posixpath
import re
import shutil
import sys
import threading
import urllib.parse
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from alignsar.errors import ConfigError, MissingDataError

__all__ = [
    "BROWSER_PREFIX",
    "STACRequestHandler",
    "STACServer",
    "browser_url",
    "make_server",
    "serve",
    "server_url",
    "start_in_thread",
]

BROWSER_PREFIX = "/browser/"
"""Where a STAC Browser build given as ``browser_dir`` is mounted (its build-time ``pathPrefix``)."""

CORS_HEADERS: dict[str, str] = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, If-Range, If-None-Match, If-Modified-Since, Accept, Accept-Encoding, Content-Type, Authorization, Cache-Control",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges, Content-Type, Content-Encoding, ETag, Last-Modified",
    "Access-Control-Max-Age": "86400",
}

CONTENT_TYPES: dict[str, str] = {
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".tif": "image/tiff; application=geotiff",
    ".tiff": "image/tiff; application=geotiff",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".xml": "application/xml",
    ".csv": "text/csv; charset=utf-8",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".nc": "application/x-netcdf",
    ".h5": "application/x-hdf5",
    ".parquet": "application/vnd.apache.parquet",
    ".laz": "application/vnd.laszip",
    ".las": "application/vnd.las",
    ".zip": "application/zip",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
}
# Zarr metadata documents are JSON; everything else inside a *.zarr store is a binary chunk
_ZARR_JSON = {".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json"}
_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_COPY_CHUNK = 256 * 1024


class STACServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its catalog folder and optional STAC Browser build."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], root: Path, browser_dir: Path | None = None, quiet: bool = True) -> None:
        self.root = root
        self.browser_dir = browser_dir
        self.quiet = quiet
        super().__init__(address, STACRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up mid-response (browsers abort tile requests all the time)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        """``http://host:port`` of this server (loopback when bound to all interfaces)."""
        host, port = self.server_address[:2]
        return server_url(str(host), int(port))


class STACRequestHandler(SimpleHTTPRequestHandler):
    """Static files below the server's root (and its STAC Browser at ``/browser/``), with CORS and Range."""

    server: STACServer
    server_version = "alignsar-stac"

    def __init__(self, request: Any, client_address: Any, server: STACServer) -> None:
        self._remaining: int | None = None
        super().__init__(request, client_address, server, directory=str(server.root))

    # -- headers ---------------------------------------------------------------------------------
    def end_headers(self) -> None:
        """Add the CORS headers to every response (errors included)."""
        for name, value in CORS_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def do_OPTIONS(self) -> None:
        """Answer a CORS preflight: 204 with the allowed methods and headers."""
        self.send_response(HTTPStatus.NO_CONTENT)
        self.send_header("Allow", "GET, HEAD, OPTIONS")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Log to stderr unless the server is quiet."""
        if not self.server.quiet:
            super().log_message(format, *args)

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        """Content type by file name: explicit STAC-relevant types, Zarr chunks as octet-stream."""
        p = Path(path)
        if any(part.endswith(".zarr") for part in p.parts[:-1]):
            return "application/json" if p.name in _ZARR_JSON else "application/octet-stream"
        if p.name in _ZARR_JSON:
            return "application/json"
        known = CONTENT_TYPES.get(p.suffix.lower())
        return known if known is not None else super().guess_type(path)

    # -- paths -----------------------------------------------------------------------------------
    def translate_path(self, path: str) -> str:
        """The file system path for a URL path; an empty string when it would leave the served folder."""
        resolved = self._resolve(path)
        return "" if resolved is None else str(resolved)

    def _resolve(self, url: str) -> Path | None:
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(url).path, errors="strict")
        if "\x00" in url_path or "\\" in url_path:
            return None
        base = self.server.root
        browser = self.server.browser_dir
        if browser is not None and (url_path + "/").startswith(BROWSER_PREFIX):
            base, url_path = browser, url_path[len(BROWSER_PREFIX) - 1 :]
        normal = posixpath.normpath("/" + url_path.lstrip("/"))
        parts = [p for p in normal.split("/") if p and p != "."]
        if any(p == ".." for p in parts):
            return None
        candidate = base.joinpath(*parts)
        real = Path(os.path.realpath(candidate))
        real_base = Path(os.path.realpath(base))
        if real != real_base and real_base not in real.parents:
            return None
        return candidate

    # -- GET / HEAD ------------------------------------------------------------------------------
    def send_head(self) -> IO[bytes] | Any | None:
        """Headers for GET/HEAD; the open file (positioned at the range start) or None."""
        self._remaining = None
        url_path = urllib.parse.urlsplit(self.path).path
        try:
            target = self._resolve(self.path)
        except UnicodeDecodeError:
            target = None
        if target is None:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        if target.is_dir():
            if not url_path.endswith("/"):
                return self._redirect(url_path + "/")
            index = target / "index.html"
            if not index.is_file():
                return self.list_directory(str(target))
            target = index
        if not target.is_file():
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        try:
            f = open(target, "rb")  # closed by do_GET / do_HEAD
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        try:
            return self._send_file_head(f, target)
        except BaseException:
            f.close()
            raise

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def _send_file_head(self, f: IO[bytes], target: Path) -> IO[bytes] | None:
        stat = os.fstat(f.fileno())
        size = stat.st_size
        byte_range = parse_range(self.headers.get("Range"), size)
        if byte_range == "unsatisfiable":
            f.close()
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            body = b"Requested range not satisfiable\n"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return None
        if byte_range is None:
            self.send_response(HTTPStatus.OK)
            length = size
        else:
            start, end = byte_range
            length = end - start + 1
            f.seek(start)
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self._remaining = length
        self.send_header("Content-Type", self.guess_type(target))
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        return f

    def copyfile(self, source: Any, outputfile: Any) -> None:
        """Copy the body: the whole file, or only the requested range."""
        remaining = self._remaining
        if remaining is None:
            shutil.copyfileobj(source, outputfile)
            return
        while remaining > 0:
            chunk = source.read(min(_COPY_CHUNK, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """The inclusive ``(start, end)`` of a single ``Range: bytes=...`` header for a file of ``size`` bytes.

    None means "send the whole file" (no header, a malformed one, or several ranges, which RFC 9110
    lets a server ignore); ``"unsatisfiable"`` means answer 416.
    """
    if not header:
        return None
    match = _RANGE_RE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    end = size - 1 if last == "" else min(int(last), size - 1)
    return start, end


def server_url(host: str, port: int) -> str:
    """``http://host:port``; a wildcard bind address is shown as loopback."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def browser_url(base_url: str, catalog: str = "catalog.json") -> str:
    """The STAC Browser deep link that opens ``base_url/catalog`` (hash routing, external catalog).

    >>> browser_url("http://127.0.0.1:8000")
    'http://127.0.0.1:8000/browser/#/external/http:/127.0.0.1:8000/catalog.json'
    """
    base = base_url.rstrip("/")
    scheme, rest = base.split("://", 1)
    return f"{base}{BROWSER_PREFIX}#/external/{scheme}:/{rest}/{catalog.lstrip('/')}"


def make_server(
    directory: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    browser_dir: str | os.PathLike[str] | None = None,
    quiet: bool = True,
) -> STACServer:
    """A (not yet started) server for ``directory``; ``port=0`` picks a free port (see ``server.server_address``).

    ``browser_dir`` is a built STAC Browser (a folder with ``index.html``) to mount at ``/browser/``.
    Raises :class:`MissingDataError` when either folder is missing and :class:`ConfigError` for a bad port.
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise MissingDataError(root, "catalog folder to serve not found")
    browser: Path | None = None
    if browser_dir is not None:
        browser = Path(browser_dir).expanduser()
        if not (browser / "index.html").is_file():
            raise MissingDataError(browser, "not a built STAC Browser (no index.html)")
        browser = browser.resolve()
    if not 0 <= int(port) <= 65535:
        raise ConfigError("port", f"{port} is not a TCP port number")
    return STACServer((host, int(port)), root.resolve(), browser, quiet=quiet)


def start_in_thread(server: STACServer, poll_interval: float = 0.05) -> threading.Thread:
    """Run ``server.serve_forever`` in a daemon thread (stop with ``server.shutdown(); server.server_close()``)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name="alignsar-stac-serve", daemon=True)
    thread.start()
    return thread


def serve(
    directory: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    quiet: bool = False,
    *,
    browser_dir: str | os.PathLike[str] | None = None,
    catalog: str = "catalog.json",
) -> None:
    """Serve ``directory`` until interrupted (Ctrl-C), printing the catalog (and STAC Browser) URLs."""
    server = make_server(directory, host, port, browser_dir=browser_dir, quiet=quiet)
    base = server.url
    print(f"serving {server.root} at {base}/", flush=True)
    if (server.root / catalog).is_file():
        print(f"catalog: {base}/{catalog}", flush=True)
    if server.browser_dir is not None:
        print(f"STAC Browser: {browser_url(base, catalog)}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
