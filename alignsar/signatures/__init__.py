"""SAR signatures on any reference grid: category 1 (single polarisation) and category 2
(multi-polarisation). Every function takes and returns lazy xarray objects with ``units``,
``long_name`` and a ``formula`` in the attrs; windows are in pixels (odd)."""

from .polarimetry import EPSILON, copol_phase_difference, dual_pol, dual_pol_descriptors, quad_pol, soil_moisture_index
from .single import DB_FLOOR, amplitude, coherence, from_db, intensity, interferogram, multilook, to_db
from .terrain import normalization_areas, terrain_flattened_gamma0

__all__ = [
    "DB_FLOOR",
    "EPSILON",
    "amplitude",
    "coherence",
    "copol_phase_difference",
    "dual_pol",
    "dual_pol_descriptors",
    "from_db",
    "intensity",
    "interferogram",
    "multilook",
    "normalization_areas",
    "quad_pol",
    "soil_moisture_index",
    "terrain_flattened_gamma0",
    "to_db",
]
