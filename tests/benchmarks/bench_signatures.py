"""Benchmark: throughput and peak memory of the full dual-pol signature set
:func:`alignsar.signatures.dual_pol` (window 7 x 7: c11, c22, c12_real, c12_imag, sum, difference,
ratio, normalized_difference, cross_pol_correlation, entropy, alpha, degree_of_polarization, rvi,
dprvi) on a simulated dual-pol complex stack of ``dates`` x ``size`` x ``size`` pixels, written to a
Zarr store.

The stack is lazy (dask, chunks of 1 date x 1024 x 1024 pixels, complex64) and never exists in
memory: circular complex Gaussian co-pol and cross-pol SLCs (co-pol power 1, cross-pol power 0.2,
complex co / cross correlation 0.5 exp(0.3 i)) from a 2 x 2 Cholesky factor applied to independent
standard normal real and imaginary parts.
``dual_pol`` runs on the whole stack with a ``date`` dimension (its window means act on the last two
dims, azimuth and range; checked against date by date on a small stack before timing). ``--mode
per-date`` (default) writes it with one ``Dataset.to_zarr`` per date (``append_dim="date"``);
``--mode stacked`` with a single ``to_zarr`` over every date. Either way the 14 float32 variables are
computed and written chunk by chunk (dask threaded scheduler, one thread per core). On 2 cores at
4096^2 the stacked graph held ~0.55 GB per date (5.7 GB for 10 dates, 10.9 GB for 20): memory then
grows with the dates; per date it stays near 1 GB.

Each run is a fresh subprocess; its peak resident memory is ``ru_maxrss`` of that child
(``os.wait4``), which must not grow with the number of dates. ``base MB`` is the child's peak just
before the computation (interpreter + imports + graph). Mpx/s = dates x size^2 / seconds (input
pixels per second, all 14 outputs). The Zarr store is deleted after each run (~0.94 GB per date at
4096^2).

    .venv/bin/python tests/benchmarks/bench_signatures.py [--size 4096] [--dates 10 20] [--mode per-date stacked] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CHILD = """
import json, resource, time
import dask
import dask.array as da
import numpy as np
import xarray as xr
from alignsar.signatures import dual_pol

CHUNK = 1024
P_CO, P_CROSS, RHO = 1.0, 0.2, 0.5 * np.exp(0.3j)


def complex_normal(rng, shape, chunks):
    re = rng.standard_normal(shape, chunks=chunks, dtype=np.float32)
    im = rng.standard_normal(shape, chunks=chunks, dtype=np.float32)
    return ((re + 1j * im) * np.float32(np.sqrt(0.5))).astype(np.complex64)


def stack(dates, size, seed):
    # covariance C = L L^H, L = [[l11, 0], [l21, l22]] (Cholesky): co = l11 a, cross = l21 a + l22 b
    shape, chunks = (dates, size, size), (1, min(CHUNK, size), min(CHUNK, size))
    rng = da.random.default_rng(seed)
    a, b = complex_normal(rng, shape, chunks), complex_normal(rng, shape, chunks)
    l11 = np.sqrt(P_CO)
    l21 = np.conj(RHO) * np.sqrt(P_CROSS)  # E[co conj(cross)] = l11 conj(l21) = rho sqrt(P_CO P_CROSS)
    l22 = np.sqrt(P_CROSS * (1 - abs(RHO) ** 2))
    co = (a * np.complex64(l11)).astype(np.complex64)
    cross = (a * np.complex64(l21) + b * np.complex64(l22)).astype(np.complex64)
    dims = ("date", "azimuth", "range")
    return (
        xr.DataArray(co, dims=dims, name="co", attrs={"polarization": "VV"}),
        xr.DataArray(cross, dims=dims, name="cross", attrs={"polarization": "VH"}),
    )


# the date dim: the stacked result equals date-by-date 2-D results (small stack, computed in memory)
co_s, cross_s = stack(3, 96, 7)
co_s, cross_s = co_s.chunk({"azimuth": 40, "range": 40}), cross_s.chunk({"azimuth": 40, "range": 40})
whole = dual_pol(co_s, cross_s, window=7).compute()
assert len(whole.data_vars) == 14, list(whole.data_vars)
for k in range(3):
    single = dual_pol(co_s[k], cross_s[k], window=7).compute()
    for v in whole.data_vars:
        np.testing.assert_allclose(whole[v].values[k], single[v].values, rtol=1e-5, atol=1e-6, err_msg=v)
# the simulated statistics: c22 / c11 and |c12| / sqrt(c11 c22) near their set values
inner = whole.isel(azimuth=slice(3, -3), range=slice(3, -3))
assert abs(float(inner["ratio"].mean()) - P_CROSS / P_CO) < 0.02, float(inner["ratio"].mean())

co, cross = stack(DATES, SIZE, 2024)
ds = dual_pol(co, cross, window=7)
ds.attrs = {k: v for k, v in ds.attrs.items() if v is not None}
base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
with dask.config.set(scheduler="threads", num_workers=THREADS):
    if MODE == "stacked":  # one graph over every date
        ds.to_zarr(STORE, mode="w", zarr_format=3, consolidated=False)
    else:  # per-date: one compute per date, appended along "date"
        for k in range(DATES):
            ds.isel(date=[k]).to_zarr(STORE, zarr_format=3, consolidated=False, **({"mode": "w"} if k == 0 else {"append_dim": "date"}))
seconds = time.perf_counter() - t0
check = xr.open_zarr(STORE, consolidated=False)
assert set(check.data_vars) == set(ds.data_vars) and check["entropy"].shape == (DATES, SIZE, SIZE)
sample = check["ratio"].isel(date=-1, azimuth=slice(SIZE // 2, SIZE // 2 + 256), range=slice(SIZE // 2, SIZE // 2 + 256)).values
print(json.dumps({"seconds": seconds, "base_mb": base_mb, "ratio_mean": float(np.mean(sample)),
                  "variables": len(ds.data_vars)}))
"""


def measure(mode: str, dates: int, size: int, store: Path, threads: int) -> dict:
    """Run the child with ``os.wait4`` so that its own ``ru_maxrss`` is read (not a maximum over children)."""
    code = f"MODE = {mode!r}\nDATES = {dates}\nSIZE = {size}\nSTORE = {str(store)!r}\nTHREADS = {threads}\n" + textwrap.dedent(CHILD)
    with tempfile.TemporaryFile("w+") as fout, tempfile.TemporaryFile("w+") as ferr:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=fout, stderr=ferr, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        fout.seek(0)
        ferr.seek(0)
        if proc.returncode:
            raise SystemExit(f"dates={dates} size={size}: exit {proc.returncode}\n" + ferr.read()[-3000:])
        result = json.loads(fout.read().strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024
    result["wall"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="azimuth = range pixels per date")
    parser.add_argument("--dates", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--mode", nargs="+", choices=["per-date", "stacked"], default=["per-date"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workdir", default=None, help="where the Zarr store is written (default: a temporary directory)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_signatures_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"dual_pol(co, cross, window=7) -> 14 float32 variables -> Zarr; {args.size} x {args.size} px per date, {args.threads} threads")
    print(f"{'mode':>8s} {'dates':>5s} {'seconds':>8s} {'Mpx/s':>7s} {'peak MB':>8s} {'base MB':>8s} {'ratio':>6s}")
    try:
        for mode in args.mode:
            for n in args.dates:
                store = work / f"signatures_{mode}_{n}.zarr"
                r = measure(mode, n, args.size, store, args.threads)
                shutil.rmtree(store, ignore_errors=True)
                mpx = n * args.size**2 / r["seconds"] / 1e6
                print(
                    f"{mode:>8s} {n:5d} {r['seconds']:8.1f} {mpx:7.2f} {r['peak_mb']:8.0f} {r['base_mb']:8.0f} {r['ratio_mean']:6.3f}",
                    flush=True,
                )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
