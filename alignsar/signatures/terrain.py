"""Terrain-flattened gamma0 by area projection (Small 2011).

For each radar pixel, ``area_gamma`` (m2) is the sum of the areas of the DEM facets that map into it,
each projected onto the plane perpendicular to the line of sight (facets facing away from the sensor
contribute nothing); ``area_beta`` (m2) is the pixel's reference area in the slant plane (azimuth
spacing on the ground x slant-range spacing), the area beta0 is normalised by. Then
``gamma0_tf = beta0 * area_beta / area_gamma``: on a flat surface ``area_beta / area_gamma = tan(theta)``
and gamma0_tf equals the ellipsoid gamma0 ``beta0 tan(theta)``; on slopes it removes the brightening of
fore-slopes and darkening of back-slopes. Facets are the two triangles of every cell of the DEM
resampled ``oversample`` times finer, located in the radar grid by geo2rdr of their vertices and spread
bilinearly over the four nearest pixel centres. Slant-range grids only.
"""

from __future__ import annotations

import numpy as np
import pyproj
import xarray as xr
from affine import Affine

from ..errors import GeometryError
from ..geometry import DEM, geo2rdr, rdr2geo
from ..geometry.ellipsoid import ellipsoid_normal, lonlat_to_ecef
from ..model import Acquisition


def _dem_vertices(acq: Acquisition, dem: DEM, swath: str | None, oversample: int) -> tuple[np.ndarray, np.ndarray]:
    """lon / lat (deg) of a DEM-aligned vertex grid ``oversample`` times finer than the DEM, over the
    swath footprint plus a margin."""
    # the footprint on terrain moves towards near range by ~h cot(incidence): widen it by three
    # times the DEM's height range (plus ~1 km)
    footprint = acq.swath(swath).footprint
    x0, y0, x1, y1 = footprint.buffer(0.01).bounds
    glon, glat = np.meshgrid(np.linspace(x0, x1, 48), np.linspace(y0, y1, 48))
    heights = dem.height(glon, glat, outside="nan")
    spread = float(np.nanmax(heights) - np.nanmin(heights)) if np.isfinite(heights).any() else 0.0
    fp = footprint.buffer(0.01 + 3 * spread / 111_000)
    horizontal = dem.crs.sub_crs_list[0] if dem.crs.is_compound else dem.crs
    to_dem = pyproj.Transformer.from_crs(4326, horizontal, always_xy=True)
    x, y = to_dem.transform(*np.asarray(fp.exterior.coords).T)
    inv = ~dem.transform
    cols, rows = inv * (np.asarray(x), np.asarray(y))
    c0, c1 = int(np.floor(cols.min())), int(np.ceil(cols.max()))
    r0, r1 = int(np.floor(rows.min())), int(np.ceil(rows.max()))
    fine = dem.transform @ Affine.scale(1 / oversample)
    cc = np.arange(c0 * oversample, c1 * oversample + 1) + 0.5
    rr = np.arange(r0 * oversample, r1 * oversample + 1) + 0.5
    xx, yy = fine * np.meshgrid(cc, rr)
    lon, lat = pyproj.Transformer.from_crs(horizontal, 4326, always_xy=True).transform(xx, yy)
    return np.asarray(lon), np.asarray(lat)


def normalization_areas(acq: Acquisition, dem: DEM, *, swath: str | None = None, oversample: int = 2) -> xr.Dataset:
    """``area_gamma`` and ``area_beta`` (m2) per radar pixel (see the module docstring)."""
    grid = acq.swath(swath).grid
    if grid.projection != "slant_range":
        raise GeometryError(acq.source_path, "terrain flattening needs a slant-range grid (SLC)")
    lon, lat = _dem_vertices(acq, dem, swath, oversample)
    h = dem.height(lon, lat, outside="nan")
    g = geo2rdr(acq, lon, lat, h, swath=swath)
    p = lonlat_to_ecef(lon, lat, h)
    sensor = acq.orbit.interpolate(g.azimuth_time.ravel()).position.reshape(p.shape)
    up = ellipsoid_normal(lon, lat)
    n_lines, n_pix = grid.shape
    area = np.zeros((n_lines + 1) * (n_pix + 1))
    for tri in (((0, 0), (1, 0), (0, 1)), ((1, 1), (0, 1), (1, 0))):
        (a0, b0), (a1, b1), (a2, b2) = tri
        sl = lambda a, b, arr: arr[a : arr.shape[0] - 1 + a, b : arr.shape[1] - 1 + b]  # noqa: E731
        v0, v1, v2 = sl(a0, b0, p), sl(a1, b1, p), sl(a2, b2, p)
        normal = 0.5 * np.cross(v1 - v0, v2 - v0)
        centre = (v0 + v1 + v2) / 3
        # outward orientation, then the projection onto the plane perpendicular to the line of sight
        normal *= np.sign(np.einsum("...i,...i", normal, sl(a0, b0, up)))[..., None]
        look = (sl(a0, b0, sensor) + sl(a1, b1, sensor) + sl(a2, b2, sensor)) / 3 - centre
        look /= np.linalg.norm(look, axis=-1, keepdims=True)
        projected = np.clip(np.einsum("...i,...i", normal, look), 0, None)
        line = (sl(a0, b0, g.line) + sl(a1, b1, g.line) + sl(a2, b2, g.line)) / 3
        pix = (sl(a0, b0, g.pixel) + sl(a1, b1, g.pixel) + sl(a2, b2, g.pixel)) / 3
        ok = np.isfinite(line) & np.isfinite(pix) & np.isfinite(projected)
        line, pix, projected = line[ok], pix[ok], projected[ok]
        l0, p0 = np.floor(line).astype(int), np.floor(pix).astype(int)
        fl, fp = line - l0, pix - p0
        for dl, dp, w in ((0, 0, (1 - fl) * (1 - fp)), (1, 0, fl * (1 - fp)), (0, 1, (1 - fl) * fp), (1, 1, fl * fp)):
            li, pi = l0 + dl, p0 + dp
            inside = (li >= 0) & (li < n_lines) & (pi >= 0) & (pi < n_pix)
            np.add.at(area, li[inside] * (n_pix + 1) + pi[inside], (w * projected)[inside])
    area_gamma = area.reshape(n_lines + 1, n_pix + 1)[:n_lines, :n_pix]
    # beta reference area: azimuth spacing on the ground (from rdr2geo of neighbouring lines on a
    # coarse grid) x slant-range spacing
    rows = np.linspace(0, n_lines - 2, min(n_lines - 1, 16))
    cols = np.linspace(0, n_pix - 1, min(n_pix, 16))
    ll, pp = np.meshgrid(rows, cols, indexing="ij")
    h_mean = float(np.nanmean(h))  # the spacing changes by h / R (1e-4 per 100 m): mean height is enough
    a = rdr2geo(acq, ll, pp, height=h_mean, swath=swath)
    b = rdr2geo(acq, ll + 1, pp, height=h_mean, swath=swath)
    daz = np.linalg.norm(lonlat_to_ecef(b.lon, b.lat, b.height) - lonlat_to_ecef(a.lon, a.lat, a.height), axis=-1)
    from scipy.interpolate import RegularGridInterpolator

    interp = RegularGridInterpolator((rows, cols), daz, bounds_error=False, fill_value=None)
    li, pi = np.meshgrid(np.arange(n_lines), np.arange(n_pix), indexing="ij")
    area_beta = interp((li, pi)) * grid.slant_range_pixel_spacing
    coords = {"line": ("azimuth", np.arange(n_lines)), "pixel": ("range", np.arange(n_pix))}
    dims = ("azimuth", "range")
    return xr.Dataset(
        {
            "area_gamma": xr.DataArray(
                np.where(area_gamma > 0, area_gamma, np.nan).astype(np.float32),
                dims=dims,
                attrs={
                    "units": "m2",
                    "long_name": "illuminated area projected perpendicular to the line of sight",
                    "formula": "sum over DEM facets of max(n . l, 0), bilinear splat (Small 2011)",
                },
            ),
            "area_beta": xr.DataArray(
                area_beta.astype(np.float32),
                dims=dims,
                attrs={
                    "units": "m2",
                    "long_name": "beta0 reference area (azimuth spacing x slant-range spacing)",
                    "formula": "d_az * c / (2 fs)",
                },
            ),
        },
        coords=coords,
        attrs={"dem_oversample": oversample},
    )


def terrain_flattened_gamma0(beta0: xr.DataArray, areas: xr.Dataset) -> xr.DataArray:
    """``gamma0_tf = beta0 * area_beta / area_gamma`` (linear, m2/m2) on the radar grid of ``areas``."""
    ratio = (areas["area_beta"] / areas["area_gamma"]).data
    out = beta0.copy(data=beta0.data * ratio).astype(np.float32)
    pol = beta0.attrs.get("polarization", "")
    out.name = f"gamma0_tf_{pol.lower()}" if pol else "gamma0_tf"
    out.attrs = {
        "units": "1",
        "long_name": "terrain-flattened gamma0 (linear)",
        "formula": "beta0 * A_beta / A_gamma (area projection, Small 2011)",
        "polarization": pol,
    }
    return out
