"""One hierarchy of typed errors for everything alignsar cannot read or compute.

Every error names the offending file (or parameter) and the reason, so that the CLI can print a
single line such as ``alignsar: CorruptProductError: /data/x.zip: not a valid zip archive``.
"""

from __future__ import annotations

import os


class AlignSARError(Exception):
    """Base class of all alignsar errors."""

    def __init__(self, path: str | os.PathLike[str] | None, reason: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class ProductError(AlignSARError):
    """A product cannot be used."""


class UnsupportedProductError(ProductError):
    """The input is readable but is not a product (or mode) alignsar supports (wrong sensor...)."""


class CorruptProductError(ProductError):
    """The product is damaged: truncated archive, malformed XML, unreadable raster."""


class MissingDataError(ProductError):
    """A part of the product that was asked for is absent (annotation, polarisation, LUT...)."""


class UnsafeInputError(ProductError):
    """The input tries something we refuse: XML entities / DTDs, archive path traversal."""


class GeometryError(AlignSARError):
    """Geometry cannot be computed: orbit does not cover a time, DEM does not cover a scene..."""


class ConfigError(AlignSARError):
    """A configuration value or parameter is invalid."""
