"""Benchmark: radarcoding of land-cover polygons onto a simulated radar grid, alignsar's exact area
weighting against the GDAL route of the reference toolbox (AlignSAR), same polygons, same DEM, same
run: wall time and agreement of the class map with the simulator's true class map.

* ``alignsar``: :func:`alignsar.layers.radarcode_vectors` (``class_majority``: the class covering the
  largest area of each pixel's ground footprint; footprints from the pixel edges geolocated on the
  DEM, 4 segments per edge).
* ``gdal route``: the polygons are rasterized at 10 m on a UTM grid (``rasterio.features.rasterize``,
  GDAL's rasterizer: a cell takes the class of the polygon containing its centre), then that raster
  is warped onto the radar grid by nearest neighbour at each radar pixel centre's position: lon / lat
  from :func:`alignsar.geometry.radarcode.radar_coordinates` (zero-Doppler geolocation on the same
  DEM), projected to the UTM CRS of the raster and rounded to the containing 10 m cell. This is what
  ``gdalwarp -geoloc -r near`` does with per-pixel geolocation arrays (it looks up the destination
  pixel centre's lon / lat and takes the nearest source cell); no ``rasterio.warp.reproject`` is used.
  Its time is split into geolocation, rasterization and sampling.

The scene is ``simulate_scene(SceneConfig(lines=512, samples=512, dates=1, polarizations=("VV",),
seed=3, relief_m=R))`` for each ``--relief`` R (m); its true land-cover polygons (``scene.polygons``,
UTM) are the vector layer and its map-grid DEM (``scene.truth_map["dem"]``, ellipsoidal heights) is
the DEM of both routes, as in ``tests/test_vector_layers.py``. The truth (``scene.truth[0]["class_map"]``)
is the majority class of the simulator's 3.3 m ground samples falling into each radar pixel (0 =
shadow). Agreement is the fraction of pixels whose class equals the truth: ``all`` over every
non-shadow pixel, ``away`` over pixels away from class edges (the 3 x 3 neighbourhood holds one
class) and not in layover (at most 1.5 x the median number of ground samples), as in the tests.

    .venv/bin/python tests/benchmarks/bench_vector_layers.py [--size 512] [--relief 150 400]
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import pyproj
from rasterio import features
from rasterio.transform import Affine
from scipy.ndimage import maximum_filter, minimum_filter

from alignsar.geometry.dem import DEM
from alignsar.geometry.radarcode import radar_coordinates
from alignsar.layers import radarcode_vectors
from alignsar.simulate.scene import SceneConfig, simulate_scene

SPACING = 10.0  # m, the UTM raster of the GDAL route


def gdal_route(polygons: list, crs: pyproj.CRS, acq, dem: DEM) -> tuple[np.ndarray, dict[str, float]]:
    """Rasterize at 10 m in UTM, then nearest-neighbour sampling at the radar pixel centres."""
    times = {}
    t = time.perf_counter()
    coords = radar_coordinates(acq, dem).compute()
    lon, lat = coords["lon"].values, coords["lat"].values
    times["geolocation"] = time.perf_counter() - t

    t = time.perf_counter()
    x0, y0, x1, y1 = gpd.GeoSeries([g for _, g in polygons]).total_bounds
    left, top = np.floor(x0 / SPACING) * SPACING, np.ceil(y1 / SPACING) * SPACING
    width, height = int(np.ceil((x1 - left) / SPACING)), int(np.ceil((top - y0) / SPACING))
    transform = Affine(SPACING, 0, left, 0, -SPACING, top)
    raster = features.rasterize([(g, v) for v, g in polygons], (height, width), transform=transform, fill=0, dtype="uint8")
    times["rasterize"] = time.perf_counter() - t

    t = time.perf_counter()
    x, y = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    col = np.floor((np.asarray(x) - left) / SPACING).astype(np.int64)
    row = np.floor((top - np.asarray(y)) / SPACING).astype(np.int64)
    inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
    out = np.zeros(lon.shape, np.int32)
    out[inside] = raster[row[inside], col[inside]]
    times["sample"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    return out, times


def agreement(classes: np.ndarray, truth: np.ndarray, samples: np.ndarray) -> tuple[float, float, int, int]:
    """(overall, away from edges and layover) agreement and their pixel counts."""
    lit = truth > 0
    away = (maximum_filter(truth, 3) == minimum_filter(truth, 3)) & lit
    good = away & (samples > 0) & (samples <= 1.5 * np.median(samples))
    return float((classes[lit] == truth[lit]).mean()), float((classes[good] == truth[good]).mean()), int(lit.sum()), int(good.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="radar lines = samples")
    parser.add_argument("--relief", type=float, nargs="+", default=[150.0, 400.0], help="relief_m of the simulated terrain")
    args = parser.parse_args()
    rows = []
    for relief in args.relief:
        t = time.perf_counter()
        scene = simulate_scene(SceneConfig(lines=args.size, samples=args.size, dates=1, polarizations=("VV",), seed=3, relief_m=relief))
        t_sim = time.perf_counter() - t
        tm = scene.truth_map
        crs = pyproj.CRS.from_epsg(tm.attrs["epsg"])
        dem = DEM(tm["dem"].values.astype(np.float32), Affine.from_gdal(*tm.attrs["transform"]), crs)
        gdf = gpd.GeoDataFrame({"cover": [v for v, _ in scene.polygons]}, geometry=[g for _, g in scene.polygons], crs=crs)
        acq = scene.acquisitions[0]
        truth = scene.truth[0]["class_map"].values.astype(np.int32)
        samples = scene.truth[0]["samples"].values

        t = time.perf_counter()
        ds = radarcode_vectors(gdf, acq, column="cover", dem=dem)
        t_exact = time.perf_counter() - t
        exact = ds["class_majority"].values

        gdal, times = gdal_route(scene.polygons, crs, acq, dem)
        n_pix = truth.size
        print(
            f"relief {relief:g} m: {args.size} x {args.size} radar px, {len(scene.polygons)} polygons, simulated in {t_sim:.1f} s; "
            f"gdal route: geolocation {times['geolocation']:.2f} s, rasterize {times['rasterize']:.2f} s, sample {times['sample']:.2f} s; "
            f"alignsar intersected pairs {ds.attrs['intersected_pairs']}"
        )
        for name, classes, seconds in (("alignsar exact area", exact, t_exact), ("gdal rasterize+warp", gdal, times["total"])):
            a_all, a_away, n_all, n_away = agreement(classes, truth, samples)
            rows.append((relief, name, seconds, n_pix / seconds / 1e6, a_all, n_all, a_away, n_away))
        both = (exact != gdal) & (truth > 0)
        print(f"  the two routes differ on {both.mean():.4f} of the non-shadow pixels")

    print()
    print(f"{'relief m':>8s} {'route':<20s} {'seconds':>8s} {'Mpx/s':>7s} {'agree all':>9s} {'px':>7s} {'agree away':>10s} {'px':>7s}")
    for relief, name, seconds, rate, a_all, n_all, a_away, n_away in rows:
        print(f"{relief:8g} {name:<20s} {seconds:8.2f} {rate:7.3f} {a_all:9.4f} {n_all:7d} {a_away:10.4f} {n_away:7d}")


if __name__ == "__main__":
    main()
