"""Sentinel-1 SAFE reader (folders and zipped SAFE; IW / EW / SM; SLC and GRD; S1A / S1B / S1C / S1D).

What comes from where:

- manifest (identity, file map): ``xarray_sentinel.esa_safe.parse_manifest_sentinel1``;
- calibration LUTs: ``xarray_sentinel.sentinel1.open_calibration_dataset``;
- annotation (radar grid, bursts, orbit, per-point geolocation grid, slant/ground conversion) and
  thermal noise: parsed here, because xarray-sentinel's ``gcp`` group keeps one time per grid line
  and one range time per grid column (wrong by hundreds of metres on GRD) and its azimuth-noise
  reader keeps only the first block. Every XML document is parsed (or pre-checked) with defusedxml
  semantics: DTDs and entities are refused before any other parser sees the bytes.
- pixels: rasterio (GDAL) through rioxarray, lazily, with ``/vsizip/`` inside archives.

Swaths and polarisations are those whose annotation is present; a measurement without its
annotation, or a product without any annotation, is a :class:`MissingDataError`.
"""

from __future__ import annotations

import dataclasses
import io
import os
import posixpath
import warnings
from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np
import xarray as xr

from ..errors import CorruptProductError, MissingDataError, UnsupportedProductError
from ..model import (
    Acquisition,
    Burst,
    CalibrationLUT,
    DopplerParameters,
    NoiseAzimuthBlock,
    NoiseRangeVector,
    Orbit,
    ProcessingSpectrum,
    ProductSource,
    RadarGrid,
    RangePolynomial,
    SlantGroundConversion,
    Swath,
    ThermalNoise,
)
from ._archive import Container
from ._xml import floats, parse_xml, text

SUPPORTED_MODES = ("IW", "EW", "SM")
_MANIFEST = "manifest.safe"


class Sentinel1Source(ProductSource):
    """Pixel and LUT access for one SAFE product."""

    def __init__(self, container: Container, files: dict[tuple[str, str], dict[str, str]]) -> None:
        self.container = container
        self.files = files

    def _file(self, swath: str, pol: str, kind: str) -> str:
        entry = self.files.get((swath.lower(), pol.lower()), {})
        if kind not in entry or not self.container.exists(entry[kind]):
            where = self.container.describe(entry[kind]) if kind in entry else str(self.container.path)
            raise MissingDataError(where, f"no {kind} file for {swath.upper()} {pol.upper()}")
        return entry[kind]

    def open_raster(self, swath: str, pol: str) -> xr.DataArray:
        rel = self._file(swath, pol, "measurement")
        path = self.container.gdal_path(rel)
        import rasterio

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=rasterio.errors.NotGeoreferencedWarning)
                # 2048-sample chunks across full-width TIFF strips are deliberate (window reads)
                warnings.filterwarnings("ignore", message="The specified chunks separate the stored chunks")
                with rasterio.open(path) as ds:
                    itemsize = np.dtype(ds.dtypes[0] if ds.dtypes[0] != "complex_int16" else "complex64").itemsize
                # ~8 MB chunks, 2048 samples wide, so that windows (geocoding, chips) read little
                cols = 2048
                lines = int(np.clip(8 * 2**20 // (cols * itemsize), 256, 4096))
                arr = xr.open_dataarray(path, engine="rasterio", chunks={"y": lines, "x": cols}, mask_and_scale=False)
        except rasterio.errors.RasterioIOError as exc:
            raise CorruptProductError(self.container.describe(rel), f"unreadable measurement ({exc})") from exc
        arr = arr.squeeze("band", drop=True).drop_vars("spatial_ref", errors="ignore")
        arr.encoding.clear()
        arr = arr.rename({"y": "line", "x": "pixel"})
        return arr.assign_coords(line=np.arange(arr.sizes["line"]), pixel=np.arange(arr.sizes["pixel"]))

    @lru_cache(maxsize=32)  # noqa: B019 - one source per product, few (swath, pol) pairs
    def calibration(self, swath: str, pol: str) -> CalibrationLUT:
        from xarray_sentinel.sentinel1 import open_calibration_dataset

        rel = self._file(swath, pol, "calibration")
        data = self.container.read(rel)
        parse_xml(data, self.container.describe(rel))  # refuse DTDs / entities before xmlschema sees it
        try:
            ds = open_calibration_dataset(io.BytesIO(data), attrs={})
        except Exception as exc:  # xarray-sentinel raises ValueError / xmlschema errors / KeyError
            raise CorruptProductError(self.container.describe(rel), f"cannot read calibration ({exc})") from exc
        return CalibrationLUT(
            line=ds["line"].values,
            pixel=ds["pixel"].values,
            luts={
                "sigma0": ds["sigmaNought"].values.astype(np.float64),
                "beta0": ds["betaNought"].values.astype(np.float64),
                "gamma0": ds["gamma"].values.astype(np.float64),
                "dn": ds["dn"].values.astype(np.float64),
            },
            absolute_constant=float(ds.attrs.get("absoluteCalibrationConstant", 1.0)),
        )

    @lru_cache(maxsize=32)  # noqa: B019
    def noise(self, swath: str, pol: str) -> ThermalNoise | None:
        entry = self.files.get((swath.lower(), pol.lower()), {})
        if "noise" not in entry or not self.container.exists(entry["noise"]):
            return None
        rel = entry["noise"]
        name = self.container.describe(rel)
        root = parse_xml(self.container.read(rel), name)
        return parse_noise(root, name)


def parse_noise(root: Element, name: str) -> ThermalNoise:
    """Thermal noise of a noise XML (IPF >= 2.9 range + azimuth vectors, or older ``noiseVector``)."""
    vectors = []
    range_tag, lut_tag = ("noiseRangeVectorList/noiseRangeVector", "noiseRangeLut")
    if root.find("noiseRangeVectorList") is None:
        range_tag, lut_tag = ("noiseVectorList/noiseVector", "noiseLut")
    for v in root.iterfind(range_tag):
        pixel = np.array(floats(text(v, "pixel", name)))
        values = np.array(floats(text(v, lut_tag, name)))
        if pixel.size != values.size or pixel.size == 0:
            raise CorruptProductError(name, f"noise vector at line {text(v, 'line', name)}: {pixel.size} pixels, {values.size} values")
        vectors.append(NoiseRangeVector(float(text(v, "line", name)), pixel, values))
    if not vectors:
        raise CorruptProductError(name, "no noise range vectors")
    blocks = []
    for b in root.iterfind("noiseAzimuthVectorList/noiseAzimuthVector"):
        line = np.array(floats(text(b, "line", name)))
        values = np.array(floats(text(b, "noiseAzimuthLut", name)))
        n = min(line.size, values.size)  # some GRDs annotate one more line than values
        blocks.append(
            NoiseAzimuthBlock(
                first_line=int(text(b, "firstAzimuthLine", name)),
                last_line=int(text(b, "lastAzimuthLine", name)),
                first_sample=int(text(b, "firstRangeSample", name)),
                last_sample=int(text(b, "lastRangeSample", name)),
                line=line[:n],
                values=values[:n],
            )
        )
    vectors.sort(key=lambda v: v.line)
    return ThermalNoise(tuple(vectors), tuple(blocks))


def _dt(value: str) -> np.datetime64:
    return np.datetime64(value.strip(), "ns")


def parse_orbit(root: Element, name: str) -> Orbit:
    times, pos, vel, frames = [], [], [], set()
    for o in root.iterfind("generalAnnotation/orbitList/orbit"):
        times.append(_dt(text(o, "time", name)))
        pos.append([float(text(o, f"position/{a}", name)) for a in "xyz"])
        vel.append([float(text(o, f"velocity/{a}", name)) for a in "xyz"])
        frames.add(text(o, "frame", name, default="Earth Fixed"))
    if len(times) < 2:
        raise CorruptProductError(name, "annotation has fewer than 2 orbit state vectors")
    return Orbit(np.array(times), np.array(pos), np.array(vel), source="annotation", frame="/".join(sorted(frames)))


def parse_geolocation_grid(root: Element, name: str) -> xr.Dataset:
    """The annotation's geolocation grid, one value per point (no per-row / per-column shortcut)."""
    points = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    if not points:
        raise CorruptProductError(name, "annotation has no geolocation grid points")
    line = np.array([int(text(p, "line", name)) for p in points])
    pixel = np.array([int(text(p, "pixel", name)) for p in points])
    lines = np.unique(line)
    pixels = np.unique(pixel)
    if lines.size * pixels.size != len(points):
        raise CorruptProductError(
            name, f"geolocation grid is not regular ({len(points)} points, {lines.size} lines x {pixels.size} pixels)"
        )
    iy = np.searchsorted(lines, line)
    ix = np.searchsorted(pixels, pixel)
    shape = (lines.size, pixels.size)

    def grid(tag: str, dtype: Any = np.float64) -> np.ndarray:
        out = np.empty(shape, dtype=dtype)
        out[iy, ix] = [(_dt(text(p, tag, name)) if dtype != np.float64 else float(text(p, tag, name))) for p in points]
        return out

    dims = ("grid_line", "grid_pixel")
    return xr.Dataset(
        {
            "azimuth_time": (dims, grid("azimuthTime", "datetime64[ns]"), {"long_name": "zero-Doppler azimuth time (UTC)"}),
            "slant_range_time": (dims, grid("slantRangeTime"), {"units": "s", "long_name": "two-way slant-range time"}),
            "latitude": (dims, grid("latitude"), {"units": "degrees_north"}),
            "longitude": (dims, grid("longitude"), {"units": "degrees_east"}),
            "height": (dims, grid("height"), {"units": "m", "long_name": "height above the WGS84 ellipsoid"}),
            "incidence_angle": (dims, grid("incidenceAngle"), {"units": "degree", "long_name": "ellipsoid incidence angle"}),
            "elevation_angle": (dims, grid("elevationAngle"), {"units": "degree"}),
        },
        coords={"line": ("grid_line", lines), "pixel": ("grid_pixel", pixels)},
        attrs={"source": name},
    )


def bistatic_reference(grid: RadarGrid, geoloc: xr.Dataset) -> float:
    """Two-way range time (s) to which Sentinel-1 references the bistatic azimuth shift.

    The geolocation grid holds zero-Doppler times; the image line of each grid point has the time
    ``t_grid - (tau - tau_ref) / 2``. ``tau_ref`` (close to the mid-swath range time of the product,
    the same for all IW swaths) is estimated from the product's own grid as the median of
    ``tau - 2 (t_grid - t_line)``; the residual spread is below the 1 us rounding of the grid times.
    """
    t_line = grid.azimuth_time(geoloc["line"].values)[:, None]
    dt = (geoloc["azimuth_time"].values - t_line) / np.timedelta64(1, "ns") * 1e-9
    return float(np.median(geoloc["slant_range_time"].values - 2.0 * dt))


def parse_bursts(root: Element, name: str) -> tuple[Burst, ...]:
    timing = root.find("swathTiming")
    if timing is None:
        raise CorruptProductError(name, "annotation has no swathTiming")
    lpb = int(text(timing, "linesPerBurst", name, default="0"))
    bursts = []
    for k, b in enumerate(timing.iterfind("burstList/burst")):
        burst_id = b.findtext("burstId")
        bursts.append(
            Burst(
                index=k,
                azimuth_time=_dt(text(b, "azimuthTime", name)),
                first_line=k * lpb,
                lines=lpb,
                first_valid_sample=tuple(int(v) for v in text(b, "firstValidSample", name).split()),
                last_valid_sample=tuple(int(v) for v in text(b, "lastValidSample", name).split()),
                azimuth_anx_time=float(text(b, "azimuthAnxTime", name, default="nan")),
                burst_id=int(burst_id) if burst_id else None,
            )
        )
    return tuple(bursts)


def parse_doppler(root: Element, name: str) -> DopplerParameters:
    """Azimuth FM rates, data Doppler centroids and the steering rate (deg/s annotated, rad/s kept).
    Older IPF versions write the FM rate as ``c0 c1 c2`` elements, newer ones as one polynomial."""
    fm = []
    for r in root.iterfind("generalAnnotation/azimuthFmRateList/azimuthFmRate"):
        poly = r.findtext("azimuthFmRatePolynomial")
        coef = floats(poly) if poly else [float(text(r, c, name)) for c in ("c0", "c1", "c2")]
        fm.append(RangePolynomial(_dt(text(r, "azimuthTime", name)), float(text(r, "t0", name)), tuple(coef)))
    dc = [
        RangePolynomial(_dt(text(r, "azimuthTime", name)), float(text(r, "t0", name)), tuple(floats(text(r, "dataDcPolynomial", name))))
        for r in root.iterfind("dopplerCentroid/dcEstimateList/dcEstimate")
    ]
    rate = float(text(root, "generalAnnotation/productInformation/azimuthSteeringRate", name, default="0"))
    return DopplerParameters(fm_rate=tuple(fm), doppler_centroid=tuple(dc), azimuth_steering_rate=float(np.deg2rad(rate)))


def parse_spectrum(root: Element, swath: str) -> ProcessingSpectrum | None:
    """The processed bandwidths (Hz) and spectral weighting windows of ``swath`` from
    ``imageAnnotation/processingInformation/swathProcParamsList``: ``processingBandwidth`` and a
    Hamming ``windowCoefficient`` per axis (a rectangular window is coefficient 1). None when the
    annotation lacks them or uses another window type (Kaiser: not a generalised Hamming window)."""
    params = root.findall("imageAnnotation/processingInformation/swathProcParamsList/swathProcParams")
    chosen = next((p for p in params if (p.findtext("swath") or "").strip().upper() == swath.upper()), params[0] if params else None)
    if chosen is None:
        return None
    values = []
    for axis in ("azimuthProcessing", "rangeProcessing"):
        kind = (chosen.findtext(f"{axis}/windowType") or "").strip().lower()
        bandwidth = chosen.findtext(f"{axis}/processingBandwidth")
        if bandwidth is None or kind not in ("hamming", "none", "rectangular"):
            return None
        coefficient = float(chosen.findtext(f"{axis}/windowCoefficient") or 1.0) if kind == "hamming" else 1.0
        values.append((float(bandwidth), coefficient))
    (b_az, c_az), (b_rg, c_rg) = values
    return ProcessingSpectrum(b_az, b_rg, c_az, c_rg)


def parse_slant_ground(root: Element, name: str) -> SlantGroundConversion | None:
    rows = root.findall("coordinateConversion/coordinateConversionList/coordinateConversion")
    if not rows:
        return None
    return SlantGroundConversion(
        azimuth_time=np.array([_dt(text(r, "azimuthTime", name)) for r in rows]),
        sr0=np.array([float(text(r, "sr0", name)) for r in rows]),
        srgr=np.array([floats(text(r, "srgrCoefficients", name)) for r in rows]),
        gr0=np.array([float(text(r, "gr0", name)) for r in rows]),
        grsr=np.array([floats(text(r, "grsrCoefficients", name)) for r in rows]),
    )


def parse_radar_grid(root: Element, name: str, swath: str) -> RadarGrid:
    info = root.find("imageAnnotation/imageInformation")
    prod = root.find("generalAnnotation/productInformation")
    if info is None or prod is None:
        raise CorruptProductError(name, "annotation lacks imageInformation / productInformation")
    bursts = parse_bursts(root, name)
    shape = (int(text(info, "numberOfLines", name)), int(text(info, "numberOfSamples", name)))
    ground = text(prod, "projection", name) == "Ground Range"
    first_time = bursts[0].azimuth_time if bursts else _dt(text(info, "productFirstLineUtcTime", name))
    if bursts and bursts[-1].first_line + bursts[-1].lines != shape[0]:
        raise CorruptProductError(name, f"{len(bursts)} bursts x {bursts[0].lines} lines != {shape[0]} lines")
    range_spacing = float(text(info, "rangePixelSpacing", name))
    return RadarGrid(
        swath=swath,
        shape=shape,
        first_azimuth_time=first_time,
        azimuth_time_interval=float(text(info, "azimuthTimeInterval", name)),
        first_slant_range_time=float(text(info, "slantRangeTime", name)),
        range_sampling_rate=float(text(prod, "rangeSamplingRate", name)),
        projection="ground_range" if ground else "slant_range",
        ground_range_spacing=range_spacing if ground else None,
        azimuth_pixel_spacing=float(text(info, "azimuthPixelSpacing", name)),
        range_pixel_spacing=range_spacing,
        slant_ground=parse_slant_ground(root, name) if ground else None,
        bursts=bursts,
    )


def _manifest(container: Container) -> tuple[dict[str, Any], dict[str, tuple[str, str, str, str, str]]]:
    from xarray_sentinel import esa_safe

    data = container.read(_MANIFEST)
    name = container.describe(_MANIFEST)
    root = parse_xml(data, name)
    family = next((e.text for e in root.iter() if e.tag.endswith("familyName") and e.text), None)
    if family is None or family.strip().upper() != "SENTINEL-1":
        raise UnsupportedProductError(container.path, f"not a Sentinel-1 product (manifest platform {family!r})")
    try:
        return esa_safe.parse_manifest_sentinel1.__wrapped__(io.BytesIO(data))
    except ValueError as exc:
        raise UnsupportedProductError(container.path, f"unsupported Sentinel-1 manifest ({exc})") from exc
    except Exception as exc:
        raise CorruptProductError(name, f"cannot read manifest ({exc})") from exc


def open_sentinel1(path: str | os.PathLike[str]) -> Acquisition:
    """Open a Sentinel-1 SAFE folder or zipped SAFE into an :class:`Acquisition` (reads no pixels)."""
    container = Container(path)
    container.find_root(_MANIFEST)
    attrs, product_files = _manifest(container)
    mode = attrs["mode"]
    if mode not in SUPPORTED_MODES:
        raise UnsupportedProductError(path, f"Sentinel-1 {mode} mode is not supported (supported: {', '.join(SUPPORTED_MODES)})")
    if attrs["product_type"] not in ("SLC", "GRD"):
        raise UnsupportedProductError(path, f"Sentinel-1 product type {attrs['product_type']} is not supported (SLC, GRD)")

    kinds = {
        "s1Level1ProductSchema": "annotation",
        "s1Level1CalibrationSchema": "calibration",
        "s1Level1NoiseSchema": "noise",
        "s1Level1MeasurementSchema": "measurement",
    }
    files: dict[tuple[str, str], dict[str, str]] = {}
    for rel, (kind, _, swath, pol, _) in product_files.items():
        if kind in kinds:
            files.setdefault((swath.lower(), pol.lower()), {})[kinds[kind]] = posixpath.normpath(rel)

    listed = [k for k, v in files.items() if "annotation" in v]
    present = [k for k in listed if container.exists(files[k]["annotation"])]
    for key, entry in files.items():
        if key not in present and "measurement" in entry and container.exists(entry["measurement"]):
            raise MissingDataError(
                container.describe(entry.get("annotation", "annotation")),
                f"measurement of {key[0].upper()} {key[1].upper()} has no annotation",
            )
    if not present:
        first = files[listed[0]]["annotation"] if listed else "annotation/"
        raise MissingDataError(container.describe(first), f"none of the {len(listed)} annotation files listed in the manifest is present")

    swath_grids: dict[str, RadarGrid] = {}
    swath_pols: dict[str, list[str]] = {}
    geoloc: dict[str, xr.Dataset] = {}
    doppler: dict[str, DopplerParameters] = {}
    spectrum: dict[str, ProcessingSpectrum | None] = {}
    orbit: Orbit | None = None
    frequency = None
    header: dict[str, str] = {}
    for key in sorted(present, key=lambda k: (k[0], {"vv": 0, "hh": 1, "vh": 2, "hv": 3}.get(k[1], 9))):
        rel = files[key]["annotation"]
        name = container.describe(rel)
        root = parse_xml(container.read(rel), name)
        swath = key[0].upper()
        grid = parse_radar_grid(root, name, swath)
        if swath not in swath_grids:
            geoloc[swath] = parse_geolocation_grid(root, name)
            doppler[swath] = parse_doppler(root, name)
            spectrum[swath] = parse_spectrum(root, swath)
            swath_grids[swath] = dataclasses.replace(grid, bistatic_reference_time=bistatic_reference(grid, geoloc[swath]))
        elif swath_grids[swath].shape != grid.shape:
            raise CorruptProductError(name, f"{swath} polarisations disagree on the raster shape")
        swath_pols.setdefault(swath, []).append(key[1].upper())
        if orbit is None:
            orbit = parse_orbit(root, name)
            frequency = float(text(root, "generalAnnotation/productInformation/radarFrequency", name))
            ads = root.find("adsHeader")
            header = {} if ads is None else {child.tag: (child.text or "").strip() for child in ads}
    assert orbit is not None and frequency is not None

    swaths = {
        s: Swath(
            name=s, grid=swath_grids[s], polarizations=tuple(swath_pols[s]), geolocation=geoloc[s], doppler=doppler[s], spectrum=spectrum[s]
        )
        for s in sorted(swath_grids)
    }
    product_name = posixpath.basename(container.root) or os.path.basename(os.path.abspath(path))
    return Acquisition(
        mission="sentinel-1",
        platform=f"sentinel-1{attrs['number'].lower()}",
        instrument_mode=mode,
        product_type=attrs["product_type"],
        polarizations=tuple(p.upper() for p in attrs["transmitter_receiver_polarisations"]),
        start_time=np.datetime64(attrs["start_time"], "ns"),
        stop_time=np.datetime64(attrs["stop_time"], "ns"),
        absolute_orbit=int(attrs["orbit_number"]),
        relative_orbit=int(attrs["relative_orbit_number"]),
        pass_direction=attrs["pass"].lower(),
        look_side="right",
        radar_frequency=frequency,
        product_name=product_name,
        source_path=os.fspath(path),
        orbit=orbit,
        swaths=swaths,
        source=Sentinel1Source(container, files),
        metadata={
            "ascending_node_time": attrs.get("ascending_node_time"),
            "mission_data_take_id": attrs.get("mission_data_take_id"),
            "annotation_header": header,
            "files": {f"{k[0].upper()}/{k[1].upper()}": v for k, v in sorted(files.items())},
        },
    )


__all__ = ["Sentinel1Source", "open_sentinel1", "parse_noise"]
