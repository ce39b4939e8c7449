"""Envisat ASAR and ICEYE readers against the products' own headers, datasets and tie points."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio

import alignsar
from alignsar.errors import CorruptProductError, MissingDataError, UnsupportedProductError
from alignsar.geometry import geo2rdr
from alignsar.readers.envisat import open_envisat
from alignsar.readers.iceye import open_iceye

from .conftest import shared_path


def envisat_path() -> Path:
    return next(shared_path("envisat", "pyrosar").glob("*.N1"))


def header_values(path: Path) -> dict[str, str]:
    """MPH + SPH key/values read independently of the reader (regex over the raw header)."""
    raw = path.read_bytes()[:8000].decode("latin1")
    return {k: v.strip().strip('"').strip() for k, v in re.findall(r"^([A-Z0-9_]+)=([^<\n]*)", raw, re.M)}


def test_envisat_header_fields() -> None:
    path = envisat_path()
    acq = alignsar.open_product(path)
    h = header_values(path)
    mph, sph = acq.metadata["mph"], acq.metadata["sph"]
    for key in (
        "PRODUCT",
        "PROC_STAGE",
        "ACQUISITION_STATION",
        "SENSING_START",
        "SENSING_STOP",
        "PHASE",
        "CYCLE",
        "REL_ORBIT",
        "ABS_ORBIT",
        "STATE_VECTOR_TIME",
        "SPH_SIZE",
        "NUM_DSD",
    ):
        assert mph[key] == h[key], key
    for key in (
        "SPH_DESCRIPTOR",
        "FIRST_LINE_TIME",
        "LAST_LINE_TIME",
        "SWATH",
        "PASS",
        "SAMPLE_TYPE",
        "MDS1_TX_RX_POLAR",
        "LINE_LENGTH",
        "DATA_TYPE",
    ):
        assert sph[key] == h[key], key
    assert acq.mission == "envisat" and acq.product_type == "SLC" and acq.instrument_mode == "IM"
    assert acq.absolute_orbit == int(h["ABS_ORBIT"]) and acq.relative_orbit == int(h["REL_ORBIT"])
    assert acq.pass_direction == h["PASS"].lower() and acq.polarizations == ("VV",)
    assert acq.start_time == np.datetime64("2004-07-03T20:53:38.192288", "ns")
    grid = acq.swath().grid
    assert grid.shape == (30308, int(h["LINE_LENGTH"]))
    assert grid.azimuth_time_interval == pytest.approx(float(h["LINE_TIME_INTERVAL"].split("<")[0]), rel=1e-7)
    assert grid.range_pixel_spacing == pytest.approx(float(h["RANGE_SPACING"].split("<")[0]), rel=1e-7)
    # the first state vector of the MPH vs the orbit interpolated at its time (annotation vectors differ)
    t = np.datetime64("2004-07-03T20:53:28", "ns")
    pos = np.array([float(h[k].split("<")[0]) for k in ("X_POSITION", "Y_POSITION", "Z_POSITION")])
    from alignsar.model import Orbit

    o = acq.orbit
    extended = Orbit(o.time, o.position, o.velocity)
    assert np.linalg.norm(extended.interpolate_seconds(extended.seconds(np.array([t])), margin=20.0).position[0] - pos) < 50.0


def test_envisat_tie_points_map_back() -> None:
    acq = alignsar.open_product(envisat_path())
    sw = acq.swath()
    g = sw.geolocation
    r = geo2rdr(acq, g["longitude"].values, g["latitude"].values, g["height"].values)
    line_err = np.abs(r.line - g["line"].values[:, None])
    pix_err = np.abs(r.pixel - g["pixel"].values[None, :])
    tau_err = np.abs(r.slant_range_time - g["slant_range_time"].values) * sw.grid.range_sampling_rate
    print(f"Envisat tie points: max {line_err.max():.4f} px line, {pix_err.max():.4f} px sample, {tau_err.max():.4f} px range time")
    assert g["latitude"].shape == (26, 11)  # 13 granules x (first, last line) x 11 tie points
    # GDAL's ESAT driver (independent parser) exposes the granules' first lines as GCPs, pixel corners
    with rasterio.open(envisat_path()) as ds:
        gcps = ds.gcps[0]
    assert len(gcps) == 154
    for gcp in gcps:
        i = int(np.flatnonzero(g["line"].values == gcp.row - 0.5)[0])
        j = int(np.flatnonzero(g["pixel"].values == gcp.col - 0.5)[0])
        assert abs(g["latitude"].values[i, j] - gcp.y) < 1e-6 and abs(g["longitude"].values[i, j] - gcp.x) < 1e-6
    assert line_err.max() < 0.05 and pix_err.max() < 0.05 and tau_err.max() < 0.05


def test_envisat_truncated_image_raises() -> None:
    acq = alignsar.open_product(envisat_path())
    meas = acq.measurement("VV")
    assert meas.shape == (30308, 5177) and meas.dtype == np.complex64
    with pytest.raises(MissingDataError, match="truncated"):
        meas[:10, :10].compute()
    with pytest.raises(MissingDataError, match="truncated"):
        acq.measurement("VV", calibration="sigma0")[100:110].compute()


def test_envisat_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.N1"
    bad.write_bytes(b'PRODUCT="ASA_IMS_1P' + np.random.default_rng(0).bytes(3000))
    with pytest.raises(CorruptProductError):
        open_envisat(bad)
    with pytest.raises(UnsupportedProductError):
        open_envisat(shared_path("sentinel1", "xarray-sentinel", "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.zip"))
    short = tmp_path / "short.N1"
    short.write_bytes(envisat_path().read_bytes()[:9000])
    with pytest.raises(CorruptProductError, match="truncated"):
        open_envisat(short)


# ---- ICEYE -------------------------------------------------------------------------------------
def iceye(kind: str) -> Path:
    folder = "grd_stack" if kind == "GRD" else "slc_stack"
    return sorted(shared_path("iceye", "icecube", folder).glob("*_0.*"))[0]


def test_iceye_slc_metadata_equals_hdf5() -> None:
    path = iceye("SLC")
    acq = alignsar.open_product(path)
    with h5py.File(path, "r") as f:
        assert acq.product_type == "SLC" and acq.instrument_mode == f["acquisition_mode"][()].decode()
        assert acq.polarizations == (f["polarization"][()].decode(),)
        assert acq.radar_frequency == f["carrier_frequency"][()]
        assert acq.absolute_orbit == f["orbit_absolute_number"][()]
        assert acq.pass_direction == f["orbit_direction"][()].decode().lower()
        assert acq.look_side == f["look_side"][()].decode()
        grid = acq.swath().grid
        assert grid.azimuth_time_interval == f["azimuth_time_interval"][()]
        assert grid.range_sampling_rate == f["range_sampling_rate"][()]
        assert grid.first_slant_range_time == f["first_pixel_time"][()]
        assert grid.first_azimuth_time == np.datetime64(f["zerodoppler_start_utc"][()].decode(), "ns")
        assert grid.shape == f["s_i"].shape
        np.testing.assert_array_equal(acq.orbit.position[:, 0], np.sort(f["posX"][()])[:: 1 if f["posX"][0] < f["posX"][-1] else -1])
        assert len(acq.orbit) == f["number_of_state_vectors"][()]
        slc = acq.measurement("VV").values
        np.testing.assert_allclose(slc, f["s_i"][()] + 1j * f["s_q"][()], rtol=1e-6)
        beta = acq.measurement("VV", calibration="beta0").values
        np.testing.assert_allclose(beta, np.abs(slc) ** 2 * f["calibration_factor"][()], rtol=1e-5)


def test_iceye_grd_metadata_equals_tags() -> None:
    path = iceye("GRD")
    acq = alignsar.open_product(path)
    with rasterio.open(path) as ds:
        tags = ds.tags()
        pixels = ds.read(1)
    grid = acq.swath().grid
    assert acq.product_type == "GRD" and acq.mission == "iceye"
    assert grid.ground_range_spacing == float(tags["RANGE_SPACING"])
    assert grid.azimuth_time_interval == float(tags["AZIMUTH_TIME_INTERVAL"])
    assert grid.first_azimuth_time == np.datetime64(tags["ZERODOPPLER_START_UTC"], "ns")
    assert acq.absolute_orbit == int(tags["ORBIT_ABSOLUTE_NUMBER"]) and acq.polarizations == (tags["POLARIZATION"],)
    np.testing.assert_allclose(grid.slant_ground.grsr[0], [float(v) for v in tags["GRSR_COEFFICIENTS"].strip("[]").split()])
    np.testing.assert_array_equal(acq.measurement("VV").values, pixels)


def test_iceye_geometry_reproduces_gcps_and_corners() -> None:
    grd = alignsar.open_product(iceye("GRD"))
    g = grd.swath().geolocation
    r = geo2rdr(grd, g["longitude"].values, g["latitude"].values, g["height"].values)
    line_err = np.abs(r.line - g["line"].values[:, None]).max()
    pix_err = np.abs(r.pixel - g["pixel"].values[None, :]).max()
    print(f"ICEYE GRD: {g['latitude'].size} GCPs reproduced to {line_err:.4f} px (azimuth), {pix_err:.4f} px (range)")
    assert line_err < 0.02 and pix_err < 0.2
    # SLC corners: annotated on terrain, the product gives only an average height; with the terrain
    # heights of the GRD's GCPs at the same places the corners close, with the average they do not
    slc = alignsar.open_product(iceye("SLC"))
    c = slc.swath().geolocation
    lat, lon = c["latitude"].values, c["longitude"].values
    d = (g["latitude"].values.ravel()[None, None] - lat[..., None]) ** 2 + (g["longitude"].values.ravel()[None, None] - lon[..., None]) ** 2
    terrain = g["height"].values.ravel()[d.argmin(-1)]
    rt = geo2rdr(slc, lon, lat, terrain)
    ra = geo2rdr(slc, lon, lat, c["height"].values)
    err_t = np.abs(rt.pixel - c["pixel"].values[None, :]).max()
    err_a = np.abs(ra.pixel - c["pixel"].values[None, :]).max()
    print(f"ICEYE SLC corners: {err_t:.3f} px with terrain heights, {err_a:.1f} px with the average scene height")
    assert err_t < 0.2 and np.abs(rt.line - c["line"].values[:, None]).max() < 0.02
    assert err_a > 10 * err_t


def test_iceye_rejects_other_files(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8") as dst:
        dst.write(np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(UnsupportedProductError, match="not a supported SAR product"):
        alignsar.open_product(plain)
    h5 = tmp_path / "other.h5"
    with h5py.File(h5, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(UnsupportedProductError, match="not an ICEYE SLC"):
        alignsar.open_product(h5)
    with pytest.raises(UnsupportedProductError):
        open_iceye(envisat_path())
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + struct.pack(">I", 7) + np.random.default_rng(2).bytes(500))
    with pytest.raises(CorruptProductError):
        alignsar.open_product(junk)
