"""Readers: the only code that knows a file format. ``open_product`` detects the sensor."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import MissingDataError, UnsupportedProductError
from ..model import Acquisition
from .orbit_file import read_eof


def open_product(path: str | os.PathLike[str], *, orbit: str | os.PathLike[str] | None = None) -> Acquisition:
    """Open a SAR product (detecting its sensor) into an :class:`Acquisition` without reading pixels.

    ``orbit``: an orbit file (Sentinel-1 ``.EOF``) that replaces the product's own orbit.
    Raises a typed :mod:`alignsar.errors` error naming the file and the reason.
    """
    p = Path(path)
    if not p.exists():
        raise MissingDataError(p, "no such file or folder")
    acq = _dispatch(p)
    if orbit is not None:
        acq = acq.with_orbit(read_eof(orbit))
    return acq


def _dispatch(p: Path) -> Acquisition:
    from . import sentinel1, simulated

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
    if magic[:4] == b"PK\x03\x04" or magic[:4] == b"PK\x05\x06":
        return sentinel1.open_sentinel1(p)
    if p.name.lower() == "manifest.safe":
        return sentinel1.open_sentinel1(p.parent)
    if len(magic) == 0:
        raise UnsupportedProductError(p, "empty file")
    raise UnsupportedProductError(p, "unrecognised file format (not a SAFE folder/zip or a supported product)")


__all__ = ["open_product", "read_eof"]
