"""Analytic circular orbits in an Earth-fixed frame, and an exact zero-Doppler solver on them.

The simulator's truth must not depend on the code it is used to test, so it never uses the
state-vector interpolation or the geometry engine: positions, velocities and accelerations are
closed-form, and zero-Doppler times are solved by Newton iterations on the closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

GM = 3.986004418e14  # m^3 s^-2 (WGS84)
OMEGA_EARTH = 7.2921151467e-5  # rad/s (WGS84)
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)


def geodetic_to_ecef(lon: npt.ArrayLike, lat: npt.ArrayLike, h: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """WGS84 geodetic (deg, deg, m above ellipsoid) to ECEF (m), closed form; shape (..., 3)."""
    lon_r = np.radians(lon)
    lat_r = np.radians(lat)
    h = np.asarray(h, dtype=np.float64)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat_r) ** 2)
    x = (n + h) * np.cos(lat_r) * np.cos(lon_r)
    y = (n + h) * np.cos(lat_r) * np.sin(lon_r)
    z = (n * (1.0 - WGS84_E2) + h) * np.sin(lat_r)
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def ellipsoid_normal(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Unit outward ellipsoid normal (ECEF) at geodetic (lon, lat) in degrees."""
    lon_r = np.radians(lon)
    lat_r = np.radians(lat)
    return np.stack([np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r), np.sin(lat_r)], axis=-1)


@dataclass(frozen=True)
class CircularOrbit:
    """A circular Keplerian orbit seen from the rotating Earth.

    ``t`` is seconds since the orbit's epoch; at ``t = 0`` the Earth-fixed and inertial frames
    coincide. ``raan`` and ``u0`` (argument of latitude at the epoch) are in radians.
    """

    radius: float
    inclination: float
    raan: float
    u0: float

    @property
    def mean_motion(self) -> float:
        return float(np.sqrt(GM / self.radius**3))

    def state(self, t: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position (m), velocity (m/s) and acceleration (m/s^2), ECEF, shape ``t.shape + (3,)``."""
        t = np.asarray(t, dtype=np.float64)
        n = self.mean_motion
        u = self.u0 + n * t
        cu, su = np.cos(u), np.sin(u)
        cO, sO = np.cos(self.raan), np.sin(self.raan)
        ci, si = np.cos(self.inclination), np.sin(self.inclination)
        a = self.radius
        r = a * np.stack([cu * cO - su * ci * sO, cu * sO + su * ci * cO, su * si], axis=-1)
        rd = a * n * np.stack([-su * cO - cu * ci * sO, -su * sO + cu * ci * cO, cu * si], axis=-1)
        rdd = -(n**2) * r
        th = OMEGA_EARTH * t
        c, s = np.cos(th)[..., None], np.sin(th)[..., None]
        w = OMEGA_EARTH

        def rot(v: np.ndarray) -> np.ndarray:  # M(theta) v, M = [[c, s, 0], [-s, c, 0], [0, 0, 1]]
            return np.stack([c[..., 0] * v[..., 0] + s[..., 0] * v[..., 1], -s[..., 0] * v[..., 0] + c[..., 0] * v[..., 1], v[..., 2]], -1)

        def drot(v: np.ndarray) -> np.ndarray:  # dM/dt v
            return w * np.stack(
                [-s[..., 0] * v[..., 0] + c[..., 0] * v[..., 1], -c[..., 0] * v[..., 0] - s[..., 0] * v[..., 1], np.zeros_like(v[..., 2])],
                -1,
            )

        def ddrot(v: np.ndarray) -> np.ndarray:  # d2M/dt2 v
            return -(w**2) * np.stack(
                [c[..., 0] * v[..., 0] + s[..., 0] * v[..., 1], -s[..., 0] * v[..., 0] + c[..., 0] * v[..., 1], np.zeros_like(v[..., 2])],
                -1,
            )

        pos = rot(r)
        vel = rot(rd) + drot(r)
        acc = rot(rdd) + 2.0 * drot(rd) + ddrot(r)
        return pos, vel, acc

    def zero_doppler(self, target: np.ndarray, t0: npt.ArrayLike = 0.0, iterations: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """Zero-Doppler time (s since epoch) and slant range (m) of ECEF targets (..., 3).

        Newton on f(t) = (P - S(t)) . V(t) with the exact derivative; converges to < 1 ns.
        """
        t = np.broadcast_to(np.asarray(t0, dtype=np.float64), target.shape[:-1]).copy()
        for _ in range(iterations):
            s, v, a = self.state(t)
            d = target - s
            f = np.einsum("...i,...i", d, v)
            fp = np.einsum("...i,...i", d, a) - np.einsum("...i,...i", v, v)
            step = f / fp
            t -= step
            if np.nanmax(np.abs(step)) < 1e-10:
                break
        s, _, _ = self.state(t)
        return t, np.linalg.norm(target - s, axis=-1)
