"""Benchmark: peak memory of ``alignsar coregister -ct cross_corr`` on plain GeoTIFF pairs of growing
size (default 2500, 5000 and 10 000 pixels square), each in a fresh process: peak resident memory,
wall time, and the recovered constant offset against the known one.

Each pair is band-limited speckle intensity (complex band +-0.2 cycles / pixel, so that the
intensity is not aliased, as in multilooked GRDs) (float32, tiled GeoTIFF) and a copy shifted by an exact
Fourier shift of (+0.30, -0.20) px (secondary minus primary, lines / pixels), made in a separate
preparation process. Memory must not grow with the image: the coregistration reads GCP bands of
about one chunk row, resamples and writes block by block (2048 x 2048 input chunks, 1024 x 1024
output blocks).

    .venv/bin/python tests/benchmarks/bench_coregistration_memory.py [--sizes 2500 5000 10000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SHIFT = (0.30, -0.20)

PREP = """
import numpy as np, rasterio
from rasterio.transform import from_origin
n = SIZE
rng = np.random.default_rng(n)
k0 = np.fft.fftfreq(n).astype(np.float32)[:, None]
k1 = np.fft.fftfreq(n).astype(np.float32)[None, :]
spec = np.fft.fft2((rng.standard_normal((n, n), dtype=np.float32) + 1j * rng.standard_normal((n, n), dtype=np.float32)).astype(np.complex64))
spec[(np.abs(k0) > 0.2) | (np.abs(k1) > 0.2)] = 0  # intensity bandwidth 0.8 of Nyquist: no aliasing
profile = dict(driver="GTiff", height=n, width=n, count=1, dtype="float32", crs=CRS, transform=from_origin(500000, 5000000, 10, 10),
               tiled=True, blockxsize=512, blockysize=512, BIGTIFF="IF_SAFER")
for name, shift in (("p", (0.0, 0.0)), ("s", SHIFT)):
    img = np.abs(np.fft.ifft2(spec * np.exp(-2j * np.pi * (k0 * shift[0] + k1 * shift[1])).astype(np.complex64))) ** 2
    with rasterio.open(OUT + name + ".tif", "w", **profile) as dst:
        dst.write(img.astype(np.float32), 1)
    del img
"""


def peak_run(cmd: list[str]) -> tuple[float, float, int]:
    """Run ``cmd``; return (seconds, peak RSS MB of the child, exit code)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(proc.stderr.read().decode()[-2000:] if proc.stderr else "")
    return elapsed, usage.ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 10000])
    parser.add_argument("--crs", default="EPSG:32631", help="CRS written into the test rasters")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_coreg_mem_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{'size':>6s} {'seconds':>8s} {'peak MB':>8s} {'MB/Mpx':>7s} {'offset az':>10s} {'offset rg':>10s} {'GCPs':>10s}")
    for n in args.sizes:
        base = str(work / f"pair{n}_")
        if not Path(base + "s.tif").exists():
            code = f"SIZE={n}\nSHIFT={SHIFT!r}\nCRS={args.crs!r}\nOUT={base!r}\n" + textwrap.dedent(PREP)
            subprocess.run([sys.executable, "-c", code], check=True)
        out = base + "out.tif"
        cmd = [
            sys.executable,
            "-m",
            "alignsar",
            "-q",
            "coregister",
            "-pp",
            base + "p.tif",
            "-sp",
            base + "s.tif",
            "-op",
            out,
            "-ct",
            "cross_corr",
        ]
        seconds, peak, code = peak_run(cmd)
        if code != 0:
            raise SystemExit(f"coregister failed with exit code {code}")
        rec = json.loads(Path(out + ".coreg.json").read_text())["secondaries"][0]
        print(
            f"{n:6d} {seconds:8.1f} {peak:8.0f} {peak / (n * n / 1e6):7.2f} {rec['mean_offset_azimuth_px']:+10.4f} {rec['mean_offset_range_px']:+10.4f}"
            f" {rec['gcps_kept']:>5d}/{rec['gcps_found']:<5d}"
        )
    print(f"truth: {SHIFT[0]:+.4f} / {SHIFT[1]:+.4f} px; inputs {args.sizes[-1] ** 2 * 4 / 2**20:.0f} MB per image at the largest size")


if __name__ == "__main__":
    main()
