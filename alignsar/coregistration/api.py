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
  predicts (most precise; with ``spectralWeighting: band`` the cross spectra are weighted by the
  inverse pooled power within the band, :func:`.xcorr.spectral_weights`); other data by intensity (complex data oversampled 2x before detection).
  The fitted warp is then refined jointly on the pooled correlation of all GCP windows
  (``jointRefinement: pooled``, :mod:`.joint`): on detected images (with ``spectralWeighting:
  band`` the pooled spectra are whitened up to the aliased band, :func:`.joint.band_weights`; when
  the products annotate the complex spectrum the intensities were detected from, slant-range
  grids only, :func:`detected_spectrum`, the folding is modelled and the whole band whitened) and
  on complex data correlated coherently (the windows' correlation magnitudes, coherent weights,
  :func:`.joint.coherent_weights`).
  Complex data with ``applyFineRegistration``: a coherence-maximising fine registration on small
  windows, pooled over all of them, corrects the warp's constant term (:func:`.xcorr.fine_registration`).
- ``stack``: geometric offsets from orbits only (constant height: the mean DEM height or 0).
- ``geocode``: both acquisitions geocoded onto one map grid through their lookup tables; with
  ``geocodeRefinement: constant`` the secondary's map shift against the primary is measured by
  cross-correlation of the geocoded images and removed by shifting its geotransform.

Complex data are resampled with the phase-preserving kernels (6-point cubic convolution or
truncated sinc). Sentinel-1 TOPS SLC swaths are coregistered burst by burst (``burst=k``, or all
bursts with ESD by :func:`coregister_bursts`): bursts are deramped before correlation and
deramped / resampled / reramped (:mod:`.tops`). Interferometric phases (window flattening,
coherence) always come from the geometric mapping, never from the fitted warp.
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
from .joint import JOINT_COHERENT_BELOW, joint_refine
from .offsets import OffsetField, geometric_offsets, polynomial_offsets
from .quality import QualityRecord
from .tops import azimuth_ramp, burst_view, deramp, esd_shift, matching_burst, overlap_lines
from .xcorr import WARP_TERM_ALPHA, GCPTable, WarpFit, design, fine_registration, fit_warp, measure_gcps

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


FINE_MIN_CORRECTION_PX = 0.02
"""Fine-registration corrections smaller than this (px) are reported, not applied: pooled small
windows carry a bias of ~0.01 px (Hann taper, window cuts), below which the coarse coherent
correlation over 128 x 128 windows is the more accurate (measured on simulated pairs: applying them
took the RMSE at coherence 0.6 from 0.008 to 0.016 px). Fine registration corrects coarse stages that
are off by more, e.g. intensity correlation of complex data without a geometric prior."""


def _land_mask(primary: Acquisition, swath: str | None, dem: DEM | None, land: Any) -> Any:
    """``onlyGCPsOnLand``: a function of GCP (lines, pixels) -> on land (inside ``land``, lon / lat)."""
    if land is None:
        raise ConfigError("onlyGCPsOnLand", "needs a land polygon (coregister(land=...), CLI --land FILE)")
    import shapely

    from ..geometry import rdr2geo

    def on_land(lines: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        g = rdr2geo(primary, lines.astype(float), pixels.astype(float), dem=dem, swath=swath)
        return np.asarray(shapely.contains_xy(land, g.lon, g.lat), dtype=bool)

    return on_land


def _relative(gcps: GCPTable, prior: Any) -> GCPTable:
    """GCP offsets relative to the prior's (the warp models only what the geometry does not)."""
    if prior is None:
        return gcps
    pl, pp = prior(gcps.line, gcps.pixel)
    return dataclasses.replace(
        gcps, offset_azimuth=gcps.offset_azimuth - (pl - gcps.line), offset_range=gcps.offset_range - (pp - gcps.pixel)
    )


def _with_prior(prior: Any, warp: OffsetField) -> OffsetField:
    if prior is None:
        return warp

    def combined(lines: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sl, sp = prior(lines, pixels)
        wl, wp = warp.evaluate(lines, pixels)
        return sl + (wl - lines), sp + (wp - pixels)

    return OffsetField(warp.shape, combined)


def detected_spectrum(primary: Acquisition, secondary: Acquisition, swath: str | None = None) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The complex spectrum that detected (intensity) images of ``primary`` and ``secondary`` were
    formed from, for :func:`joint_refine`'s ``detected_band``: per axis (azimuth, range) the band as a
    fraction of the sampling rate and the generalised Hamming coefficient. Only for slant-range
    grids whose swaths annotate their processed spectrum (:class:`~alignsar.model.ProcessingSpectrum`)
    and whose pixels are single-look samples of it: detected SLCs (the simulator's
    :func:`~alignsar.simulate.variants.detected` keeps the SLC grid), not ground-range GRDs, whose
    multilooking and resampling change the spectrum. Where the two differ, per axis the narrower
    band (the intensities' common content). None when unknown."""
    sw_p, sw_s = primary.swath(swath), secondary.swath(swath)
    if sw_p.spectrum is None or sw_s.spectrum is None or sw_p.grid.projection != "slant_range" or sw_s.grid.projection != "slant_range":
        return None
    fp, fs = sw_p.spectrum.fractions(sw_p.grid), sw_s.spectrum.fractions(sw_s.grid)
    coefficients = (
        (sw_p.spectrum.azimuth_window_coefficient, sw_s.spectrum.azimuth_window_coefficient),
        (sw_p.spectrum.range_window_coefficient, sw_s.spectrum.range_window_coefficient),
    )
    out = []
    for axis in (0, 1):
        pick = 0 if fp[axis] <= fs[axis] else 1
        fraction = (fp[axis], fs[axis])[pick]
        if not 0 < fraction <= 1:
            return None
        out.append((float(fraction), float(coefficients[axis][pick])))
    return out[0], out[1]


def _joint_refinement(
    primary: Any,
    secondary: Any,
    gcps: GCPTable,
    relative: GCPTable,
    fit: WarpFit,
    cfg: CoregConfig,
    prior: Any,
    record: QualityRecord,
    phase: Any = None,
    prior_window: Any = None,
    detected_band: Any = None,
) -> None:
    """Refine ``fit`` in place by :func:`joint_refine` over the windows of all GCPs that were
    matched (outliers included: the pooled objective needs no rejection), at the GCP fit's order
    or, with ``warpOrderSelection: significant``, at most that order (its Wald test may drop
    terms the scattered GCPs let through). ``relative``: ``gcps`` relative to the prior (what
    ``fit`` was fitted to; its secondary positions are the prior's). Complex windows are
    flattened by ``phase`` at the prior's positions (``prior_window``: the prior on a grid)."""
    select = cfg.warpOrderSelection == "significant"
    use = gcps.found
    lines, pixels = gcps.line[use], gcps.pixel[use]
    base = None
    if prior is not None:  # the prior's secondary positions, recovered from the two tables
        base = (
            lines + gcps.offset_azimuth[use] - relative.offset_azimuth[use],
            pixels + gcps.offset_range[use] - relative.offset_range[use],
        )
    window = (cfg.coarseRegistrationWindowHeight, cfg.coarseRegistrationWindowWidth)
    coef = (fit.coef_azimuth, fit.coef_range)
    # the GCPs' order is the highest: the pooled estimate is precise enough at high coherence to
    # find the detected data's spatially varying sub-pixel bias (~0.005 px) "significant"
    top = fit.order if fit.fitted_order is None else fit.fitted_order
    joint = joint_refine(
        primary,
        secondary,
        lines,
        pixels,
        coef,
        top,
        fit.scale,
        window,
        base,
        select=select,
        alpha=WARP_TERM_ALPHA,
        weighted=cfg.spectralWeighting == "band",
        phase=phase,
        geometry=prior,
        geometry_window=prior_window,
        detected_band=detected_band,
    )
    if joint is None:
        record.notes.append("joint refinement: no reliable maximum of the pooled correlation near the GCP fit, GCP fit kept")
        return
    fit.coef_azimuth, fit.coef_range = joint.coef_azimuth, joint.coef_range
    order = joint.order
    if select:
        fit.fitted_order = order
    a = design(gcps.line[fit.kept], gcps.pixel[fit.kept], fit.order, fit.scale)
    fit.rms_azimuth = float(np.sqrt(np.mean((a @ fit.coef_azimuth - relative.offset_azimuth[fit.kept]) ** 2)))
    fit.rms_range = float(np.sqrt(np.mean((a @ fit.coef_range - relative.offset_range[fit.kept]) ** 2)))
    record.notes.append(
        f"joint refinement of the order-{order} warp on the pooled correlation of {joint.windows} windows "
        f"({joint.iterations} Newton steps from the {joint.start}{'; order by its Wald test' if select else ''}; "
        f"mean {'band-weighted ' if joint.weighted else ''}correlation {joint.correlation_before:.4f} -> {joint.correlation_after:.4f}; "
        f"offsets changed by at most {joint.max_change_px:.4f} px)"
    )
    if joint.aliasing_model and detected_band is not None:
        (f_az, c_az), (f_rg, c_rg) = detected_band
        record.notes.append(
            f"detected data's aliasing modelled: intensities of a complex band of {f_az:.3f} / {f_rg:.3f} of the sampling rate "
            f"(azimuth / range, Hamming {c_az:.2f} / {c_rg:.2f}), whole band whitened"
        )


def _cross_corr_field(
    p_img: xr.DataArray,
    s_img: xr.DataArray,
    cfg: CoregConfig,
    prior: Any,
    record: QualityRecord,
    phase: Any = None,
    prior_window: Any = None,
    mask: Any = None,
    detected_band: Any = None,
) -> OffsetField:
    """GCP offsets by cross-correlation (coarse, then fine registration for complex data when
    ``applyFineRegistration``), warp polynomial, quality fields filled in."""
    gcps = measure_gcps(p_img.data, s_img.data, cfg, prior=prior, phase=phase, prior_window=prior_window, mask=mask)
    if mask is not None:
        record.notes.append(f"onlyGCPsOnLand: {gcps.line.size} GCPs on land")
    record.notes.append("coherent correlation of geometrically flattened complex windows" if phase is not None else "intensity correlation")
    if prior is not None:
        record.notes.append("warp polynomial fitted to the offsets relative to the geometric prior and added to it")
    relative = _relative(gcps, prior)
    try:
        fit = fit_warp(relative, cfg, p_img.shape)
    except ValueError as exc:
        raise GeometryError(record.secondary, f"cross-correlation failed: {exc}") from exc
    record.gcps_found = int(gcps.found.sum())
    if cfg.jointRefinement == "pooled" and not np.iscomplexobj(p_img.dtype.type(0)):
        _joint_refinement(p_img.data, s_img.data, gcps, relative, fit, cfg, prior, record, detected_band=detected_band)
    elif cfg.jointRefinement == "pooled" and phase is not None:  # complex data correlated coherently
        coherence = float(np.mean(gcps.quality[fit.kept]))
        if coherence < JOINT_COHERENT_BELOW:
            _joint_refinement(p_img.data, s_img.data, gcps, relative, fit, cfg, prior, record, phase, prior_window)
        else:
            record.notes.append(
                f"joint refinement not applied: mean GCP coherence {coherence:.3f} >= {JOINT_COHERENT_BELOW} (the GCP fit is as precise there)"
            )
    field = _with_prior(prior, polynomial_offsets(p_img.shape, fit.coef_azimuth, fit.coef_range, fit.order, fit.scale))
    record.gcps_kept = int(fit.kept.sum())
    if cfg.applyFineRegistration and np.iscomplexobj(p_img.dtype.type(0)):
        keep = fit.kept
        fine = fine_registration(
            p_img.data,
            s_img.data,
            gcps.line[keep],
            gcps.pixel[keep],
            field.evaluate,
            cfg,
            phase,
            geometry=prior,
            geometry_window=prior_window,
        )
        small = np.hypot(fine.shift_azimuth, fine.shift_range) < FINE_MIN_CORRECTION_PX
        if fine.windows_used and small:
            record.notes.append(
                f"fine registration ({fine.windows_used} pooled {cfg.fineRegistrationWindowHeight} x {cfg.fineRegistrationWindowWidth} "
                f"windows, pooled coherence {fine.coherence:.3f}) confirms the coarse warp: correction "
                f"({fine.shift_azimuth:+.4f}, {fine.shift_range:+.4f}) px below {FINE_MIN_CORRECTION_PX} px, not applied"
            )
        elif fine.windows_used and not fine.reliable:
            record.notes.append(
                f"fine registration: fewer than 16 {cfg.fineRegistrationWindowHeight} x {cfg.fineRegistrationWindowWidth} windows "
                f"at coherence >= {cfg.coherenceThreshold} (pooled coherence {fine.coherence:.3f}); correction "
                f"({fine.shift_azimuth:+.4f}, {fine.shift_range:+.4f}) px reported, not applied (small low-coherence windows "
                "are biased: measured 0.02 px at coherence 0.3, where the coarse warp was within 0.005 px)"
            )
        elif fine.windows_used:
            coarse_field, dl, dp = field, fine.shift_azimuth, fine.shift_range

            def refined(lines: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                sl, sp = coarse_field.evaluate(lines, pixels)
                return sl + dl, sp + dp

            field = OffsetField(coarse_field.shape, refined)
            fit.coef_azimuth[0] += dl
            fit.coef_range[0] += dp
            n_good = int((fine.window_coherence >= cfg.coherenceThreshold).sum())
            record.notes.append(
                f"fine registration ({cfg.fineRegistrationWindowHeight} x {cfg.fineRegistrationWindowWidth} complex windows, "
                f"{fine.windows_used} pooled, {n_good} at coherence >= {cfg.coherenceThreshold}): "
                f"correction ({dl:+.4f}, {dp:+.4f}) px, pooled coherence {fine.coherence:.3f}"
            )
        else:
            record.notes.append("fine registration: no usable window (or peak beyond the search extent), coarse warp kept")
    record.residual_rms_azimuth_px = fit.rms_azimuth
    record.residual_rms_range_px = fit.rms_range
    record.polynomial = {
        "order": fit.order,
        "scale": list(fit.scale),
        "azimuth": fit.coef_azimuth.tolist(),
        "range": fit.coef_range.tolist(),
        "terms": "l^(d-j) p^j for d = 0..order, j = 0..d, with l = line / scale[0], p = pixel / scale[1]",
        "relative_to": "geometric prior" if prior is not None else "identity",
        "fitted_order": fit.order if fit.fitted_order is None else fit.fitted_order,
        "order_selection": cfg.warpOrderSelection,
    }
    if fit.fitted_order is not None and fit.fitted_order < fit.order:
        record.notes.append(
            f"warp polynomial: terms above degree {fit.fitted_order} not significant at {WARP_TERM_ALPHA:g} "
            f"({fit.kept.sum()} GCPs, {fit.effective_gcps:.0f} independent windows), set to 0"
        )
    return field


def _refine_geotransform(
    out_p: xr.DataArray,
    out_s: xr.DataArray,
    s_img: xr.DataArray,
    secondary: Acquisition,
    box: Any,
    dem: DEM | None,
    swath: str | None,
    kernel: str,
    cfg: CoregConfig,
    record: QualityRecord,
) -> xr.DataArray:
    """``geocodeRefinement: constant``: the map shift (rows, columns) of the geocoded secondary
    against the geocoded primary by cross-correlation (order-0 warp, statistical outlier rejection),
    removed by geocoding the secondary again onto the grid translated by that shift (its geotransform
    corrected). Shift in map pixels, secondary minus primary."""
    from affine import Affine
    from odc.geo.geobox import GeoBox

    gcfg = dataclasses.replace(cfg, warpPolynomialOrder=0)
    gcps = measure_gcps(out_p.data, out_s.data, gcfg)
    try:
        fit = fit_warp(gcps, gcfg, out_p.shape)
    except ValueError as exc:
        raise GeometryError(record.secondary, f"geocode refinement: cross-correlation failed ({exc})") from exc
    dy, dx = float(fit.coef_azimuth[0]), float(fit.coef_range[0])
    shifted = GeoBox(box.shape, box.affine @ Affine.translation(dx, dy), box.crs)
    out = geocode(s_img, lookup_table(secondary, shifted, dem, swath=swath), kernel)
    out = out.assign_coords(y=out_p["y"].values, x=out_p["x"].values)
    out.attrs["geotransform_shift_px"] = [dy, dx]
    record.gcps_found, record.gcps_kept = int(gcps.found.sum()), int(fit.kept.sum())
    record.residual_rms_azimuth_px, record.residual_rms_range_px = fit.rms_azimuth, fit.rms_range
    record.mean_offset_azimuth_px, record.mean_offset_range_px = dy, dx
    record.polynomial = {
        "order": 0,
        "azimuth": [dy],
        "range": [dx],
        "terms": "constant map shift (rows, columns) of the geocoded secondary",
    }
    record.notes.append(
        f"geotransform refined by cross-correlation: secondary shifted by ({dy:+.4f}, {dx:+.4f}) map pixels (rows, columns)"
    )
    return out


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
    burst: int | None = None,
    azimuth_shift: float = 0.0,
    land: Any = None,
) -> CoregResult:
    """Align ``secondary`` on ``primary`` (see the module docstring).

    TOPS SLC swaths: ``burst`` (primary burst index) is required; the matching secondary burst is
    deramped, resampled and reramped (:mod:`.tops`). ``azimuth_shift`` (secondary lines) is a
    constant correction added to the final azimuth offsets (e.g. the ESD estimate of
    :func:`coregister_bursts`). ``land``: a shapely (multi)polygon in lon / lat (deg, WGS84) used when
    ``onlyGCPsOnLand`` is set: GCPs whose ground position (rdr2geo with the DEM, else at height 0)
    falls outside it are not used."""
    if method not in METHODS:
        raise ConfigError("coregistration_type", f"must be one of {METHODS}, got {method!r}")
    pol = (pol or primary.polarizations[0]).upper()
    _check_pair(primary, secondary, pol)
    cfg = config or CoregConfig.defaults(primary.product_type)
    sw = primary.swath(swath)
    ramp_p = ramp_s = None
    notes: list[str] = []
    if primary.product_type == "SLC" and sw.grid.is_tops and method != "geocode":
        if burst is None:
            raise UnsupportedProductError(
                primary.source_path,
                "TOPS SLC swaths are coregistered burst by burst: pass burst=k (or use coregister_bursts, or the geocode method)",
            )
        s_burst = matching_burst(primary, secondary, swath, burst)
        if calibration is None:
            ramp_p, ramp_s = azimuth_ramp(primary, swath, burst), azimuth_ramp(secondary, swath, s_burst)
            notes.append(f"TOPS burst {burst} on secondary burst {s_burst}: deramped before correlation, deramp / resample / reramp")
        primary, secondary = burst_view(primary, swath, burst), burst_view(secondary, swath, s_burst)
        swath = sw.name
    elif burst is not None:
        raise UnsupportedProductError(primary.source_path, f"burst={burst} given but {sw.name} is not a TOPS SLC swath")
    p_img = primary.measurement(pol, swath, calibration=calibration)
    s_img = secondary.measurement(pol, swath, calibration=calibration)
    record = QualityRecord(method=method, primary=primary.product_name, secondary=secondary.product_name, resampling=cfg.resampling)
    record.notes.extend(notes)
    # images the correlation sees: TOPS bursts deramped (baseband) so that windows can be oversampled
    p_corr = deramp(p_img, ramp_p) if ramp_p is not None else p_img
    s_corr = deramp(s_img, ramp_s) if ramp_s is not None else s_img
    if method == "geocode":
        box = geobox if geobox is not None else default_geobox(primary, swath=swath)
        lut_p = lookup_table(primary, box, dem, swath=swath)
        lut_s = lookup_table(secondary, box, dem, swath=swath)
        kernel = "sinc" if np.iscomplexobj(p_img.dtype.type(0)) else "bilinear"
        out_p = geocode(p_img, lut_p, kernel)
        out_s = geocode(s_img, lut_s, kernel)
        record.resampling = kernel
        record.notes.append("both acquisitions geocoded onto one map grid (no radar-grid offsets)")
        if cfg.geocodeRefinement == "constant":
            out_s = _refine_geotransform(out_p, out_s, s_img, secondary, box, dem, swath, kernel, cfg, record)
        return CoregResult(out_s, None, record, primary=out_p)

    if method in ("dem_assisted", "stack", "cross_corr"):
        height = float(np.nanmean(dem.heights)) if (dem is not None and method == "stack") else 0.0
        field = geometric_offsets(
            primary, secondary, dem=dem if method in ("dem_assisted", "cross_corr") else None, height=height, swath=swath
        )
    geometry = field  # interferometric phases always come from the geometric mapping (see fine_registration)
    # complex slant-range data: coherent correlation after flattening each window by the geometric phase
    phase = None
    if np.iscomplexobj(p_img.dtype.type(0)) and primary.swath(swath).grid.projection == "slant_range":
        phase = functools.partial(geometric_phase, primary, secondary, swath=swath)

    if method == "cross_corr":
        mask = _land_mask(primary, swath, dem, land) if cfg.onlyGCPsOnLand else None
        band = None if np.iscomplexobj(p_img.dtype.type(0)) else detected_spectrum(primary, secondary, swath)
        field = _cross_corr_field(
            p_corr, s_corr, cfg, field.evaluate, record, phase, prior_window=field.on_window, mask=mask, detected_band=band
        )
    elif method == "dem_assisted" and cfg.demAssistedRefinement == "constant":
        gcps = measure_gcps(p_corr.data, s_corr.data, cfg, prior=field.evaluate, phase=phase, prior_window=field.on_window)
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
    if azimuth_shift:
        unshifted = field

        def shifted(lines: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            sl, sp = unshifted.evaluate(lines, pixels)
            return sl + azimuth_shift, sp

        field = OffsetField(unshifted.shape, shifted)
        record.notes.append(f"constant azimuth correction {azimuth_shift:+.5f} lines added")
    record.burst = burst
    line_s, pixel_s = field.on_grid()
    values = resample_at(s_img, line_s, pixel_s, cfg.resampling, ramp=ramp_s)
    out = xr.DataArray(values, dims=p_img.dims, coords=p_img.coords, name=s_img.name, attrs=dict(s_img.attrs))
    out.attrs.update({"coregistration": method, "resampling": cfg.resampling, "reference_product": primary.product_name})
    record.mean_offset_azimuth_px, record.mean_offset_range_px = field.mean_offset()
    if np.iscomplexobj(p_img.dtype.type(0)):
        # coherence on a central window (half the image, at most 256 x 256: bounded cost),
        # before (integer alignment by the mean offset) and after, with the geometric (flat-earth +
        # topographic) phase of the offsets removed
        n0, n1 = p_img.shape
        h0, h1 = min(n0 // 2, 256), min(n1 // 2, 256)
        win = (slice(n0 // 2 - h0 // 2, n0 // 2 - h0 // 2 + h0), slice(n1 // 2 - h1 // 2, n1 // 2 - h1 // 2 + h1))
        pa = np.asarray(p_img.data[win])
        ll, pp = np.meshgrid(np.arange(n0)[win[0]], np.arange(n1)[win[1]], indexing="ij")
        # resample just the window (slicing the lazy output would compute whole output chunks)
        wl, wp = field.evaluate(ll.astype(float), pp.astype(float))
        after = np.asarray(resample_at(s_img, wl, wp, cfg.resampling, ramp=ramp_s))
        sl, sp = geometry.evaluate(ll.astype(float), pp.astype(float))
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


def coregister_bursts(
    primary: Acquisition,
    secondary: Acquisition,
    method: Method = "dem_assisted",
    *,
    pol: str | None = None,
    swath: str | None = None,
    dem: DEM | None = None,
    config: CoregConfig | None = None,
    bursts: list[int] | None = None,
    esd: bool = True,
) -> list[CoregResult]:
    """Coregister the bursts of a TOPS SLC swath (all by default) and, with ``esd`` and at least two
    consecutive bursts, refine the azimuth offsets by enhanced spectral diversity on their overlaps:
    one constant correction for the pair, applied to every burst (see :mod:`.tops`). Each result's
    quality record carries ``burst`` and ``esd_shift_azimuth_px``."""
    sw = primary.swath(swath)
    if not sw.grid.is_tops or primary.product_type != "SLC":
        raise UnsupportedProductError(primary.source_path, f"{sw.name} is not a TOPS SLC swath")
    ks = list(range(len(sw.grid.bursts))) if bursts is None else sorted(bursts)
    kw: dict[str, Any] = {"pol": pol, "swath": sw.name, "dem": dem, "config": config}
    results = [coregister(primary, secondary, method, burst=k, **kw) for k in ks]
    pairs = [i for i in range(len(ks) - 1) if ks[i + 1] == ks[i] + 1]
    if not esd or not pairs:
        return results
    overlaps, p_parts, s_parts, ramps = [], [], [], []
    for i in pairs:
        k = ks[i]
        s0, s1 = overlap_lines(sw.grid, k)
        overlaps.append((slice(0, s0.stop - s0.start), slice(0, s1.stop - s1.start)))
        for res, sl, j in ((results[i], s0, k), (results[i + 1], s1, k + 1)):
            p_parts.append(np.asarray(res.primary.data[sl]))
            s_parts.append(np.asarray(res.data.data[sl]))
            ramp = azimuth_ramp(primary, sw.name, j)
            ramps.append(lambda lines, pixels, r=ramp, off=float(sl.start): r(lines + off, pixels))
    # esd_shift pairs list entries (2m, 2m + 1) as consecutive bursts
    estimates = [
        esd_shift(
            p_parts[2 * m : 2 * m + 2], s_parts[2 * m : 2 * m + 2], ramps[2 * m : 2 * m + 2], [overlaps[m]], sw.grid.azimuth_time_interval
        )
        for m in range(len(pairs))
    ]
    weights = np.array([max(e.coherence[0], 1e-6) for e in estimates])
    shift = float(np.average([e.shift_lines for e in estimates], weights=weights))
    refined = []
    for k in ks:
        res = coregister(primary, secondary, method, burst=k, azimuth_shift=shift, **kw)
        res.quality.esd_shift_azimuth_px = shift
        res.quality.notes.append(
            "ESD over "
            + ", ".join(
                f"bursts {ks[i]}-{ks[i] + 1}: {e.shift_lines:+.5f} lines (coh {e.coherence[0]:.2f})"
                for i, e in zip(pairs, estimates, strict=True)
            )
        )
        refined.append(res)
    return refined
