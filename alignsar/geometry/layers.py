"""DEM-derived geometry layers on a radar grid or a map grid.

Layers: ``height`` (m above WGS84), ``incidence_angle`` (ellipsoid normal vs line of sight, deg),
``local_incidence_angle`` (DEM facet normal vs line of sight, deg), ``los_east`` / ``los_north`` /
``los_up`` (unit vector from the ground to the sensor), ``los_azimuth`` (deg clockwise from north,
ground -> sensor) and ``layover_shadow`` (bit 1: layover, bit 2: shadow).

Layover and shadow are flagged per DEM facet: layover where the facet faces the sensor more steeply
than the line of sight (slope > look angle in the range plane), shadow where it faces away beyond
grazing (local incidence > 90 deg). Shadow cast by distant terrain and passive layover are not
flagged.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from ..model import Acquisition
from .dem import DEM
from .ellipsoid import ellipsoid_normal, lonlat_to_ecef
from .geocode import _map_lonlat
from .radar import line_to_time, pixel_to_range, zero_doppler_time
from .zero_doppler import _dem_height_and_gradient, _state, geo2rdr, rdr2geo

LAYOVER, SHADOW = 1, 2
NAMES = ("height", "incidence_angle", "local_incidence_angle", "los_east", "los_north", "los_up", "los_azimuth", "layover_shadow")


def _layers(lon: np.ndarray, lat: np.ndarray, sensor: np.ndarray, dem: DEM, outside: str = "raise") -> np.ndarray:
    h, grad = _dem_height_and_gradient(dem, lon, lat, outside)
    p = lonlat_to_ecef(lon, lat, h)
    look = sensor - p
    look /= np.linalg.norm(look, axis=-1, keepdims=True)
    up = ellipsoid_normal(lon, lat)
    facet = up - grad
    facet /= np.linalg.norm(facet, axis=-1, keepdims=True)
    lo, la = np.radians(lon), np.radians(lat)
    east = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], -1)
    north = np.stack([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)], -1)
    dot = lambda a, b: np.einsum("...i,...i", a, b)  # noqa: E731
    inc = np.degrees(np.arccos(np.clip(dot(look, up), -1, 1)))
    local = np.degrees(np.arccos(np.clip(dot(look, facet), -1, 1)))
    le, ln, lu = dot(look, east), dot(look, north), dot(look, up)
    horiz = np.stack([le, ln], -1) / np.hypot(le, ln)[..., None]
    tilt_facet = np.arctan2(dot(facet, east) * horiz[..., 0] + dot(facet, north) * horiz[..., 1], dot(facet, up))
    tilt_look = np.arctan2(np.hypot(le, ln), lu)
    flags = np.where(tilt_facet > tilt_look, LAYOVER, 0) | np.where(local > 90.0, SHADOW, 0)
    return np.stack([h, inc, local, le, ln, lu, np.degrees(np.arctan2(le, ln)) % 360.0, flags])


def _dataset(stacked: da.Array, dims: tuple[str, str], coords: dict) -> xr.Dataset:
    attrs = {
        "height": {"units": "m", "long_name": "height above the WGS84 ellipsoid"},
        "incidence_angle": {"units": "degree", "long_name": "ellipsoid incidence angle"},
        "local_incidence_angle": {"units": "degree", "long_name": "local (DEM facet) incidence angle"},
        "los_east": {"units": "1", "long_name": "line of sight (ground to sensor), east component"},
        "los_north": {"units": "1", "long_name": "line of sight (ground to sensor), north component"},
        "los_up": {"units": "1", "long_name": "line of sight (ground to sensor), up component"},
        "los_azimuth": {"units": "degree", "long_name": "azimuth of the line of sight, ground to sensor, clockwise from north"},
        "layover_shadow": {
            "long_name": "layover (1) and shadow (2) bit flags, per DEM facet",
            "flag_masks": [LAYOVER, SHADOW],
            "flag_meanings": "layover shadow",
        },
    }
    data = {
        name: (dims, stacked[i] if name != "layover_shadow" else stacked[i].astype(np.uint8), attrs[name]) for i, name in enumerate(NAMES)
    }
    return xr.Dataset(data, coords=coords)


def geometry_layers(
    acq: Acquisition,
    dem: DEM,
    *,
    geobox: GeoBox | None = None,
    swath: str | None = None,
    window: tuple[slice, slice] | None = None,
    chunks: int = 512,
) -> xr.Dataset:
    """Geometry layers (lazy, chunked) on the swath's radar grid (optionally a ``window`` of
    (line, pixel) slices), or on ``geobox`` if given."""
    sw = acq.swath(swath)
    grid, orbit = sw.grid, acq.orbit
    if geobox is None:
        wl, wp = window or (slice(0, grid.lines), slice(0, grid.samples))
        line_idx = np.arange(grid.lines)[wl]
        pixel_idx = np.arange(grid.samples)[wp]
        lines = da.from_array(line_idx, chunks=chunks)
        pixels = da.from_array(pixel_idx, chunks=chunks)

        def block(ln: np.ndarray, px: np.ndarray) -> np.ndarray:
            ll, pp = np.meshgrid(ln.astype(float), px.astype(float), indexing="ij")
            g = rdr2geo(acq, ll, pp, dem=dem, swath=sw.name)
            tl = line_to_time(grid, orbit, ll)
            t = zero_doppler_time(grid, orbit, tl, pixel_to_range(grid, orbit, pp, tl))
            return _layers(g.lon, g.lat, _state(orbit, t)[0], dem)

        stacked = da.blockwise(block, "kij", lines, "i", pixels, "j", new_axes={"k": len(NAMES)}, dtype=np.float64, concatenate=True)
        return _dataset(stacked, ("azimuth", "range"), {"line": ("azimuth", line_idx), "pixel": ("range", pixel_idx)})

    rows = da.arange(geobox.shape[0], chunks=chunks)
    cols = da.arange(geobox.shape[1], chunks=chunks)

    def map_block(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        lon, lat = _map_lonlat(geobox, r, c)
        h = dem.height(lon, lat, outside="nan")
        res = geo2rdr(acq, lon, lat, np.nan_to_num(h), swath=sw.name)
        sensor = _state(orbit, orbit.seconds(res.azimuth_time))[0]
        out = _layers(lon, lat, sensor, dem, outside="nan")
        out[:, ~np.isfinite(h)] = np.nan
        return out

    stacked = da.blockwise(map_block, "kij", rows, "i", cols, "j", new_axes={"k": len(NAMES)}, dtype=np.float64, concatenate=True)
    return _dataset(
        stacked, ("y", "x"), {"y": ("y", np.asarray(geobox.coords["y"].values)), "x": ("x", np.asarray(geobox.coords["x"].values))}
    )


__all__ = ["LAYOVER", "SHADOW", "geometry_layers"]
