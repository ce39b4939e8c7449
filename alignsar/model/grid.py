"""Radar grids: the (azimuth, range) sampling of one swath.

Conventions: integer line / pixel indices are pixel centres; azimuth times are zero-Doppler UTC
``datetime64[ns]``; ``slant_range_time`` is the two-way travel time in seconds; ground range and
slant range are in metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

SPEED_OF_LIGHT = 299_792_458.0  # m/s
NS = np.timedelta64(1, "ns")


@dataclass(frozen=True, eq=False)
class SlantGroundConversion:
    """Slant-range <-> ground-range polynomials of a GRD product, tabulated in azimuth time.

    ``ground_range = sum_k srgr[k] * (slant_range - sr0) ** k`` and
    ``slant_range = sum_k grsr[k] * (ground_range - gr0) ** k`` (metres), coefficients linearly
    interpolated in azimuth time between the tabulated epochs (clamped at the ends).
    """

    azimuth_time: npt.NDArray[np.datetime64]
    sr0: npt.NDArray[np.float64]
    srgr: npt.NDArray[np.float64]
    gr0: npt.NDArray[np.float64]
    grsr: npt.NDArray[np.float64]

    def _weights(self, azimuth_time: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        t = ((np.asarray(azimuth_time, dtype="datetime64[ns]") - self.azimuth_time[0]) / NS).astype(float)
        nodes = ((self.azimuth_time - self.azimuth_time[0]) / NS).astype(float)
        if nodes.size == 1:
            return np.zeros(t.shape, dtype=int), np.zeros(t.shape)
        i = np.clip(np.searchsorted(nodes, t, "right") - 1, 0, nodes.size - 2)
        w = np.clip((t - nodes[i]) / (nodes[i + 1] - nodes[i]), 0.0, 1.0)
        return i, w

    def _interp(self, table: np.ndarray, i: np.ndarray, w: np.ndarray) -> np.ndarray:
        if table.shape[0] == 1:
            return np.broadcast_to(table[0], w.shape + table.shape[1:])
        wb = w.reshape(w.shape + (1,) * (table.ndim - 1))
        return table[i] * (1 - wb) + table[np.minimum(i + 1, table.shape[0] - 1)] * wb

    def ground_to_slant_range(self, azimuth_time: npt.ArrayLike, ground_range: npt.ArrayLike) -> np.ndarray:
        """Slant range (m) of ground range (m) at azimuth time (broadcast)."""
        at, gr = np.broadcast_arrays(np.asarray(azimuth_time, dtype="datetime64[ns]"), np.asarray(ground_range, float))
        i, w = self._weights(at)
        coef = self._interp(self.grsr, i, w)
        x = gr - self._interp(self.gr0, i, w)
        return np.polynomial.polynomial.polyval(x, np.moveaxis(coef, -1, 0), tensor=False)

    def slant_to_ground_range(self, azimuth_time: npt.ArrayLike, slant_range: npt.ArrayLike) -> np.ndarray:
        """Ground range (m) of slant range (m) at azimuth time (broadcast).

        The annotated ``srgr`` and ``grsr`` polynomials are inverse only to a few cm; to keep
        slant -> ground -> slant round trips exact this inverts ``grsr`` (Newton, seeded by ``srgr``).
        """
        at = np.asarray(azimuth_time, dtype="datetime64[ns]")
        return self.slant_to_ground_range_seconds((at - self.azimuth_time[0]) / NS * 1e-9, slant_range)

    def slant_to_ground_range_seconds(self, seconds: npt.ArrayLike, slant_range: npt.ArrayLike) -> np.ndarray:
        """:meth:`slant_to_ground_range` with azimuth time as float seconds since ``azimuth_time[0]``."""
        from ._poly import slant_to_ground

        t, sr = np.broadcast_arrays(np.asarray(seconds, float), np.asarray(slant_range, float))
        nodes = (self.azimuth_time - self.azimuth_time[0]) / NS * 1e-9
        out = slant_to_ground(
            np.ascontiguousarray(t.ravel()),
            np.ascontiguousarray(sr.ravel()),
            nodes,
            self.sr0,
            np.ascontiguousarray(self.srgr),
            self.gr0,
            np.ascontiguousarray(self.grsr),
        )
        return out.reshape(sr.shape)


@dataclass(frozen=True)
class Burst:
    """One TOPS burst of a swath raster.

    ``first_line`` is the burst's first line in the swath raster; ``azimuth_time`` the zero-Doppler
    time of that line; ``first_valid_sample`` / ``last_valid_sample`` per burst line (-1 = invalid).
    """

    index: int
    azimuth_time: np.datetime64
    first_line: int
    lines: int
    first_valid_sample: tuple[int, ...]
    last_valid_sample: tuple[int, ...]
    azimuth_anx_time: float | None = None
    burst_id: int | None = None

    @property
    def valid_lines(self) -> tuple[int, int]:
        """Half-open range of burst-relative lines with valid samples."""
        valid = np.flatnonzero(np.asarray(self.first_valid_sample) >= 0)
        if valid.size == 0:
            return (0, 0)
        return int(valid[0]), int(valid[-1]) + 1

    @property
    def valid_samples(self) -> tuple[int, int]:
        """Half-open range of samples valid on every valid line of the burst."""
        first = np.asarray(self.first_valid_sample)
        last = np.asarray(self.last_valid_sample)
        ok = first >= 0
        if not ok.any():
            return (0, 0)
        return int(first[ok].max()), int(last[ok].min()) + 1


@dataclass(frozen=True)
class ProcessingSpectrum:
    """The processed spectrum of a swath's focused (complex) data, per axis: the bandwidth kept
    (Hz: azimuth Doppler bandwidth, range chirp bandwidth) and the spectral weighting window, a
    generalised Hamming window ``coefficient + (1 - coefficient) cos(2 pi f / bandwidth)`` over the
    band (1.0: rectangular; Sentinel-1 annotates ``windowType`` Hamming with ``windowCoefficient``
    0.70 in azimuth and 0.75 in range). Describes single-look data sampled on the swath's own slant-
    range grid; a multilooked or ground-range product keeps its source's values for reference."""

    azimuth_bandwidth: float
    range_bandwidth: float
    azimuth_window_coefficient: float = 1.0
    range_window_coefficient: float = 1.0

    def fractions(self, grid: RadarGrid) -> tuple[float, float]:
        """The bandwidths as fractions of the grid's sampling rates (azimuth: times the azimuth
        time interval; range: over the range sampling rate)."""
        return self.azimuth_bandwidth * grid.azimuth_time_interval, self.range_bandwidth / grid.range_sampling_rate


@dataclass(frozen=True, eq=False)
class RadarGrid:
    """The sampling of one swath raster in zero-Doppler azimuth time and range.

    Slant-range products (SLC) define range by ``first_slant_range_time`` (two-way s, pixel 0) and
    ``range_sampling_rate`` (Hz). Ground-range products (GRD) define it by ``ground_range_spacing``
    (m, pixel 0 at ground range 0) and the :class:`SlantGroundConversion` polynomials; for them
    ``first_slant_range_time`` is the annotated near-range time and ``range_sampling_rate`` the
    radar's (informative only).
    For TOPS SLC swaths ``bursts`` lists the bursts; the raster then stacks them and
    ``first_azimuth_time`` / ``azimuth_time_interval`` describe the first burst.

    ``bistatic_reference_time`` (two-way s) states the product's azimuth timing convention: when set,
    the line of a target whose zero-Doppler time is ``t`` and two-way range time ``tau`` is the line
    whose annotated time is ``t - (tau - bistatic_reference_time) / 2`` (Sentinel-1: the geolocation
    grid holds zero-Doppler times, the image lines are offset by the bistatic delay relative to
    mid-swath). ``None``: line times are zero-Doppler times.
    """

    swath: str
    shape: tuple[int, int]
    first_azimuth_time: np.datetime64
    azimuth_time_interval: float
    first_slant_range_time: float
    range_sampling_rate: float
    projection: Literal["slant_range", "ground_range"] = "slant_range"
    ground_range_spacing: float | None = None
    azimuth_pixel_spacing: float | None = None
    range_pixel_spacing: float | None = None
    slant_ground: SlantGroundConversion | None = None
    bursts: tuple[Burst, ...] = field(default_factory=tuple)
    bistatic_reference_time: float | None = None

    @property
    def lines(self) -> int:
        return self.shape[0]

    @property
    def samples(self) -> int:
        return self.shape[1]

    @property
    def is_tops(self) -> bool:
        return len(self.bursts) > 0

    @property
    def slant_range_pixel_spacing(self) -> float:
        """Slant-range sample spacing in metres (c / (2 fs))."""
        return SPEED_OF_LIGHT / (2.0 * self.range_sampling_rate)

    def azimuth_time(self, lines: npt.ArrayLike | None = None) -> npt.NDArray[np.datetime64]:
        """Zero-Doppler time of raster lines (all lines by default; burst-aware for TOPS)."""
        lines = np.arange(self.lines) if lines is None else np.asarray(lines)
        if not self.bursts:
            offset = np.rint(lines * self.azimuth_time_interval * 1e9).astype(np.int64)
            return self.first_azimuth_time + offset.astype("timedelta64[ns]")
        out = np.empty(lines.shape, dtype="datetime64[ns]")
        lpb = self.bursts[0].lines
        b = np.clip(np.floor_divide(lines, lpb).astype(int), 0, len(self.bursts) - 1)
        starts = np.array([bu.azimuth_time for bu in self.bursts], dtype="datetime64[ns]")
        rel = lines - b * lpb
        out[...] = starts[b] + np.rint(rel * self.azimuth_time_interval * 1e9).astype(np.int64).astype("timedelta64[ns]")
        return out

    def slant_range_time(self, pixels: npt.ArrayLike | None = None) -> npt.NDArray[np.float64]:
        """Two-way slant-range time (s) of pixels of a slant-range grid."""
        if self.projection != "slant_range":
            raise ValueError("slant_range_time(pixels) needs azimuth time on ground-range grids: use slant_range_time_at")
        pixels = np.arange(self.samples) if pixels is None else np.asarray(pixels, dtype=float)
        return self.first_slant_range_time + pixels / self.range_sampling_rate

    def ground_range(self, pixels: npt.ArrayLike | None = None) -> npt.NDArray[np.float64]:
        """Ground range (m) of pixels of a ground-range grid."""
        if self.ground_range_spacing is None:
            raise ValueError("not a ground-range grid")
        pixels = np.arange(self.samples) if pixels is None else np.asarray(pixels, dtype=float)
        return pixels * self.ground_range_spacing

    def slant_range_time_at(self, lines: npt.ArrayLike, pixels: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Two-way slant-range time (s) at (line, pixel) for either projection (broadcast)."""
        lines, pixels = np.broadcast_arrays(np.asarray(lines, float), np.asarray(pixels, float))
        if self.projection == "slant_range":
            return self.first_slant_range_time + pixels / self.range_sampling_rate
        assert self.slant_ground is not None and self.ground_range_spacing is not None
        at = self.azimuth_time(lines)
        sr = self.slant_ground.ground_to_slant_range(at, pixels * self.ground_range_spacing)
        return 2.0 * sr / SPEED_OF_LIGHT
