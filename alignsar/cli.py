"""The ``alignsar`` command line.

Exit codes: 0 success, 1 a typed alignsar error (one line on stderr; ``--debug`` for the traceback),
2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import AlignSARError


def _progress(quiet: bool):
    from contextlib import nullcontext

    from rich.console import Console

    if quiet:
        return nullcontext(None)
    return Console(stderr=True).status("working...")


def cmd_info(args: argparse.Namespace) -> int:
    from .readers import open_product

    acq = open_product(args.product, orbit=args.orbit)
    print(json.dumps(acq.info(), indent=None if args.compact else 2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .cube.cli import progress_bar
    from .demo import run_demo

    t0 = time.perf_counter()
    with progress_bar(args.quiet, "demo") as advance:
        result = run_demo(args.outdir, lines=args.lines, samples=args.samples, dates=args.dates, seed=args.seed, progress=advance)
    if not args.quiet:
        s = result.chip_summary
        print(
            f"simulated {len(result.products)} dates of {args.lines} x {args.samples} px, built {result.cube}, "
            f"{s['chips']} chips ({', '.join(f'{k} {n}' for k, n in s['splits'].items())}) in {time.perf_counter() - t0:.1f} s; "
            f"configuration: {result.config}",
            file=sys.stderr,
        )
    for p in (*result.products, result.config, result.cube, result.chips):
        print(p)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alignsar", description="SAR time series to aligned, ML-ready datacubes published as STAC.")
    parser.add_argument("--version", action="version", version=f"alignsar {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "info",
        help="print a product's metadata as JSON",
        description="Open a product (without reading pixels) and print its metadata as JSON.",
    )
    p.add_argument("product", help="product path: Sentinel-1 SAFE folder or zip, simulated product folder")
    p.add_argument("--orbit", help="orbit file (Sentinel-1 .EOF) replacing the product's orbit")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "demo",
        help="simulate a small SAR stack, build its cube and ML chips",
        description=(
            "The end-to-end demo on the embedded default: simulate a small SAR stack (products and truth), build its "
            "datacube from OUTDIR/config.yaml (written as a worked example) and cut ML chips with a leak-free split."
        ),
    )
    p.add_argument("outdir", type=Path, help="output folder")
    p.add_argument("--lines", type=int, default=256, help="azimuth lines per image (default 256)")
    p.add_argument("--samples", type=int, default=256, help="range samples per image (default 256)")
    p.add_argument("--dates", type=int, default=3, help="number of dates (default 3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_demo)

    from .coregistration.cli import add_parser as add_coregister
    from .cube.cli import add_parser as add_cube
    from .dataset.cli import add_parser as add_chips

    add_coregister(sub)
    add_cube(sub)
    add_chips(sub)
    return parser


GDAL_CACHE_MB = "256"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # GDAL's block cache defaults to 5 % of the RAM and keeps every block read: cap it so that the
    # commands' memory stays bounded by their chunks (a user's GDAL_CACHEMAX wins)
    os.environ.setdefault("GDAL_CACHEMAX", GDAL_CACHE_MB)
    try:
        return int(args.func(args))
    except AlignSARError as exc:
        if args.debug:
            raise
        print(f"alignsar: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("alignsar: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
