"""Envisat ASAR and ERS-1/2 SAR products in Envisat format (``.N1``, ``.E1``, ``.E2``).

Metadata are parsed here: the ASCII main and specific product headers (MPH, SPH), the data set
descriptors (DSD), and the binary annotation data sets that matter (main processing parameters,
geolocation grid, Doppler centroid, slant/ground range), big-endian, with the record layouts of the
Envisat product specification (PO-RS-MDA-GS-2009). Pixels are read directly from the measurement
data set (one record per line: 17-byte header, then samples), lazily, chunk by chunk.

Archives often hold products whose image data are cut off: metadata and geometry still open, and
reading lines that are not in the file raises :class:`MissingDataError` naming how many are there.

Times: MJD2000 records (days, seconds, microseconds), UTC. Geolocation tie-point sample numbers and
granule line numbers are 1-based in the product; the model uses 0-based pixel-centre indices.
Tie points lie at the product's average scene height above the ellipsoid
(``avg_scene_height_ellpsoid`` of the main processing parameters). Calibration (ESA's ASAR convention): ``sigma0 = |DN|^2 sin(alpha) / K`` with ``K`` the external
calibration factor of the main processing parameters and ``alpha`` the incidence angle of the
geolocation grid; beta0 = |DN|^2 / K, gamma0 = sigma0 / cos(alpha). Antenna pattern and range
spreading loss corrections are taken as applied by the processor (as for IMS/IMP products).
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from ..errors import CorruptProductError, MissingDataError, UnsupportedProductError
from ..model import Acquisition, CalibrationLUT, Orbit, ProductSource, RadarGrid, SlantGroundConversion, Swath

MPH_SIZE = 1247
MJD2000 = np.datetime64("2000-01-01T00:00:00", "ns")
SUFFIXES = (".N1", ".E1", ".E2")
_TIME_RE = re.compile(r"(\d{2})-([A-Z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2})\.(\d{6})")
_MONTHS = {m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
DETECTED = {"IMP": "GRD", "APP": "GRD", "PRI": "GRD", "APG": "GRD", "IMG": "GRD", "WSM": "GRD", "IMM": "GRD", "APM": "GRD"}
COMPLEX = {"IMS": "SLC", "APS": "SLC", "SLC": "SLC", "WSS": "SLC"}


def is_envisat(path: str | os.PathLike[str]) -> bool:
    """A file that starts with an Envisat MPH (``PRODUCT="``)."""
    try:
        with open(path, "rb") as f:
            return f.read(9) == b'PRODUCT="'
    except OSError:
        return False


def envisat_time(text: str) -> np.datetime64:
    """``03-JUL-2004 20:53:38.192288`` (UTC) -> datetime64[ns]."""
    m = _TIME_RE.search(text)
    if m is None:
        raise ValueError(f"not an Envisat time: {text!r}")
    d, mon, y, hh, mm, ss, us = m.groups()
    return np.datetime64(f"{y}-{_MONTHS[mon]:02d}-{d}T{hh}:{mm}:{ss}.{us}", "ns")


def mjd(raw: bytes) -> np.datetime64:
    """MJD2000 record (int32 days, uint32 seconds, uint32 microseconds, big-endian) -> UTC."""
    days, seconds, micro = struct.unpack(">iII", raw)
    return (
        MJD2000
        + np.timedelta64(days * 86400 + seconds, "s").astype("timedelta64[ns]")
        + np.timedelta64(micro, "us").astype("timedelta64[ns]")
    )


def parse_header(text: str) -> dict[str, str]:
    """``KEY=value`` lines of an MPH / SPH block; quotes and ``<unit>`` suffixes stripped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = re.sub(r"<[^>]*>$", "", value.strip()).strip().strip('"').strip()
        out.setdefault(key.strip(), value)
    return out


@dataclass(frozen=True)
class DSD:
    """A data set descriptor."""

    name: str
    type: str
    offset: int
    size: int
    num_dsr: int
    dsr_size: int


def parse_dsds(text: str) -> dict[str, DSD]:
    dsds = {}
    for block in re.split(r"\n(?=DS_NAME=)", text):
        h = parse_header(block)
        if "DS_NAME" not in h:
            continue
        dsds[h["DS_NAME"].strip()] = DSD(
            h["DS_NAME"].strip(), h["DS_TYPE"], int(h["DS_OFFSET"]), int(h["DS_SIZE"]), int(h["NUM_DSR"]), int(h["DSR_SIZE"])
        )
    return dsds


def _f32(raw: bytes, offset: int, n: int = 1) -> np.ndarray:
    return np.frombuffer(raw, ">f4", n, offset).astype(np.float64)


def _u32(raw: bytes, offset: int, n: int = 1) -> np.ndarray:
    return np.frombuffer(raw, ">u4", n, offset).astype(np.int64)


def _i32(raw: bytes, offset: int, n: int = 1) -> np.ndarray:
    return np.frombuffer(raw, ">i4", n, offset).astype(np.int64)


def parse_main_processing_params(raw: bytes) -> dict[str, Any]:
    """The fields of the main processing parameters ADSR used by the model (record layout of the
    product specification; the first 2009 bytes are common to all format versions)."""
    if len(raw) < 2009:
        raise ValueError(f"main processing parameters record is {len(raw)} bytes (< 2009)")
    vectors = []
    for k in range(5):
        o = 1765 + 36 * k
        t = mjd(raw[o : o + 12])
        pos = _i32(raw, o + 12, 3) * 1e-2
        vel = _i32(raw, o + 24, 3) * 1e-5
        vectors.append((t, pos, vel))
    return {
        "first_zero_doppler_time": mjd(raw[0:12]),
        "last_zero_doppler_time": mjd(raw[13:25]),
        "swath_id": raw[41:44].decode("ascii", "replace").strip(),
        "range_spacing": float(_f32(raw, 44)[0]),
        "azimuth_spacing": float(_f32(raw, 48)[0]),
        "line_time_interval": float(_f32(raw, 52)[0]),
        "num_output_lines": int(_u32(raw, 56)[0]),
        "num_samples_per_line": int(_u32(raw, 60)[0]),
        "data_type": raw[64:69].decode("ascii", "replace").strip(),
        "srgr_flag": raw[123],
        "detected_flag": raw[127],
        "first_swst": float(_f32(raw, 643)[0]),
        "prf": float(_f32(raw, 703)[0]),
        "range_samp_rate": float(_f32(raw, 983)[0]),
        "radar_freq": float(_f32(raw, 987)[0]),
        "num_looks_range": int(np.frombuffer(raw, ">u2", 1, 991)[0]),
        "num_look_az": int(np.frombuffer(raw, ">u2", 1, 1268)[0]),
        "proc_scaling_fact": float(_f32(raw, 1377)[0]),
        "ext_cal_fact": float(_f32(raw, 1381)[0]),
        # avg_scene_height_ellpsoid (m), the height of the geolocation tie points (format 4/A on;
        # a spare before): NaN when absent or implausible
        "avg_scene_height": float(h) if np.isfinite(h := _f32(raw, 1541)[0]) and abs(h) < 9000 else float("nan"),
        "state_vectors": vectors,
    }


def parse_geolocation_grid(raw: bytes, num_dsr: int, dsr_size: int) -> dict[str, np.ndarray]:
    """Geolocation grid ADSRs: per granule, 11 tie points on its first and last line."""
    rows: dict[str, list[Any]] = {k: [] for k in ("line", "time", "sample", "tau", "angle", "lat", "lon")}
    for k in range(num_dsr):
        rec = raw[k * dsr_size : (k + 1) * dsr_size]
        line_num = int(_u32(rec, 13)[0])
        num_lines = int(_u32(rec, 17)[0])
        for time_off, base, line in ((0, 25, line_num), (267, 279, line_num + num_lines - 1)):
            rows["line"].append(line)
            rows["time"].append(mjd(rec[time_off : time_off + 12]))
            rows["sample"].append(_u32(rec, base, 11))
            rows["tau"].append(_f32(rec, base + 44, 11) * 1e-9)
            rows["angle"].append(_f32(rec, base + 88, 11))
            rows["lat"].append(_i32(rec, base + 132, 11) * 1e-6)
            rows["lon"].append(_i32(rec, base + 176, 11) * 1e-6)
    out = {k: np.array(v) for k, v in rows.items()}
    # consecutive granules share a line: keep each line once
    _, keep = np.unique(out["line"], return_index=True)
    return {k: v[np.sort(keep)] for k, v in out.items()}


class EnvisatSource(ProductSource):
    """Lazy line reader of the measurement data set (MDS1) of an Envisat-format product."""

    def __init__(self, path: Path, mds: DSD, shape: tuple[int, int], complex_data: bool, calibration: CalibrationLUT) -> None:
        self.path = path
        self.mds = mds
        self.shape = shape
        self.complex = complex_data
        self._calibration = calibration
        size = path.stat().st_size
        self.lines_present = max(0, min(mds.num_dsr, (size - mds.offset) // mds.dsr_size))

    def _read(self, block_id: tuple[int, int], chunks: tuple[tuple[int, ...], tuple[int, ...]]) -> np.ndarray:
        i, j = block_id
        l0 = sum(chunks[0][:i])
        l1 = l0 + chunks[0][i]
        p0 = sum(chunks[1][:j])
        p1 = p0 + chunks[1][j]
        if l1 > self.lines_present:
            raise MissingDataError(
                self.path,
                f"image data truncated: lines {l0}..{l1 - 1} asked, only {self.lines_present} of {self.mds.num_dsr} lines are in the file",
            )
        width = self.mds.dsr_size
        with open(self.path, "rb") as f:
            f.seek(self.mds.offset + l0 * width)
            buf = f.read((l1 - l0) * width)
        if len(buf) != (l1 - l0) * width:
            raise MissingDataError(self.path, f"image data truncated at line {l0 + len(buf) // width}")
        rec = np.frombuffer(buf, np.uint8).reshape(l1 - l0, width)[:, 17:]
        if self.complex:
            iq = rec.view(">i2").reshape(l1 - l0, -1, 2)[:, p0:p1]
            return (iq[..., 0].astype(np.float32) + 1j * iq[..., 1].astype(np.float32)).astype(np.complex64)
        return rec.view(">u2")[:, p0:p1].astype(np.uint16)

    def open_raster(self, swath: str, pol: str) -> xr.DataArray:
        dtype = np.complex64 if self.complex else np.uint16
        lines = int(np.clip(8 * 2**20 // (self.shape[1] * np.dtype(dtype).itemsize), 64, 4096))
        chunks = da.core.normalize_chunks((lines, -1), self.shape)
        arr = da.map_blocks(
            lambda block_info=None: self._read(block_info[None]["chunk-location"], chunks),
            chunks=chunks,
            dtype=dtype,
            meta=np.empty((0, 0), dtype),
        )
        return xr.DataArray(arr, dims=("line", "pixel"), coords={"line": np.arange(self.shape[0]), "pixel": np.arange(self.shape[1])})

    def calibration(self, swath: str, pol: str) -> CalibrationLUT:
        return self._calibration


def open_envisat(path: str | os.PathLike[str]) -> Acquisition:
    """Open an Envisat ASAR / ERS SAR product in Envisat format (reads no pixels)."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(MPH_SIZE)
        if not head.startswith(b'PRODUCT="'):
            raise UnsupportedProductError(path, "not an Envisat-format product (no MPH)")
        mph = parse_header(head.decode("latin1"))
        try:
            sph_size = int(mph["SPH_SIZE"])
        except (KeyError, ValueError) as exc:
            raise CorruptProductError(path, "MPH has no valid SPH_SIZE") from exc
        sph_raw = f.read(sph_size)
        if len(sph_raw) < sph_size:
            raise CorruptProductError(path, f"truncated in the specific product header ({len(sph_raw)} of {sph_size} bytes)")
        sph_text = sph_raw.decode("latin1")
        first_dsd = sph_text.find("DS_NAME=")
        sph = parse_header(sph_text[:first_dsd] if first_dsd >= 0 else sph_text)
        dsds = parse_dsds(sph_text[first_dsd:] if first_dsd >= 0 else "")

        def read_ds(name: str) -> tuple[bytes, DSD]:
            dsd = dsds.get(name)
            if dsd is None or dsd.size == 0:
                raise MissingDataError(path, f"no {name.lower()} data set")
            f.seek(dsd.offset)
            raw = f.read(dsd.size)
            if len(raw) != dsd.size:
                raise CorruptProductError(path, f"{name.lower()} data set truncated ({len(raw)} of {dsd.size} bytes)")
            return raw, dsd

        product = mph.get("PRODUCT", "")
        kind = product[4:7]
        if product[:4] not in ("ASA_", "SAR_"):
            raise UnsupportedProductError(path, f"Envisat-format product {product!r} is not an ASAR / ERS SAR product")
        if kind not in COMPLEX and kind not in DETECTED:
            raise UnsupportedProductError(
                path, f"{product[:10]} products are not supported (image and alternating-polarisation SLC / detected only)"
            )
        try:
            mpp = parse_main_processing_params(read_ds("MAIN PROCESSING PARAMS ADS")[0])
            geo_raw, geo_dsd = read_ds("GEOLOCATION GRID ADS")
            grid_pts = parse_geolocation_grid(geo_raw, geo_dsd.num_dsr, geo_dsd.dsr_size)
        except (ValueError, struct.error) as exc:
            raise CorruptProductError(path, f"cannot parse annotation data sets ({exc})") from exc
        slant_ground = None
        if kind in DETECTED and "SR GR ADS" in dsds and dsds["SR GR ADS"].size:
            raw, dsd = read_ds("SR GR ADS")
            recs = [raw[k * dsd.dsr_size : (k + 1) * dsd.dsr_size] for k in range(dsd.num_dsr)]
            grsr = np.array([_f32(r, 21, 5) for r in recs])  # slant range = sum c_k (ground - gr0)^k
            gr0 = np.array([_f32(r, 17)[0] for r in recs])
            slant_ground = SlantGroundConversion(
                azimuth_time=np.array([mjd(r[0:12]) for r in recs]),
                sr0=np.zeros(len(recs)),
                srgr=np.column_stack([gr0 - grsr[:, 0] / grsr[:, 1], 1.0 / grsr[:, 1]]),  # linear seed, refined on grsr
                gr0=gr0,
                grsr=grsr,
            )
    mds = dsds.get("MDS1")
    if mds is None or mds.num_dsr == 0:
        raise MissingDataError(path, "no MDS1 measurement data set")
    shape = (mpp["num_output_lines"], mpp["num_samples_per_line"])
    if shape[0] != mds.num_dsr:
        raise CorruptProductError(path, f"MDS1 has {mds.num_dsr} records, main processing parameters say {shape[0]} lines")
    complex_data = kind in COMPLEX
    if (complex_data and mds.dsr_size != 17 + 4 * shape[1]) or (not complex_data and mds.dsr_size != 17 + 2 * shape[1]):
        raise CorruptProductError(path, f"MDS1 record size {mds.dsr_size} does not fit {shape[1]} samples")

    # geolocation grid in model form: 0-based lines / pixels
    lines = grid_pts["line"] - 1
    pixels = grid_pts["sample"][0] - 1
    dims = ("grid_line", "grid_pixel")
    geoloc = xr.Dataset(
        {
            "azimuth_time": (dims, np.repeat(grid_pts["time"][:, None], pixels.size, axis=1)),
            "slant_range_time": (dims, grid_pts["tau"], {"units": "s"}),
            "latitude": (dims, grid_pts["lat"], {"units": "degrees_north"}),
            "longitude": (dims, grid_pts["lon"], {"units": "degrees_east"}),
            "height": (
                dims,
                np.full(grid_pts["lat"].shape, 0.0 if np.isnan(mpp["avg_scene_height"]) else mpp["avg_scene_height"]),
                {"units": "m", "long_name": "height above the WGS84 ellipsoid of the tie points (the product's average scene height)"},
            ),
            "incidence_angle": (dims, grid_pts["angle"], {"units": "degree"}),
        },
        coords={"line": ("grid_line", lines), "pixel": ("grid_pixel", pixels)},
        attrs={"source": str(path)},
    )
    swath = mpp["swath_id"] or sph.get("SWATH", "")
    tau0 = float(np.interp(0.0, pixels, grid_pts["tau"][0]))
    grid = RadarGrid(
        swath=swath,
        shape=shape,
        first_azimuth_time=mpp["first_zero_doppler_time"],
        azimuth_time_interval=mpp["line_time_interval"],
        first_slant_range_time=tau0,
        range_sampling_rate=mpp["range_samp_rate"],
        projection="slant_range" if complex_data or slant_ground is None else "ground_range",
        ground_range_spacing=None if complex_data or slant_ground is None else mpp["range_spacing"],
        azimuth_pixel_spacing=mpp["azimuth_spacing"],
        range_pixel_spacing=mpp["range_spacing"],
        slant_ground=slant_ground,
    )
    times, pos, vel = zip(*mpp["state_vectors"], strict=True)
    orbit = Orbit(np.array(times), np.array(pos), np.array(vel), source="annotation (main processing parameters)")
    k = mpp["ext_cal_fact"]
    alpha = np.radians(grid_pts["angle"])
    calib = CalibrationLUT(
        lines.astype(float),
        pixels.astype(float),
        {
            "sigma0": np.sqrt(k / np.sin(alpha)),
            "beta0": np.full(alpha.shape, np.sqrt(k)),
            "gamma0": np.sqrt(k * np.cos(alpha) / np.sin(alpha)),
        },
        absolute_constant=k,
    )
    pols = tuple(p.replace("/", "") for p in (sph.get("MDS1_TX_RX_POLAR", ""), sph.get("MDS2_TX_RX_POLAR", "")) if p.strip())
    mission = {"ASA": "envisat", "SAR": "ers"}[product[:3]]
    platform = "envisat" if mission == "envisat" else {".E1": "ers-1", ".E2": "ers-2"}.get(path.suffix.upper(), "ers")
    abs_orbit = int(mph.get("ABS_ORBIT", "0") or 0)
    return Acquisition(
        mission=mission,
        platform=platform,
        instrument_mode={"IM": "IM", "AP": "AP", "WS": "WS"}.get(product[4:6], product[4:6]) if mission == "envisat" else "IM",
        product_type=COMPLEX.get(kind) or DETECTED[kind],
        polarizations=pols[:1] or ("VV",),
        start_time=envisat_time(mph["SENSING_START"]),
        stop_time=envisat_time(mph["SENSING_STOP"]),
        absolute_orbit=abs_orbit,
        relative_orbit=int(mph.get("REL_ORBIT", "0") or 0),
        pass_direction=sph.get("PASS", "").strip().lower(),
        look_side="right",
        radar_frequency=mpp["radar_freq"],
        product_name=mph.get("PRODUCT", path.name),
        source_path=str(path),
        orbit=orbit,
        swaths={swath: Swath(swath, grid, pols[:1] or ("VV",), geoloc)},
        source=EnvisatSource(path, mds, shape, complex_data, calib),
        metadata={"mph": mph, "sph": sph, "main_processing_params": {k: v for k, v in mpp.items() if k != "state_vectors"}},
    )
