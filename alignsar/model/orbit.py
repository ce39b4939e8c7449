"""Orbit state vectors and their interpolation.

Positions are ECEF (the frame of the product's state vectors, e.g. Earth-fixed WGS84 for
Sentinel-1) in metres, velocities in m/s, accelerations in m/s^2, times UTC ``datetime64[ns]``.

Interpolation: a local Lagrange polynomial through the ``order`` state vectors nearest to each
interval (8 by default), built once as a piecewise polynomial (``scipy.interpolate.PPoly``) so that
millions of evaluations are vectorised and derivatives come for free. Velocity is by default the
same 8-point Lagrange interpolation of the annotated velocities (``velocity_source="vectors"``) and
acceleration its derivative; ``velocity_source="positions"`` differentiates the position polynomial
instead. Measured on the shared Sentinel-1 products, interpolated velocities reproduce the
annotation's geolocation grids best (<= 0.004 px in azimuth on all products); differentiated
positions leave up to 0.25 px on the S3 stripmap product, whose annotated positions and velocities
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.interpolate import PPoly

from ..errors import GeometryError

NS = np.timedelta64(1, "ns")


def to_datetime64(values: object) -> npt.NDArray[np.datetime64]:
    """Return ``values`` (strings, datetimes, datetime64) as a ``datetime64[ns]`` array."""
    return np.asarray(values, dtype="datetime64[ns]")


@dataclass(frozen=True)
class OrbitState:
    """Orbit interpolated at some times: arrays of shape ``times.shape + (3,)``."""

    position: npt.NDArray[np.float64]
    velocity: npt.NDArray[np.float64]
    acceleration: npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Orbit:
    """Time-tagged ECEF state vectors with an interpolator.

    ``source`` says where the vectors come from: ``annotation``, ``POEORB``, ``RESORB``,
    ``simulated``...; ``frame`` the reference frame as the product states it.
    """

    time: npt.NDArray[np.datetime64]
    position: npt.NDArray[np.float64]
    velocity: npt.NDArray[np.float64]
    source: str = "annotation"
    frame: str = "Earth Fixed"
    order: int = 8
    velocity_source: Literal["positions", "vectors"] = "vectors"
    reference_time: np.datetime64 = field(init=False)

    def __post_init__(self) -> None:
        time = to_datetime64(self.time)
        order = np.argsort(time, kind="stable")
        time = time[order]
        keep = np.concatenate([[True], np.diff(time) > np.timedelta64(0, "ns")])
        position = np.asarray(self.position, dtype=np.float64)[order][keep]
        velocity = np.asarray(self.velocity, dtype=np.float64)[order][keep]
        time = time[keep]
        if time.size < 2 or position.shape != (time.size, 3) or velocity.shape != position.shape:
            raise GeometryError(None, f"orbit needs >= 2 state vectors of shape (n, 3), got {position.shape}")
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "position", position)
        object.__setattr__(self, "velocity", velocity)
        object.__setattr__(self, "reference_time", time[0])

    def __len__(self) -> int:
        return int(self.time.size)

    @property
    def start(self) -> np.datetime64:
        return self.time[0]

    @property
    def stop(self) -> np.datetime64:
        return self.time[-1]

    def seconds(self, times: object) -> npt.NDArray[np.float64]:
        """Seconds (float64) since ``reference_time`` for UTC times (datetime64 or ISO strings)."""
        t = np.asarray(times)
        if not np.issubdtype(t.dtype, np.datetime64):
            t = to_datetime64(t)
        return (t - self.reference_time) / NS * 1e-9

    def datetimes(self, seconds: npt.ArrayLike) -> npt.NDArray[np.datetime64]:
        """Inverse of :meth:`seconds`: UTC ``datetime64[ns]``, rounded to the nearest ns."""
        ns = np.rint(np.asarray(seconds, dtype=np.float64) * 1e9).astype(np.int64)
        return self.reference_time + ns.astype("timedelta64[ns]")

    @cached_property
    def _t(self) -> npt.NDArray[np.float64]:
        return self.seconds(self.time)

    @cached_property
    def _position_poly(self) -> PPoly:
        return _lagrange_ppoly(self._t, self.position, self.order)

    @cached_property
    def _velocity_poly(self) -> PPoly:
        if self.velocity_source == "vectors":
            return _lagrange_ppoly(self._t, self.velocity, self.order)
        return self._position_poly.derivative(1)

    @cached_property
    def _acceleration_poly(self) -> PPoly:
        return self._velocity_poly.derivative(1)

    def _check_span(self, t: npt.NDArray[np.float64], margin: float) -> None:
        if t.size and (np.nanmin(t) < self._t[0] - margin or np.nanmax(t) > self._t[-1] + margin):
            lo = self.datetimes(np.nanmin(t))
            hi = self.datetimes(np.nanmax(t))
            raise GeometryError(
                None,
                f"orbit ({self.source}) covers {self.start} .. {self.stop}, asked for {lo} .. {hi}",
            )

    def interpolate_seconds(self, t: npt.ArrayLike, margin: float = 1.0) -> OrbitState:
        """State at ``t`` seconds since ``reference_time`` (float64 array of any shape).

        Raises :class:`GeometryError` when ``t`` leaves the span of the state vectors by more than
        ``margin`` seconds (no silent extrapolation).
        """
        t = np.asarray(t, dtype=np.float64)
        self._check_span(t, margin)
        return OrbitState(
            position=self._position_poly(t),
            velocity=self._velocity_poly(t),
            acceleration=self._acceleration_poly(t),
        )

    def interpolate(self, times: object, margin: float = 1.0) -> OrbitState:
        """State (position m, velocity m/s, acceleration m/s^2) at UTC times."""
        return self.interpolate_seconds(self.seconds(times), margin=margin)

    def crop(self, start: np.datetime64, stop: np.datetime64, pad: int = 8) -> Orbit:
        """The state vectors covering ``start .. stop`` plus ``pad`` vectors on each side."""
        i0 = max(int(np.searchsorted(self.time, to_datetime64(start), "right")) - 1 - pad, 0)
        i1 = min(int(np.searchsorted(self.time, to_datetime64(stop), "left")) + 1 + pad, len(self))
        return Orbit(
            self.time[i0:i1],
            self.position[i0:i1],
            self.velocity[i0:i1],
            source=self.source,
            frame=self.frame,
            order=self.order,
            velocity_source=self.velocity_source,
        )


def _lagrange_ppoly(t: npt.NDArray[np.float64], values: npt.NDArray[np.float64], order: int) -> PPoly:
    """Piecewise polynomial that equals, on each interval ``[t_i, t_i+1]``, the Lagrange polynomial
    through the ``order`` samples centred on that interval (fewer at the ends if needed)."""
    n = t.size
    k = min(order, n)
    n_seg = n - 1
    starts = np.clip(np.arange(n_seg) - (k // 2 - 1), 0, n - k)
    idx = starts[:, None] + np.arange(k)[None, :]  # (n_seg, k) node indices
    h = t[1:] - t[:-1]  # segment lengths (s)
    # nodes in the local, normalised variable u = (t - t_i) / h_i: small integers for regular orbits
    u = (t[idx] - t[:-1, None]) / h[:, None]
    coeffs = np.empty((k, n_seg, values.shape[1]))
    for s in range(n_seg):
        basis = np.zeros((k, k))  # basis[j] = polynomial coefficients (ascending) of l_j(u)
        for j in range(k):
            others = np.delete(u[s], j)
            num = np.polynomial.polynomial.polyfromroots(others)
            basis[j] = num / np.prod(u[s, j] - others)
        ascending = basis.T @ values[idx[s]]  # (k, 3): sum_j y_j l_j(u)
        # PPoly wants descending powers of (t - t_i): c_m / h^m
        scale = h[s] ** np.arange(k)
        coeffs[:, s, :] = (ascending / scale[:, None])[::-1]
    return PPoly(coeffs, t, extrapolate=True)
