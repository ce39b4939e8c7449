"""Readers: the only code that knows a file format. ``open_product`` detects the sensor."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import MissingDataError, UnsupportedProductError
from ..model import Acquisition
from .orbit_file import read_eof


def open_product(
    path: str | os.PathLike[str] | Any, *, orbit: str | os.PathLike[str] | None = None, asset: str | None = None
) -> Acquisition:
    """Open a SAR product (detecting its sensor) into an :class:`Acquisition` without reading pixels.

    ``path``: a Sentinel-1 SAFE folder or zip, an Envisat / ERS ``.N1`` / ``.E1`` / ``.E2``, an ICEYE
    GRD GeoTIFF or SLC HDF5, a simulated product folder, or a STAC item (``pystac.Item`` or the path /
    URL of its JSON) whose asset (``asset=`` or the first data asset) points to one of those.
    ``orbit``: an orbit file (Sentinel-1 ``.EOF``) that replaces the product's own orbit.
    Raises a typed :mod:`alignsar.errors` error naming the file and the reason.
    """
    if type(path).__name__ == "Item" or str(path).lower().endswith(".json"):
        from .stac_input import open_item

        return open_item(path, asset=asset, orbit=orbit)
    p = Path(path)
    if not p.exists():
        raise MissingDataError(p, "no such file or folder")
    acq = _dispatch(p)
    if orbit is not None:
        acq = acq.with_orbit(read_eof(orbit))
    return acq


def _dispatch(p: Path) -> Acquisition:
    from . import envisat, iceye, sentinel1, simulated

    if p.is_dir():
        if (p / simulated.METADATA).is_file():
            return simulated.open_simulated(p)
        if (p / "manifest.safe").is_file():
            return sentinel1.open_sentinel1(p)
        if not any(p.iterdir()):
            raise UnsupportedProductError(p, "empty folder")
        raise UnsupportedProductError(p, "folder is not a recognised product (no manifest.safe, no alignsar metadata)")
    with open(p, "rb") as f:
        magic = f.read(8)
    if magic == b"PRODUCT=":
        return envisat.open_envisat(p)
    if magic[:4] == b"PK\x03\x04" or magic[:4] == b"PK\x05\x06":
        return sentinel1.open_sentinel1(p)
    if magic[:8] == b"\x89HDF\r\n\x1a\n":
        return iceye.open_iceye(p)
    if magic[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        if iceye.is_iceye_tiff(p):
            return iceye.open_iceye(p)
        raise UnsupportedProductError(p, "GeoTIFF is not a supported SAR product (no ICEYE metadata)")
    if p.name.lower() == "manifest.safe":
        return sentinel1.open_sentinel1(p.parent)
    if len(magic) == 0:
        raise UnsupportedProductError(p, "empty file")
    raise UnsupportedProductError(p, "unrecognised file format (not a SAFE folder/zip or a supported product)")


from .stac_input import open_item, search  # noqa: E402

__all__ = ["open_item", "open_product", "read_eof", "search"]
