"""alignsar: SAR time series to aligned, ML-ready benchmark datacubes published as STAC."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .model import Acquisition
from .readers import open_product

try:
    __version__ = version("alignsar")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["Acquisition", "__version__", "open_product"]
