"""Coregistration: every acquisition onto one reference grid, with a quality record."""

from .api import METHODS, CoregResult, coregister, coregister_bursts, coregister_rasters
from .config import CoregConfig
from .offsets import OffsetField, geometric_offsets
from .quality import QualityRecord
from .xcorr import correlate, fit_warp, measure_gcps

__all__ = [
    "METHODS",
    "CoregConfig",
    "CoregResult",
    "OffsetField",
    "QualityRecord",
    "coregister",
    "coregister_bursts",
    "coregister_rasters",
    "correlate",
    "fit_warp",
    "geometric_offsets",
    "measure_gcps",
]
