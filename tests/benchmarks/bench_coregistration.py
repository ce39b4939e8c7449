"""Benchmark: coregistration accuracy (RMSE of the recovered offset field against the simulator's
truth, inner area, shadow excluded) and wall time on simulated 1024 x 1024 pairs at coherence 0.9 /
0.6 / 0.3, for alignsar's methods and scikit-image's ``phase_cross_correlation`` (upsample 100, one
global shift, on amplitudes) in the same run.

Pairs: SLC (complex data) and GRD-like (intensities multilooked 2 x 2 by a boxcar, same sampling).
scikit-image is a peer, not a dependency: ``.venv/bin/pip install scikit-image``. arosics (COREG,
COREG_LOCAL) needs GDAL's Python bindings in a separate environment and is not run here.

    .venv/bin/python tests/benchmarks/bench_coregistration.py [--size 1024] [--nb-gcp 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import xarray as xr
from rasterio.transform import Affine

from alignsar.coregistration import CoregConfig, coregister, coregister_rasters
from alignsar.geometry import DEM
from alignsar.simulate import SceneConfig, simulate_scene


def rmse(field, truth: xr.Dataset, margin: int = 64) -> tuple[float, float]:
    sl, sp = (a.compute() for a in field.on_grid())
    n0, n1 = sl.shape
    ll, pp = np.meshgrid(np.arange(n0, dtype=float), np.arange(n1, dtype=float), indexing="ij")
    ok = truth["samples"].values > 0
    ok[:margin], ok[-margin:], ok[:, :margin], ok[:, -margin:] = False, False, False, False
    return (
        float(np.sqrt(np.mean((sl - ll - truth["offset_azimuth"].values)[ok] ** 2))),
        float(np.sqrt(np.mean((sp - pp - truth["offset_range"].values)[ok] ** 2))),
    )


def multilook(intensity: np.ndarray) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    return uniform_filter(intensity, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--nb-gcp", type=int, default=1000, help="GCPs (the ICEYE defaults, 8000 / 10000, are for full-size products)")
    args = parser.parse_args()
    print(f"{'coherence':>9s} {'data':5s} {'method':28s} {'rmse az':>8s} {'rmse rg':>8s} {'seconds':>8s}")
    for gamma in (0.9, 0.6, 0.3):
        scene = simulate_scene(
            SceneConfig(lines=args.size, samples=args.size, dates=2, polarizations=("VV",), coherence=gamma, seed=11, relief_m=80.0)
        )
        tm = scene.truth_map
        dem = DEM(tm["dem"].values, Affine.from_gdal(*tm.attrs["transform"]), __import__("pyproj").CRS.from_epsg(tm.attrs["epsg"]))
        p, s = scene.acquisitions
        truth = scene.truth[1]
        rows = []
        slc_cfg = CoregConfig.defaults("SLC")
        slc_cfg.nb_gcp = args.nb_gcp
        grd_cfg = CoregConfig.defaults("GRD")
        grd_cfg.nb_gcp = args.nb_gcp
        for name, method, cfg in (("dem_assisted", "dem_assisted", None), (f"cross_corr (SLC, {args.nb_gcp} GCPs)", "cross_corr", slc_cfg)):
            t = time.perf_counter()
            res = coregister(p, s, method, dem=dem, config=cfg)
            rows.append(("SLC", name, *rmse(res.offsets, truth), time.perf_counter() - t))
        # GRD-like: detected, multilooked intensities on the same grid
        ip = multilook(np.abs(p.measurement("VV").values.astype(np.complex128)) ** 2)
        is_ = multilook(np.abs(s.measurement("VV").values.astype(np.complex128)) ** 2)
        t = time.perf_counter()
        res = coregister_rasters(xr.DataArray(ip, dims=("y", "x"), name="p"), xr.DataArray(is_, dims=("y", "x"), name="s"), grd_cfg)
        rows.append(("GRD", f"cross_corr (GRD, {args.nb_gcp} GCPs)", *rmse(res.offsets, truth), time.perf_counter() - t))
        try:
            from skimage.registration import phase_cross_correlation

            for data, (a, b) in (("SLC", (np.abs(p.measurement("VV").values), np.abs(s.measurement("VV").values))), ("GRD", (ip, is_))):
                t = time.perf_counter()
                shift, _, _ = phase_cross_correlation(a, b, upsample_factor=100)
                dt = time.perf_counter() - t
                d = -np.asarray(shift)  # skimage returns the shift that registers b onto a
                ok = truth["samples"].values > 0
                rows.append(
                    (
                        data,
                        "skimage phase_cross_correlation",
                        float(np.sqrt(np.mean((d[0] - truth["offset_azimuth"].values[ok]) ** 2))),
                        float(np.sqrt(np.mean((d[1] - truth["offset_range"].values[ok]) ** 2))),
                        dt,
                    )
                )
        except ImportError:
            print("(scikit-image not installed: peer skipped)")
        for data, name, ra, rr, sec in rows:
            print(f"{gamma:9.1f} {data:5s} {name:28s} {ra:8.4f} {rr:8.4f} {sec:8.1f}")


if __name__ == "__main__":
    main()
