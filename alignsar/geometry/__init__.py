"""Geometry engine: zero-Doppler geo2rdr / rdr2geo, DEM and geoid handling."""

from .dem import DEM, geoid_undulation, open_dem
from .ellipsoid import ecef_to_lonlat, ellipsoid_normal, lonlat_to_ecef
from .zero_doppler import Geo2RdrResult, Rdr2GeoResult, geo2rdr, rdr2geo, solve_zero_doppler

__all__ = [
    "DEM",
    "Geo2RdrResult",
    "Rdr2GeoResult",
    "ecef_to_lonlat",
    "ellipsoid_normal",
    "geo2rdr",
    "geoid_undulation",
    "lonlat_to_ecef",
    "open_dem",
    "rdr2geo",
    "solve_zero_doppler",
]
