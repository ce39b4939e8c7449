"""Benchmark: open a Sentinel-1 IW SLC and print its metadata, alignsar vs xarray-sentinel.

Each run is a fresh Python process (so imports, caches and peak memory are per run); the table gives
the median over ``--repeat`` runs of the wall time of the whole process, of the open step alone, and
the process's peak resident memory.

Peer: the same metadata groups opened with xarray-sentinel directly (root, and per swath /
polarisation the measurement group, ``gcp`` and ``orbit``). xarray-sentinel 0.9.x cannot open
measurement groups inside a zip (its rasterio path drops the archive), so on zips the peer opens the
metadata groups only, and the folder row compares the full set.

    .venv/bin/python tests/benchmarks/bench_open.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "sentinel1"
CASES = {
    "s1-reader IW SLC zip (3 swaths)": DATA / "s1-reader" / "S1A_IW_SLC__1SDV_20220828T042306_20220828T042335_044748_0557C6_F396.zip",
    "xarray-sentinel IW SLC zip": DATA / "xarray-sentinel" / "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.zip",
    "xarray-sentinel IW SLC folder": DATA / "xarray-sentinel" / "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE",
}

PRELUDE = """
import json, resource, sys, time
t0 = time.perf_counter()
"""
EPILOGUE = """
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), file=sys.stderr)
"""

ALIGNSAR = """
import alignsar
t1 = time.perf_counter()
acq = alignsar.open_product(PATH)
print(json.dumps(acq.info()))
"""

XARRAY_SENTINEL = """
import xarray as xr
t1 = time.perf_counter()
url = PATH if not PATH.endswith(".zip") else "zip://*/manifest.safe::" + PATH
root = xr.open_dataset(url, engine="sentinel-1")
out = {"attrs": {k: str(v) for k, v in root.attrs.items()}}
for group in root.attrs["subgroups"]:
    if group.count("/") != 1:
        continue
    try:
        gcp = xr.open_dataset(url, engine="sentinel-1", group=group + "/gcp")
    except (FileNotFoundError, OSError):
        continue  # annotation not in this (partial) product
    orbit = xr.open_dataset(url, engine="sentinel-1", group=group + "/orbit")
    entry = {"gcp": gcp.sizes, "orbit": orbit.sizes}
    if not PATH.endswith(".zip"):
        try:
            pol = xr.open_dataset(url, engine="sentinel-1", group=group)
            entry["measurement"] = pol.sizes
        except (FileNotFoundError, OSError):
            pass
    out[group] = {k: dict(v) for k, v in entry.items()}
print(json.dumps(out))
"""


def run(code: str, path: Path) -> dict[str, float]:
    script = PRELUDE + f"PATH = {str(path)!r}\n" + textwrap.dedent(code) + EPILOGUE
    import time

    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    stats = json.loads(res.stderr.strip().splitlines()[-1])
    stats["wall_s"] = wall
    return stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'case':34s} {'tool':16s} {'wall s':>7s} {'open s':>7s} {'peak MB':>8s}")
    for case, path in CASES.items():
        if not path.exists():
            print(f"{case}: missing {path}")
            continue
        rows = {}
        for tool, code in (("alignsar", ALIGNSAR), ("xarray-sentinel", XARRAY_SENTINEL)):
            runs = [run(code, path) for _ in range(args.repeat)]
            rows[tool] = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "open_s", "peak_mb")}
            r = rows[tool]
            print(f"{case:34s} {tool:16s} {r['wall_s']:7.2f} {r['open_s']:7.3f} {r['peak_mb']:8.0f}")
        a, x = rows["alignsar"], rows["xarray-sentinel"]
        print(
            f"{'':34s} {'ratio a/x':16s} {a['wall_s'] / x['wall_s']:7.2f} {a['open_s'] / x['open_s']:7.3f} {a['peak_mb'] / x['peak_mb']:8.2f}"
        )


if __name__ == "__main__":
    main()
