"""Sentinel-1 TOPS bursts: azimuth deramping / reramping and enhanced spectral diversity (ESD).

In a TOPS burst the antenna sweeps from backward to forward, so the Doppler centroid of the focused
data drifts linearly along the burst (several kHz across it, far beyond the azimuth sampling rate):
any interpolation, Fourier shift or oversampling in azimuth must work on the deramped burst.

Azimuth phase ramp of burst data (rad), after the Sentinel-1 IPF definition of the deramping
function (ESA S1-TN-MDA-52-7445), at burst-relative zero-Doppler time ``eta`` (s, 0 at the burst's
mid line) and two-way slant-range time ``tau`` (s)::

    ks      = 2 |v| / lambda * k_psi                  Doppler rate of the steering (Hz/s)
    ka(tau) = azimuth FM rate (annotation, Hz/s, < 0)
    kt(tau) = ka ks / (ka - ks)                      Doppler centroid rate of the data (Hz/s)
    fdc(tau)  = data Doppler centroid (annotation, Hz)
    eta_c(tau) = -fdc / ka,  eta_ref = eta_c(tau) - eta_c(tau_mid)
    psi(eta, tau) = pi kt (eta - eta_ref)^2 + 2 pi fdc (eta - eta_ref)

``psi`` is the phase the data carry (its derivative / 2 pi is the local Doppler centroid), so
``data * exp(-1j psi)`` is the deramped (baseband) burst and resampled samples are reramped with
``exp(+1j psi)`` evaluated at the positions they were taken from (phase preserving).

ESD: after coregistration, the interferograms of two consecutive bursts over their overlap see the
same ground with Doppler centroids ``delta_f = kt * T_cycle`` apart, so a residual azimuth
misregistration ``d`` (s) leaves a phase ``2 pi delta_f d`` in their double difference.
:func:`esd_shift` turns it into lines (unambiguous for ``|d| < 1 / (2 delta_f)``, about 0.05 lines
for IW: cross-correlation or the geometry must come first).

Supported: bursts of TOPS SLC swaths (IW, EW) one at a time (:func:`burst_view`), any resampling
kernel, ESD for consecutive bursts whose overlap has valid samples. Not supported: resampling across
burst boundaries (each output burst takes its samples from one secondary burst), range-dependent
ESD (one constant azimuth correction per pair).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import xarray as xr

from ..errors import MissingDataError
from ..model import Acquisition, ProductSource, RadarGrid, Swath
from ..model.calibration import CalibrationLUT, ThermalNoise

RampFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _seconds(t: np.datetime64) -> float:
    return float(t.astype("datetime64[ns]").astype(np.int64)) * 1e-9


def azimuth_ramp(acq: Acquisition, swath: str | None = None, burst: int = 0) -> RampFunction:
    """The phase ramp ``psi(line, pixel)`` (rad, see the module docstring) of burst ``burst`` as a
    function of burst-relative (fractional) lines and pixels of a slant-range TOPS swath."""
    sw = acq.swath(swath)
    grid = sw.grid
    if not grid.is_tops:
        raise MissingDataError(acq.source_path, f"swath {sw.name} is not a TOPS swath (no bursts)")
    if sw.doppler is None or not sw.doppler.fm_rate or not sw.doppler.doppler_centroid:
        raise MissingDataError(acq.source_path, f"swath {sw.name} has no azimuth FM rate / Doppler centroid annotation")
    b = grid.bursts[burst]
    dt = grid.azimuth_time_interval
    t_mid = b.azimuth_time + np.timedelta64(round(b.lines / 2 * dt * 1e9), "ns")
    speed = float(np.linalg.norm(acq.orbit.interpolate(np.array([t_mid])).velocity[0]))
    ks = 2.0 * speed / acq.wavelength * sw.doppler.azimuth_steering_rate
    fm = sw.doppler.fm_rate_at(t_mid)
    dc = sw.doppler.doppler_centroid_at(t_mid)
    tau_mid = grid.slant_range_time(grid.samples / 2)
    eta_c_mid = -dc(tau_mid) / fm(tau_mid)
    half = b.lines / 2

    def psi(lines: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        tau = grid.slant_range_time(pixels)
        ka, fdc = fm(tau), dc(tau)
        kt = ka * ks / (ka - ks)
        eta = (np.asarray(lines, dtype=np.float64) - half) * dt - (-fdc / ka - eta_c_mid)
        return np.pi * kt * eta**2 + 2 * np.pi * fdc * eta

    return psi


def doppler_centroid_rate(acq: Acquisition, swath: str | None = None, burst: int = 0, pixel: float | None = None) -> float:
    """Doppler centroid rate ``kt`` (Hz/s) of the burst data at ``pixel`` (mid-swath by default)."""
    psi = azimuth_ramp(acq, swath, burst)
    grid = acq.swath(swath).grid
    p = np.array([grid.samples / 2 if pixel is None else pixel])
    h = 1.0
    d2 = (psi(np.array([h]), p) - 2 * psi(np.array([0.0]), p) + psi(np.array([-h]), p)) / (h * grid.azimuth_time_interval) ** 2
    return float(d2[0] / (2 * np.pi))


class _BurstSource(ProductSource):
    """The pixels of one burst of a parent product's swath, as if the burst were the whole swath."""

    def __init__(self, parent: ProductSource, first_line: int, lines: int, first_valid: npt.NDArray, last_valid: npt.NDArray) -> None:
        self.parent, self.first_line, self.lines = parent, first_line, lines
        self.first_valid, self.last_valid = first_valid, last_valid

    def open_raster(self, swath: str, pol: str) -> xr.DataArray:
        raw = self.parent.open_raster(swath, pol).isel(line=slice(self.first_line, self.first_line + self.lines))
        cols = np.arange(raw.sizes["pixel"])
        ok = (self.first_valid[:, None] >= 0) & (cols[None, :] >= self.first_valid[:, None]) & (cols[None, :] <= self.last_valid[:, None])
        nan = np.array(np.nan + 0j if np.iscomplexobj(raw.dtype.type(0)) else np.nan, dtype=np.result_type(raw.dtype, np.float32))
        masked = raw.where(xr.DataArray(ok, dims=("line", "pixel")), nan)
        return masked.assign_coords(line=np.arange(self.lines))

    def calibration(self, swath: str, pol: str) -> CalibrationLUT:
        lut = self.parent.calibration(swath, pol)
        return dataclasses.replace(lut, line=lut.line - self.first_line)

    def noise(self, swath: str, pol: str) -> ThermalNoise | None:
        # noise vectors are indexed by swath lines and are not shifted here: burst views carry no
        # noise LUT, so thermal-noise removal on them raises MissingDataError (no noise annotation)
        return None


def burst_view(acq: Acquisition, swath: str | None, burst: int) -> Acquisition:
    """An acquisition whose swath ``swath`` is burst ``burst`` alone: lines ``0 .. lines - 1`` of the
    burst, azimuth times from the burst's own timing, no burst list, samples outside the burst's
    valid window NaN. Geometry and resampling then work on it like on a stripmap swath."""
    sw = acq.swath(swath)
    grid = sw.grid
    if not 0 <= burst < len(grid.bursts):
        raise MissingDataError(acq.source_path, f"burst {burst} out of range 0..{len(grid.bursts) - 1} in {sw.name}")
    b = grid.bursts[burst]
    bgrid: RadarGrid = dataclasses.replace(grid, shape=(b.lines, grid.samples), first_azimuth_time=b.azimuth_time, bursts=())
    t0, t1 = bgrid.azimuth_time(np.array([0, b.lines - 1]))
    geo = sw.geolocation
    times = geo["azimuth_time"].values
    rows = np.flatnonzero(((times >= t0) & (times <= t1)).any(axis=1))
    lo, hi = max(rows.min() - 1, 0) if rows.size else 0, min(rows.max() + 2, times.shape[0]) if rows.size else times.shape[0]
    geo = geo.isel(grid_line=slice(lo, hi))
    geo = geo.assign_coords(
        line=("grid_line", ((geo["azimuth_time"].values[:, 0] - t0) / np.timedelta64(1, "ns") * 1e-9) / grid.azimuth_time_interval)
    )
    bsw: Swath = dataclasses.replace(sw, grid=bgrid, geolocation=geo)
    source = _BurstSource(acq.source, b.first_line, b.lines, np.asarray(b.first_valid_sample), np.asarray(b.last_valid_sample))
    meta = dict(acq.metadata) | {"burst": {"swath": sw.name, "index": burst, "burst_id": b.burst_id, "first_line": b.first_line}}
    return dataclasses.replace(acq, swaths={sw.name: bsw}, source=source, metadata=meta)


def matching_burst(primary: Acquisition, secondary: Acquisition, swath: str | None, burst: int) -> int:
    """The secondary burst that images the same ground as primary burst ``burst``: the same burst ID
    when both products carry IDs, else the burst whose along-orbit position (time since the
    ascending node) is nearest."""
    bp = primary.swath(swath).grid.bursts[burst]
    bursts = secondary.swath(swath).grid.bursts
    if not bursts:
        raise MissingDataError(secondary.source_path, "secondary swath has no bursts")
    if bp.burst_id is not None and all(b.burst_id is not None for b in bursts):
        for b in bursts:
            if b.burst_id == bp.burst_id:
                return b.index
        raise MissingDataError(secondary.source_path, f"no burst with ID {bp.burst_id} in the secondary")
    anx = np.array([b.azimuth_anx_time if b.azimuth_anx_time is not None else np.nan for b in bursts])
    if bp.azimuth_anx_time is not None and np.isfinite(bp.azimuth_anx_time) and np.isfinite(anx).all():
        # time since the ascending node is the along-orbit position: equal for the same ground on a repeat pass
        return int(np.argmin(np.abs(anx - bp.azimuth_anx_time)))
    return min(range(len(bursts)), key=lambda k: abs(_seconds(bursts[k].azimuth_time) - _seconds(bp.azimuth_time)))


def overlap_lines(grid: RadarGrid, burst: int) -> tuple[slice, slice]:
    """Burst-relative line slices of burst ``burst`` and burst ``burst + 1`` that image the same
    zero-Doppler times (their valid overlap)."""
    b0, b1 = grid.bursts[burst], grid.bursts[burst + 1]
    dt = grid.azimuth_time_interval
    shift = round((_seconds(b1.azimuth_time) - _seconds(b0.azimuth_time)) / dt)  # line k of b1 = line k + shift of b0
    v0, v1 = b0.valid_lines, b1.valid_lines
    start, stop = max(v0[0], v1[0] + shift), min(v0[1], v1[1] + shift)
    if stop <= start:
        return slice(0, 0), slice(0, 0)
    return slice(start, stop), slice(start - shift, stop - shift)


@dataclasses.dataclass(frozen=True)
class ESDEstimate:
    """ESD azimuth correction: ``shift_lines`` (secondary minus primary, lines) and per-overlap values."""

    shift_lines: float
    per_overlap_lines: tuple[float, ...]
    coherence: tuple[float, ...]
    doppler_difference_hz: tuple[float, ...]


def esd_shift(
    primary_bursts: list[np.ndarray],
    secondary_bursts: list[np.ndarray],
    ramps: list[RampFunction],
    overlaps: list[tuple[slice, slice]],
    azimuth_time_interval: float,
) -> ESDEstimate:
    """Residual azimuth misregistration from the burst overlaps (see the module docstring).

    ``primary_bursts[k]`` / ``secondary_bursts[k]``: complex burst ``k`` of the primary and of the
    coregistered secondary (same shape), ``ramps[k]`` the primary's :func:`azimuth_ramp` of burst
    ``k``, ``overlaps[k]`` the line slices of bursts ``k`` and ``k + 1`` over their common overlap.
    The returned shift (lines, secondary minus primary) is the coherence-weighted mean; add it to the
    secondary azimuth positions and resample again.
    """
    phases, weights, dfs, coh = [], [], [], []
    for k, (s0, s1) in enumerate(overlaps):
        if s0.stop - s0.start < 2:
            continue
        p0, q0 = primary_bursts[k][s0], secondary_bursts[k][s0]
        p1, q1 = primary_bursts[k + 1][s1], secondary_bursts[k + 1][s1]
        ifg0, ifg1 = p0 * np.conj(q0), p1 * np.conj(q1)
        dd = ifg0 * np.conj(ifg1)
        ok = np.isfinite(dd)
        if ok.sum() < 16:
            continue
        rows = np.arange(s0.start, s0.stop, dtype=np.float64)
        rows1 = np.arange(s1.start, s1.stop, dtype=np.float64)
        cols = np.arange(p0.shape[1], dtype=np.float64)
        # Doppler centroid difference (Hz) between the two looks, per overlap pixel
        dpsi0 = np.gradient(ramps[k](rows[:, None], cols[None, :]), axis=0)
        dpsi1 = np.gradient(ramps[k + 1](rows1[:, None], cols[None, :]), axis=0)
        df = (dpsi0 - dpsi1) / (2 * np.pi * azimuth_time_interval)
        total = np.sum(dd[ok])
        # double-difference phase 2 pi df d_time with d_time the secondary-minus-primary shift (s):
        # a secondary sampled d lines late carries exp(-j 2 pi f d dt) relative to the primary
        phases.append(float(np.angle(total)))
        mean_df = float(np.mean(df[ok]))
        dfs.append(mean_df)
        c = float(np.abs(total) / np.sqrt(np.sum(np.abs(ifg0[ok]) ** 2) * np.sum(np.abs(ifg1[ok]) ** 2)))
        coh.append(c)
        weights.append(ok.sum() * c)
    if not phases:
        raise MissingDataError(None, "no burst overlap with valid samples for ESD")
    per = [ph / (2 * np.pi * df * azimuth_time_interval) for ph, df in zip(phases, dfs, strict=True)]
    shift = float(np.average(per, weights=weights))
    return ESDEstimate(shift, tuple(per), tuple(coh), tuple(dfs))


def deramp(data: xr.DataArray, ramp: RampFunction) -> xr.DataArray:
    """Lazily deramped burst: ``data * exp(-1j ramp(line, pixel))`` (``line`` / ``pixel`` coords)."""
    import dask.array as da

    arr = data.data if isinstance(data.data, da.Array) else da.from_array(data.data, chunks=1024)
    lines = da.from_array(data["line"].values.astype(np.float64), chunks=arr.chunks[0])
    pixels = da.from_array(data["pixel"].values.astype(np.float64), chunks=arr.chunks[1])

    def block(x: np.ndarray, ln: np.ndarray, px: np.ndarray) -> np.ndarray:
        return (x * np.exp(-1j * ramp(ln[:, None], px[None, :]))).astype(x.dtype)

    out = da.blockwise(block, "ij", arr, "ij", lines, "i", pixels, "j", dtype=arr.dtype)
    return data.copy(data=out)
