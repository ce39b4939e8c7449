"""WGS84 conversions (through PROJ) between geodetic (lon, lat, ellipsoidal height) and ECEF."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pyproj


@lru_cache(maxsize=1)
def _to_ecef() -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(4979, 4978, always_xy=True)


@lru_cache(maxsize=1)
def _to_geodetic() -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(4978, 4979, always_xy=True)


def lonlat_to_ecef(lon: npt.ArrayLike, lat: npt.ArrayLike, height: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(lon deg, lat deg, height m above WGS84) -> ECEF metres, shape ``broadcast + (3,)``."""
    lon, lat, height = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float), np.asarray(height, float))
    x, y, z = _to_ecef().transform(lon, lat, height)
    return np.stack([x, y, z], axis=-1)


def ecef_to_lonlat(xyz: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF metres (..., 3) -> (lon deg, lat deg, height m above WGS84)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    lon, lat, h = _to_geodetic().transform(xyz[..., 0], xyz[..., 1], xyz[..., 2])
    return np.asarray(lon), np.asarray(lat), np.asarray(h)


def ellipsoid_normal(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Unit outward normal of the WGS84 ellipsoid at geodetic (lon, lat) degrees (the gradient of
    geodetic height in ECEF)."""
    lo, la = np.radians(lon), np.radians(lat)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)
