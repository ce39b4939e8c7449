"""One interface for every coregistration method.

``coregister(primary, secondary, method)`` returns the secondary resampled onto the primary's radar
grid (``dem_assisted``, ``cross_corr``, ``stack``) or both onto a common map grid (``geocode``), the
offset field used, and a :class:`QualityRecord`.

- ``dem_assisted`` (default): geometric offsets from orbits and DEM; with
  ``demAssistedRefinement: constant`` a constant correction estimated by cross-correlation (the
  median GCP residual about the geometric offsets) is added.
- ``cross_corr``: GCP offsets by cross-correlation, warp polynomial with statistical outlier
  rejection; the geometric offsets (with the DEM when given) are the prior. Complex slant-range data
  are correlated coherently after flattening each window by the interferometric phase the prior
  predicts (most precise); other data by intensity (complex data oversampled 2x before detection).
- ``stack``: geometric offsets from orbits only (constant height: the mean DEM height or 0).
- ``geocode``: both acquisitions geocoded onto one map grid through their lookup tables.

Complex data are resampled with the phase-preserving kernels (6-point cubic convolution or
truncated sinc); Sentinel-1 TOPS bursts are not deramped yet, so TOPS SLC swaths are refused for the
complex kernels (debursted detected data work).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..errors import ConfigError, GeometryError, UnsupportedProductError
from ..geometry import DEM
from ..geometry.geocode import default_geobox, geocode, lookup_table, resample_at
from ..model import Acquisition
from .config import CoregConfig
from .offsets import OffsetField, geometric_offsets, polynomial_offsets
from .quality import QualityRecord
from .xcorr import fit_warp, measure_gcps

Method = Literal["dem_assisted", "cross_corr", "stack", "geocode"]
METHODS: tuple[str, ...] = ("dem_assisted", "cross_corr", "stack", "geocode")


@dataclass
class CoregResult:
    data: xr.DataArray
    offsets: OffsetField | None
    quality: QualityRecord
    primary: xr.DataArray | None = None


def _coherence(a: np.ndarray, b: np.ndarray, window: int = 9) -> float | None:
    """Mean local sample coherence (``window`` x ``window`` boxcar; fringes cancel only inside a
    window, so this is the usual quality measure; biased upwards at low coherence)."""
    if not (np.iscomplexobj(a) and np.iscomplexobj(b)):
        return None
    from scipy.ndimage import uniform_filter

    ok = np.isfinite(a) & np.isfinite(b)
    a, b = np.where(ok, a, 0), np.where(ok, b, 0)
    ifg = a * np.conj(b)
    num = np.abs(uniform_filter(ifg.real, window) + 1j * uniform_filter(ifg.imag, window))
    den = np.sqrt(uniform_filter(np.abs(a) ** 2, window) * uniform_filter(np.abs(b) ** 2, window))
    good = den > 0
    return float(np.mean(num[good] / den[good])) if good.any() else None


def geometric_phase(
    primary: Acquisition,
    secondary: Acquisition,
    lines: np.ndarray,
    pixels: np.ndarray,
    sec_lines: np.ndarray,
    sec_pixels: np.ndarray,
    swath: str | None = None,
) -> np.ndarray | None:
    """Phase (rad) of primary x conj(secondary) due to geometry alone, 4 pi / lambda (R_s - R_p),
    from the slant ranges of corresponding pixels (slant-range grids only, else None)."""
    gp, gs = primary.swath(swath).grid, secondary.swath(swath).grid
    if gp.projection != "slant_range" or gs.projection != "slant_range":
        return None
    c = 299_792_458.0
    r_p = c / 2 * gp.slant_range_time(pixels)
    r_s = c / 2 * gs.slant_range_time(sec_pixels)
    return 4 * np.pi / primary.wavelength * (r_s - r_p)


def _check_pair(primary: Acquisition, secondary: Acquisition, pol: str) -> None:
    if primary.mission != secondary.mission and not {primary.mission, secondary.mission} <= {"sentinel-1", "alignsar-simulator"}:
        raise UnsupportedProductError(
            secondary.source_path, f"cannot coregister {secondary.mission} onto {primary.mission} (different sensors)"
        )
    if pol.upper() not in secondary.polarizations:
        raise UnsupportedProductError(secondary.source_path, f"secondary has no {pol.upper()} (has {list(secondary.polarizations)})")
    if not primary.footprint.intersects(secondary.footprint):
        raise GeometryError(secondary.source_path, "secondary does not overlap the primary")


def _cross_corr_field(
    p_img: xr.DataArray, s_img: xr.DataArray, cfg: CoregConfig, prior: Any, record: QualityRecord, phase: Any = None
) -> OffsetField:
    """GCP offsets by cross-correlation, warp polynomial, quality fields filled in."""
    gcps = measure_gcps(p_img.data, s_img.data, cfg, prior=prior, phase=phase)
    record.notes.append("coherent correlation of geometrically flattened complex windows" if phase is not None else "intensity correlation")
    base_l = base_p = 0.0
    if prior is not None:
        # the warp models what the geometry does not: fit the GCP offsets relative to the prior
        pl, pp = prior(gcps.line, gcps.pixel)
        base_l, base_p = pl - gcps.line, pp - gcps.pixel
        gcps = dataclasses.replace(gcps, offset_azimuth=gcps.offset_azimuth - base_l, offset_range=gcps.offset_range - base_p)
        record.notes.append("warp polynomial fitted to the offsets relative to the geometric prior and added to it")
    try:
        fit = fit_warp(gcps, cfg, p_img.shape)
    except ValueError as exc:
        raise GeometryError(record.secondary, f"cross-correlation failed: {exc}") from exc
    record.gcps_found = int(gcps.found.sum())
    record.gcps_kept = int(fit.kept.sum())
    record.residual_rms_azimuth_px = fit.rms_azimuth
    record.residual_rms_range_px = fit.rms_range
    record.polynomial = {
        "order": fit.order,
        "scale": list(fit.scale),
        "azimuth": fit.coef_azimuth.tolist(),
        "range": fit.coef_range.tolist(),
        "terms": "l^(d-j) p^j for d = 0..order, j = 0..d, with l = line / scale[0], p = pixel / scale[1]",
        "relative_to": "geometric prior" if prior is not None else "identity",
    }
    warp = polynomial_offsets(p_img.shape, fit.coef_azimuth, fit.coef_range, fit.order, fit.scale)
    if prior is None:
        return warp

    def combined(lines: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sl, sp = prior(lines, pixels)
        wl, wp = warp.evaluate(lines, pixels)
        return sl + (wl - lines), sp + (wp - pixels)

    return OffsetField(p_img.shape, combined)


def coregister_rasters(primary: xr.DataArray, secondary: xr.DataArray, config: CoregConfig | None = None) -> CoregResult:
    """Cross-correlation coregistration of two plain single-band rasters of the same size (dims
    ``(azimuth, range)`` or ``(y, x)``): the secondary resampled onto the primary's pixel grid."""
    if primary.shape != secondary.shape:
        raise UnsupportedProductError(secondary.name, f"raster shapes differ: {primary.shape} vs {secondary.shape}")
    cfg = config or CoregConfig.defaults("GRD")

    def as_radar(a: xr.DataArray) -> xr.DataArray:
        a = xr.DataArray(a.data, dims=("azimuth", "range"), name=a.name, attrs=dict(a.attrs))
        return a.assign_coords(line=("azimuth", np.arange(a.shape[0])), pixel=("range", np.arange(a.shape[1])))

    p_img, s_img = as_radar(primary), as_radar(secondary)
    record = QualityRecord(method="cross_corr", primary=str(primary.name), secondary=str(secondary.name), resampling=cfg.resampling)
    field = _cross_corr_field(p_img, s_img, cfg, None, record)
    line_s, pixel_s = field.on_grid()
    out = xr.DataArray(resample_at(s_img, line_s, pixel_s, cfg.resampling), dims=primary.dims, coords=primary.coords, name=secondary.name)
    record.mean_offset_azimuth_px, record.mean_offset_range_px = field.mean_offset()
    return CoregResult(out, field, record, primary=primary)


def coregister(
    primary: Acquisition,
    secondary: Acquisition,
    method: Method = "dem_assisted",
    *,
    pol: str | None = None,
    swath: str | None = None,
    dem: DEM | None = None,
    config: CoregConfig | None = None,
    calibration: str | None = None,
    geobox: Any = None,
) -> CoregResult:
    """Align ``secondary`` on ``primary`` (see the module docstring)."""
    if method not in METHODS:
        raise ConfigError("coregistration_type", f"must be one of {METHODS}, got {method!r}")
    pol = (pol or primary.polarizations[0]).upper()
    _check_pair(primary, secondary, pol)
    cfg = config or CoregConfig.defaults(primary.product_type)
    sw = primary.swath(swath)
    if primary.product_type == "SLC" and sw.grid.is_tops and calibration is None and method != "geocode":
        raise UnsupportedProductError(
            primary.source_path,
            "TOPS SLC bursts need deramping before complex resampling (not supported yet): use calibration='sigma0' or the geocode method",
        )
    p_img = primary.measurement(pol, swath, calibration=calibration)
    s_img = secondary.measurement(pol, swath, calibration=calibration)
    record = QualityRecord(method=method, primary=primary.product_name, secondary=secondary.product_name, resampling=cfg.resampling)
    if method == "geocode":
        box = geobox if geobox is not None else default_geobox(primary, swath=swath)
        lut_p = lookup_table(primary, box, dem, swath=swath)
        lut_s = lookup_table(secondary, box, dem, swath=swath)
        kernel = "sinc" if np.iscomplexobj(p_img.dtype.type(0)) else "bilinear"
        out_p = geocode(p_img, lut_p, kernel)
        out_s = geocode(s_img, lut_s, kernel)
        record.resampling = kernel
        record.notes.append("both acquisitions geocoded onto one map grid (no radar-grid offsets)")
        return CoregResult(out_s, None, record, primary=out_p)

    if method in ("dem_assisted", "stack", "cross_corr"):
        height = float(np.nanmean(dem.heights)) if (dem is not None and method == "stack") else 0.0
        field = geometric_offsets(
            primary, secondary, dem=dem if method in ("dem_assisted", "cross_corr") else None, height=height, swath=swath
        )
    # complex slant-range data: coherent correlation after flattening each window by the geometric phase
    phase = None
    if np.iscomplexobj(p_img.dtype.type(0)) and primary.swath(swath).grid.projection == "slant_range":
        phase = functools.partial(geometric_phase, primary, secondary, swath=swath)

    if method == "cross_corr":
        field = _cross_corr_field(p_img, s_img, cfg, field.evaluate, record, phase)
    elif method == "dem_assisted" and cfg.demAssistedRefinement == "constant":
        gcps = measure_gcps(p_img.data, s_img.data, cfg, prior=field.evaluate, phase=phase)
        ok = gcps.found & (gcps.quality >= cfg.minCoherence)
        if ok.sum() >= 3:
            pl, pp = field.evaluate(gcps.line[ok], gcps.pixel[ok])
            corr_l = float(np.median(gcps.offset_azimuth[ok] - (pl - gcps.line[ok])))
            corr_p = float(np.median(gcps.offset_range[ok] - (pp - gcps.pixel[ok])))
            base = field

            def corrected(lines: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                sl, sp = base.evaluate(lines, pixels)
                return sl + corr_l, sp + corr_p

            field = OffsetField(base.shape, corrected)
            record.gcps_found = int(gcps.found.sum())
            record.gcps_kept = int(ok.sum())
            record.polynomial = {
                "order": 0,
                "azimuth": [corr_l],
                "range": [corr_p],
                "terms": "constant correction added to the geometric offsets",
            }
            record.notes.append(f"constant cross-correlation correction ({corr_l:+.4f}, {corr_p:+.4f}) px added to the geometric offsets")
        else:
            record.notes.append("demAssistedRefinement: too few reliable GCPs, geometric offsets used as they are")
    line_s, pixel_s = field.on_grid()
    values = resample_at(s_img, line_s, pixel_s, cfg.resampling)
    out = xr.DataArray(values, dims=p_img.dims, coords=p_img.coords, name=s_img.name, attrs=dict(s_img.attrs))
    out.attrs.update({"coregistration": method, "resampling": cfg.resampling, "reference_product": primary.product_name})
    record.mean_offset_azimuth_px, record.mean_offset_range_px = field.mean_offset()
    if np.iscomplexobj(p_img.dtype.type(0)):
        # coherence on a central window, before (integer alignment by the mean offset) and after,
        # with the geometric (flat-earth + topographic) phase of the offsets removed
        n0, n1 = p_img.shape
        win = (slice(n0 // 4, 3 * n0 // 4), slice(n1 // 4, 3 * n1 // 4))
        pa = np.asarray(p_img.data[win])
        after = np.asarray(out.data[win])
        ll, pp = np.meshgrid(np.arange(n0)[win[0]], np.arange(n1)[win[1]], indexing="ij")
        sl, sp = field.evaluate(ll.astype(float), pp.astype(float))
        phase = geometric_phase(primary, secondary, ll, pp, sl, sp, swath)
        dl, dp = round(record.mean_offset_azimuth_px), round(record.mean_offset_range_px)
        sb = np.asarray(s_img.data[slice(win[0].start + dl, win[0].stop + dl), slice(win[1].start + dp, win[1].stop + dp)])
        if phase is not None:
            record.notes.append("coherence with the geometric (flat-earth and topographic) phase removed")
            after = after * np.exp(1j * phase)
            sb = sb * np.exp(1j * phase) if sb.shape == pa.shape else sb
        record.coherence_before = _coherence(pa, sb) if sb.shape == pa.shape else None
        record.coherence_after = _coherence(pa, after)
    return CoregResult(out, field, record, primary=p_img)
