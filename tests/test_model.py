"""Acquisition model: orbit interpolation, calibration formula, thermal-noise conventions."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import xarray as xr

import alignsar
from alignsar.errors import GeometryError, MissingDataError
from alignsar.model import Acquisition, CalibrationLUT, NoiseRangeVector, Orbit, ProductSource, RadarGrid, Swath, ThermalNoise
from alignsar.readers import read_eof

from .conftest import s1_products, shared_path


def leave_one_out(orbit: Orbit) -> float:
    """Max position error (m) predicting each interior state vector from the others."""
    worst = 0.0
    for i in range(4, len(orbit) - 4):
        keep = np.r_[0:i, i + 1 : len(orbit)]
        sub = Orbit(orbit.time[keep], orbit.position[keep], orbit.velocity[keep])
        worst = max(worst, float(np.linalg.norm(sub.interpolate(orbit.time[i]).position - orbit.position[i])))
    return worst


def test_orbit_interpolation_poeorb() -> None:
    eof = next(shared_path("orbits", "s1-reader").glob("*POEORB*.EOF"))
    orbit = read_eof(eof)
    assert len(orbit) == 187 and orbit.source == "POEORB"
    state = orbit.interpolate(orbit.time)
    assert np.abs(state.position - orbit.position).max() < 1e-3  # < 1 mm at the epochs
    # velocity from the position polynomial vs the file's own velocities (mm/s level)
    assert np.abs(state.velocity - orbit.velocity)[4:-4].max() < 5e-3
    loo = leave_one_out(orbit)
    print(f"POEORB leave-one-out max error: {loo * 1000:.3f} mm")
    assert loo < 0.02


@pytest.mark.parametrize("path", s1_products()[:4], ids=lambda p: p.name[:32])
def test_orbit_interpolation_annotation(path) -> None:
    orbit = alignsar.open_product(path).orbit
    assert np.abs(orbit.interpolate(orbit.time).position - orbit.position).max() < 1e-3
    loo = leave_one_out(orbit)
    print(f"{path.name[:32]} annotation orbit leave-one-out: {loo * 1000:.3f} mm")
    assert loo < 0.02


def test_orbit_interpolation_analytic_truth() -> None:
    """Against a closed-form orbit: positions, velocities and accelerations between the epochs."""
    from alignsar.simulate.orbit import CircularOrbit

    orb = CircularOrbit(7.078e6, np.radians(98.2), 0.3, 0.7)
    t = np.arange(0.0, 200.0 + 1e-9, 10.0)
    pos, vel, _ = orb.state(t)
    times = np.datetime64("2024-01-01T00:00:00", "ns") + (t * 1e9).astype("timedelta64[ns]")
    orbit = Orbit(times, pos, vel)
    tq = np.linspace(35.0, 165.0, 97)
    p, v, a = orb.state(tq)
    got = orbit.interpolate_seconds(tq)
    assert np.abs(got.position - p).max() < 1e-4
    assert np.abs(got.velocity - v).max() < 1e-5
    assert np.abs(got.acceleration - a).max() < 1e-5


def test_orbit_refuses_extrapolation() -> None:
    orbit = read_eof(next(shared_path("orbits", "s1-reader").glob("*POEORB*.EOF")))
    with pytest.raises(GeometryError, match="covers"):
        orbit.interpolate(orbit.stop + np.timedelta64(60, "s"))


# ---- calibration on synthetic DN ------------------------------------------------------------------
class ArraySource(ProductSource):
    def __init__(self, dn: np.ndarray, lut: CalibrationLUT, noise: ThermalNoise | None) -> None:
        self.dn, self.lut, self._noise = dn, lut, noise

    def open_raster(self, swath: str, pol: str) -> xr.DataArray:
        import dask.array as da

        return xr.DataArray(
            da.from_array(self.dn, chunks=(7, 11)),
            dims=("line", "pixel"),
            coords={"line": np.arange(self.dn.shape[0]), "pixel": np.arange(self.dn.shape[1])},
        )

    def calibration(self, swath: str, pol: str) -> CalibrationLUT:
        return self.lut

    def noise(self, swath: str, pol: str) -> ThermalNoise | None:
        return self._noise


def synthetic_acquisition(dn: np.ndarray, lut: CalibrationLUT, noise: ThermalNoise | None) -> Acquisition:
    shape = dn.shape
    grid = RadarGrid("S1", shape, np.datetime64("2024-01-01T00:00:00", "ns"), 1e-3, 5e-3, 6.4e7)
    geo = xr.Dataset(
        {k: (("grid_line", "grid_pixel"), np.array([[30.0, 40.0], [30.0, 40.0]])) for k in ("latitude", "longitude", "incidence_angle")},
        coords={"line": ("grid_line", [0, shape[0] - 1]), "pixel": ("grid_pixel", [0, shape[1] - 1])},
    )
    t = np.datetime64("2024-01-01T00:00:00", "ns") + np.arange(-3, 4) * np.timedelta64(10, "s")
    orbit = Orbit(t, np.c_[np.arange(7.0), np.zeros(7), np.full(7, 7e6)], np.ones((7, 3)))
    return Acquisition(
        "test",
        "test",
        "SM",
        "SLC",
        ("VV",),
        t[3],
        t[4],
        1,
        1,
        "ascending",
        "right",
        5.4e9,
        "synthetic",
        "memory",
        orbit,
        {"S1": Swath("S1", grid, ("VV",), geo)},
        ArraySource(dn, lut, noise),
    )


def test_calibrated_intensity_formula() -> None:
    rng = np.random.default_rng(3)
    shape = (40, 50)
    dn = (rng.normal(0, 30, shape) + 1j * rng.normal(0, 30, shape)).astype(np.complex64)
    node_l, node_p = np.array([-5.0, 20.0, 45.0]), np.array([0.0, 25.0, 49.0])
    table = 400.0 + 3.0 * node_l[:, None] + 2.0 * node_p[None, :] + 0.1 * node_l[:, None] * node_p[None, :]
    lut = CalibrationLUT(node_l, node_p, {"sigma0": table, "beta0": table * 0.8, "gamma0": table * 0.9})
    noise = ThermalNoise(
        (
            NoiseRangeVector(0.0, np.array([0.0, 49.0]), np.array([100.0, 300.0])),
            NoiseRangeVector(39.0, np.array([0.0, 30.0, 49.0]), np.array([200.0, 250.0, 400.0])),
        )
    )
    acq = synthetic_acquisition(dn, lut, noise)
    # expected: bilinear LUT (bilinear function -> exact), noise linear per vector then in line
    ll, pp = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    a = 400.0 + 3.0 * ll + 2.0 * pp + 0.1 * ll * pp
    n0 = np.interp(pp, [0, 49], [100, 300])
    n1 = np.interp(pp, [0, 30, 49], [200, 250, 400])
    n = n0 + (n1 - n0) * ll / 39.0
    power = np.abs(dn.astype(np.complex128)) ** 2
    for name, scale in (("sigma0", 1.0), ("beta0", 0.8), ("gamma0", 0.9)):
        out = acq.measurement("VV", calibration=name)
        assert out.dtype == np.float32 and out.attrs["units"] == "m2 m-2" and out.name == f"{name}_vv"
        np.testing.assert_allclose(out.values, power / (a * scale) ** 2, rtol=2e-5)
    sub = acq.measurement("VV", calibration="sigma0", thermal_noise="subtract").values
    np.testing.assert_allclose(sub, (power - n) / a**2, rtol=2e-4, atol=1e-7)
    assert (sub < 0).any()  # negatives kept
    clip = acq.measurement("VV", calibration="sigma0", thermal_noise="clip").values
    np.testing.assert_allclose(clip, np.maximum(power - n, 0) / a**2, rtol=2e-4, atol=1e-7)
    with pytest.raises(ValueError, match="needs a calibration"):
        acq.measurement("VV", thermal_noise="subtract")
    with pytest.raises(MissingDataError, match="polarisation VH"):
        acq.measurement("VH")


def test_footprint_is_polygon_around_grid() -> None:
    acq = alignsar.open_product(
        shared_path("sentinel1", "sarsen", "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE")
    )
    fp = acq.footprint
    geo = acq.swath().geolocation
    pts = shapely.points(geo["longitude"].values.ravel(), geo["latitude"].values.ravel())
    assert fp.is_valid and fp.exterior.is_ccw
    assert all(fp.buffer(1e-9).contains(p) for p in pts)
