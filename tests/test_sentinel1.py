"""Sentinel-1 ingest against the products' own annotation (read here independently of the reader)."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest

import alignsar
from alignsar.errors import CorruptProductError, MissingDataError, UnsafeInputError, UnsupportedProductError

from .conftest import S1, s1_products, shared_path

PRODUCTS = s1_products()
IDS = [f"{p.parent.name}/{p.name[:32]}{'.zip' if p.suffix == '.zip' else ''}" for p in PRODUCTS]


def product_files(path: Path) -> dict[str, bytes]:
    """All annotation/calibration/noise XML of a product, by relative path (independent of the reader)."""
    out = {}
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            for n in z.namelist():
                if n.endswith(".xml") and "/annotation/" in n:
                    out[n.split(".SAFE/", 1)[1]] = z.read(n)
                if n.endswith("manifest.safe"):
                    out["manifest.safe"] = z.read(n)
    else:
        for f in path.rglob("*.xml"):
            if "annotation" in f.parts:
                out[str(f.relative_to(path))] = f.read_bytes()
        out["manifest.safe"] = (path / "manifest.safe").read_bytes()
    return out


def annotations(path: Path) -> dict[tuple[str, str], ET.Element]:
    out = {}
    for rel, data in product_files(path).items():
        if rel.startswith("annotation/") and rel.count("/") == 1:
            root = ET.fromstring(data)
            out[(root.findtext("adsHeader/swath"), root.findtext("adsHeader/polarisation"))] = root
    return out


@pytest.mark.parametrize("path", PRODUCTS, ids=IDS)
def test_open_matches_annotation(path: Path) -> None:
    acq = alignsar.open_product(path)
    ann = annotations(path)
    assert ann, "test data has annotations"
    manifest = product_files(path)["manifest.safe"].decode()
    # identity vs manifest text
    start = re.search(r"<safe:startTime>([^<]+)</safe:startTime>", manifest).group(1)
    assert acq.start_time == np.datetime64(start, "ns")
    assert acq.absolute_orbit == int(re.search(r'<safe:orbitNumber type="start">(\d+)<', manifest).group(1))
    assert acq.relative_orbit == int(re.search(r'<safe:relativeOrbitNumber type="start">(\d+)<', manifest).group(1))
    assert acq.pass_direction == re.search(r"<s1:pass>(\w+)<", manifest).group(1).lower()
    # swaths and polarisations vs the annotation files present
    assert set(acq.swaths) == {sw for sw, _ in ann}
    for (sw, pol), root in ann.items():
        swath = acq.swaths[sw]
        assert pol in swath.polarizations
        info = root.find("imageAnnotation/imageInformation")
        assert swath.grid.shape == (int(info.findtext("numberOfLines")), int(info.findtext("numberOfSamples")))
        assert swath.grid.range_pixel_spacing == pytest.approx(float(info.findtext("rangePixelSpacing")), rel=1e-12)
        assert swath.grid.azimuth_pixel_spacing == pytest.approx(float(info.findtext("azimuthPixelSpacing")), rel=1e-12)
        assert swath.grid.azimuth_time_interval == pytest.approx(float(info.findtext("azimuthTimeInterval")), rel=1e-12)
        assert len(swath.grid.bursts) == int(root.find("swathTiming/burstList").get("count"))
        assert acq.polarizations[0] in ("VV", "HH")
        assert acq.absolute_orbit == int(root.findtext("adsHeader/absoluteOrbitNumber"))
        assert acq.radar_frequency == pytest.approx(float(root.findtext("generalAnnotation/productInformation/radarFrequency")))
        points = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
        geo = swath.geolocation
        assert geo["latitude"].size == len(points)
        # every point, one by one, including its own azimuth and range time
        for p in points[:: max(1, len(points) // 25)]:
            i = int(np.flatnonzero(geo["line"].values == int(p.findtext("line")))[0])
            j = int(np.flatnonzero(geo["pixel"].values == int(p.findtext("pixel")))[0])
            assert geo["latitude"].values[i, j] == float(p.findtext("latitude"))
            assert geo["longitude"].values[i, j] == float(p.findtext("longitude"))
            assert geo["slant_range_time"].values[i, j] == float(p.findtext("slantRangeTime"))
            assert geo["azimuth_time"].values[i, j] == np.datetime64(p.findtext("azimuthTime"), "ns")
    _lon0, lat0, _lon1, lat1 = acq.footprint.bounds
    lats = np.concatenate([s.geolocation["latitude"].values.ravel() for s in acq.swaths.values()])
    assert lat0 == pytest.approx(lats.min()) and lat1 == pytest.approx(lats.max())
    near, mid, far = acq.incidence_angles
    assert 15 < near < mid < far < 50


def test_burst_ids_and_zip_equals_folder() -> None:
    folder = shared_path("sentinel1", "xarray-sentinel", "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE")
    zipped = folder.with_suffix(".zip")
    a, b = alignsar.open_product(folder), alignsar.open_product(zipped)
    assert a.info() | {"source_path": None} == b.info() | {"source_path": None}
    with_ids = alignsar.open_product(
        shared_path("sentinel1", "xarray-sentinel", "S1A_IW_SLC__1SDH_20220414T102209_20220414T102236_042768_051AA4_E677.SAFE")
    )
    root = next(iter(annotations(with_ids.source_path and Path(with_ids.source_path)).values()))
    expected = [int(b.findtext("burstId")) for b in root.findall("swathTiming/burstList/burst")]
    assert [b.burst_id for b in with_ids.swath("IW1").grid.bursts] == expected
    assert all(b.burst_id is None for b in a.swath("IW1").grid.bursts)


def test_opening_reads_no_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    import rasterio

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("open_product opened a raster")

    monkeypatch.setattr(rasterio, "open", forbidden)
    monkeypatch.setattr("xarray.open_dataarray", forbidden)
    for path in PRODUCTS:
        alignsar.open_product(path)


def test_measurement_lazy_coords_and_debursting() -> None:
    acq = alignsar.open_product(
        shared_path("sentinel1", "xarray-sentinel", "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.zip")
    )
    grid = acq.swath("IW1").grid
    burst = acq.measurement("VV", "IW1", burst=2)
    assert burst.dims == ("azimuth", "range") and burst.dtype == np.complex64 and burst.chunks is not None
    assert burst.sizes["azimuth"] == grid.bursts[2].lines
    assert burst.azimuth_time.values[0] == grid.bursts[2].azimuth_time
    mosaic = acq.measurement("VV", "IW1")
    t = mosaic.azimuth_time.values
    steps = np.diff(t).astype(np.int64) * 1e-9 / grid.azimuth_time_interval
    # no repeated and no missing line at burst joins (jitter of the burst start times < 0.5 line)
    assert np.all(np.abs(steps - 1.0) < 0.5)
    assert t[0] == grid.bursts[0].azimuth_time + np.timedelta64(
        round(grid.bursts[0].valid_lines[0] * grid.azimuth_time_interval * 1e9), "ns"
    )
    # mosaic spans first valid line of burst 0 to last valid line of the last burst
    last = grid.bursts[-1]
    t_last = last.azimuth_time + np.timedelta64(round((last.valid_lines[1] - 1) * grid.azimuth_time_interval * 1e9), "ns")
    assert abs((t[-1] - t_last) / np.timedelta64(1, "ns")) < 1e3
    # samples outside the valid window are NaN, inside are data (hollow product: zeros)
    b0 = grid.bursts[0]
    row = mosaic.isel(azimuth=10).values
    line_in_burst = int(mosaic.line.values[10]) - b0.first_line
    assert np.isnan(row[: b0.first_valid_sample[line_in_burst]]).all()
    assert not np.isnan(row[b0.first_valid_sample[line_in_burst] : b0.last_valid_sample[line_in_burst] + 1]).any()


def calibration_vectors(path: Path, swath: str, pol: str) -> list[dict[str, np.ndarray]]:
    for rel, data in product_files(path).items():
        if rel.startswith("annotation/calibration/calibration-") and f"-{swath.lower()}-" in rel and f"-{pol.lower()}-" in rel:
            root = ET.fromstring(data)
            return [
                {tag: np.array(v.findtext(tag).split(), dtype=float) for tag in ("line", "pixel", "sigmaNought", "betaNought", "gamma")}
                for v in root.findall("calibrationVectorList/calibrationVector")
            ]
    raise AssertionError("no calibration file")


@pytest.mark.parametrize(
    "rel,swath,pol",
    [
        ("sarsen/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE", "IW", "VV"),
        ("sarsen/S1A_IW_SLC__1SDV_20220104T170557_20220104T170624_041314_04E951_F1F1.SAFE", "IW1", "VV"),
        ("s1-reader/S1A_IW_SLC__1SDV_20220828T042306_20220828T042335_044748_0557C6_F396.zip", "IW2", "VV"),
        ("xarray-sentinel/S1A_S3_SLC__1SDV_20210401T152855_20210401T152914_037258_04638E_6001.SAFE", "S3", "VH"),
    ],
)
def test_calibration_lut_at_vector_points(rel: str, swath: str, pol: str) -> None:
    path = shared_path("sentinel1", *rel.split("/"))
    acq = alignsar.open_product(path)
    lut = acq.calibration_lut(pol, swath)
    vectors = calibration_vectors(path, swath, pol)
    for v in vectors[:: max(1, len(vectors) // 6)]:
        for ours, theirs in (("sigma0", "sigmaNought"), ("beta0", "betaNought"), ("gamma0", "gamma")):
            got = lut.interpolate(ours, v["line"], v["pixel"])[0]
            np.testing.assert_allclose(got, v[theirs], rtol=1e-6)


def noise_vectors(path: Path, swath: str, pol: str) -> tuple[list[tuple[float, np.ndarray, np.ndarray]], list[ET.Element]]:
    for rel, data in product_files(path).items():
        if rel.startswith("annotation/calibration/noise-") and f"-{swath.lower()}-" in rel and f"-{pol.lower()}-" in rel:
            root = ET.fromstring(data)
            vecs = [
                (
                    float(v.findtext("line")),
                    np.array(v.findtext("pixel").split(), float),
                    np.array(v.findtext("noiseRangeLut").split(), float),
                )
                for v in root.findall("noiseRangeVectorList/noiseRangeVector")
            ]
            return vecs, root.findall("noiseAzimuthVectorList/noiseAzimuthVector")
    raise AssertionError("no noise file")


def test_thermal_noise_lut_and_conventions() -> None:
    path = shared_path("sentinel1", "sarsen", "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE")
    acq = alignsar.open_product(path)
    noise = acq.thermal_noise_lut("VV")
    vecs, blocks = noise_vectors(path, "IW", "VV")
    assert len(blocks) == 3  # GRD: one azimuth block per sub-swath, all used
    for line, pixel, values in vecs[::5]:
        got = noise.interpolate([line], pixel)[0]
        # azimuth factor of the block covering each pixel at this line
        factor = np.ones(pixel.size)
        for b in blocks:
            sel = (pixel >= int(b.findtext("firstRangeSample"))) & (pixel <= int(b.findtext("lastRangeSample")))
            if int(b.findtext("firstAzimuthLine")) <= line <= int(b.findtext("lastAzimuthLine")):
                bl = np.array(b.findtext("line").split(), float)
                bv = np.array(b.findtext("noiseAzimuthLut").split(), float)
                n = min(bl.size, bv.size)
                factor[sel] = np.interp(line, bl[:n], bv[:n])
        np.testing.assert_allclose(got, values * factor, rtol=1e-9)
    # hollow product: DN = 0, so sigma0 = -N / A^2 with 'subtract', 0 with 'clip', 0 with 'keep'
    window = dict(azimuth=slice(4000, 4004), range=slice(1000, 1010))
    sub = acq.measurement("VV", calibration="sigma0", thermal_noise="subtract").isel(**window).values
    clip = acq.measurement("VV", calibration="sigma0", thermal_noise="clip").isel(**window).values
    keep = acq.measurement("VV", calibration="sigma0").isel(**window).values
    lut = acq.calibration_lut("VV")
    lines, pixels = np.arange(4000, 4004), np.arange(1000, 1010)
    expected = -noise.interpolate(lines, pixels) / lut.interpolate("sigma0", lines, pixels) ** 2
    np.testing.assert_allclose(sub, expected, rtol=1e-5)
    assert (sub < 0).all() and (clip == 0).all() and (keep == 0).all()


def test_grd_slant_ground_conversion() -> None:
    import xarray as xr
    from xarray_sentinel.sentinel1 import ground_range_to_slant_range_time

    path = shared_path("sentinel1", "sarsen", "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE")
    acq = alignsar.open_product(path)
    grid = acq.swath().grid
    geo = acq.swath().geolocation
    # 1. the polynomials, evaluated the way the product specification says, by xarray-sentinel
    cc = xr.open_dataset(path, engine="sentinel-1", group="IW/VV/coordinate_conversion")
    at = geo["azimuth_time"].values.ravel()
    gr = np.broadcast_to(geo["pixel"].values * grid.ground_range_spacing, geo["azimuth_time"].shape).ravel()
    theirs = ground_range_to_slant_range_time(xr.DataArray(at, dims="p"), xr.DataArray(gr, dims="p"), cc).values
    ours = 2 * grid.slant_ground.ground_to_slant_range(at, gr) / 299_792_458.0
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-13)
    back = grid.slant_ground.slant_to_ground_range(at, ours * 299_792_458.0 / 2)
    np.testing.assert_allclose(back, gr, atol=0.1)  # the annotated srgr and grsr are inverse to ~4 cm
    # 2. against the geolocation grid's own range times: exact at near range; the annotation's
    # polynomials and grid disagree by up to ~3.7 m at far range in this product (documented)
    resid_m = np.abs(ours - geo["slant_range_time"].values.ravel()) * 299_792_458.0 / 2
    assert resid_m.reshape(geo["azimuth_time"].shape)[:, 0].max() < 1e-3 and resid_m.max() < 5.0
    g = acq.measurement("VV")
    assert "ground_range" in g.coords and g.ground_range.values[1] == grid.ground_range_spacing


def test_precise_orbit_replaces_annotation() -> None:
    product = shared_path("sentinel1", "s1-reader", "S1A_IW_SLC__1SDV_20220828T042306_20220828T042335_044748_0557C6_F396.zip")
    eof = next(shared_path("orbits", "s1-reader").glob("*POEORB*.EOF"))
    acq = alignsar.open_product(product)
    precise = alignsar.open_product(product, orbit=eof)
    assert acq.orbit.source == "annotation" and precise.orbit.source == "POEORB"
    assert precise.orbit.start <= acq.start_time and precise.orbit.stop >= acq.stop_time
    t = acq.start_time + (np.arange(0, 30, 0.5) * 1e9).astype("timedelta64[ns]")
    d = np.linalg.norm(acq.orbit.interpolate(t).position - precise.orbit.interpolate(t).position, axis=-1)
    assert d.max() < 1.0  # annotation orbits are restituted to well below a metre
    resorb = next(shared_path("orbits", "s1-reader").glob("*RESORB*.EOF"))
    from alignsar.errors import GeometryError

    with pytest.raises(GeometryError, match="does not cover"):
        alignsar.open_product(product, orbit=resorb)


# ---- bad input ---------------------------------------------------------------------------------
def test_rejects_s2_wv_and_manifest_only() -> None:
    shared_path("sentinel1", "xarray-sentinel")
    with pytest.raises(UnsupportedProductError, match="not a Sentinel-1"):
        alignsar.open_product(S1 / "xarray-sentinel" / "S2A_MSIL1C_20210403T101021_N0300_R022_T33TUM_20210403T110551.SAFE")
    with pytest.raises(UnsupportedProductError, match="WV mode"):
        alignsar.open_product(next((S1 / "xarray-sentinel").glob("S1B_WV_*.SAFE")))
    with pytest.raises(MissingDataError, match="annotation"):
        alignsar.open_product(next((S1 / "xarray-sentinel").glob("S1A_S6_*.SAFE")))


def test_truncated_zip(tmp_path: Path) -> None:
    src = shared_path("sentinel1", "xarray-sentinel", "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.zip")
    data = src.read_bytes()
    bad = tmp_path / src.name
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptProductError, match=re.escape(str(bad))):
        alignsar.open_product(bad)


def test_corrupt_zip_member(tmp_path: Path) -> None:
    src = shared_path("sentinel1", "xarray-sentinel", "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.zip")
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo(next(n for n in z.namelist() if n.endswith("manifest.safe")))
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
    data[start : start + 50] = b"\x00" * 50
    bad = tmp_path / src.name
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptProductError):
        alignsar.open_product(bad)


def test_missing_annotation(tmp_path: Path) -> None:
    src = shared_path("sentinel1", "sarsen", "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE")
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    for f in (dst / "annotation").glob("s1b-iw-grd-vv-*.xml"):
        f.chmod(0o644)
        f.unlink()
    with pytest.raises(MissingDataError, match="no annotation"):
        alignsar.open_product(dst)


def test_random_bytes_and_empty_folder(tmp_path: Path) -> None:
    junk = tmp_path / "S1A_IW_SLC__junk.zip"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(UnsupportedProductError):
        alignsar.open_product(junk)
    junk2 = tmp_path / "random.bin"
    junk2.write_bytes(b"PK\x03\x04" + np.random.default_rng(1).bytes(4096))
    with pytest.raises(CorruptProductError, match="zip"):
        alignsar.open_product(junk2)
    empty = tmp_path / "empty.SAFE"
    empty.mkdir()
    with pytest.raises(UnsupportedProductError, match="empty folder"):
        alignsar.open_product(empty)
    with pytest.raises(MissingDataError, match="no such file"):
        alignsar.open_product(tmp_path / "absent.SAFE")


def test_xml_entities_refused(tmp_path: Path) -> None:
    src = shared_path("sentinel1", "sarsen", "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE")
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    manifest = dst / "manifest.safe"
    manifest.chmod(0o644)
    text = manifest.read_text()
    bomb = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
    manifest.write_text(text.replace("?>", "?>\n" + bomb, 1))
    with pytest.raises(UnsafeInputError, match="DTD or entity"):
        alignsar.open_product(dst)


def test_zip_path_traversal_refused(tmp_path: Path) -> None:
    bad = tmp_path / "S1A_IW_SLC__evil.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("S1A_evil.SAFE/manifest.safe", "<xml/>")
        z.writestr("../../etc/evil", "x")
    with pytest.raises(UnsafeInputError, match="escapes"):
        alignsar.open_product(bad)


def test_missing_polarisation_and_measurement() -> None:
    acq = alignsar.open_product(
        shared_path("sentinel1", "xarray-sentinel", "S1B_IW_GRDH_1SDV_20210401T052623_20210401T052648_026269_032297_ECC8.SAFE")
    )
    with pytest.raises(MissingDataError, match="polarisation HH"):
        acq.measurement("HH")
    with pytest.raises(MissingDataError, match="measurement"):
        acq.measurement("VH")  # annotated, but its TIFF is not in the product
    with pytest.raises(MissingDataError, match="calibration"):
        acq.measurement("VV", calibration="sigma0")


def test_info_json_keys() -> None:
    acq = alignsar.open_product(PRODUCTS[0] if PRODUCTS else shared_path("sentinel1"))
    info = json.loads(json.dumps(acq.info()))
    for key in (
        "mission",
        "product_type",
        "mode",
        "polarizations",
        "start_time",
        "stop_time",
        "absolute_orbit",
        "relative_orbit",
        "pass_direction",
        "look_side",
        "swaths",
        "footprint",
    ):
        assert key in info
    assert info["start_time"].endswith("Z") and info["footprint"]["type"] == "Polygon"
