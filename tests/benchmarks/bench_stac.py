"""Benchmark: publishing a ~1 000-item STAC catalog (simulated dates x ML chips) with
:func:`alignsar.stac.publish`: wall time and peak memory; offline validation of the whole catalog
(:func:`alignsar.stac.validate.validate_path`); and the load throughput of the published map-grid
COGs through ``stackstac.stack(load_items(...)).compute()`` against direct rasterio reads of the same
files (ratio).

Preparation (not timed, once): :func:`alignsar.demo.run_demo` simulates ``--dates`` dates of
``--size`` x ``--size`` px (radar grid) and builds its cube (its own chips use ``--size // 4`` px so
that its own catalog is cheap; that catalog is deleted). Chips of ``--chip-size`` px are then cut
from the cube with :func:`alignsar.dataset.cli.build_chips` (the demo's variables, Zarr); their
``block_size`` / ``stride`` are chosen among multiples of the chip size so that the catalog holds as
close to ``--items`` items as possible (2 x dates sar-map + sar-radar items, 1 layers item, 1 labels
item, one ml-chips item per chip). The exact count is read back from the published catalog.

Each measurement is a fresh subprocess; its peak resident memory is ``ru_maxrss`` of that child
(``os.wait4``), ``base MB`` the child's peak just before the timed call (interpreter + imports).

* publish: ``publish(cube, out, chips=chips, config_path=config)`` into a new folder (geocoding of
  every per-date variable onto the map grid, one COG per date x signature with checksum, chip items);
  ``--publish-runs`` runs, median time, max peak. ``--profile`` adds one cProfile run (not timed)
  and prints the functions with the largest own time.
* validate: ``validate_path(catalog.json, schemas=--schemas)`` (offline, the shared mirror): every
  catalog, collection and item file.
* load: every sar-map item x ``--assets`` (default: every per-date COG signature asset) as one
  float32 array (time, band, y, x). stackstac: ``stackstac.stack(items, assets=..., dtype="float32",
  fill_value=nan, rescale=False).compute()`` (dask threaded scheduler, one worker per core, default
  1024 px chunks; timed from ``stack()`` on, item JSON already read); rasterio: one ``open`` +
  ``read(1, out=...)`` per COG, sequential, into a preallocated array of the same shape. Both must
  give the same array (checked, NaN = NaN). Warm page cache for both: one untimed pass of each,
  then ``--repeats`` alternating timed passes, median. Mpx/s = items x assets x height x width /
  seconds.

    .venv/bin/python tests/benchmarks/bench_stac.py [--size 512] [--dates 10] [--chip-size 16] [--items 1000] [--workdir DIR] [--keep-inputs [--prepare-only]] [--profile] [--json OUT]
    .venv/bin/python tests/benchmarks/bench_stac.py --small     # sanity run: 128 px, 3 dates, ~60 items
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _child import run_child  # tests/benchmarks/_child.py (scripts run from this folder)

SCHEMAS = "/work/shared/stac/schemas"

PREPARE = """
import json, shutil, time
from pathlib import Path
from alignsar.demo import demo_config, run_demo
from alignsar.cube.build import open_cube
from alignsar.dataset.chips import make_chips
from alignsar.dataset.splits import assign_splits
from alignsar.dataset._grid import grid_shape
from alignsar.dataset.cli import build_chips

work = Path(WORK)
t0 = time.perf_counter()
demo = run_demo(work / "demo", lines=SIZE, samples=SIZE, dates=DATES, chip_size=max(16, SIZE // 4))
demo_s = time.perf_counter() - t0
shutil.rmtree(demo.catalog.parent, ignore_errors=True)  # the demo's own catalog (not measured)
shutil.rmtree(demo.chips, ignore_errors=True)
cube = open_cube(demo.cube)
n_dates = int(cube.sizes["time"])
static = [str(n) for n, v in cube.data_vars.items() if "time" not in v.dims and v.ndim == 2]
n_labels = int(any("flag_values" in cube[v].attrs and v.startswith("label") for v in static))
n_layers = int(any(not ("flag_values" in cube[v].attrs and v.startswith("label")) for v in static))
fixed = 2 * n_dates + n_labels + n_layers
target = max(1, ITEMS - fixed)
ds_cfg = demo_config(work / "demo", CHIP)["dataset"]
variables = ds_cfg["variables"]
# choose block size / stride (multiples of the chip size, stride >= chip / 2) so that the chip count is closest to the target
best = None
for stride in sorted({CHIP, max(1, 3 * CHIP // 4), max(1, CHIP // 2)}, reverse=True):
    windows = make_chips(cube, size=CHIP, stride=stride, min_valid=MIN_VALID, variables=variables)
    for mult in range(2, 33):
        block = mult * CHIP
        n = len(assign_splits(windows, grid_shape(cube), chip_size=CHIP, block_size=block, seed=0))
        key = (abs(n - target), -stride, block)
        if best is None or key < best[0]:
            best = (key, stride, block, n)
_, stride, block, n_expected = best
t1 = time.perf_counter()
summary = build_chips(demo.cube, work / "chips", size=CHIP, stride=stride, min_valid=MIN_VALID, block_size=block, seed=0,
                      variables=variables, format="zarr")
chips_s = time.perf_counter() - t1
assert summary["chips"] == n_expected, (summary, n_expected)
print(json.dumps({"cube": str(demo.cube), "config": str(demo.config), "chips": str(work / "chips"), "n_chips": summary["chips"],
                  "splits": summary["splits"], "stride": stride, "block_size": block, "dates": n_dates, "fixed_items": fixed,
                  "demo_s": demo_s, "chips_s": chips_s, "cube_shape": [int(s) for s in grid_shape(cube)]}))
"""

PUBLISH = """
import json, resource, time
from pathlib import Path
from alignsar.stac import publish


def count_items(catalog):
    root = json.loads(Path(catalog).read_text())
    out = {}
    for link in root["links"]:
        if link["rel"] == "child":
            cpath = Path(catalog).parent / link["href"]
            coll = json.loads(cpath.read_text())
            out[coll["id"]] = sum(1 for il in coll["links"] if il["rel"] == "item")
    return out


base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if PROFILE:
    import cProfile, io, pstats
    prof = cProfile.Profile()
    prof.enable()
t0 = time.perf_counter()
catalog = publish(CUBE, OUT, chips=CHIPS, config_path=CONFIG)
seconds = time.perf_counter() - t0
result = {"seconds": seconds, "base_mb": base_mb, "items": count_items(catalog), "catalog": str(catalog)}
if PROFILE:
    prof.disable()
    for key in ("tottime", "cumulative"):
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats(key).print_stats(25)
        result[f"profile_{key}"] = s.getvalue()
data = Path(OUT) / "data"
result["cog_bytes"] = sum(f.stat().st_size for f in (data / "map").rglob("*.tif"))
result["cogs"] = sum(1 for _ in (data / "map").rglob("*.tif"))
print(json.dumps(result))
"""

VALIDATE = """
import json, resource, time
from alignsar.stac.validate import validate_path

base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
report = validate_path(CATALOG, schemas=SCHEMAS)
seconds = time.perf_counter() - t0
bad = [str(f) for f in report.invalid][:5]
print(json.dumps({"seconds": seconds, "base_mb": base_mb, "files": len(report.files), "ok": report.ok,
                  "invalid": len(report.invalid), "first_problems": bad, "mode": report.mode}))
"""

LOAD = """
import json, os, resource, statistics, time
import dask
import numpy as np
import rasterio
import stackstac
from alignsar.stac import load_items

t0 = time.perf_counter()
items = load_items(CATALOG, "sar-map")
load_items_s = time.perf_counter() - t0
names = ASSETS or [k for k, a in items[0]["assets"].items() if a.get("type", "").startswith("image/tiff") and "data" in a.get("roles", [])]
hrefs = [[it["assets"][n]["href"] for n in names] for it in items]
with rasterio.open(hrefs[0][0]) as src:
    height, width, dtype = src.height, src.width, src.dtypes[0]
shape = (len(items), len(names), height, width)
workers = os.cpu_count() or 1


def by_stackstac():
    t = time.perf_counter()
    arr = stackstac.stack(items, assets=names, dtype="float32", fill_value=np.float32(np.nan), rescale=False)
    setup = time.perf_counter() - t
    with dask.config.set(scheduler="threads", num_workers=workers):
        out = arr.compute()
    return time.perf_counter() - t, setup, out.values


def by_rasterio():
    t = time.perf_counter()
    out = np.empty(shape, dtype="float32")
    for i, row in enumerate(hrefs):
        for j, href in enumerate(row):
            with rasterio.open(href) as src:
                src.read(1, out=out[i, j])
    return time.perf_counter() - t, 0.0, out


# warm-up (untimed): page cache of every COG for both readers; also the equality check
_, _, a = by_stackstac()
_, _, b = by_rasterio()
assert a.shape == b.shape == shape, (a.shape, b.shape, shape)
identical = bool(np.array_equal(a, b, equal_nan=True))
finite = float(np.isfinite(b).mean())
del a, b
times = {"stackstac": [], "rasterio": []}
setups = []
for _ in range(REPEATS):
    s, setup, arr = by_stackstac()
    times["stackstac"].append(s)
    setups.append(setup)
    del arr
    s, _, arr = by_rasterio()
    times["rasterio"].append(s)
    del arr
mpx = shape[0] * shape[1] * shape[2] * shape[3] / 1e6
print(json.dumps({"shape": list(shape), "assets": names, "dtype": dtype, "mpx": mpx, "identical": identical, "finite": finite,
                  "load_items_s": load_items_s, "stack_setup_s": statistics.median(setups), "workers": workers,
                  "stackstac_s": times["stackstac"], "rasterio_s": times["rasterio"],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="radar grid: azimuth = range pixels per date")
    parser.add_argument("--dates", type=int, default=10)
    parser.add_argument("--chip-size", type=int, default=16, help="ML chip size (px)")
    parser.add_argument("--min-valid", type=float, default=0.8, help="chips: minimum valid fraction")
    parser.add_argument("--items", type=int, default=1000, help="target number of items in the catalog")
    parser.add_argument("--assets", nargs="*", default=None, help="sar-map assets to load (default: every per-date COG signature)")
    parser.add_argument("--publish-runs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed load passes (median)")
    parser.add_argument("--schemas", default=SCHEMAS, help="offline STAC schema mirror")
    parser.add_argument("--profile", action="store_true", help="one extra cProfile run of publish (not timed)")
    parser.add_argument("--small", action="store_true", help="sanity run: --size 128 --dates 3 --chip-size 16 --items 60")
    parser.add_argument("--workdir", default=None, help="work folder (default: a temporary directory, deleted)")
    parser.add_argument("--keep-inputs", action="store_true", help="keep (and reuse) the prepared cube and chips in --workdir")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--prepare-only", action="store_true", help="only prepare the inputs (with --workdir --keep-inputs)")
    args = parser.parse_args()
    if args.small:
        args.size, args.dates, args.chip_size, args.items = 128, 3, 16, 60
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_stac_"))
    work.mkdir(parents=True, exist_ok=True)
    inputs = work / f"inputs_{args.size}_{args.dates}_{args.chip_size}_{args.items}"
    try:
        prep_file = inputs / "prepared.json"
        if args.keep_inputs and prep_file.exists():
            prep = json.loads(prep_file.read_text())
            print(f"reusing prepared inputs in {inputs}")
        else:
            shutil.rmtree(inputs, ignore_errors=True)
            inputs.mkdir(parents=True)
            t = time.perf_counter()
            prep = run_child(
                PREPARE,
                "prepare",
                params={
                    "WORK": str(inputs),
                    "SIZE": args.size,
                    "DATES": args.dates,
                    "CHIP": args.chip_size,
                    "ITEMS": args.items,
                    "MIN_VALID": args.min_valid,
                },
            )
            prep_file.write_text(json.dumps(prep))
            print(f"prepared in {time.perf_counter() - t:.0f} s (demo {prep['demo_s']:.0f} s, chips {prep['chips_s']:.0f} s)")
        print(
            f"cube {prep['cube_shape'][0]} x {prep['cube_shape'][1]} px x {prep['dates']} dates; {prep['n_chips']} chips of {args.chip_size} px "
            f"(stride {prep['stride']}, block {prep['block_size']}, min_valid {args.min_valid}; splits {prep['splits']})"
        )
        if args.prepare_only:
            return
        load_before = loadavg()
        pub_runs = []
        out = work / "catalog"
        for _ in range(args.publish_runs):
            shutil.rmtree(out, ignore_errors=True)
            pub_runs.append(
                run_child(
                    PUBLISH,
                    "publish",
                    params={"CUBE": prep["cube"], "OUT": str(out), "CHIPS": prep["chips"], "CONFIG": prep["config"], "PROFILE": False},
                )
            )
        pub = pub_runs[-1]
        catalog = pub["catalog"]
        n_items = sum(pub["items"].values())
        val = run_child(VALIDATE, "validate", params={"CATALOG": catalog, "SCHEMAS": args.schemas})
        load = run_child(LOAD, "load", params={"CATALOG": catalog, "ASSETS": args.assets, "REPEATS": args.repeats})
        profile = None
        if args.profile:
            pout = work / "catalog_profile"
            shutil.rmtree(pout, ignore_errors=True)
            profile = run_child(
                PUBLISH,
                "profile",
                params={"CUBE": prep["cube"], "OUT": str(pout), "CHIPS": prep["chips"], "CONFIG": prep["config"], "PROFILE": True},
            )
            shutil.rmtree(pout, ignore_errors=True)
        load_after = loadavg()

        publish_s = statistics.median(r["seconds"] for r in pub_runs)
        publish_peak = max(r["peak_mb"] for r in pub_runs)
        st = statistics.median(load["stackstac_s"])
        rio = statistics.median(load["rasterio_s"])
        st_mpx, rio_mpx = load["mpx"] / st, load["mpx"] / rio
        print(f"items per collection: {pub['items']}; {pub['cogs']} map COGs ({pub['cog_bytes'] / 1e6:.0f} MB)")
        print(
            f"load: {load['shape'][0]} items x {load['shape'][1]} assets x {load['shape'][2]} x {load['shape'][3]} px {load['dtype']} "
            f"({load['mpx']:.1f} Mpx), warm cache, median of {args.repeats}; identical arrays: {load['identical']}; "
            f"stackstac {load['workers']} threads, rasterio sequential"
        )
        print(
            f"{'items':>6s} {'publish s':>9s} {'pub peak MB':>11s} {'pub base MB':>11s} {'valid. s':>8s} {'files':>6s} {'valid':>5s} "
            f"{'stackstac Mpx/s':>15s} {'rasterio Mpx/s':>14s} {'ratio':>6s}"
        )
        print(
            f"{n_items:6d} {publish_s:9.1f} {publish_peak:11.0f} {pub['base_mb']:11.0f} {val['seconds']:8.1f} {val['files']:6d} {val['ok']!s:>5s} "
            f"{st_mpx:15.1f} {rio_mpx:14.1f} {st_mpx / rio_mpx:6.2f}"
        )
        if not val["ok"]:
            print("validation problems:", *val["first_problems"], sep="\n  ")
        print(f"load average: {load_before:.2f} before, {load_after:.2f} after")
        if profile:
            print(f"cProfile run of publish ({profile['seconds']:.1f} s under the profiler), by own time:")
            print(profile["profile_tottime"])
            print("by cumulative time:")
            print(profile["profile_cumulative"])
        result = {
            "size": args.size,
            "dates": args.dates,
            "chip_size": args.chip_size,
            "prepared": prep,
            "items": n_items,
            "items_per_collection": pub["items"],
            "publish_s": publish_s,
            "publish_runs_s": [r["seconds"] for r in pub_runs],
            "publish_peak_mb": publish_peak,
            "publish_base_mb": pub["base_mb"],
            "cogs": pub["cogs"],
            "cog_bytes": pub["cog_bytes"],
            "validate_s": val["seconds"],
            "validate_peak_mb": val["peak_mb"],
            "files_validated": val["files"],
            "valid": val["ok"],
            "load": load,
            "stackstac_mpx_s": st_mpx,
            "rasterio_mpx_s": rio_mpx,
            "ratio": st_mpx / rio_mpx,
            "loadavg": [load_before, load_after],
            "profile_tottime": profile["profile_tottime"] if profile else None,
        }
        print(json.dumps({k: v for k, v in result.items() if k != "profile_tottime"}))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(work / "catalog", ignore_errors=True)
        if not args.keep_inputs:
            shutil.rmtree(inputs, ignore_errors=True)
            if args.workdir is None:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
