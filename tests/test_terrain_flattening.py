"""Terrain-flattened gamma0 (area projection) against closed forms: on flat terrain the area ratio is
tan(ellipsoid incidence) (the product's own geolocation grid), on a plane tilted in ground range it is
tan(local incidence) (from the DEM-gradient geometry layers, an independent code path)."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import xarray as xr
from affine import Affine
from scipy.interpolate import RegularGridInterpolator

from alignsar.geometry import DEM, rdr2geo
from alignsar.geometry.layers import geometry_layers
from alignsar.signatures.terrain import normalization_areas, terrain_flattened_gamma0
from alignsar.simulate import SceneConfig, simulate_scene

N = 96


@pytest.fixture(scope="module")
def acq_and_box():
    scene = simulate_scene(SceneConfig(lines=N, samples=N, dates=1, polarizations=("VV",), seed=2, relief_m=0.0))
    tm = scene.truth_map
    return scene.acquisitions[0], Affine.from_gdal(*tm.attrs["transform"]), pyproj.CRS.from_epsg(tm.attrs["epsg"]), tm["dem"].shape


def _plane_dem(acq, transform: Affine, crs: pyproj.CRS, shape, slope_deg: float) -> DEM:
    """A DEM over the footprint + 3 km (the simulator's DEM resolution and CRS): a plane rising by
    tan(slope) along ground range (towards far range)."""
    to = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    fx, fy = to.transform(*np.asarray(acq.footprint.exterior.coords).T)
    res = transform.a
    x0, y1 = np.min(fx) - 3000, np.max(fy) + 3000
    cols, rows = int((np.max(fx) + 3000 - x0) / res), int((y1 - np.min(fy) + 3000) / res)
    t = Affine(res, 0, x0, 0, -res, y1)
    xx, yy = t * np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
    a = rdr2geo(acq, np.array([N / 2, N / 2]), np.array([0.0, N - 1.0]), height=0.0)
    x, y = to.transform(a.lon, a.lat)
    u = np.array([x[1] - x[0], y[1] - y[0]])
    u /= np.linalg.norm(u)
    heights = 500.0 + np.tan(np.radians(slope_deg)) * ((xx - x[0]) * u[0] + (yy - y[0]) * u[1])
    return DEM(heights.astype(np.float32), t, crs)


def test_flat_terrain_ratio_is_tan_incidence(acq_and_box) -> None:
    acq, transform, crs, shape = acq_and_box
    dem = _plane_dem(acq, transform, crs, shape, 0.0)
    areas = normalization_areas(acq, dem)
    geo = acq.swath().geolocation
    inc = RegularGridInterpolator((geo["line"].values, geo["pixel"].values), geo["incidence_angle"].values)
    li, pi = np.meshgrid(np.arange(float(N)), np.arange(float(N)), indexing="ij")
    # geolocation incidence is at height 0, the plane at 500 m: the incidence differs by ~1e-4 relative
    ratio = (areas.area_beta / areas.area_gamma).values / np.tan(np.radians(inc((li, pi))))
    inner = (slice(4, -4), slice(4, -4))
    assert np.nanmean(ratio[inner]) == pytest.approx(1.0, abs=0.003)
    assert np.nanmax(np.abs(ratio[inner] - 1)) < 0.01


@pytest.mark.parametrize("slope", [-12.0, 8.0])
def test_range_slope_ratio_is_tan_local_incidence(acq_and_box, slope: float) -> None:
    """Back-slope (rising away from the radar: darker, larger local incidence) and fore-slope."""
    acq, transform, crs, shape = acq_and_box
    dem = _plane_dem(acq, transform, crs, shape, slope)
    areas = normalization_areas(acq, dem)
    local = geometry_layers(acq, dem)["local_incidence_angle"].values
    ratio = (areas.area_beta / areas.area_gamma).values / np.tan(np.radians(local))
    inner = (slice(4, -4), slice(4, -4))
    assert np.nanmean(ratio[inner]) == pytest.approx(1.0, abs=0.01)
    beta0 = xr.DataArray(np.ones((N, N), np.float32), dims=("azimuth", "range"), attrs={"polarization": "VV"})
    g = terrain_flattened_gamma0(beta0, areas)
    assert g.name == "gamma0_tf_vv" and g.attrs["units"] == "1"
    # per pixel the facet splat aliases (DEM cells vs radar pixels): within 5 %; 3 x 3 means within 1 %
    np.testing.assert_allclose(g.values[inner], np.tan(np.radians(local[inner])), rtol=0.05)
    from scipy.ndimage import uniform_filter

    smooth = uniform_filter(np.nan_to_num(ratio), 3)[inner]
    assert np.abs(smooth[2:-2, 2:-2] - 1).max() < 0.01
