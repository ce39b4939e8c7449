"""Every acquisition of a cube onto its reference grid: the primary's radar grid or a map GeoBox.

:class:`ReferenceGrid` names the grid (dims, coordinates, shape, chunks). :class:`Aligner` gives,
for one acquisition and polarisation, an :class:`Aligned` record: the raw digital numbers resampled
onto the grid (complex for SLC, amplitude for GRD), the fractional (line, pixel) position of every
grid pixel in the acquisition's own raster, and the coregistration quality record. Calibration is
applied *after* resampling, with the acquisition's own LUT (and thermal-noise LUT) evaluated at
those positions, so complex data keep their phase: ``s = DN / A``, ``I = (|DN|^2 - N) / A^2``.

Radar grid: the primary is read as it is; every other acquisition goes through
:func:`alignsar.coregistration.coregister` (its method), once per acquisition: the other
polarisations reuse the offsets. Map grid: every acquisition (the primary too) is geocoded with
its own lookup table (``sinc`` for complex data, ``bilinear`` for detected data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import dask.array as da
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from ..coregistration import CoregConfig, QualityRecord, coregister
from ..coregistration.api import geometric_phase
from ..errors import ConfigError, UnsupportedProductError
from ..geometry import DEM
from ..geometry.geocode import default_geobox, lookup_table, resample_at
from ..model import Acquisition


@dataclass(eq=False)
class ReferenceGrid:
    """The grid every date is aligned on. ``kind`` ``radar``: the primary's swath raster (optionally
    the ``window`` (line0, line1, pixel0, pixel1), end exclusive); ``map``: ``geobox``."""

    kind: Literal["radar", "map"]
    primary: Acquisition
    swath: str | None
    geobox: GeoBox | None = None
    window: tuple[int, int, int, int] | None = None
    chunks: int = 512

    @property
    def dims(self) -> tuple[str, str]:
        return ("azimuth", "range") if self.kind == "radar" else ("y", "x")

    @property
    def shape(self) -> tuple[int, int]:
        if self.kind == "map":
            assert self.geobox is not None
            return (int(self.geobox.shape[0]), int(self.geobox.shape[1]))
        l0, l1, p0, p1 = self.bounds
        return (l1 - l0, p1 - p0)

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """Radar grid: (line0, line1, pixel0, pixel1) of the primary raster, end exclusive."""
        n0, n1 = self.primary.swath(self.swath).grid.shape
        if self.window is None:
            return (0, n0, 0, n1)
        l0, l1, p0, p1 = self.window
        if not (0 <= l0 < l1 <= n0 and 0 <= p0 < p1 <= n1):
            raise ConfigError("reference.window", f"{self.window} is not inside the primary raster (0..{n0}, 0..{n1})")
        return (l0, l1, p0, p1)

    def coords(self) -> dict[str, Any]:
        """1-D coordinates: ``line`` / ``pixel`` (radar, primary raster indices) or ``y`` / ``x``
        (map, pixel centres in CRS units)."""
        if self.kind == "map":
            assert self.geobox is not None
            return {n: (n, np.asarray(self.geobox.coords[n].values)) for n in ("y", "x")}
        l0, l1, p0, p1 = self.bounds
        return {"line": ("azimuth", np.arange(l0, l1)), "pixel": ("range", np.arange(p0, p1))}

    def crop(self, data: Any) -> Any:
        """Crop a full-swath radar-grid array (dask / DataArray, last two dims) to the window."""
        if self.kind == "map" or self.window is None:
            return data
        l0, l1, p0, p1 = self.bounds
        return data[..., l0:l1, p0:p1]

    def positions(self) -> tuple[da.Array, da.Array]:
        """The primary raster (line, pixel) of every grid pixel (radar grids)."""
        l0, l1, p0, p1 = self.bounds
        lines = da.arange(l0, l1, chunks=self.chunks, dtype=np.float64)
        pixels = da.arange(p0, p1, chunks=self.chunks, dtype=np.float64)
        return (
            da.broadcast_to(lines[:, None], (l1 - l0, p1 - p0), chunks=(lines.chunks[0], pixels.chunks[0])),
            da.broadcast_to(pixels[None, :], (l1 - l0, p1 - p0), chunks=(lines.chunks[0], pixels.chunks[0])),
        )


def map_grid(primary: Acquisition, swath: str | None, crs: Any, resolution: float, bounds: tuple[float, float, float, float] | None) -> GeoBox:
    """The map GeoBox: ``bounds`` (in ``crs``) at ``resolution``, else the primary's footprint box."""
    if bounds is None:
        return default_geobox(primary, resolution=resolution, crs=crs, swath=swath)
    if crs is None:
        raise ConfigError("reference.crs", "bounds need a CRS")
    return GeoBox.from_bbox(bounds, crs=crs, resolution=resolution, tight=True)


@dataclass(eq=False)
class Aligned:
    """One acquisition and polarisation on the reference grid (lazy, dims of the grid)."""

    acquisition: Acquisition
    pol: str
    dn: da.Array
    lines: da.Array
    pixels: da.Array
    quality: QualityRecord | None
    swath: str | None

    @property
    def is_complex(self) -> bool:
        return bool(np.iscomplexobj(self.dn.dtype.type(0)))

    def _lut(self, fn: Any) -> da.Array:
        return da.map_blocks(lambda ln, px: fn(ln, px), self.lines, self.pixels, dtype=np.float64)

    def gain(self, calibration: str) -> da.Array:
        """The calibration LUT ``A`` (sigma0 / beta0 / gamma0) at every grid pixel."""
        lut = self.acquisition.calibration_lut(self.pol, self.swath)
        if calibration not in lut.luts:
            from ..errors import MissingDataError

            raise MissingDataError(self.acquisition.source_path, f"no {calibration} calibration LUT for {self.pol}")

        def values(ln: np.ndarray, px: np.ndarray) -> np.ndarray:
            return _scattered(lambda a, b: lut.interpolate(calibration, a, b), ln, px)

        return self._lut(values)

    def noise(self) -> da.Array:
        """Thermal noise power (DN^2) at every grid pixel."""
        noise = self.acquisition.source.noise(self.acquisition.swath(self.swath).name, self.pol)
        if noise is None:
            from ..errors import MissingDataError

            raise MissingDataError(self.acquisition.source_path, f"no thermal-noise annotation for {self.pol}")
        return self._lut(lambda ln, px: _scattered(noise.interpolate, ln, px))

    def intensity(self, calibration: str | None, thermal_noise: str = "keep") -> da.Array:
        """Calibrated intensity (linear) ``(|DN|^2 - N) / A^2``; raw ``|DN|^2`` without calibration."""
        power = (self.dn.real**2 + self.dn.imag**2) if self.is_complex else self.dn.astype(np.float32) ** 2
        power = power.astype(np.float32)
        if calibration is None:
            return power
        if thermal_noise != "keep":
            power = power - self.noise().astype(np.float32)
            if thermal_noise == "clip":
                power = da.maximum(power, 0.0)
        return (power / self.gain(calibration).astype(np.float32) ** 2).astype(np.float32)

    def complex(self, calibration: str | None) -> da.Array:
        """Calibrated complex samples ``DN / A`` (phase kept)."""
        if not self.is_complex:
            raise UnsupportedProductError(self.acquisition.source_path, "complex samples need an SLC product")
        if calibration is None:
            return self.dn
        return (self.dn / self.gain(calibration)).astype(np.complex64)


def _scattered(fn: Any, ln: np.ndarray, px: np.ndarray) -> np.ndarray:
    """Evaluate an outer-product LUT function ``fn(lines, pixels)`` at scattered positions, by
    bilinear interpolation on a coarse outer grid spanning them (LUTs are smooth)."""
    out = np.full(ln.shape, np.nan)
    ok = np.isfinite(ln) & np.isfinite(px)
    if not ok.any():
        return out
    gl = np.linspace(ln[ok].min(), ln[ok].max(), 17) if np.ptp(ln[ok]) > 0 else np.array([ln[ok].min()])
    gp = np.linspace(px[ok].min(), px[ok].max(), 65) if np.ptp(px[ok]) > 0 else np.array([px[ok].min()])
    table = np.asarray(fn(gl, gp), dtype=np.float64).reshape(gl.size, gp.size)
    from scipy.interpolate import RegularGridInterpolator

    if gl.size == 1 or gp.size == 1:
        axis_vals, tab = (gp, table[0]) if gl.size == 1 else (gl, table[:, 0])
        x = px[ok] if gl.size == 1 else ln[ok]
        out[ok] = np.interp(x, axis_vals, tab) if axis_vals.size > 1 else tab[0]
        return out
    out[ok] = RegularGridInterpolator((gl, gp), table, bounds_error=False, fill_value=None)((ln[ok], px[ok]))
    return out


@dataclass(eq=False)
class Aligner:
    """Aligns acquisitions onto ``grid`` (caches offsets / lookup tables per acquisition)."""

    grid: ReferenceGrid
    dem: DEM | None
    method: str = "dem_assisted"
    options: dict[str, Any] = field(default_factory=dict)
    _positions: dict[str, tuple[da.Array, da.Array, QualityRecord | None]] = field(default_factory=dict)

    def _cfg(self, acq: Acquisition) -> CoregConfig:
        """SNAP-named options over the product type's defaults."""
        return CoregConfig.from_mapping(dict(self.options), acq.product_type)

    def forget(self, acq: Acquisition) -> None:
        """Drop the cached positions of ``acq`` (once its dates are written)."""
        self._positions.pop(acq.source_path, None)

    def align(self, acq: Acquisition, pol: str) -> Aligned:
        """``acq``'s polarisation ``pol`` on the grid (see the module docstring)."""
        grid = self.grid
        swath = grid.swath
        if acq.product_type == "SLC" and acq.swath(swath).grid.is_tops and grid.kind == "radar":
            raise UnsupportedProductError(
                acq.source_path, "TOPS SLC cubes on a radar grid are not supported: use a map reference grid (geocoding) or GRD products"
            )
        key = acq.source_path
        raw = acq.measurement(pol, swath)
        complex_in = bool(np.iscomplexobj(raw.dtype.type(0)))
        if key not in self._positions:
            self._positions[key] = self._locate(acq, pol)
        lines, pixels, quality = self._positions[key]
        if grid.kind == "radar" and acq is grid.primary:
            dn = grid.crop(raw.data).rechunk(lines.chunks)
        else:
            kernel = self._cfg(acq).resampling if grid.kind == "radar" else ("sinc" if complex_in else "bilinear")
            dn = resample_at(raw, lines, pixels, kernel)
        return Aligned(acq, pol, dn, lines, pixels, quality, swath)

    def _locate(self, acq: Acquisition, pol: str) -> tuple[da.Array, da.Array, QualityRecord | None]:
        grid = self.grid
        if grid.kind == "map":
            assert grid.geobox is not None
            lut = lookup_table(acq, grid.geobox, self.dem, swath=grid.swath, chunks=grid.chunks)
            record = QualityRecord(
                method="geocode",
                primary=grid.primary.product_name,
                secondary=acq.product_name,
                resampling="sinc" if acq.product_type == "SLC" else "bilinear",
                notes=["geocoded onto the map grid with its own lookup table (orbit + DEM)"],
            )
            return lut["line"].data, lut["pixel"].data, record
        if acq is grid.primary:
            lines, pixels = grid.positions()
            return lines, pixels, None
        res = coregister(grid.primary, acq, self.method, pol=pol, swath=grid.swath, dem=self.dem, config=self._cfg(acq))  # type: ignore[arg-type]
        if res.offsets is None:
            raise ConfigError("coregistration.method", f"{self.method!r} gives no radar-grid offsets; use a map reference grid")
        lines, pixels = res.offsets.on_grid(chunks=grid.chunks)
        return grid.crop(lines), grid.crop(pixels), res.quality

    def geometric_phase(self, primary: Aligned, secondary: Aligned) -> da.Array | None:
        """Flat-earth + topographic phase (rad) of primary x conj(secondary) at every grid pixel
        (slant-range grids; None otherwise)."""
        p, s = primary.acquisition, secondary.acquisition
        if p.swath(self.grid.swath).grid.projection != "slant_range":
            return None

        def block(lp: np.ndarray, pp: np.ndarray, ls: np.ndarray, ps: np.ndarray) -> np.ndarray:
            out = geometric_phase(p, s, lp, pp, ls, ps, self.grid.swath)
            return np.zeros(lp.shape) if out is None else out

        return da.map_blocks(block, primary.lines, primary.pixels, secondary.lines, secondary.pixels, dtype=np.float64)


def to_dataarray(values: da.Array, grid: ReferenceGrid, name: str, attrs: dict[str, Any]) -> xr.DataArray:
    """A grid-shaped dask array as a named DataArray with the grid's dims and coordinates."""
    return xr.DataArray(values, dims=grid.dims, coords=grid.coords(), name=name, attrs=attrs)


__all__ = ["Aligned", "Aligner", "ReferenceGrid", "map_grid", "to_dataarray"]
