"""Load published items as plain STAC dicts, the way stackstac reads them.

pystac migrates every item it reads to projection v2, which drops ``proj:epsg`` (only
``proj:code`` stays) while stackstac reads only ``proj:epsg``; so items read with pystac need
``stackstac.stack(items, epsg=...)``. :func:`load_items` reads the item JSON files of a
collection without migration and with absolute asset hrefs, so ``stackstac.stack(load_items(...))``
works as it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import MissingDataError


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MissingDataError(path, "no such STAC file") from exc


def load_items(catalog: str | os.PathLike[str], collection: str) -> list[dict[str, Any]]:
    """The items of ``collection`` (its id) below the static catalog ``catalog`` (path of
    ``catalog.json``) as plain dicts, asset hrefs made absolute, sorted by datetime."""
    root = Path(catalog)
    cat = _read(root)
    for link in cat.get("links", []):
        if link.get("rel") != "child":
            continue
        cpath = (root.parent / link["href"]).resolve()
        coll = _read(cpath)
        if coll.get("id") != collection:
            continue
        items = []
        for il in coll.get("links", []):
            if il.get("rel") != "item":
                continue
            ipath = (cpath.parent / il["href"]).resolve()
            item = _read(ipath)
            for asset in item.get("assets", {}).values():
                href = asset["href"]
                if "://" not in href and not os.path.isabs(href):
                    asset["href"] = str((ipath.parent / href).resolve())
            items.append(item)
        return sorted(items, key=lambda i: i["properties"].get("datetime") or i["properties"].get("start_datetime") or "")
    raise MissingDataError(root, f"no collection {collection!r}")


__all__ = ["load_items"]
