"""Radarcoding of rasters (alignsar.layers.raster) with the real ESA WorldCover tile N00E006
(3 x 3 deg, 36000 x 36000 cells of 1/12000 deg, EPSG:4326) and synthetic rasters."""

from __future__ import annotations

import threading
import time

import dask.array as da
import numpy as np
import pyproj
import pytest
import rasterio
import xarray as xr
from dask.core import flatten
from odc.geo.geobox import GeoBox
from rasterio.transform import Affine, from_origin

from alignsar.errors import ConfigError, CorruptProductError, MissingDataError, UnsupportedProductError
from alignsar.geometry.radarcode import radar_coordinates
from alignsar.layers import radarcode_raster
from alignsar.simulate import SceneConfig, simulate_scene

from .conftest import shared_path

TILE = ("landcover", "esa-worldcover", "ESA_WorldCover_10m_2021_v200_N00E006_Map.tif")
# north-west coast of Sao Tome: tree cover, grassland, cropland, built-up, water within 2 km
LON, LAT = 6.54, 0.34
UTM32 = "EPSG:32632"
CHUNK = 1024


def _geobox() -> GeoBox:
    x, y = pyproj.Transformer.from_crs(4326, UTM32, always_xy=True).transform(LON, LAT)
    x, y = round(x, -1), round(y, -1)
    return GeoBox.from_bbox((x - 1000, y - 1000, x + 1000, y + 1000), crs=UTM32, resolution=10)  # 200 x 200 px of 10 m


def _direct_nearest(path, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, set[int]]:
    """Independent truth: the tile cell containing each (lon, lat), read with plain rasterio; and
    the classes of the tile window spanned by the points."""
    with rasterio.open(path) as src:
        rows, cols = rasterio.transform.rowcol(src.transform, lon.ravel(), lat.ravel())
        rows, cols = np.asarray(rows), np.asarray(cols)
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        win = src.read(1, window=((r0, r1), (c0, c1)))
    return win[rows - r0, cols - c0].reshape(lon.shape), set(np.unique(win).tolist())


def _centres_lonlat(gb: GeoBox) -> tuple[np.ndarray, np.ndarray]:
    n, m = gb.shape
    cc, rr = np.meshgrid(np.arange(m) + 0.5, np.arange(n) + 0.5)
    x, y = gb.affine @ (cc, rr)
    lon, lat = pyproj.Transformer.from_crs(UTM32, 4326, always_xy=True).transform(np.asarray(x), np.asarray(y))
    return np.asarray(lon), np.asarray(lat)


def test_worldcover_onto_utm_geobox_keeps_classes() -> None:
    path = shared_path(*TILE)
    gb = _geobox()
    lon, lat = _centres_lonlat(gb)
    truth, window_classes = _direct_nearest(path, lon, lat)
    assert len(window_classes) >= 4, window_classes  # the spot is worth testing: several classes
    t0 = time.perf_counter()
    mode = radarcode_raster(path, gb, "mode")
    nearest = radarcode_raster(path, gb, "nearest")
    mv, nv = mode.values, nearest.values
    elapsed = time.perf_counter() - t0
    assert mode.dims == ("y", "x") and mode.shape == gb.shape and mode.dtype == np.uint8
    # categorical: no blended values, only classes of the tile there
    assert set(np.unique(mv).tolist()) <= window_classes and set(np.unique(nv).tolist()) <= window_classes
    assert len(np.unique(mv)) >= 4
    agree_nearest = (nv == truth).mean()
    agree_mode = (mv == truth).mean()
    print(f"WorldCover on UTM 10 m: nearest {agree_nearest:.4f}, mode {agree_mode:.4f} vs direct read, {elapsed:.2f} s")
    assert agree_nearest >= 0.99
    assert agree_mode >= 0.85
    assert mode.attrs["categorical"] == 1 and mode.attrs["method"] == "mode" and mode.attrs["source"] == str(path)
    assert mode.attrs["units"] == "1" and mode.attrs["nodata"] == 0 and mode.attrs["grid"] == "map"
    # continuous resampling of the same codes blends them (and is float)
    avg = radarcode_raster(path, gb, "average").values
    assert avg.dtype == np.float32 and not set(np.unique(avg).tolist()) <= window_classes


class CountingTile:
    """A numpy-like view of the tile that reads through rasterio windows and counts the cells read."""

    def __init__(self, path) -> None:
        self.path = path
        self.cells = 0
        self.lock = threading.Lock()
        with rasterio.open(path) as src:
            self.shape = src.shape
            self.dtype = np.dtype(src.dtypes[0])
            self.transform = src.transform
        self.ndim = 2

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        (r0, r1, _), (c0, c1, _) = key[0].indices(self.shape[0]), key[1].indices(self.shape[1])
        with rasterio.open(self.path) as src:
            block = src.read(1, window=((r0, r1), (c0, c1)))
        with self.lock:
            self.cells += block.size
        return block

    def dataarray(self) -> xr.DataArray:
        ny, nx = self.shape
        t = self.transform
        arr = da.from_array(self, chunks=CHUNK, asarray=False, fancy=False)
        coords = {"y": t.f + t.e * (np.arange(ny) + 0.5), "x": t.c + t.a * (np.arange(nx) + 0.5)}
        return xr.DataArray(arr, dims=("y", "x"), coords=coords).rio.write_crs(4326).rio.write_transform(t).rio.write_nodata(0)


def _chunks_touched(rows: np.ndarray, cols: np.ndarray, pad: int) -> int:
    r = np.arange(max(0, rows.min() - pad) // CHUNK, (rows.max() + pad) // CHUNK + 1)
    c = np.arange(max(0, cols.min() - pad) // CHUNK, (cols.max() + pad) // CHUNK + 1)
    return len(r) * len(c)


def test_the_tile_is_read_by_windows_only() -> None:
    path = shared_path(*TILE)
    gb = _geobox()
    tile = CountingTile(path)
    total = tile.shape[0] * tile.shape[1]
    lon, lat = _centres_lonlat(gb)
    rows, cols = (np.asarray(v) for v in rasterio.transform.rowcol(tile.transform, lon.ravel(), lat.ravel()))
    footprint = int((rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1))  # ~216 x 216 cells
    lo, hi = _chunks_touched(rows, cols, 0), _chunks_touched(rows, cols, 8)

    # 1. map grid: the cells actually read from the file (a counting reader behind the dask array)
    out = radarcode_raster(tile.dataarray(), gb, "mode")
    assert tile.cells == 0  # lazy: nothing read yet
    values = out.values
    print(f"GeoBox: {tile.cells} cells read of {total} ({tile.cells / total:.5%}); footprint {footprint}, chunks {lo}..{hi}")
    assert footprint <= tile.cells <= hi * CHUNK * CHUNK
    assert tile.cells >= lo * CHUNK * CHUNK  # whole chunks are read: exactly those under the window
    assert tile.cells < 0.005 * total  # << the 1.3e9-cell tile (measured: 1 chunk, 1048576 cells, 0.08 %)
    assert set(np.unique(values).tolist()) <= {0, 10, 20, 30, 40, 50, 60, 80, 90, 95}

    # 2. a path: the dask graph of the lazy result depends on the chunks under the window only
    lazy = radarcode_raster(path, gb, "mode")
    graph = lazy.data.__dask_graph__()
    culled = graph.cull(set(flatten(lazy.data.__dask_keys__())))
    source = [name for name in graph.layers if name.startswith("open_rasterio-")]
    assert len(source) == 1
    n_all = len(graph.layers[source[0]])
    n_used = sum(1 for k in culled.to_dict() if isinstance(k, tuple) and k[0] == source[0])
    print(f"path: the result depends on {n_used} of the {n_all} chunks of the tile")
    assert n_all == 36 * 36 and lo <= n_used <= hi

    # 3. radar grid: the same counting reader behind radarcode
    scene = simulate_scene(SceneConfig(center_lon=LON, center_lat=LAT, lines=128, samples=128, dates=1, polarizations=("VV",)))
    coords = radar_coordinates(scene.acquisitions[0])
    tile.cells = 0
    radar = radarcode_raster(tile.dataarray(), coords, "mode").values
    clon, clat = coords["lon"].values, coords["lat"].values
    rows, cols = (np.asarray(v) for v in rasterio.transform.rowcol(tile.transform, clon.ravel(), clat.ravel()))
    print(f"radar grid: {tile.cells} cells read ({tile.cells / total:.5%})")
    assert tile.cells <= _chunks_touched(rows, cols, 8) * CHUNK * CHUNK and tile.cells < 0.005 * total
    assert radar.shape == (128, 128)


def test_worldcover_onto_a_simulated_radar_grid() -> None:
    path = shared_path(*TILE)
    scene = simulate_scene(SceneConfig(center_lon=LON, center_lat=LAT, lines=128, samples=128, dates=1, polarizations=("VV",)))
    acq = scene.acquisitions[0]
    coords = radar_coordinates(acq)
    lon, lat = coords["lon"].values, coords["lat"].values
    truth, window_classes = _direct_nearest(path, lon, lat)
    t0 = time.perf_counter()
    nearest = radarcode_raster(path, coords, "nearest")
    mode = radarcode_raster(path, coords, "mode")
    nv, mv = nearest.values, mode.values
    elapsed = time.perf_counter() - t0
    assert mode.dims == ("azimuth", "range") and mode.shape == (128, 128) and mode.dtype == np.uint8
    assert set(np.unique(mv).tolist()) <= window_classes and set(np.unique(nv).tolist()) <= window_classes
    assert len(np.unique(mv)) >= 3
    agree = (nv == truth).mean()
    print(f"radar grid: nearest vs direct read {agree:.4f}, mode vs nearest {(mv == nv).mean():.4f}, {elapsed:.2f} s")
    assert agree >= 0.99
    assert (mv == nv).mean() >= 0.8
    assert mode.attrs["grid"] == "radar" and mode.attrs["categorical"] == 1
    # the acquisition itself is a target too (coordinates computed inside, at 0 m without a DEM)
    np.testing.assert_array_equal(radarcode_raster(path, acq=acq, method="nearest").values, nv)


# --------------------------------------------------------------------------------------------------
def _ramp_tif(tmp_path, crs: str = UTM32, nodata: float | None = -9999.0):
    """A 1 m raster whose value is a linear function of x / y (truth for bilinear / average)."""
    ny, nx = 300, 400
    x0, y0 = 300000.0, 4600000.0
    cols, rows = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
    values = (2.0 * (x0 + cols) - 3.0 * (y0 - rows) + 1e7).astype(np.float32)  # a(x) + b(y) + c
    values[:10, :10] = nodata if nodata is not None else values[:10, :10]
    path = tmp_path / "ramp.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=nx,
        height=ny,
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(x0, y0, 1.0, 1.0),
        nodata=nodata,
    ) as dst:
        dst.write(values, 1)
    return path, x0, y0


def test_continuous_resampling_is_exact_on_a_linear_field(tmp_path) -> None:
    path, x0, y0 = _ramp_tif(tmp_path)
    gb = GeoBox.from_bbox((x0 + 50, y0 - 250, x0 + 350, y0 - 50), crs=UTM32, resolution=10)  # 20 x 30 px inside
    n, m = gb.shape
    cc, rr = np.meshgrid(np.arange(m) + 0.5, np.arange(n) + 0.5)
    x, y = gb.affine @ (cc, rr)
    expect = 2.0 * np.asarray(x) - 3.0 * np.asarray(y) + 1e7
    for method in ("bilinear", "average"):
        out = radarcode_raster(path, gb, method)
        assert out.dtype == np.float32 and out.attrs["categorical"] == 0
        np.testing.assert_allclose(out.values, expect, rtol=0, atol=2.0)  # float32 at 1e7: ~1 unit
    # nodata cells are NaN, never blended in
    corner = GeoBox.from_bbox((x0, y0 - 40, x0 + 40, y0), crs=UTM32, resolution=10)
    out = radarcode_raster(path, corner, "average").values
    assert np.isnan(out[0, 0]) and np.isfinite(out[-1, -1])


def test_errors(tmp_path) -> None:
    path, x0, y0 = _ramp_tif(tmp_path)
    gb = GeoBox.from_bbox((x0, y0 - 100, x0 + 100, y0), crs=UTM32, resolution=10)
    with pytest.raises(ConfigError):
        radarcode_raster(path, gb, "cubic")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        radarcode_raster(path, None)
    with pytest.raises(MissingDataError):
        radarcode_raster(tmp_path / "absent.tif", gb)
    far = GeoBox.from_bbox((x0 + 1e5, y0 - 100, x0 + 1e5 + 100, y0), crs=UTM32, resolution=10)
    with pytest.raises(MissingDataError, match="does not cover"):
        radarcode_raster(path, far)
    plain = xr.DataArray(np.zeros((4, 4), np.uint8), dims=("y", "x"))
    with pytest.raises(UnsupportedProductError):
        radarcode_raster(plain, gb)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00 not really a tiff")
    with pytest.raises(CorruptProductError, match=r"bad\.tif"):
        radarcode_raster(bad, gb)
    nocrs = tmp_path / "nocrs.tif"
    with rasterio.open(nocrs, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", transform=Affine.identity()) as dst:
        dst.write(np.ones((4, 4), np.uint8), 1)
    with pytest.raises(UnsupportedProductError, match="no CRS"):
        radarcode_raster(nocrs, gb)
