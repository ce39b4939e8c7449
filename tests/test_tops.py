"""TOPS bursts: deramping, phase-preserving resampling and ESD, against physically simulated bursts
(:mod:`alignsar.simulate.tops`) built with the real Sentinel-1 IW annotation (FM rates, Doppler
centroids, steering rate, burst timing) of the shared S1B IW SLC product."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

import alignsar
from alignsar.coregistration.tops import azimuth_ramp, burst_view, doppler_centroid_rate, esd_shift, matching_burst, overlap_lines
from alignsar.geometry.geocode import resample_at
from alignsar.simulate.tops import TopsBeam, focused_burst, scatterers

from .conftest import shared_path

IW_SLC = "sentinel1/xarray-sentinel/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
BANDWIDTH = 327.0  # processed azimuth bandwidth of IW1 (annotation, Hz)


@pytest.fixture(scope="module")
def acq() -> alignsar.Acquisition:
    return alignsar.open_product(shared_path(IW_SLC))


def _sec(t: np.datetime64) -> float:
    return float(t.astype("datetime64[ns]").astype(np.int64)) * 1e-9


def _beam(acq: alignsar.Acquisition, burst: int, pixel: float) -> tuple[TopsBeam, float]:
    """Physical beam parameters at ``pixel`` for burst ``burst``, times in s relative to the first
    burst's start; returns the beam and the burst's mid-line time."""
    sw = acq.swath("IW1")
    g = sw.grid
    b = g.bursts[burst]
    t_mid = b.azimuth_time + np.timedelta64(round(b.lines / 2 * g.azimuth_time_interval * 1e9), "ns")
    v = float(np.linalg.norm(acq.orbit.interpolate(np.array([t_mid])).velocity[0]))
    ks = 2 * v * sw.doppler.azimuth_steering_rate / acq.wavelength
    fm, dc = sw.doppler.fm_rate_at(t_mid), sw.doppler.doppler_centroid_at(t_mid)
    tau, tau_mid = g.slant_range_time(pixel), g.slant_range_time(g.samples / 2)
    mid = _sec(t_mid) - _sec(g.bursts[0].azimuth_time)
    # the product's burst timing: the steering centre is where the mid-range beam centre crosses
    beam = TopsBeam(
        ka=float(fm(tau)), ks=ks, fdc_beam=float(dc(tau)), steering_centre=mid + float(dc(tau_mid) / fm(tau_mid)), bandwidth=BANDWIDTH
    )
    return beam, mid


def _column_block(acq, burst, pixel0, ncols, rng, shift_lines=0.0, scat=None):
    """Burst ``burst`` at ``ncols`` contiguous pixels from ``pixel0``: lines sampled at the burst's
    line times + ``shift_lines``; returns (data, scatterers per column)."""
    g = acq.swath("IW1").grid
    b = g.bursts[burst]
    dt = g.azimuth_time_interval
    t_start = _sec(b.azimuth_time) - _sec(g.bursts[0].azimuth_time)
    t = t_start + (np.arange(b.lines) + shift_lines) * dt
    cols, scat_out = [], []
    for j in range(ncols):
        beam, _ = _beam(acq, burst, pixel0 + j)
        s = scat[j] if scat is not None else scatterers(rng, t_start - 0.2, t_start + b.lines * dt + 0.2, 1.5 / dt)
        scat_out.append(s)
        cols.append(focused_burst(t, beam, *s))
    return np.stack(cols, axis=1), scat_out


def _as_burst_array(values: np.ndarray, pixel0: int) -> xr.DataArray:
    return xr.DataArray(values, dims=("azimuth", "range")).assign_coords(
        line=("azimuth", np.arange(values.shape[0])), pixel=("range", pixel0 + np.arange(values.shape[1]))
    )


def test_processing_spectrum_annotation(acq) -> None:
    """The processed bandwidths and Hamming coefficients of IW1 as annotated
    (``swathProcParams``: azimuth 327 Hz / 0.70, range 56.5 MHz / 0.75), and their fractions of the
    sampling rates (azimuth time interval 2.0555563 ms, range sampling rate 64.345238 MHz)."""
    sw = acq.swath("IW1")
    assert sw.spectrum is not None
    assert (sw.spectrum.azimuth_bandwidth, sw.spectrum.range_bandwidth) == (BANDWIDTH, 56.5e6)
    assert (sw.spectrum.azimuth_window_coefficient, sw.spectrum.range_window_coefficient) == (0.70, 0.75)
    f_az, f_rg = sw.spectrum.fractions(sw.grid)
    assert f_az == pytest.approx(327.0 * 2.055556299999998e-03, rel=1e-12) and f_rg == pytest.approx(56.5e6 / 6.434523812571428e07, rel=1e-12)


def test_doppler_annotation(acq) -> None:
    sw = acq.swath("IW1")
    assert sw.doppler is not None and len(sw.doppler.fm_rate) == 10 and len(sw.doppler.doppler_centroid) == 10
    assert sw.doppler.azimuth_steering_rate == pytest.approx(np.deg2rad(1.590368784))
    assert sw.doppler.fm_rate[0](sw.doppler.fm_rate[0].t0) == pytest.approx(-2320.266569368127)
    # IW1 Doppler centroid rate of the data, from the physics: ka ks / (ka - ks), ~1.7 kHz/s
    kt = doppler_centroid_rate(acq, "IW1", 4)
    beam, _ = _beam(acq, 4, acq.swath("IW1").grid.samples / 2)
    assert kt == pytest.approx((beam.doppler_of(1.0) - beam.doppler_of(0.0)), rel=1e-6)
    assert 1500 < kt < 2000


@pytest.mark.parametrize("pixel0", [40, 10000, 20500])
def test_deramped_burst_is_baseband(acq, pixel0) -> None:
    """Deramping moves the burst spectrum to baseband at near, mid and far range: >= 99 % of the
    energy within +-200 Hz (processed bandwidth 327 Hz, sampling 486 Hz) and a spectral centroid
    within 20 Hz of zero at the start, middle and end of the burst (where the raw data sit at about
    -1.3, 0 and +1.3 kHz); the raw burst spreads over the whole sampling band."""
    rng = np.random.default_rng(pixel0)
    data, _ = _column_block(acq, 4, pixel0, 3, rng)
    g = acq.swath("IW1").grid
    lines = np.arange(data.shape[0], dtype=float)[:, None]
    psi = azimuth_ramp(acq, "IW1", 4)(lines, pixel0 + np.arange(3.0)[None, :])

    def spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        freqs = np.fft.fftfreq(x.shape[0], g.azimuth_time_interval)
        return freqs, np.sum(np.abs(np.fft.fft(x * np.hanning(x.shape[0])[:, None], axis=0)) ** 2, axis=1)

    def in_band(x: np.ndarray) -> float:
        freqs, spec = spectrum(x)
        return float(spec[np.abs(freqs) <= 200].sum() / spec.sum())

    flat = data * np.exp(-1j * psi)
    assert in_band(flat) >= 0.99
    assert in_band(data) < 0.9  # spread evenly over +-243 Hz: ~0.82
    for part in (slice(0, 300), slice(600, 900), slice(1200, 1500)):
        freqs, spec = spectrum(flat[part])
        assert abs(np.sum(freqs * spec) / spec.sum()) < 20


@pytest.mark.parametrize("method", ["sinc", "cubic6"])
def test_deramp_resample_reramp_preserves_phase(acq, method) -> None:
    """Resampling a burst at +0.37 lines with deramp / reramp reproduces the burst sampled there
    (coherence >= 0.995 for sinc, >= 0.98 for 6-point cubic; mean phase error < 0.01 rad); without
    deramping the same kernel destroys it (coherence < 0.5)."""
    rng = np.random.default_rng(5)
    pixel0, shift = 12000, 0.37
    data, scat = _column_block(acq, 4, pixel0, 4, rng)
    truth, _ = _column_block(acq, 4, pixel0, 4, rng, shift_lines=shift, scat=scat)
    arr = _as_burst_array(data, pixel0)
    ll, pp = np.meshgrid(np.arange(data.shape[0]) + shift, pixel0 + np.arange(4.0), indexing="ij")
    ramp = azimuth_ramp(acq, "IW1", 4)
    good = slice(30, -30)

    def coherence(x: np.ndarray) -> tuple[float, float]:
        a, b = x[good], truth[good]
        c = np.sum(a * np.conj(b))
        return float(np.abs(c) / np.sqrt(np.sum(np.abs(a) ** 2) * np.sum(np.abs(b) ** 2))), float(np.angle(c))

    with_ramp = np.asarray(resample_at(arr, ll, pp, method, ramp=ramp))
    without = np.asarray(resample_at(arr, ll, pp, method))
    coh, phase = coherence(with_ramp)
    assert coh >= (0.995 if method == "sinc" else 0.98)
    assert abs(phase) < 0.01
    assert coherence(without)[0] < 0.5


def test_esd_recovers_residual_azimuth_shift(acq) -> None:
    """Two consecutive bursts of the same scatterers; the secondary's scene is displaced by a known
    0.004 lines along track (plus decorrelating noise, coherence ~0.9): ESD on the burst overlap
    recovers the shift within 3e-4 lines."""
    g = acq.swath("IW1").grid
    k = 3
    dt = g.azimuth_time_interval
    true_shift = 0.004
    pixel0, ncols = 15000, 16
    t_first = _sec(g.bursts[0].azimuth_time)
    s0, s1 = overlap_lines(g, k)
    assert s0.stop - s0.start > 50
    t_lo = _sec(g.bursts[k].azimuth_time) - t_first + s0.start * dt - 0.2
    t_hi = _sec(g.bursts[k].azimuth_time) - t_first + s0.stop * dt + 0.2
    prim, sec = [], []
    for burst, sl in ((k, s0), (k + 1, s1)):
        b = g.bursts[burst]
        t = _sec(b.azimuth_time) - t_first + np.arange(sl.start, sl.stop) * dt  # the overlap lines only
        p_cols, s_cols = [], []
        for j in range(ncols):
            col_rng = np.random.default_rng(1000 + j)  # same scatterers in both bursts
            ts, amp = scatterers(col_rng, t_lo, t_hi, 1.5 / dt)
            noise_t, noise_a = scatterers(np.random.default_rng(2000 + j), t_lo, t_hi, 1.5 / dt)
            beam, _ = _beam(acq, burst, pixel0 + j)
            p_cols.append(focused_burst(t, beam, ts, amp))
            sec_sig = focused_burst(t, beam, ts + true_shift * dt, amp)
            s_cols.append(sec_sig + 0.33 * focused_burst(t, beam, noise_t, noise_a))
        full_p = np.zeros((b.lines, ncols), complex)
        full_s = np.zeros((b.lines, ncols), complex)
        full_p[sl], full_s[sl] = np.stack(p_cols, 1), np.stack(s_cols, 1)
        prim.append(full_p)
        sec.append(full_s)
    ramps = [lambda lines, px, b=burst: azimuth_ramp(acq, "IW1", b)(lines, px + pixel0) for burst in (k, k + 1)]
    est = esd_shift(prim, sec, ramps, [(s0, s1)], dt)
    print(f"ESD: true {true_shift} lines, estimated {est.shift_lines:.5f}, delta f {est.doppler_difference_hz[0]:.0f} Hz")
    assert est.shift_lines == pytest.approx(true_shift, abs=3e-4)
    assert 4000 < est.doppler_difference_hz[0] < 6000
    assert est.coherence[0] > 0.4  # |mean double difference| / rms: the two looks have independent speckle


def test_burst_view_geometry_matches_swath(acq) -> None:
    """A burst view has the burst's own timing: rdr2geo of its line l equals rdr2geo of swath line
    first_line + l (to 1e-6 deg), and the matching burst of a product with itself is the same burst."""
    from alignsar.geometry import rdr2geo

    view = burst_view(acq, "IW1", 5)
    b = acq.swath("IW1").grid.bursts[5]
    lines, pixels = np.array([10.0, 700.0, 1400.0]), np.array([100.0, 9000.0, 20000.0])
    a = rdr2geo(view, lines, pixels, height=100.0, swath="IW1")
    s = rdr2geo(acq, lines + b.first_line, pixels, height=100.0, swath="IW1")
    np.testing.assert_allclose(a.lon, s.lon, atol=1e-6)
    np.testing.assert_allclose(a.lat, s.lat, atol=1e-6)
    assert view.swath("IW1").grid.shape == (b.lines, acq.swath("IW1").grid.samples)
    m = view.measurement("VV", "IW1")
    assert m.shape == (b.lines, acq.swath("IW1").grid.samples)
    first = np.asarray(b.first_valid_sample)
    row = int(np.flatnonzero(first >= 0)[0])
    assert np.isnan(np.asarray(m.data[row, : first[row]].compute())).all()
    assert matching_burst(acq, acq, "IW1", 5) == 5


def test_coregister_tops_bursts_with_orbit_shift(acq) -> None:
    """Secondary = the same product with its orbit (and so all its zero-Doppler times) 0.25 lines
    later: coregistering burst 4 finds an azimuth offset of +0.25 lines (secondary minus primary) to
    2e-3 lines, and the range offset is 0."""
    from alignsar.coregistration import coregister

    dt = acq.swath("IW1").grid.azimuth_time_interval
    delay = np.timedelta64(round(0.25 * dt * 1e9), "ns")
    orbit = dataclasses.replace(acq.orbit, time=acq.orbit.time + delay)
    sec = dataclasses.replace(acq, orbit=orbit)
    res = coregister(acq, sec, "stack", pol="VV", swath="IW1", burst=4)
    assert res.quality.mean_offset_azimuth_px == pytest.approx(0.25, abs=2e-3)
    assert res.quality.mean_offset_range_px == pytest.approx(0.0, abs=2e-3)
    assert res.data.shape == (acq.swath("IW1").grid.bursts[4].lines, acq.swath("IW1").grid.samples)
    assert res.quality.notes and any("deramp" in n for n in res.quality.notes)


class _SimulatedTopsSource(alignsar.model.ProductSource):
    """Pixels of a cropped IW1 swath simulated burst by burst from the same scatterers, the scene
    displaced by ``shift`` lines along track (an unmodelled orbit error)."""

    def __init__(self, acq, grid, pixel0: int, shift: float, noise: float) -> None:
        self.acq, self.grid, self.pixel0, self.shift, self.noise = acq, grid, pixel0, shift, noise

    def open_raster(self, swath: str, pol: str) -> xr.DataArray:
        if getattr(self, "_cache", None) is None:
            self._cache = self._simulate()
        return self._cache

    def _simulate(self) -> xr.DataArray:
        g = self.grid
        dt = g.azimuth_time_interval
        t_first = _sec(g.bursts[0].azimuth_time)
        out = np.zeros(g.shape, dtype=np.complex64)
        for b in g.bursts:
            t = _sec(b.azimuth_time) - t_first + np.arange(b.lines) * dt
            for j in range(g.samples):
                ts, amp = scatterers(np.random.default_rng(100 + j), -0.3, t[-1] + 0.3, 1.5 / dt)
                beam, _ = _beam(self.acq, self.first_burst + b.index, self.pixel0 + j)
                beam = dataclasses.replace(beam, steering_centre=beam.steering_centre - self.t_offset)
                col = focused_burst(t, beam, ts + self.shift * dt, amp)
                if self.noise:
                    nt, na = scatterers(np.random.default_rng(500 + j), -0.3, t[-1] + 0.3, 1.5 / dt)
                    col = col + self.noise * focused_burst(t, beam, nt, na)
                out[b.first_line : b.first_line + b.lines, j] = col
        return xr.DataArray(out, dims=("line", "pixel"), coords={"line": np.arange(g.lines), "pixel": np.arange(g.samples)})

    def calibration(self, swath: str, pol: str):
        raise NotImplementedError


def _cropped_tops(acq, first_burst: int, n_bursts: int, pixel0: int, ncols: int, shift: float, noise: float):
    sw = acq.swath("IW1")
    g = sw.grid
    bursts = []
    for i, b in enumerate(g.bursts[first_burst : first_burst + n_bursts]):
        fv = tuple(-1 if v < 0 else 0 for v in b.first_valid_sample)
        lv = tuple(-1 if v < 0 else ncols - 1 for v in b.last_valid_sample)
        bursts.append(dataclasses.replace(b, index=i, first_line=i * b.lines, first_valid_sample=fv, last_valid_sample=lv))
    grid = dataclasses.replace(
        g,
        shape=(n_bursts * g.bursts[0].lines, ncols),
        first_azimuth_time=bursts[0].azimuth_time,
        first_slant_range_time=float(g.slant_range_time(pixel0)),
        bursts=tuple(bursts),
    )
    doppler = sw.doppler
    source = _SimulatedTopsSource(acq, grid, pixel0, shift, noise)
    source.first_burst = first_burst
    source.t_offset = _sec(g.bursts[first_burst].azimuth_time) - _sec(g.bursts[0].azimuth_time)
    new_sw = dataclasses.replace(sw, grid=grid, doppler=doppler)
    return dataclasses.replace(acq, swaths={"IW1": new_sw}, source=source, polarizations=("VV",))


def test_coregister_bursts_with_esd_recovers_orbit_error(acq) -> None:
    """End to end on simulated TOPS pixels: three bursts, the secondary scene displaced by 0.02 lines
    that the geometry does not know about; coregister_bursts (orbits only) + ESD finds the
    displacement to 2e-3 lines and the coherence after ESD rises to the simulated one."""
    from alignsar.coregistration import coregister_bursts

    true_shift = 0.02
    prim = _cropped_tops(acq, 3, 3, 15000, 12, 0.0, 0.0)
    sec = _cropped_tops(acq, 3, 3, 15000, 12, true_shift, 0.2)
    res = coregister_bursts(prim, sec, "stack", pol="VV", swath="IW1")
    assert [r.quality.burst for r in res] == [0, 1, 2]
    esd = res[0].quality.esd_shift_azimuth_px
    print(f"ESD end to end: true {true_shift} lines, found {esd:.5f}; coherence {[round(r.quality.coherence_after, 3) for r in res]}")
    assert esd == pytest.approx(true_shift, abs=2e-3)
    expected = 1 / np.sqrt(1 + 0.2**2)
    for r in res:
        assert r.quality.coherence_after == pytest.approx(expected, abs=0.03)
