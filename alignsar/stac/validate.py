"""Validate STAC JSON files against the core STAC schema and every extension schema they name.

``validate_path(path)`` checks one catalog, collection or item file against
``https://schemas.stacspec.org/v<stac_version>/<kind>`` and each URL in its ``stac_extensions``; for a
catalog or a collection it then follows every relative ``child`` and ``item`` link (recursively, each
file once) and checks those too.

Two ways to get the schemas:

* **offline** (``schemas=`` a folder, or the environment variable ``ALIGNSAR_STAC_SCHEMAS``): a local
  mirror laid out as ``<host>/<path>`` (``schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json``,
  ``stac-extensions.github.io/sar/v1.1.0/schema.json``...). Every schema, and every ``$ref`` a schema
  makes, must be in the mirror: a missing one is a ``missing`` problem naming the URL, never skipped.
* **online** (neither given): schemas are fetched over HTTPS when first needed and kept in memory.

All schemas are JSON Schema Draft 7 (as the STAC schemas declare).
"""

from __future__ import annotations

import functools
import json
import os
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema
import referencing.exceptions
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from alignsar.errors import ConfigError, MissingDataError

__all__ = [
    "SCHEMAS_ENV",
    "FileReport",
    "Problem",
    "ValidationReport",
    "core_schema_url",
    "offline_registry",
    "validate_path",
]

SCHEMAS_ENV = "ALIGNSAR_STAC_SCHEMAS"
"""Environment variable naming the local schema mirror used when ``schemas`` is not given."""

ProblemKind = Literal["invalid", "missing", "unreadable", "not-stac"]

_CORE_KINDS = {
    "Feature": "item-spec/json-schema/item.json",
    "Collection": "collection-spec/json-schema/collection.json",
    "Catalog": "catalog-spec/json-schema/catalog.json",
}
_FOLLOWED_RELS = ("child", "item")
_FETCH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Problem:
    """One reason a file is not valid STAC.

    ``kind`` is ``invalid`` (the file breaks ``schema``; ``message`` is the most relevant error and
    ``json_path`` where in the file it is), ``missing`` (``schema``, or a schema it references, is
    not in the mirror or could not be fetched), ``unreadable`` (the file is absent or not JSON), or
    ``not-stac`` (no ``type`` / ``stac_version`` to choose the core schema by).
    """

    kind: ProblemKind
    schema: str | None
    message: str
    json_path: str = "$"
    error_count: int = 1

    def __str__(self) -> str:
        if self.kind == "invalid":
            more = f" (+{self.error_count - 1} more)" if self.error_count > 1 else ""
            return f"INVALID against {self.schema} at {self.json_path}: {self.message}{more}"
        if self.kind == "missing":
            return f"MISSING schema {self.schema}: {self.message}"
        return f"{self.kind.upper()}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "schema": self.schema,
            "message": self.message,
            "json_path": self.json_path,
            "error_count": self.error_count,
        }


@dataclass
class FileReport:
    """The outcome for one JSON file: which schemas were checked and what is wrong."""

    path: str
    stac_type: str | None = None
    stac_id: str | None = None
    schemas: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file has no problem."""
        return not self.problems

    def __str__(self) -> str:
        return f"{self.path}: " + ("OK" if self.ok else "; ".join(str(p) for p in self.problems))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "type": self.stac_type,
            "id": self.stac_id,
            "ok": self.ok,
            "schemas": list(self.schemas),
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_path`: one :class:`FileReport` per file, in visiting order."""

    root: str
    mode: str
    files: list[FileReport] = field(default_factory=list)
    skipped_links: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file visited is valid."""
        return all(f.ok for f in self.files)

    @property
    def invalid(self) -> list[FileReport]:
        """The files with at least one problem."""
        return [f for f in self.files if not f.ok]

    def problems(self) -> Iterator[tuple[str, Problem]]:
        """Every ``(file path, problem)``."""
        for f in self.files:
            for p in f.problems:
                yield f.path, p

    def lines(self) -> list[str]:
        """One human-readable line per file plus a summary line (for the CLI)."""
        out = [str(f) for f in self.files]
        out.append(self.summary())
        return out

    def summary(self) -> str:
        """``N valid, M with problems`` (with the schema source)."""
        bad = len(self.invalid)
        return f"{len(self.files) - bad} valid, {bad} with problems (schemas: {self.mode})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "root": self.root,
            "schemas": self.mode,
            "ok": self.ok,
            "file_count": len(self.files),
            "invalid_count": len(self.invalid),
            "files": [f.to_dict() for f in self.files],
            "skipped_links": list(self.skipped_links),
        }


def core_schema_url(stac_type: str, stac_version: str) -> str:
    """The URL of the core STAC schema for an object of ``stac_type`` (``Feature``, ``Collection``, ``Catalog``)."""
    return f"https://schemas.stacspec.org/v{stac_version}/{_CORE_KINDS[stac_type]}"


def _normalise(url: str) -> str:
    return url.rstrip("#")


@functools.lru_cache(maxsize=8)
def offline_registry(folder: str) -> Registry:
    """A Draft 7 registry of every ``*.json`` below ``folder``, keyed ``https://<relative path>`` (and by ``$id``).

    Cached per folder (building it parses every schema); pass a resolved absolute path.
    """
    root = Path(folder)
    resources: list[tuple[str, Resource]] = []
    for p in sorted(root.rglob("*.json")):
        try:
            contents = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(contents, dict):
            continue
        url = "https://" + p.relative_to(root).as_posix()
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        resources.append((url, resource))
        sid = contents.get("$id")
        if isinstance(sid, str) and _normalise(sid) != url:
            resources.append((_normalise(sid), resource))
    return Registry().with_resources(resources)


@functools.lru_cache(maxsize=256)
def _fetch_json(url: str) -> Any:
    """GET ``url`` and parse it as JSON (cached for the process)."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, headers={"Accept": "application/schema+json, application/json"})
    with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT_S) as response:
        return json.loads(response.read().decode("utf-8"))


def _retrieve_online(url: str) -> Resource:
    return Resource.from_contents(_fetch_json(url), default_specification=DRAFT7)


@functools.lru_cache(maxsize=1)
def _online_registry() -> Registry:
    return Registry(retrieve=_retrieve_online)


class _Checker:
    """Validates documents against schema URLs taken from one registry."""

    def __init__(self, registry: Registry, offline: bool) -> None:
        self.registry = registry
        self.offline = offline
        self._validators: dict[str, jsonschema.Draft7Validator] = {}

    def _validator(self, url: str) -> jsonschema.Draft7Validator:
        key = _normalise(url)
        if key not in self._validators:
            if self.offline:
                schema = self.registry.contents(key)
            else:
                resolved = self.registry.get_or_retrieve(key)
                self.registry = resolved.registry
                schema = resolved.value.contents
            self._validators[key] = jsonschema.Draft7Validator(schema, registry=self.registry)
        return self._validators[key]

    def check(self, document: Mapping[str, Any], url: str) -> Problem | None:
        """The problem ``document`` has against the schema at ``url``, or None."""
        where = "in the local schema mirror" if self.offline else "online"
        try:
            validator = self._validator(url)
        except (referencing.exceptions.NoSuchResource, referencing.exceptions.Unretrievable, LookupError) as exc:
            detail = "" if self.offline else f" ({_reason(exc)})"
            return Problem("missing", url, f"schema not available {where}{detail}")
        try:
            errors = list(validator.iter_errors(document))
        except referencing.exceptions.Unresolvable as exc:
            ref = getattr(exc, "ref", None) or str(exc)
            return Problem("missing", url, f"schema references {ref}, which is not available {where}")
        if not errors:
            return None
        best = _most_specific(best_match(errors) or errors[0])
        return Problem("invalid", url, _message(best), best.json_path, len(errors))


def _most_specific(error: ValidationError) -> ValidationError:
    """Descend through ``oneOf`` / ``anyOf`` / ``allOf`` failures to the deepest error in the document.

    STAC schemas branch on ``type`` (``oneOf`` item / collection): the wrong branch fails shallowly at
    ``$.type``, the right one deep at the offending field, which is what a user needs to see.
    """
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    return error


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__ or exc
    return f"{type(cause).__name__}: {cause}"[:300]


def _message(error: ValidationError, limit: int = 300) -> str:
    text = error.message
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_json(path: Path) -> tuple[Any, Problem | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, Problem("unreadable", None, "file not found")
    except OSError as exc:
        return None, Problem("unreadable", None, f"cannot read: {exc}")
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, Problem("unreadable", None, f"not valid JSON: {exc}")


def _link_target(base: Path, href: str) -> Path | None:
    """The local file a link ``href`` points to, or None for a remote (or otherwise unfollowable) link."""
    parts = urllib.parse.urlsplit(href)
    if parts.scheme == "file":
        return Path(urllib.parse.unquote(parts.path))
    if parts.scheme or parts.netloc:
        return None
    rel = urllib.parse.unquote(parts.path)
    if not rel:
        return None
    target = Path(rel)
    return target if target.is_absolute() else base.parent / target


def _schema_source(schemas: str | os.PathLike[str] | None) -> tuple[Registry, bool, str]:
    param = "schemas"
    if schemas is None:
        env = os.environ.get(SCHEMAS_ENV, "").strip()
        if not env:
            return _online_registry(), False, "online"
        schemas, param = env, SCHEMAS_ENV
    folder = Path(schemas).expanduser()
    if not folder.is_dir():
        raise ConfigError(param, f"schema mirror folder not found: {folder}")
    resolved = str(folder.resolve())
    return offline_registry(resolved), True, resolved


def validate_path(
    path: str | os.PathLike[str],
    schemas: str | os.PathLike[str] | None = None,
    *,
    recursive: bool = True,
) -> ValidationReport:
    """Validate a STAC catalog, collection or item file (and, for catalogs/collections, everything linked below it).

    ``schemas`` is a local schema mirror folder (``<host>/<path>`` layout) for offline validation; when
    None, the folder in ``$ALIGNSAR_STAC_SCHEMAS`` is used if set, else schemas are fetched online.
    ``recursive=False`` checks only ``path`` itself.

    Raises :class:`MissingDataError` when ``path`` does not exist and :class:`ConfigError` when the
    schema folder does not exist. Every other problem (invalid files, missing schemas, broken links,
    unreadable children) is reported in the returned :class:`ValidationReport`.
    """
    root = Path(path).expanduser()
    if not root.is_file():
        raise MissingDataError(root, "STAC file not found")
    registry, offline, mode = _schema_source(schemas)
    checker = _Checker(registry, offline)
    report = ValidationReport(root=str(root), mode=mode)
    seen: set[Path] = set()
    _visit(root.resolve(), checker, report, seen, recursive, display=root)
    return report


def _visit(
    path: Path,
    checker: _Checker,
    report: ValidationReport,
    seen: set[Path],
    recursive: bool,
    display: Path,
) -> None:
    seen.add(path)
    file_report = FileReport(path=str(display))
    report.files.append(file_report)
    document, problem = _read_json(path)
    if problem is not None:
        file_report.problems.append(problem)
        return
    if not isinstance(document, dict):
        file_report.problems.append(Problem("not-stac", None, "the file is not a JSON object"))
        return
    children = _validate_document(document, checker, file_report)
    if not recursive:
        return
    for href in children:
        target = _link_target(path, href)
        if target is None:
            report.skipped_links.append(f"{display}: {href}")
            continue
        resolved = target.resolve()
        if resolved in seen:
            continue
        shown = target if target.is_absolute() else Path(os.path.normpath(display.parent / target.relative_to(path.parent)))
        _visit(resolved, checker, report, seen, recursive, display=shown)


def _validate_document(document: Mapping[str, Any], checker: _Checker, file_report: FileReport) -> list[str]:
    """Fill ``file_report`` for one parsed document; return the hrefs of its child/item links to follow."""
    stac_type = document.get("type")
    version = document.get("stac_version")
    file_report.stac_type = stac_type if isinstance(stac_type, str) else None
    file_report.stac_id = document.get("id") if isinstance(document.get("id"), str) else None
    if stac_type not in _CORE_KINDS:
        file_report.problems.append(Problem("not-stac", None, f"'type' is {stac_type!r}, expected one of {sorted(_CORE_KINDS)}", "$.type"))
        return []
    if not isinstance(version, str) or not version:
        file_report.problems.append(
            Problem("not-stac", None, f"'stac_version' is {version!r}, expected a version string", "$.stac_version")
        )
        return []
    urls = [core_schema_url(stac_type, version)]
    extensions = document.get("stac_extensions", [])
    if isinstance(extensions, list):
        urls += [u for u in extensions if isinstance(u, str)]
    for url in dict.fromkeys(urls):
        file_report.schemas.append(url)
        problem = checker.check(document, url)
        if problem is not None:
            file_report.problems.append(problem)
    if stac_type == "Feature":
        return []
    hrefs: list[str] = []
    links = document.get("links", [])
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("rel") in _FOLLOWED_RELS and isinstance(link.get("href"), str):
            hrefs.append(link["href"])
    return hrefs
