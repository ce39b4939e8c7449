"""The per-pair coregistration quality record (stored with outputs, published in STAC later)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class QualityRecord:
    """How well a secondary was aligned on the reference grid.

    Offsets are secondary minus primary position, in pixels of the secondary raster (azimuth =
    lines, range = samples). Residual RMS: of the kept GCPs about the fitted warp (cross-correlation
    methods). Coherence before / after: sample coherence of the pair (complex data) before any
    resampling (integer alignment) and after coregistration. TOPS: ``burst`` is the primary burst,
    ``esd_shift_azimuth_px`` the enhanced-spectral-diversity azimuth correction applied (lines).
    """

    method: str
    primary: str
    secondary: str
    resampling: str
    gcps_found: int = 0
    gcps_kept: int = 0
    residual_rms_azimuth_px: float | None = None
    residual_rms_range_px: float | None = None
    mean_offset_azimuth_px: float | None = None
    mean_offset_range_px: float | None = None
    polynomial: dict[str, Any] | None = None
    coherence_before: float | None = None
    coherence_after: float | None = None
    burst: int | None = None
    esd_shift_azimuth_px: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
