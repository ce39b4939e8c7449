"""Benchmark: geocoding throughput of a full-size Sentinel-1 GRD (the Rome product, 16705 x 26102
radar pixels) onto its default 10 m UTM grid, extrapolated from a sample of 1024 x 1024 map chunks
(lookup table + bilinear resampling of the calibrated sigma0 read from the product), and peak memory
for 1, 4, 16 and 36 chunks in fresh processes (it must not grow with the number of chunks: memory is
bounded by the chunk size).

    .venv/bin/python tests/benchmarks/bench_geocode.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GRD = ROOT.parent / "shared" / "data" / "sentinel1" / "sarsen" / "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"

CODE = """
import json, resource, time
import numpy as np
import alignsar
from alignsar.geometry.geocode import default_geobox, geocode, lookup_table
acq = alignsar.open_product(GRD)
box = default_geobox(acq)
ny, nx = box.shape
side = int(np.ceil(np.sqrt(N)))
y0, x0 = ny // 2 - side * 512, nx // 2 - side * 512
sub = box[y0 : y0 + side * 1024, x0 : x0 + side * 1024]
sigma0 = acq.measurement("VV", calibration="sigma0")
t0 = time.perf_counter()
lut = lookup_table(acq, sub, chunks=1024)
out = geocode(sigma0, lut, "bilinear")
valid = 0
for i in range(side):
    for j in range(side):
        if i * side + j >= N:
            break
        block = out.isel(y=slice(i * 1024, (i + 1) * 1024), x=slice(j * 1024, (j + 1) * 1024)).values
        valid += int(np.isfinite(block).sum())
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "map_px": N * 1024 * 1024, "valid": valid, "full_map_px": ny * nx,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    print(f"{'chunks':>6s} {'seconds':>8s} {'Mpx/s':>7s} {'peak MB':>8s}")
    rows = []
    for n in (1, 4, 16, 36):
        res = subprocess.run(
            [sys.executable, "-c", f"GRD = {str(GRD)!r}\nN = {n}\n" + textwrap.dedent(CODE)], capture_output=True, text=True
        )
        if res.returncode:
            raise SystemExit(res.stderr[-3000:])
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"{n:6d} {r['seconds']:8.2f} {r['map_px'] / r['seconds'] / 1e6:7.2f} {r['peak_mb']:8.0f}")
    r = rows[-1]
    rate = r["map_px"] / r["seconds"]
    print(
        f"full default grid: {r['full_map_px'] / 1e6:.0f} Mpx at {rate / 1e6:.2f} Mpx/s -> {r['full_map_px'] / rate / 60:.1f} min (extrapolated)"
    )


if __name__ == "__main__":
    main()
