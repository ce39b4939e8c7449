"""Radiometric calibration and thermal-noise look-up tables, sensor-agnostic.

Convention (the Sentinel-1 one, which Envisat and ICEYE constants map onto):

    intensity_X = (|DN|^2 - N) / A_X^2        X in {sigma0, beta0, gamma0}

with ``A_X`` the calibration LUT (amplitude divisor, dimensionless) and ``N`` the thermal-noise
power in DN^2. Both LUTs are given at (line, pixel) nodes of the swath raster and interpolated
bilinearly in (line, pixel), with linear extrapolation past the outermost nodes, as in the
Sentinel-1 product specification. Calibrated intensities are linear (m2 m-2).

Thermal-noise handling (``thermal_noise`` argument of :meth:`Acquisition.measurement`):
``"keep"`` (default) does not remove noise; ``"subtract"`` subtracts ``N`` and keeps negative
values (unbiased for averaging, ESA's recommendation before multilooking); ``"clip"`` subtracts
and sets negative results to 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

CalibrationName = Literal["sigma0", "beta0", "gamma0"]
ThermalNoiseMode = Literal["keep", "subtract", "clip"]
CALIBRATIONS: tuple[CalibrationName, ...] = ("sigma0", "beta0", "gamma0")


@dataclass(frozen=True, eq=False)
class CalibrationLUT:
    """Calibration LUTs on a regular (line, pixel) node grid.

    ``luts`` maps ``sigma0`` / ``beta0`` / ``gamma0`` (and optionally ``dn``) to arrays of shape
    ``(len(line), len(pixel))``. ``absolute_constant`` is informative (e.g. S1's
    absoluteCalibrationConstant, already folded into the LUTs).
    """

    line: npt.NDArray[np.float64]
    pixel: npt.NDArray[np.float64]
    luts: dict[str, npt.NDArray[np.float64]]
    absolute_constant: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "line", np.asarray(self.line, dtype=np.float64))
        object.__setattr__(self, "pixel", np.asarray(self.pixel, dtype=np.float64))

    @classmethod
    def constant(cls, values: dict[str, float], shape: tuple[int, int]) -> CalibrationLUT:
        """A LUT constant over a raster of ``shape`` (for sensors with a single constant)."""
        line = np.array([0.0, max(shape[0] - 1, 1)])
        pixel = np.array([0.0, max(shape[1] - 1, 1)])
        return cls(line, pixel, {k: np.full((2, 2), float(v)) for k, v in values.items()})

    def interpolate(self, name: str, lines: npt.ArrayLike, pixels: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Bilinear value of LUT ``name`` at the outer product of ``lines`` x ``pixels``."""
        return _bilinear(self.line, self.pixel, self.luts[name], lines, pixels)


@dataclass(frozen=True, eq=False)
class NoiseRangeVector:
    """One range noise vector: ``values`` (DN^2) at ``pixel`` positions of raster ``line``."""

    line: float
    pixel: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class NoiseAzimuthBlock:
    """An azimuth noise block: ``values`` (scale factors) at ``line`` positions, applying to lines
    ``first_line .. last_line`` and samples ``first_sample .. last_sample`` (inclusive)."""

    first_line: int
    last_line: int
    first_sample: int
    last_sample: int
    line: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class ThermalNoise:
    """Thermal noise power ``N(line, pixel) = range(line, pixel) * azimuth(line, pixel)`` in DN^2.

    Range vectors may have different pixel positions per line (as in Sentinel-1 GRD products):
    each vector is interpolated along its own pixels, then linearly between vector lines.
    Without azimuth blocks the azimuth factor is 1.
    """

    range_vectors: tuple[NoiseRangeVector, ...]
    azimuth_blocks: tuple[NoiseAzimuthBlock, ...] = field(default_factory=tuple)

    def interpolate(self, lines: npt.ArrayLike, pixels: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Noise power (DN^2) at the outer product of ``lines`` x ``pixels``."""
        lines = np.asarray(lines, dtype=np.float64)
        pixels = np.asarray(pixels, dtype=np.float64)
        vec_lines = np.array([v.line for v in self.range_vectors])
        # each vector along its own pixels (linear, clamped at its ends), then linear in line
        rows = np.stack([np.interp(pixels, v.pixel, v.values) for v in self.range_vectors])
        if vec_lines.size == 1:
            out = np.broadcast_to(rows[0], (lines.size, pixels.size)).copy()
        else:
            i = np.clip(np.searchsorted(vec_lines, lines, "right") - 1, 0, vec_lines.size - 2)
            w = ((lines - vec_lines[i]) / (vec_lines[i + 1] - vec_lines[i]))[:, None]
            out = rows[i] * (1.0 - w) + rows[i + 1] * w
        for block in self.azimuth_blocks:
            lsel = (lines >= block.first_line) & (lines <= block.last_line)
            psel = (pixels >= block.first_sample) & (pixels <= block.last_sample)
            if not lsel.any() or not psel.any():
                continue
            scale = np.interp(lines[lsel], block.line, block.values)
            out[np.ix_(lsel, psel)] *= scale[:, None]
        return out


def _linear_weights(nodes: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left node index and weight of linear interpolation, extrapolating linearly past the ends."""
    i = np.clip(np.searchsorted(nodes, x, "right") - 1, 0, nodes.size - 2)
    return i, (x - nodes[i]) / (nodes[i + 1] - nodes[i])


def _bilinear(
    node_lines: np.ndarray, node_pixels: np.ndarray, table: np.ndarray, lines: npt.ArrayLike, pixels: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Separable bilinear interpolation (linear extrapolation) of ``table`` at lines x pixels."""
    lines = np.atleast_1d(np.asarray(lines, dtype=np.float64))
    pixels = np.atleast_1d(np.asarray(pixels, dtype=np.float64))
    table = np.asarray(table, dtype=np.float64)
    if node_pixels.size == 1:
        rows = np.repeat(table[:, :1], pixels.size, axis=1)
    else:
        j, wp = _linear_weights(node_pixels, pixels)
        rows = table[:, j] * (1.0 - wp) + table[:, j + 1] * wp  # (node lines, pixels)
    if node_lines.size == 1:
        return np.repeat(rows[:1], lines.size, axis=0)
    i, wl = _linear_weights(node_lines, lines)
    return rows[i] * (1.0 - wl)[:, None] + rows[i + 1] * wl[:, None]
