"""STAC items as input: open the product an item's asset points to, and select items from a static
catalog or a STAC API.

An item's product asset is the one named by ``asset=``, else the first asset whose roles include
``data`` (or, failing that, any asset) whose href ends like a supported product (``.SAFE``,
``manifest.safe``, ``.zip``, ``.N1`` / ``.E1`` / ``.E2``, ``.h5``, ``.tif``). Relative hrefs resolve
against the item's own location; ``file://`` and plain paths open in place; ``http(s)://`` and
other fsspec URLs are downloaded once into ``ALIGNSAR_CACHE`` (default ``~/.cache/alignsar``).

:func:`search` filters by date range (UTC, inclusive), bbox (lon/lat, intersecting the item's bbox),
orbit direction (``sat:orbit_state``), relative orbit (``sat:relative_orbit``) and polarisations
(``sar:polarizations`` must contain all asked for). On a STAC API the date, bbox and collections go
to the server (pystac-client); every filter is applied again locally, so servers without the query
extension still give exact results.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import numpy as np

from ..errors import ConfigError, MissingDataError, UnsupportedProductError

if TYPE_CHECKING:
    import pystac

    from ..model import Acquisition

PRODUCT_ENDINGS = (".safe", "manifest.safe", ".zip", ".n1", ".e1", ".e2", ".h5", ".hdf5", ".tif", ".tiff")


def _product_asset(item: pystac.Item, asset: str | None) -> pystac.Asset:
    if asset is not None:
        if asset not in item.assets:
            raise MissingDataError(item.get_self_href() or item.id, f"item has no asset {asset!r} (has {sorted(item.assets)})")
        return item.assets[asset]
    candidates = [a for a in item.assets.values() if a.href.rstrip("/").lower().endswith(PRODUCT_ENDINGS)]
    data = [a for a in candidates if "data" in (a.roles or [])]
    if data or candidates:
        return (data or candidates)[0]
    raise UnsupportedProductError(
        item.get_self_href() or item.id, f"no asset points to a supported product (assets: {sorted(item.assets)})"
    )


def _local(href: str) -> Path:
    """A local path for an href, downloading remote objects into the cache."""
    parsed = urlparse(href)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(unquote(parsed.path) if parsed.scheme == "file" else href)
    import fsspec

    cache = Path(os.environ.get("ALIGNSAR_CACHE", Path.home() / ".cache" / "alignsar"))
    target = cache / parsed.netloc / parsed.path.lstrip("/")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".partial")
        with fsspec.open(href, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(2**22):
                dst.write(chunk)
        os.replace(tmp, target)
    return target


def item_product_path(item: pystac.Item, asset: str | None = None) -> Path:
    """Local path of the product an item's asset points to (see module docstring)."""
    a = _product_asset(item, asset)
    href = a.get_absolute_href() or a.href
    path = _local(href)
    if path.name.lower() == "manifest.safe":
        path = path.parent
    return path


def open_item(
    item: pystac.Item | str | os.PathLike[str], asset: str | None = None, orbit: str | os.PathLike[str] | None = None
) -> Acquisition:
    """Open the product of a STAC item (a ``pystac.Item`` or the href of its JSON)."""
    import pystac

    from . import open_product

    if not isinstance(item, pystac.Item):
        try:
            item = pystac.Item.from_file(os.fspath(item))
        except (OSError, ValueError, KeyError, pystac.STACError) as exc:
            raise UnsupportedProductError(item, f"not a readable STAC item ({exc})") from exc
    return open_product(item_product_path(item, asset), orbit=orbit)


def _bounds(item: pystac.Item) -> tuple[float, float, float, float] | None:
    if item.bbox is not None:
        b = item.bbox
        return (b[0], b[1], b[-3], b[-2]) if len(b) == 6 else (b[0], b[1], b[2], b[3])
    return None


def _times(item: pystac.Item) -> tuple[np.datetime64, np.datetime64]:
    props = item.properties
    if item.datetime is not None:
        t = np.datetime64(item.datetime.replace(tzinfo=None), "ns")
        return t, t
    return np.datetime64(props["start_datetime"].rstrip("Z"), "ns"), np.datetime64(props["end_datetime"].rstrip("Z"), "ns")


def matches(
    item: pystac.Item,
    start: np.datetime64 | None,
    end: np.datetime64 | None,
    bbox: Sequence[float] | None,
    orbit_direction: str | None,
    relative_orbit: int | None,
    polarizations: Sequence[str] | None,
) -> bool:
    """Whether an item passes every filter of :func:`search`."""
    t0, t1 = _times(item)
    if start is not None and t1 < start:
        return False
    if end is not None and t0 > end:
        return False
    if bbox is not None:
        b = _bounds(item)
        if b is None or b[0] > bbox[2] or b[2] < bbox[0] or b[1] > bbox[3] or b[3] < bbox[1]:
            return False
    props = item.properties
    if orbit_direction is not None and str(props.get("sat:orbit_state", "")).lower() != orbit_direction.lower():
        return False
    if relative_orbit is not None and props.get("sat:relative_orbit") != relative_orbit:
        return False
    if polarizations:
        have = {p.upper() for p in props.get("sar:polarizations", [])}
        if not {p.upper() for p in polarizations} <= have:
            return False
    return True


def _time(value: Any, end: bool = False) -> np.datetime64 | None:
    if value is None:
        return None
    text = str(value).rstrip("Z")
    t = np.datetime64(text, "ns")
    if end and len(text) == 10:  # a date: the whole day
        t = t + np.timedelta64(86400, "s") - np.timedelta64(1, "ns")
    return t


def search(
    source: str | os.PathLike[str] | pystac.Catalog,
    *,
    start: Any = None,
    end: Any = None,
    bbox: Sequence[float] | None = None,
    orbit_direction: str | None = None,
    relative_orbit: int | None = None,
    polarizations: Sequence[str] | None = None,
    collections: Sequence[str] | None = None,
    max_items: int | None = None,
) -> list[pystac.Item]:
    """Items of a static catalog (path / pystac Catalog) or STAC API (http URL of its landing page)
    that match every filter, sorted by time. ``start`` / ``end``: ISO dates or datetimes (UTC)."""
    import pystac

    if orbit_direction is not None and orbit_direction.lower() not in ("ascending", "descending"):
        raise ConfigError("orbit_direction", f"must be 'ascending' or 'descending', got {orbit_direction!r}")
    t0, t1 = _time(start), _time(end, end=True)
    items: Iterable[pystac.Item]
    if isinstance(source, pystac.Catalog):
        items = source.get_items(recursive=True)
    elif str(source).startswith(("http://", "https://")) and not str(source).endswith(".json"):
        import pystac_client

        client = pystac_client.Client.open(str(source))
        dt = None
        if t0 is not None or t1 is not None:
            dt = f"{np.datetime_as_string(t0, 's') + 'Z' if t0 is not None else '..'}/{np.datetime_as_string(t1, 's') + 'Z' if t1 is not None else '..'}"
        query = {}
        if orbit_direction:
            query["sat:orbit_state"] = {"eq": orbit_direction.lower()}
        if relative_orbit is not None:
            query["sat:relative_orbit"] = {"eq": relative_orbit}
        items = client.search(
            datetime=dt,
            bbox=list(bbox) if bbox else None,
            collections=list(collections) if collections else None,
            query=query or None,
            max_items=max_items,
        ).items()
    else:
        try:
            catalog = pystac.read_file(os.fspath(source))
        except (OSError, ValueError, pystac.STACError) as exc:
            raise MissingDataError(source, f"cannot read STAC catalog ({exc})") from exc
        if isinstance(catalog, pystac.Item):
            items = [catalog]
        elif isinstance(catalog, pystac.Catalog):
            items = catalog.get_items(recursive=True)
        else:
            raise UnsupportedProductError(source, "not a STAC catalog, collection or item")
    out = []
    for item in items:
        if collections and item.collection_id not in collections:
            continue
        if matches(item, t0, t1, bbox, orbit_direction, relative_orbit, polarizations):
            out.append(item)
    out.sort(key=lambda it: _times(it)[0])
    return out[:max_items] if max_items else out
