"""SAR scene simulator: a stack of SLC acquisitions over synthetic terrain, with every truth kept.

Forward model (ground -> radar, so no part of it inverts geometry the way the code under test does):

1. Terrain: an analytic DEM (Gaussian hills, ellipsoidal heights) and land-cover polygons (Voronoi
   cells in a local UTM grid) whose classes carry their own sigma0 per polarisation and temporal
   coherence (see :data:`DEFAULT_CLASSES`).
2. Orbits: circular, about 700 km, right-looking, ascending or descending; each date has a slightly
   different orbit (radial and cross-track baseline) and raster timing, hence known sub-pixel to
   several-pixel offsets between dates.
3. Every fine ground sample (``ground_oversampling`` per pixel) is projected into every date's raster
   with the exact zero-Doppler solver of :mod:`.orbit`. Binning the samples gives each date's mean
   intensity (area-weighted sigma0, so foreshortening and layover brighten, shadow is empty), its
   radar-geometry class map, the primary-grid position that each pixel images and the range change
   relative to the primary: the true offset fields and interferometric phase.
4. Pixels: white circular complex Gaussian scatterers weighted by the square root of the
   reflectivity and imaged through the band-limiting impulse response ``h`` (Hamming-weighted
   spectrum, ``bandwidth_fraction`` of the sampling rate per axis): ``W = h * (sqrt(I_0) n)`` on the
   primary grid (the common scatterers, ``I_0`` the primary's intensity) and ``W_k = h * (sqrt(I_k)
   n_k)`` per date, mixed with the class coherence ``gamma``:
   ``slc_k = A_sigma * (sqrt(gamma) W(primary position) e^{-j 4 pi (dR_k + d_k) / lambda}
   + sqrt(1 - gamma) W_k)``. So |slc|^2 / A_sigma^2 is exponential with mean the intensity smoothed
   by the impulse response's power (the truth's ``intensity_*``), brightness edges are band-limited
   like the speckle and move with the offsets as the speckle does (as in a real image: the ground
   is imaged through the system's response), and any two dates have coherence ``gamma``
   (geometric decorrelation is not modelled). ``d_k`` is an optional line-of-sight deformation (m,
   positive away from the radar).

Sign conventions: offsets are secondary minus primary position (lines, pixels), evaluated on the
primary grid; the true interferometric phase is that of ``primary * conj(secondary)`` after
coregistration: ``phi = 4 pi / lambda * (R_k - R_0 + d_k - d_0)`` (rad).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyproj
import shapely
import xarray as xr
from rasterio import features
from rasterio.transform import Affine
from scipy.ndimage import map_coordinates

from ..model import SPEED_OF_LIGHT, Acquisition, CalibrationLUT, Orbit, ProcessingSpectrum, RadarGrid, Swath
from .orbit import WGS84_A, CircularOrbit, ellipsoid_normal, geodetic_to_ecef

NS = np.timedelta64(1, "ns")


@dataclass(frozen=True)
class LandClass:
    """A land-cover class: ``sigma0`` (linear) per polarisation and temporal ``coherence``."""

    value: int
    name: str
    sigma0: dict[str, float]
    coherence: float


DEFAULT_CLASSES: tuple[LandClass, ...] = (
    LandClass(1, "water", {"VV": 0.004, "VH": 0.0006, "HH": 0.003, "HV": 0.0006}, 0.05),
    LandClass(2, "forest", {"VV": 0.10, "VH": 0.025, "HH": 0.12, "HV": 0.025}, 0.30),
    LandClass(3, "cropland", {"VV": 0.06, "VH": 0.010, "HH": 0.05, "HV": 0.010}, 0.60),
    LandClass(4, "urban", {"VV": 0.40, "VH": 0.060, "HH": 0.50, "HV": 0.060}, 0.90),
    LandClass(5, "bare soil", {"VV": 0.03, "VH": 0.004, "HH": 0.025, "HV": 0.004}, 0.75),
)


@dataclass(frozen=True)
class SceneConfig:
    """What to simulate. Sizes are radar pixels; spacings metres; times UTC.

    Raster timing of the secondary dates (the offsets a coregistration must find):

    - ``secondary_shifts_px``: per secondary date, the (lines, pixels) position in its raster of the
      ground point imaged at the primary's centre pixel (``lines / 2``, ``samples / 2``), relative to
      that centre; default: drawn uniformly in +-``max_shift_px``. With ``relief_m = 0`` and
      ``baseline_m = 0`` the offset field is this constant.
    - ``line_interval_ratio``: per secondary date, its azimuth time interval over the primary's
      (a different PRF, as between ERS / Envisat acquisitions); default 1. A ratio ``r`` adds
      ``(line - lines / 2) (1 / r - 1)`` lines to the azimuth offsets: with a cross-track baseline
      (range offsets linear in range), an affine offset field.
    """

    lines: int = 256
    samples: int = 256
    dates: int = 3
    revisit_days: float = 12.0
    start: str = "2024-01-06T05:20:00"
    center_lon: float = 12.50
    center_lat: float = 41.90
    pass_direction: str = "ascending"
    polarizations: tuple[str, ...] = ("VV", "VH")
    altitude_m: float = 700e3
    inclination_deg: float = 98.18
    incidence_deg: float = 37.0
    azimuth_spacing_m: float = 10.0
    ground_range_spacing_m: float = 10.0
    radar_frequency_hz: float = 5.405e9
    relief_m: float = 150.0
    mean_height_m: float = 100.0
    n_polygons: int = 24
    classes: tuple[LandClass, ...] = DEFAULT_CLASSES
    baseline_m: float = 150.0
    max_shift_px: float = 4.0
    secondary_shifts_px: tuple[tuple[float, float], ...] | None = None
    line_interval_ratio: tuple[float, ...] | None = None
    deformation_m_per_year: float = -0.03
    bandwidth_fraction: tuple[float, float] = (0.75, 0.85)  # (azimuth, range) of the sampling rate
    ground_oversampling: int = 3
    beta0_constant: float = 237.0
    coherence: float | None = None  # override every class's coherence (tests)
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("secondary_shifts_px", "line_interval_ratio"):
            value = getattr(self, key)
            if value is not None and len(value) != self.dates - 1:
                raise ValueError(f"SceneConfig.{key}: one entry per secondary date ({self.dates - 1}), got {len(value)}")
        if self.line_interval_ratio is not None and any(r <= 0 for r in self.line_interval_ratio):
            raise ValueError("SceneConfig.line_interval_ratio: ratios must be positive")


@dataclass(eq=False)
class SimulatedScene:
    """The simulated stack: acquisitions (date order, the first is the primary) and their truth.

    ``truth_map``: map-grid truth on a UTM grid (``class_map``, ``dem`` ellipsoidal m) with attrs
    ``crs`` (EPSG code) and ``transform`` (GDAL order, pixel corners).
    ``truth[k]``: date k on its own radar grid: ``class_map``, ``intensity_<pol>`` (true mean
    sigma0, linear), ``samples`` (ground samples per pixel; 0 = shadow), ``coherence``; and on the
    primary grid: ``offset_azimuth`` / ``offset_range`` (px, secondary minus primary),
    ``phase`` (rad, true interferometric phase primary x conj(date k)), ``deformation`` (m).
    ``polygons``: (class value, shapely polygon in the UTM CRS).
    """

    config: SceneConfig
    acquisitions: list[Acquisition]
    truth: list[xr.Dataset]
    truth_map: xr.Dataset
    polygons: list[tuple[int, shapely.Polygon]]
    orbits: list[CircularOrbit] = field(repr=False, default_factory=list)


class InMemorySource:
    """Pixels held in memory (numpy), served lazily through dask like a file would be."""

    def __init__(self, rasters: dict[str, np.ndarray], calibration: CalibrationLUT) -> None:
        self.rasters = rasters
        self._calibration = calibration

    def open_raster(self, swath: str, pol: str) -> xr.DataArray:
        import dask.array as da

        data = self.rasters[pol.upper()]
        arr = da.from_array(data, chunks=(min(512, data.shape[0]), -1))
        return xr.DataArray(arr, dims=("line", "pixel"), coords={"line": np.arange(data.shape[0]), "pixel": np.arange(data.shape[1])})

    def calibration(self, swath: str, pol: str) -> CalibrationLUT:
        return self._calibration

    def noise(self, swath: str, pol: str) -> None:
        return None


# --------------------------------------------------------------------------------------------------
def _utm_crs(lon: float, lat: float) -> pyproj.CRS:
    zone = int((lon + 180.0) // 6.0) + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _dem_function(cfg: SceneConfig, rng: np.random.Generator, extent: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Analytic DEM h(x, y) (m, ellipsoidal) in local map coordinates centred on the scene."""
    n = 6
    cx = rng.uniform(-0.5, 0.5, n) * extent
    cy = rng.uniform(-0.5, 0.5, n) * extent
    width = rng.uniform(0.08, 0.25, n) * extent
    amp = rng.uniform(-0.4, 1.0, n) * cfg.relief_m

    def dem(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        h = np.full(np.broadcast(x, y).shape, cfg.mean_height_m)
        for i in range(n):
            h = h + amp[i] * np.exp(-((x - cx[i]) ** 2 + (y - cy[i]) ** 2) / (2 * width[i] ** 2))
        return h

    return dem


def _place_orbit(cfg: SceneConfig, center: np.ndarray) -> tuple[CircularOrbit, float, float]:
    """Find the orbit whose zero-Doppler slant range to the scene centre gives the wanted incidence,
    target on the right. Returns (orbit, zero-Doppler time of the centre, its slant range)."""
    radius = WGS84_A + cfg.altitude_m
    inc = np.radians(cfg.inclination_deg)
    lat = np.radians(cfg.center_lat)
    u0 = np.arcsin(np.clip(np.sin(lat) / np.sin(inc), -1, 1))
    if cfg.pass_direction.lower().startswith("d"):
        u0 = np.pi - u0
    # raan so that the sub-satellite point at t=0 has the scene's longitude
    probe = CircularOrbit(radius, inc, 0.0, u0)
    p0, _, _ = probe.state(0.0)
    raan0 = np.radians(cfg.center_lon) - np.arctan2(p0[1], p0[0])
    inc_r = np.radians(cfg.incidence_deg)
    look = np.arcsin(WGS84_A / radius * np.sin(inc_r))
    gamma = inc_r - look
    r_target = np.sqrt(WGS84_A**2 + radius**2 - 2 * WGS84_A * radius * np.cos(gamma))

    def evaluate(delta: float) -> tuple[float, float, float]:
        orb = CircularOrbit(radius, inc, raan0 + delta, u0)
        t, r = orb.zero_doppler(center[None, :], 0.0)
        s, v, _ = orb.state(t[0])
        side = float(np.dot(center - s, np.cross(-s, v)))
        return float(t[0]), float(r[0]), side

    deltas = np.linspace(-3 * gamma / np.cos(lat), 3 * gamma / np.cos(lat), 241)
    scores = []
    for d in deltas:
        _, r, side = evaluate(d)
        scores.append(abs(r - r_target) if side > 0 else np.inf)
    d0 = deltas[int(np.argmin(scores))]
    # refine: secant on r(delta) - r_target
    step = deltas[1] - deltas[0]
    a, b = d0 - step, d0 + step
    fa, fb = evaluate(a)[1] - r_target, evaluate(b)[1] - r_target
    for _ in range(40):
        if fb == fa:
            break
        c = b - fb * (b - a) / (fb - fa)
        a, fa = b, fb
        b, fb = c, evaluate(c)[1] - r_target
        if abs(fb) < 1e-3:
            break
    orbit = CircularOrbit(radius, inc, raan0 + b, u0)
    t, r, _ = evaluate(b)
    return orbit, t, r


SIMULATOR_WINDOW_COEFFICIENT = 0.54
"""The simulator's spectral weighting: a Hamming window (generalised Hamming coefficient 0.54) over
the band, per axis (:func:`_band_limited_field`)."""


def _window_response(n: int, fraction: float) -> np.ndarray:
    """The simulator's amplitude spectral window on ``n`` FFT frequencies: generalised Hamming
    (:data:`SIMULATOR_WINDOW_COEFFICIENT`) over ``fraction`` of the sampling rate."""
    f = np.fft.fftfreq(n)
    a = SIMULATOR_WINDOW_COEFFICIENT
    return np.where(np.abs(f) <= fraction / 2, a + (1 - a) * np.cos(2 * np.pi * f / fraction), 0.0)


def _band_limited_field(
    rng: np.random.Generator, shape: tuple[int, int], fraction: tuple[float, float], amplitude: np.ndarray | None = None
) -> np.ndarray:
    """Circular complex Gaussian field band-limited (Hamming-weighted) per axis: white scatterers,
    times ``amplitude`` (the square root of the reflectivity, on the same grid) when given, imaged
    through the band-limiting impulse response. Unit variance for unit amplitude; otherwise the
    variance is the reflectivity smoothed by the impulse response's power
    (:func:`_expected_intensity`), so brightness edges are band-limited like the speckle and move
    with the geometry as the speckle does."""
    white = _white(rng, shape)
    if amplitude is not None:
        white = white * amplitude
    return _band_limit(white, fraction)


def _white(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Unit-variance circular complex white Gaussian scatterers."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)


def _band_limit(white: np.ndarray, fraction: tuple[float, float]) -> np.ndarray:
    """``white`` imaged through the simulator's band-limiting impulse response (unit gain for
    white input)."""
    shape = white.shape
    h = _window_response(shape[0], fraction[0])[:, None] * _window_response(shape[1], fraction[1])[None, :]
    out = np.fft.ifft2(np.fft.fft2(white) * h)
    return (out / np.sqrt(np.mean(h**2))).astype(np.complex64)


def _expected_intensity(intensity: np.ndarray, fraction: tuple[float, float], pad: int = 16) -> np.ndarray:
    """Mean intensity of :func:`_band_limited_field` with ``amplitude = sqrt(intensity)``: the
    intensity convolved with the impulse response's power (normalised to unit sum), edges extended
    by ``pad`` pixels against the FFT's wrap-around."""
    padded = np.pad(intensity.astype(np.float64), pad, mode="edge")
    transfer = np.ones(padded.shape)
    for axis, frac in enumerate(fraction):
        power = np.abs(np.fft.ifft(_window_response(padded.shape[axis], frac))) ** 2
        t = np.fft.fft(power / power.sum()).real
        transfer = transfer * (t[:, None] if axis == 0 else t[None, :])
    out = np.fft.ifft2(np.fft.fft2(padded) * transfer).real
    return np.maximum(out[pad:-pad, pad:-pad], 0.0)


def _sinc_interp(field_: np.ndarray, rows: np.ndarray, cols: np.ndarray, taps: int = 16) -> np.ndarray:
    """Evaluate a band-limited 2-D field at fractional (row, col) with a Hann-windowed sinc."""
    half = taps // 2
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    k = np.arange(-half + 1, half + 1)

    def weights(frac: np.ndarray) -> np.ndarray:
        x = frac[..., None] - k
        w = np.sinc(x) * (0.5 + 0.5 * np.cos(np.pi * x / (half + 0.5)))
        return w / w.sum(-1, keepdims=True)

    wr = weights(rows - r0)
    wc = weights(cols - c0)
    out = np.zeros(rows.shape, dtype=np.complex128)
    ny, nx = field_.shape
    for i, di in enumerate(k):
        rr = np.clip(r0 + di, 0, ny - 1)
        acc = np.zeros(rows.shape, dtype=np.complex128)
        for j, dj in enumerate(k):
            acc += wc[..., j] * field_[rr, np.clip(c0 + dj, 0, nx - 1)]
        out += wr[..., i] * acc
    return out.astype(np.complex64)


def _fill_nearest(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    from scipy.ndimage import distance_transform_edt

    if valid.all() or not valid.any():
        return values
    idx = distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return values[tuple(idx)]


def _centre_correct(mean_value: np.ndarray, mean_l: np.ndarray, mean_p: np.ndarray) -> np.ndarray:
    """Move a binned mean from the samples' mean position to the pixel centre (first order)."""
    gl, gp = np.gradient(mean_value)
    ll, pp = np.meshgrid(np.arange(mean_value.shape[0]), np.arange(mean_value.shape[1]), indexing="ij")
    return mean_value + gl * (ll - mean_l) + gp * (pp - mean_p)


def simulate_scene(config: SceneConfig | None = None, progress: Callable[[str], None] | None = None) -> SimulatedScene:
    """Simulate a stack (deterministic for ``config.seed``). See the module docstring."""
    cfg = config or SceneConfig()
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(cfg.seed)
    pols = tuple(p.upper() for p in cfg.polarizations)
    wavelength = SPEED_OF_LIGHT / cfg.radar_frequency_hz
    crs = _utm_crs(cfg.center_lon, cfg.center_lat)
    to_map = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    to_geo = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    x0, y0 = to_map.transform(cfg.center_lon, cfg.center_lat)

    # ---- terrain ---------------------------------------------------------------------------------
    extent = 1.6 * max(cfg.lines * cfg.azimuth_spacing_m, cfg.samples * cfg.ground_range_spacing_m) + 8 * cfg.relief_m
    dem_fn = _dem_function(cfg, rng, extent)
    spacing = cfg.ground_range_spacing_m
    n_map = int(np.ceil(extent / spacing))
    left, top = x0 - n_map * spacing / 2, y0 + n_map * spacing / 2
    transform = Affine(spacing, 0, left, 0, -spacing, top)
    seeds = shapely.MultiPoint(
        np.column_stack(
            [rng.uniform(left, left + n_map * spacing, cfg.n_polygons), rng.uniform(top - n_map * spacing, top, cfg.n_polygons)]
        )
    )
    box = shapely.box(left, top - n_map * spacing, left + n_map * spacing, top)
    cells = shapely.voronoi_polygons(seeds, extend_to=box)
    values = [c.value for c in cfg.classes]
    polygons = [
        (int(values[i % len(values)] if i < len(values) else rng.choice(values)), shapely.intersection(g, box))
        for i, g in enumerate(shapely.get_parts(cells))
    ]
    class_by_value = {c.value: c for c in cfg.classes}
    shapes = [(geom, value) for value, geom in polygons]
    xs = left + (np.arange(n_map) + 0.5) * spacing
    ys = top - (np.arange(n_map) + 0.5) * spacing
    truth_map = xr.Dataset(
        {
            "class_map": (("y", "x"), features.rasterize(shapes, (n_map, n_map), transform=transform, dtype="uint8")),
            "dem": (
                ("y", "x"),
                dem_fn(xs[None, :] - x0, ys[:, None] - y0).astype(np.float32),
                {"units": "m", "long_name": "height above the WGS84 ellipsoid"},
            ),
        },
        coords={"x": xs, "y": ys},
        attrs={"crs": crs.to_string(), "epsg": crs.to_epsg(), "transform": list(transform.to_gdal())},
    )

    # ---- orbits and radar grids ------------------------------------------------------------------
    center = geodetic_to_ecef(cfg.center_lon, cfg.center_lat, cfg.mean_height_m)
    base_orbit, t_c, _r_c = _place_orbit(cfg, center)
    start = np.datetime64(cfg.start, "ns")
    _, v_c, _ = base_orbit.state(t_c)
    ground_speed = float(np.linalg.norm(v_c)) * WGS84_A / base_orbit.radius
    dt_primary = cfg.azimuth_spacing_m / ground_speed
    slant_spacing = cfg.ground_range_spacing_m * np.sin(np.radians(cfg.incidence_deg))
    fs = SPEED_OF_LIGHT / (2.0 * slant_spacing)
    orbits, firsts, taus, epochs, dts = [], [], [], [], []
    for k in range(cfg.dates):
        b_perp = 0.0 if k == 0 else rng.normal(0.0, cfg.baseline_m)
        b_rad = 0.0 if k == 0 else rng.normal(0.0, cfg.baseline_m / 3)
        orb = CircularOrbit(base_orbit.radius + b_rad, base_orbit.inclination, base_orbit.raan + b_perp / base_orbit.radius, base_orbit.u0)
        tk, rk = orb.zero_doppler(center[None, :], t_c)
        shift_l = 0.0 if k == 0 else rng.uniform(-cfg.max_shift_px, cfg.max_shift_px)
        shift_p = 0.0 if k == 0 else rng.uniform(-cfg.max_shift_px, cfg.max_shift_px)
        if k > 0 and cfg.secondary_shifts_px is not None:
            shift_l, shift_p = (float(v) for v in cfg.secondary_shifts_px[k - 1])
        dt = dt_primary * (cfg.line_interval_ratio[k - 1] if k > 0 and cfg.line_interval_ratio is not None else 1.0)
        dts.append(dt)
        firsts.append(float(tk[0]) - (cfg.lines / 2 + shift_l) * dt)
        taus.append(2 * float(rk[0]) / SPEED_OF_LIGHT - (cfg.samples / 2 + shift_p) / fs)
        orbits.append(orb)
        epochs.append(start + np.timedelta64(round(k * cfg.revisit_days * 86400e9), "ns"))

    # ---- ground samples -> every date's raster ---------------------------------------------------
    say("projecting ground samples")
    n_fine = n_map * cfg.ground_oversampling
    fine = spacing / cfg.ground_oversampling
    cell_area = fine * fine
    shape = (cfg.lines, cfg.samples)
    npx = cfg.lines * cfg.samples
    n_cls = max(values) + 1
    acc = [
        {
            "count": np.zeros(npx),
            "cls": np.zeros((n_cls, npx)),
            "l": np.zeros(npx),
            "p": np.zeros(npx),
            "l0": np.zeros(npx),
            "p0": np.zeros(npx),
            "dr": np.zeros(npx),
            **{f"s_{pol}": np.zeros(npx) for pol in pols},
        }
        for _ in range(cfg.dates)
    ]
    prim = {
        "count": np.zeros(npx),
        "l": np.zeros(npx),
        "p": np.zeros(npx),
        **{f"dl{k}": np.zeros(npx) for k in range(cfg.dates)},
        **{f"dp{k}": np.zeros(npx) for k in range(cfg.dates)},
        **{f"dr{k}": np.zeros(npx) for k in range(cfg.dates)},
        **{f"def{k}": np.zeros(npx) for k in range(cfg.dates)},
    }
    bowl_x, bowl_y, bowl_w = rng.uniform(-0.2, 0.2) * extent, rng.uniform(-0.2, 0.2) * extent, 0.12 * extent
    fx = left + (np.arange(n_fine) + 0.5) * fine
    block = max(1, 400_000 // n_fine)
    sigma_table = {
        pol: np.array([class_by_value[v].sigma0.get(pol, 0.0) if v in class_by_value else 0.0 for v in range(n_cls)]) for pol in pols
    }
    for r0 in range(0, n_fine, block):
        fy = top - (np.arange(r0, min(r0 + block, n_fine)) + 0.5) * fine
        gx, gy = np.meshgrid(fx, fy)
        h = dem_fn(gx - x0, gy - y0)
        cls = features.rasterize(shapes, gx.shape, transform=Affine(fine, 0, left, 0, -fine, top - r0 * fine), dtype="uint8").ravel()
        lon, lat = to_geo.transform(gx.ravel(), gy.ravel())
        pts = geodetic_to_ecef(lon, lat, h.ravel())
        bowl = np.exp(-((gx - x0 - bowl_x) ** 2 + (gy - y0 - bowl_y) ** 2) / (2 * bowl_w**2)).ravel()
        pos = []
        for k, orb in enumerate(orbits):
            t, r = orb.zero_doppler(pts, t_c)
            pos.append(((t - firsts[k]) / dts[k], (2 * r / SPEED_OF_LIGHT - taus[k]) * fs, r))
        l0, p0, r_0 = pos[0]
        for k in range(cfg.dates):
            lk, pk, rk = pos[k]
            il, ip = np.rint(lk).astype(int), np.rint(pk).astype(int)
            inside = (il >= 0) & (il < shape[0]) & (ip >= 0) & (ip < shape[1])
            flat = (il * shape[1] + ip)[inside]
            a = acc[k]
            a["count"] += np.bincount(flat, minlength=npx)
            for v in np.unique(cls[inside]):
                a["cls"][v] += np.bincount(flat[cls[inside] == v], minlength=npx)
            a["l"] += np.bincount(flat, lk[inside], npx)
            a["p"] += np.bincount(flat, pk[inside], npx)
            a["l0"] += np.bincount(flat, l0[inside], npx)
            a["p0"] += np.bincount(flat, p0[inside], npx)
            a["dr"] += np.bincount(flat, (rk - r_0)[inside], npx)
            for pol in pols:
                a[f"s_{pol}"] += np.bincount(flat, sigma_table[pol][cls[inside]] * cell_area, npx)
        il, ip = np.rint(l0).astype(int), np.rint(p0).astype(int)
        inside = (il >= 0) & (il < shape[0]) & (ip >= 0) & (ip < shape[1])
        flat = (il * shape[1] + ip)[inside]
        prim["count"] += np.bincount(flat, minlength=npx)
        prim["l"] += np.bincount(flat, l0[inside], npx)
        prim["p"] += np.bincount(flat, p0[inside], npx)
        for k in range(cfg.dates):
            years = (epochs[k] - epochs[0]) / NS * 1e-9 / (365.25 * 86400)
            prim[f"dl{k}"] += np.bincount(flat, (pos[k][0] - l0)[inside], npx)
            prim[f"dp{k}"] += np.bincount(flat, (pos[k][1] - p0)[inside], npx)
            prim[f"dr{k}"] += np.bincount(flat, (pos[k][2] - r_0)[inside], npx)
            prim[f"def{k}"] += np.bincount(flat, (-cfg.deformation_m_per_year * years * bowl)[inside], npx)

    # ---- pixels ----------------------------------------------------------------------------------
    say("forming SLC pixels")
    # the common field must cover every secondary pixel's primary position
    reach = max([cfg.max_shift_px, *(abs(v) for sh in cfg.secondary_shifts_px or () for v in sh)])
    reach += max(abs(1 / r - 1) for r in (cfg.line_interval_ratio or (1.0,))) * cfg.lines / 2
    pad = int(np.ceil(2 * reach + 16))
    # the common scatterers on the padded primary grid, weighted by the primary's reflectivity and
    # band-limited: every date sees the same bright and dark ground through the same impulse response
    common_white = _white(rng, (shape[0] + 2 * pad, shape[1] + 2 * pad))
    a_ref = cfg.azimuth_spacing_m * cfg.ground_range_spacing_m  # flat-terrain ground area of a pixel
    common, common_mean = {}, {}
    for pol in pols:
        reflectivity = np.pad(acc[0][f"s_{pol}"].reshape(shape) / a_ref, pad, mode="edge")
        common[pol] = _band_limit(common_white * np.sqrt(reflectivity), cfg.bandwidth_fraction)
        common_mean[pol] = _expected_intensity(reflectivity, cfg.bandwidth_fraction)
    acquisitions, truths = [], []
    pcount = prim["count"].reshape(shape)
    pvalid = pcount > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        pl = _fill_nearest(prim["l"].reshape(shape) / pcount, pvalid)
        pp = _fill_nearest(prim["p"].reshape(shape) / pcount, pvalid)
    for k in range(cfg.dates):
        a = acc[k]
        count = a["count"].reshape(shape)
        valid = count > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            ml = _fill_nearest(a["l"].reshape(shape) / count, valid)
            mp = _fill_nearest(a["p"].reshape(shape) / count, valid)
            src_l = _fill_nearest(a["l0"].reshape(shape) / count, valid)
            src_p = _fill_nearest(a["p0"].reshape(shape) / count, valid)
            dr = _fill_nearest(a["dr"].reshape(shape) / count, valid)
        src_l, src_p, dr = (_centre_correct(v, ml, mp) for v in (src_l, src_p, dr))
        class_map = np.where(valid, a["cls"].argmax(0).reshape(shape), 0).astype(np.uint8)
        gamma_tab = np.array(
            [
                (cfg.coherence if cfg.coherence is not None else class_by_value[v].coherence) if v in class_by_value else 0.0
                for v in range(n_cls)
            ]
        )
        gamma = gamma_tab[class_map]
        # deformation of the imaged ground, mapped back from the primary grid
        with np.errstate(invalid="ignore", divide="ignore"):
            def_k = _fill_nearest(prim[f"def{k}"].reshape(shape) / pcount, pvalid)
        d_here = def_k[np.clip(np.rint(src_l), 0, shape[0] - 1).astype(int), np.clip(np.rint(src_p), 0, shape[1] - 1).astype(int)]
        phase = np.exp(-1j * 4 * np.pi / wavelength * (dr + d_here))
        grid, geoloc, calib = _radar_grid_and_annotation(cfg, orbits[k], epochs[k], firsts[k], taus[k], dts[k], fs, shape, t_c)
        a_sigma = calib.interpolate("sigma0", np.arange(shape[0]), np.arange(shape[1]))
        rasters, intens = {}, {}
        for pol in pols:
            intensity = a[f"s_{pol}"].reshape(shape) / a_ref
            own = _band_limited_field(rng, (shape[0], shape[1]), cfg.bandwidth_fraction, np.sqrt(intensity))
            if k == 0:
                w_common, mean_common = common[pol][pad:-pad, pad:-pad], common_mean[pol][pad:-pad, pad:-pad]
            else:
                w_common = _sinc_interp(common[pol], src_l + pad, src_p + pad)
                mean_common = map_coordinates(common_mean[pol], [src_l + pad, src_p + pad], order=1, mode="nearest")
            mix = np.sqrt(gamma) * w_common * phase + np.sqrt(1 - gamma) * own
            rasters[pol] = (a_sigma * mix).astype(np.complex64)
            # the expected |slc|^2 / A_sigma^2: both parts' reflectivity seen through the impulse response
            expected = gamma * mean_common + (1 - gamma) * _expected_intensity(intensity, cfg.bandwidth_fraction)
            intens[pol] = expected.astype(np.float32)
        orbit_times = np.arange(-60.0, 60.0 + 1e-9, 10.0) + t_c
        spos, svel, _ = orbits[k].state(orbit_times)
        orbit = Orbit(epochs[k] + (orbit_times * 1e9).astype(np.int64).astype("timedelta64[ns]"), spos, svel, source="simulated")
        name = f"ALIGNSAR_SIM_SLC_{np.datetime_as_string(epochs[k], unit='s').replace('-', '').replace(':', '')}_{k:02d}"
        t_first = epochs[k] + np.timedelta64(round(firsts[k] * 1e9), "ns")
        # the scene's band, fixed on the ground: fractions of the primary's sampling (Hamming 0.54)
        spectrum = ProcessingSpectrum(
            cfg.bandwidth_fraction[0] / dts[0], cfg.bandwidth_fraction[1] * fs, SIMULATOR_WINDOW_COEFFICIENT, SIMULATOR_WINDOW_COEFFICIENT
        )
        acq = Acquisition(
            mission="alignsar-simulator",
            platform="simulated-sar",
            instrument_mode="SM",
            product_type="SLC",
            polarizations=pols,
            start_time=t_first,
            stop_time=t_first + np.timedelta64(round((shape[0] - 1) * dts[k] * 1e9), "ns"),
            absolute_orbit=1000 + k * 175,
            relative_orbit=42,
            pass_direction=cfg.pass_direction.lower(),
            look_side="right",
            radar_frequency=cfg.radar_frequency_hz,
            product_name=name,
            source_path=f"memory://{name}",
            orbit=orbit,
            swaths={"S1": Swath("S1", grid, pols, geoloc, spectrum=spectrum)},
            source=InMemorySource(rasters, calib),
            metadata={"simulator_seed": cfg.seed, "date_index": k},
        )
        acquisitions.append(acq)
        with np.errstate(invalid="ignore", divide="ignore"):
            off_l = _centre_correct(_fill_nearest(prim[f"dl{k}"].reshape(shape) / pcount, pvalid), pl, pp)
            off_p = _centre_correct(_fill_nearest(prim[f"dp{k}"].reshape(shape) / pcount, pvalid), pl, pp)
            drp = _centre_correct(_fill_nearest(prim[f"dr{k}"].reshape(shape) / pcount, pvalid), pl, pp)
        truth = xr.Dataset(
            {
                "class_map": (("azimuth", "range"), class_map, {"long_name": "land-cover class imaged by the pixel (0 = shadow)"}),
                "samples": (("azimuth", "range"), count.astype(np.int32), {"long_name": "ground samples per pixel"}),
                "coherence": (("azimuth", "range"), gamma.astype(np.float32), {"long_name": "true coherence with any other date"}),
                "offset_azimuth": (
                    ("azimuth", "range"),
                    off_l.astype(np.float64),
                    {"units": "pixel", "long_name": "secondary minus primary line, on the primary grid"},
                ),
                "offset_range": (
                    ("azimuth", "range"),
                    off_p.astype(np.float64),
                    {"units": "pixel", "long_name": "secondary minus primary pixel, on the primary grid"},
                ),
                "phase": (
                    ("azimuth", "range"),
                    (4 * np.pi / wavelength * (drp + def_k - 0.0)).astype(np.float64),
                    {"units": "rad", "long_name": "true phase of primary * conj(this date), on the primary grid"},
                ),
                "deformation": (
                    ("azimuth", "range"),
                    def_k.astype(np.float32),
                    {
                        "units": "m",
                        "long_name": "line-of-sight displacement since the first date, positive away from the radar, on the primary grid",
                    },
                ),
                **{
                    f"intensity_{pol.lower()}": (
                        ("azimuth", "range"),
                        intens[pol],
                        {"units": "m2 m-2", "long_name": f"true mean sigma0 {pol} (the reflectivity smoothed by the impulse response power)"},
                    )
                    for pol in pols
                },
            },
            attrs={"date_index": k, "wavelength_m": wavelength, "product_name": name},
        )
        truths.append(truth)
    return SimulatedScene(cfg, acquisitions, truths, truth_map, polygons, orbits)


def _radar_grid_and_annotation(
    cfg: SceneConfig,
    orbit: CircularOrbit,
    epoch: np.datetime64,
    first: float,
    tau: float,
    dt: float,
    fs: float,
    shape: tuple[int, int],
    t_guess: float,
) -> tuple[RadarGrid, xr.Dataset, CalibrationLUT]:
    """Radar grid, geolocation grid (exact, on the ellipsoid at the mean height) and calibration LUT."""
    grid = RadarGrid(
        swath="S1",
        shape=shape,
        first_azimuth_time=epoch + np.timedelta64(round(first * 1e9), "ns"),
        azimuth_time_interval=dt,
        first_slant_range_time=tau,
        range_sampling_rate=fs,
        projection="slant_range",
        azimuth_pixel_spacing=cfg.azimuth_spacing_m,
        range_pixel_spacing=SPEED_OF_LIGHT / (2 * fs),
    )
    g_lines = np.linspace(0, shape[0] - 1, 6)
    g_pix = np.linspace(0, shape[1] - 1, 11)
    gl, gp = np.meshgrid(g_lines, g_pix, indexing="ij")
    t = first + gl * dt
    rng_m = (tau + gp / fs) * SPEED_OF_LIGHT / 2
    lon, lat = _rdr2geo_ellipsoid(orbit, t, rng_m, cfg.mean_height_m, cfg.center_lon, cfg.center_lat)
    pts = geodetic_to_ecef(lon, lat, cfg.mean_height_m)
    s, _, _ = orbit.state(t)
    look = pts - s
    look /= np.linalg.norm(look, axis=-1, keepdims=True)
    normal = ellipsoid_normal(lon, lat)
    incidence = np.degrees(np.arccos(np.einsum("...i,...i", -look, normal)))
    nadir = -s / np.linalg.norm(s, axis=-1, keepdims=True)
    elevation = np.degrees(np.arccos(np.einsum("...i,...i", look, nadir)))
    at = epoch + np.rint(t * 1e9).astype(np.int64).astype("timedelta64[ns]")
    dims = ("grid_line", "grid_pixel")
    geoloc = xr.Dataset(
        {
            "azimuth_time": (dims, at),
            "slant_range_time": (dims, 2 * rng_m / SPEED_OF_LIGHT, {"units": "s"}),
            "latitude": (dims, lat, {"units": "degrees_north"}),
            "longitude": (dims, lon, {"units": "degrees_east"}),
            "height": (dims, np.full(gl.shape, cfg.mean_height_m), {"units": "m"}),
            "incidence_angle": (dims, incidence, {"units": "degree"}),
            "elevation_angle": (dims, elevation, {"units": "degree"}),
        },
        coords={"line": ("grid_line", g_lines), "pixel": ("grid_pixel", g_pix)},
    )
    # calibration LUT vectors every ~32 lines / pixels: A_sigma = A_beta / sqrt(sin(inc))
    c_lines = np.unique(np.r_[np.arange(0, shape[0], 32), shape[0] - 1]).astype(float)
    c_pix = np.unique(np.r_[np.arange(0, shape[1], 32), shape[1] - 1]).astype(float)
    inc_c = np.array([np.interp(c_pix, g_pix, row) for row in incidence])  # per grid line
    inc_c = np.array([np.interp(c_lines, g_lines, inc_c[:, j]) for j in range(c_pix.size)]).T
    sin_i = np.sin(np.radians(inc_c))
    beta = np.full(inc_c.shape, cfg.beta0_constant)
    sigma = beta / np.sqrt(sin_i)
    gamma = sigma * np.sqrt(np.cos(np.radians(inc_c)))
    calib = CalibrationLUT(c_lines, c_pix, {"sigma0": sigma, "beta0": beta, "gamma0": gamma, "dn": beta})
    return grid, geoloc, calib


def _rdr2geo_ellipsoid(
    orbit: CircularOrbit, t: np.ndarray, rng_m: np.ndarray, height: float, lon0: float, lat0: float
) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of radar points on the ellipsoid raised by ``height``, target on the right: Newton
    on (lon, lat) with a finite-difference Jacobian (simulator-only helper)."""
    s, v, _ = orbit.state(t)
    lon = np.full(t.shape, lon0, dtype=float)
    lat = np.full(t.shape, lat0, dtype=float)

    def resid(lo: np.ndarray, la: np.ndarray) -> np.ndarray:
        p = geodetic_to_ecef(lo, la, height)
        d = p - s
        return np.stack([np.linalg.norm(d, axis=-1) - rng_m, np.einsum("...i,...i", d, v) / np.linalg.norm(v, axis=-1)], -1)

    eps = 1e-6
    for _ in range(30):
        f = resid(lon, lat)
        j = np.stack([(resid(lon + eps, lat) - f) / eps, (resid(lon, lat + eps) - f) / eps], -1)
        step = np.linalg.solve(j, -f[..., None])[..., 0]
        lon += step[..., 0]
        lat += step[..., 1]
        if np.abs(step).max() < 1e-12:
            break
    return lon, lat
