"""Benchmark: datacube builds (:func:`alignsar.cube.build.build_cube`) of a simulated dual-pol SLC
stack of ``size`` x ``size`` pixels and N dates (issue 7): build time, throughput and peak memory as
N grows, and the write rate against writing the same arrays straight to Zarr in the same run.

    .venv/bin/python tests/benchmarks/bench_cube.py [--size 4096] [--dates 10 20 40] [--chunk 512]
        [--signatures base coherence] [--peer random copy] [--workdir DIR] [--keep-inputs]
        [--no-labels] [--json FILE]

The stack (built once per size in ``WORKDIR/inputs_<size>``, reused with ``--keep-inputs``):

- :func:`alignsar.simulate.simulate_scene` simulates **two** dates (primary P and secondary S, 12
  days apart, seed 0, ``ground_oversampling=2`` instead of 3: ~4 ground samples per pixel, the
  ground-projection time is 9/4 smaller, the rasters are the same size and format), written with
  :func:`alignsar.simulate.io.write_scene` (products, truth DEM, land-cover GeoJSON). It runs in
  its own subprocess with the simulator's ``_sinc_interp`` applied in blocks of 128 lines (the
  same values: the function is elementwise in its positions; unblocked it holds ~6 arrays of
  ``lines x samples x 16`` float64 taps at once, ~2 GB each at 4096^2, i.e. ~20 GB peak for two
  dates, more than this 24 GB machine can spare; blocked: 10.7 GB and 13.5 min at 4096^2).
- date k >= 2 is S moved by (k - 1) x 12 days: a product folder holding a copy of S's metadata
  JSON with every time shifted by the same whole number of nanoseconds (start / stop time, orbit
  state-vector times, grid ``first_azimuth_time``, burst and slant/ground times, the geolocation
  grid's ``azimuth_time``), a new product name, absolute orbit + 175 k, ``date_index`` k, and a
  *symbolic link* to S's ``measurement.zarr``. The orbit is S's orbit shifted in time, so the
  geometry relative to the primary (hence the dem_assisted offsets, resampling and phase) is that of
  S, recomputed for every date by the build; disk use stays two dates. Checked before timing: every
  derived product opens with :func:`alignsar.readers.open_product` and
  :func:`alignsar.coregistration.coregister` (``dem_assisted``, the truth DEM) gives the same
  offsets for it as for S on a window of the grid.

Cube configuration: radar reference grid (the primary), dem_assisted coregistration with the
simulator's DEM (``dem_vertical: ellipsoidal``; SLC default resampling: 16-tap sinc), sigma0, window
5, vector labels from the land-cover polygons (``--no-labels``: none), output chunks ``--chunk``
(default 512 x 512 x 1 date, the build's default; the resampler works on blocks of that size too),
Blosc zstd level 3 bitshuffle (the build's default). Signature sets (``--signatures``): ``base`` =
intensity, db, dual_pol (VV and VH sigma0 linear and dB + the 14 dual-pol variables: 18 float32
variables per date); ``coherence`` adds coherence VV / VH against the primary (20 per date).

Each build runs in a fresh subprocess (dask threaded scheduler, one thread per core, unless
``--scheduler``); its peak resident memory ``peak MB`` is ``ru_maxrss`` of that child
(``os.wait4``), which must stay flat and under 2 GB as the dates grow. ``base MB``: the child's
peak just before ``build_cube`` (interpreter + imports); ``stat MB``: its peak at the end of the
first time step (opening, coregistration set-up, static labels and lat / lon, first date);
``st1 MB`` / ``last MB``: the largest resident set (sampled every 20 ms) during the second and the
last time step: a difference is memory held per date. ``build s`` is the whole ``build_cube`` call
(opening products, coregistration, static variables, every date, history); ``setup s`` the time
before the first step, ``1st s`` the first time step (with the static variables), ``step s`` the
mean of the later steps. Mpx/s = N x size^2 / build s (input pixels per second, per dual-pol date).
``GB`` = the cube's bytes on disk (compressed), ``MB/s`` = uncompressed bytes of the cube's arrays /
build s.

Straight-to-Zarr peers (``--peer``), each in its own subprocess right after the build, with the
same variables (names, shapes, dtypes), chunks and compressor as the built cube, one ``to_zarr`` of
the whole dataset, same scheduler and threads:

- ``random``: arrays made on the fly with ``dask.array.random`` (floats uniform in [0, 1), integer
  variables zeros): nothing is read, generating is cheap, so this is the storage / compression
  limit of these arrays (random mantissas compress less than the cube's values: its bytes on disk
  differ, the uncompressed bytes are the same);
- ``copy``: ``xr.open_zarr(cube).to_zarr(...)`` with the cube's own encodings: the same bytes,
  plus the cost of reading and decompressing the cube.

``ratio`` = cube MB/s / peer MB/s on the same uncompressed bytes (= peer seconds / build seconds):
close to 1 means the build runs at the storage limit. ``copy`` runs first and is skipped (``-``)
when the disk cannot hold a second cube; the cube is then deleted and ``random`` runs from a copy
of the cube's metadata files. Every store is deleted after its measurement. ``load`` is the
machine's 1-minute load average before / after the build (other processes share the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _child import run_child  # tests/benchmarks/_child.py (scripts run from this folder)

REVISIT_NS = 12 * 86_400 * 10**9
SIGNATURES = {"base": ["intensity", "db", "dual_pol"], "coherence": ["intensity", "db", "dual_pol", "coherence"]}
CLASSES = {"water": 1, "forest": 2, "cropland": 3, "urban": 4, "bare soil": 5}

SIMULATE = """
import json, resource, time
import numpy as np
import alignsar.simulate.scene as scene
from alignsar.simulate.io import write_scene

_sinc = scene._sinc_interp


def blocked_sinc(field_, rows, cols, taps=16):
    # the simulator's interpolator on 128-line blocks: same values, ~1/32 of the temporaries at 4096^2
    out = np.empty(rows.shape, np.complex64)
    for i in range(0, rows.shape[0], 128):
        out[i : i + 128] = _sinc(field_, rows[i : i + 128], cols[i : i + 128], taps)
    return out


scene._sinc_interp = blocked_sinc
t0 = time.perf_counter()
cfg = scene.SceneConfig(lines=SIZE, samples=SIZE, dates=2, seed=0, ground_oversampling=OVERSAMPLING)
sc = scene.simulate_scene(cfg, progress=lambda m: print(f"  simulate {time.perf_counter() - t0:6.0f} s: {m}", flush=True))
t1 = time.perf_counter()
paths = write_scene(sc, OUT)
print(json.dumps({"simulate_s": t1 - t0, "write_s": time.perf_counter() - t1, "products": [str(p) for p in paths],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHECK = """
import json
import numpy as np
from alignsar.coregistration import coregister
from alignsar.geometry import open_dem
from alignsar.readers import open_product

primary, source = open_product(PATHS[0]), open_product(PATHS[1])
dem = open_dem(DEM, vertical="ellipsoid")
win = (slice(SIZE // 2, SIZE // 2 + 128), slice(SIZE // 2, SIZE // 2 + 128))


def offsets(acq):
    res = coregister(primary, acq, "dem_assisted", pol="VV", dem=dem)
    lines, pixels = res.offsets.on_grid()
    return np.asarray(lines[win]), np.asarray(pixels[win])


want = offsets(source)
out = []
for p in PATHS[2:]:
    acq = open_product(p)
    got = offsets(acq)
    err = max(float(np.max(np.abs(g - w))) for g, w in zip(got, want))
    assert err < 1e-3, (p, err)
    out.append({"product": acq.product_name, "start": str(acq.start_time), "max_offset_difference_px": err})
print(json.dumps({"derived": out}))
"""

BUILD = """
import json, os, resource, threading, time
import numpy as np


def rss_peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


from alignsar.cube.build import build_cube, open_cube
from alignsar.cube.config import CubeConfig

config = CubeConfig.model_validate(json.loads(CONFIG))
marks, step_rss, current = [], {}, [-1]


def monitor():  # the resident set of each time step (ru_maxrss only ever grows)
    while True:
        k = current[0]
        step_rss[k] = max(step_rss.get(k, 0.0), rss_now())
        time.sleep(0.02)


def progress(message, k, n):
    marks.append((time.perf_counter(), k, rss_peak()))
    current[0] = k


threading.Thread(target=monitor, daemon=True).start()
base_mb = rss_peak()
t0 = time.perf_counter()
report = build_cube(config, OUT, scheduler=SCHEDULER, progress=progress, rebuild=True)
seconds = time.perf_counter() - t0
assert len(report.written) == DATES, report.to_dict()
starts = [t for t, _, _ in marks]
steps = [b - a for a, b in zip(starts[:-1], starts[1:])]
static_mb = next((r for _, k, r in marks if k == 1), rss_peak())  # peak up to the end of step 0
later = [step_rss[k] for k in range(1, DATES) if k in step_rss]
ds = open_cube(OUT)
assert ds.sizes["time"] == DATES and ds.sizes["azimuth"] == ds.sizes["range"] == SIZE, dict(ds.sizes)
timed = [v for v in ds.data_vars if ds[v].dims == ("time", "azimuth", "range")]
w = dict(azimuth=slice(SIZE // 2, SIZE // 2 + 256), range=slice(SIZE // 2, SIZE // 2 + 256))
finite = float(np.isfinite(ds["sigma0_vh_db"].isel(time=-1, **w).values).mean())
nbytes = sum(v.nbytes for v in ds.variables.values() if v.dtype.kind in "fciub")
print(json.dumps({"seconds": seconds, "base_mb": base_mb, "static_mb": static_mb, "setup_s": starts[0] - t0, "first_step_s": steps[0],
                  "step_s": float(np.mean(steps[1:])) if len(steps) > 1 else float("nan"), "max_step_s": max(steps),
                  "step1_rss_mb": later[0] if later else float("nan"), "last_rss_mb": later[-1] if later else float("nan"),
                  "steps_rss_mb": max(later) if later else float("nan"), "step_rss_mb": [round(x) for x in later],
                  "nbytes": nbytes, "timed_variables": len(timed), "variables": len(ds.data_vars), "finite": finite}))
"""

PEER = """
import json, resource, time
import dask
import dask.array as da
import numpy as np
import xarray as xr

src = xr.open_zarr(CUBE, consolidated=False)
keep = ("chunks", "compressors", "filters", "serializer", "_FillValue", "dtype", "units", "calendar")
if PEER == "copy":
    ds = src
    encoding = {k: {e: x for e, x in v.encoding.items() if e in keep} for k, v in src.variables.items()}
else:  # random: the cube's numeric variables, same shapes / dtypes / chunks / compressors, made on the fly
    rng = da.random.default_rng(0)
    out, encoding = {}, {}
    for name, v in src.variables.items():
        if v.dtype.kind not in "fiub" or v.ndim == 0:
            continue
        chunks = v.encoding.get("chunks") or v.shape
        if v.dtype.kind == "f":
            arr = rng.random(v.shape, chunks=chunks, dtype=np.float32).astype(v.dtype)
        else:
            arr = da.zeros(v.shape, chunks=chunks, dtype=v.dtype)
        out[f"v_{name}"] = (tuple(f"d_{d}" for d in v.dims), arr)
        encoding[f"v_{name}"] = {e: x for e, x in v.encoding.items() if e in ("chunks", "compressors", "filters")}
    ds = xr.Dataset(out)
nbytes = sum(v.nbytes for v in ds.variables.values() if v.dtype.kind in "fciub")
base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
with dask.config.set(scheduler="threads", num_workers=THREADS):
    ds.to_zarr(STORE, mode="w", zarr_format=3, consolidated=False, encoding=encoding)
print(json.dumps({"seconds": time.perf_counter() - t0, "nbytes": nbytes, "base_mb": base_mb}))
"""


def header(**values: Any) -> str:
    return "".join(f"{k.upper()} = {v!r}\n" for k, v in values.items())


def copy_metadata(store: Path, target: Path) -> None:
    """A Zarr store's metadata files only (no chunk data)."""
    for root, _, files in os.walk(store):
        for f in files:
            if f in ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"):
                dst = target / Path(root).relative_to(store) / f
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(root) / f, dst)


def store_bytes(path: Path) -> int:
    return sum((Path(root) / f).stat().st_size for root, _, files in os.walk(path) for f in files)


# ----- the stack ---------------------------------------------------------------------------------------


def shift_times(meta: dict[str, Any], delta_ns: int) -> dict[str, Any]:
    """A copy of a simulated product's metadata with every time moved by ``delta_ns``."""
    import numpy as np

    def shift(values: Any) -> Any:
        arr = np.asarray(values, dtype="datetime64[ns]") + np.timedelta64(delta_ns, "ns")
        return np.datetime_as_string(arr, unit="ns").tolist()

    meta = json.loads(json.dumps(meta))
    meta["start_time"], meta["stop_time"] = shift(meta["start_time"]), shift(meta["stop_time"])
    meta["orbit"]["time"] = shift(meta["orbit"]["time"])
    for sw in meta["swaths"].values():
        grid = sw["grid"]
        grid["first_azimuth_time"] = shift(grid["first_azimuth_time"])
        for b in grid.get("bursts", []):
            b["azimuth_time"] = shift(b["azimuth_time"])
        if grid.get("slant_ground"):
            grid["slant_ground"]["azimuth_time"] = shift(grid["slant_ground"]["azimuth_time"])
        geo = sw["geolocation"]
        for group in ("data_vars", "coords"):
            for var in geo[group].values():
                if var.get("datetime"):
                    var["data"] = shift(var["data"])
    return meta


def derive(source: Path, target: Path, k: int) -> Path:
    """Date k (>= 2): the product ``source`` (date 1) moved by (k - 1) x 12 days, pixels linked."""
    import numpy as np

    from alignsar.readers.simulated import MEASUREMENT, METADATA

    meta = shift_times(json.loads((source / METADATA).read_text()), (k - 1) * REVISIT_NS)
    stamp = np.datetime_as_string(np.datetime64(meta["start_time"], "s"), unit="s").replace("-", "").replace(":", "")
    meta["product_name"] = f"ALIGNSAR_SIM_SLC_{stamp}_{k:02d}"
    meta["absolute_orbit"] = (meta.get("absolute_orbit") or 1000) + 175 * (k - 1)
    meta["metadata"] = dict(meta.get("metadata", {}), date_index=k, derived_from=source.name)
    folder = target / meta["product_name"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METADATA).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    link = folder / MEASUREMENT
    if not link.exists():
        link.symlink_to((source / MEASUREMENT).resolve(), target_is_directory=True)
    return folder


def prepare(work: Path, size: int, dates: int, oversampling: int, keep: bool) -> tuple[Path, list[Path]]:
    inputs = work / f"inputs_{size}"
    done = inputs / "simulated.json"
    if not (keep and done.exists()):
        shutil.rmtree(inputs, ignore_errors=True)
        inputs.mkdir(parents=True)
        print(f"simulating 2 dates of {size} x {size} px (ground_oversampling {oversampling}) into {inputs}", flush=True)
        r = run_child(header(size=size, oversampling=oversampling, out=str(inputs)) + textwrap.dedent(SIMULATE), "simulate")
        done.write_text(json.dumps(r))
    sim = json.loads(done.read_text())
    print(
        f"simulation: {sim['simulate_s']:.0f} s, writing {sim['write_s']:.0f} s, peak {sim['peak_mb']:.0f} MB; "
        f"inputs {store_bytes(inputs) / 1e9:.2f} GB on disk",
        flush=True,
    )
    primary, source = (Path(p) for p in sim["products"])
    derived = inputs / "derived"
    paths = [primary, source] + [derive(source, derived, k) for k in range(2, dates)]
    check = sorted(set(paths[2:3] + paths[-1:])) if dates > 2 else []
    if check:
        t = time.perf_counter()
        r = run_child(
            header(paths=[str(p) for p in [primary, source, *check]], dem=str(inputs / "truth" / "dem.tif"), size=size)
            + textwrap.dedent(CHECK),
            "check",
        )
        print(
            f"derived dates checked (open_product + dem_assisted offsets equal to the source's) in {time.perf_counter() - t:.0f} s",
            flush=True,
        )
    return inputs, paths


def cube_config(inputs: Path, products: list[Path], variables: list[str], chunk: int, labels: bool = True) -> dict[str, Any]:
    config = {
        "title": "bench_cube",
        "products": [str(p) for p in products],
        "dem": str(inputs / "truth" / "dem.tif"),
        "dem_vertical": "ellipsoidal",
        "reference": {"type": "radar", "primary": 0},
        "coregistration": {"method": "dem_assisted"},
        "signatures": {"calibration": "sigma0", "variables": variables, "window": 5},
        "labels": {"type": "vector", "path": str(inputs / "truth" / "landcover.geojson"), "class_field": "class", "classes": CLASSES},
        "output": {"format": "zarr", "chunks": {"y": chunk, "x": chunk}},
    }
    if not labels:
        del config["labels"]
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="azimuth = range pixels per date")
    parser.add_argument("--dates", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--chunk", type=int, default=512, help="output chunk (azimuth = range) of the cube")
    parser.add_argument("--signatures", nargs="+", choices=sorted(SIGNATURES), default=["base"])
    parser.add_argument("--peer", nargs="*", choices=["random", "copy"], default=["random", "copy"])
    parser.add_argument("--scheduler", default=None, help="build_cube scheduler: None (threads), synchronous, local, ADDRESS")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads of the straight-to-Zarr peers")
    parser.add_argument("--no-labels", action="store_true", help="build without the vector labels (static, computed once)")
    parser.add_argument("--oversampling", type=int, default=2, help="simulator ground_oversampling")
    parser.add_argument("--workdir", default=None, help="inputs and cubes (default: a temporary directory)")
    parser.add_argument("--keep-inputs", action="store_true", help="reuse (and keep) WORKDIR/inputs_SIZE")
    parser.add_argument("--json", default=None, help="also write every result to this JSON file")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_cube_"))
    work.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    results: list[dict[str, Any]] = []
    try:
        inputs, paths = prepare(work, args.size, max(args.dates), args.oversampling, args.keep_inputs)
        print(
            f"build_cube, radar grid {args.size} x {args.size}, chunks 1 x {args.chunk} x {args.chunk}, scheduler {args.scheduler or 'threads'}"
        )
        cols = (
            f"{'set':>9s} {'dates':>5s} {'build s':>8s} {'setup s':>7s} {'1st s':>6s} {'step s':>6s} {'Mpx/s':>6s} "
            f"{'base MB':>7s} {'stat MB':>7s} {'st1 MB':>6s} {'last MB':>7s} {'peak MB':>7s} {'GB':>6s} {'MB/s':>6s}"
            + "".join(f" {p + ' s':>9s} {p + ' MB/s':>11s} {'ratio':>5s} {'peak MB':>7s}" for p in args.peer)
        )
        print(cols, flush=True)
        for sig in args.signatures:
            for n in args.dates:
                out = work / f"cube_{sig}_{n}.zarr"
                config = cube_config(inputs, paths[:n], SIGNATURES[sig], args.chunk, not args.no_labels)
                code = header(config=json.dumps(config), out=str(out), scheduler=args.scheduler, dates=n, size=args.size) + textwrap.dedent(
                    BUILD
                )
                load0 = os.getloadavg()[0]
                r = run_child(code, f"build {sig} {n}")
                r["loadavg"] = [load0, os.getloadavg()[0]]  # other processes on the machine (1-min load, before / after)
                r.update(signatures=sig, dates=n, size=args.size, chunk=args.chunk, disk_bytes=store_bytes(out))
                r["mpx_s"] = n * args.size**2 / r["seconds"] / 1e6
                r["mb_s"] = r["nbytes"] / r["seconds"] / 1e6
                # the cube's metadata only (shapes, dtypes, chunks, codecs): the random peer runs after the cube is deleted
                template = work / f"template_{sig}_{n}.zarr"
                copy_metadata(out, template)
                for peer in sorted(args.peer, key=lambda q: q != "copy"):  # copy (reads the cube) first
                    if peer == "copy" and shutil.disk_usage(work).free < 1.1 * r["disk_bytes"]:
                        print(
                            f"  copy peer skipped: {shutil.disk_usage(work).free / 1e9:.0f} GB free, the copy needs ~{r['disk_bytes'] / 1e9:.0f} GB"
                        )
                        continue
                    if peer == "random":
                        shutil.rmtree(out, ignore_errors=True)
                    store = work / f"peer_{peer}.zarr"
                    source = out if peer == "copy" else template
                    p = run_child(
                        header(cube=str(source), store=str(store), peer=peer, threads=args.threads) + textwrap.dedent(PEER), f"peer {peer}"
                    )
                    p["disk_bytes"] = store_bytes(store)
                    p["mb_s"] = p["nbytes"] / p["seconds"] / 1e6
                    p["ratio"] = r["mb_s"] / p["mb_s"]
                    r[peer] = p
                    shutil.rmtree(store, ignore_errors=True)
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(template, ignore_errors=True)
                results.append(r)
                line = (
                    f"{sig:>9s} {n:5d} {r['seconds']:8.1f} {r['setup_s']:7.1f} {r['first_step_s']:6.1f} {r['step_s']:6.1f} {r['mpx_s']:6.2f} "
                    f"{r['base_mb']:7.0f} {r['static_mb']:7.0f} {r['step1_rss_mb']:6.0f} {r['last_rss_mb']:7.0f} {r['peak_mb']:7.0f} {r['disk_bytes'] / 1e9:6.2f} {r['mb_s']:6.1f}"
                    + "".join(
                        f" {r[p]['seconds']:9.1f} {r[p]['mb_s']:11.1f} {r[p]['ratio']:5.2f} {r[p]['peak_mb']:7.0f}" for p in args.peer
                    )
                )
                print(line + f"  (load {r['loadavg'][0]:.1f} / {r['loadavg'][1]:.1f})", flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps(results, indent=1))
    finally:
        if not args.keep_inputs:
            shutil.rmtree(work / f"inputs_{args.size}", ignore_errors=True)
        if args.workdir is None and not args.keep_inputs:
            shutil.rmtree(work, ignore_errors=True)
    print(f"total {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
