"""The ``alignsar`` command line.

Exit codes: 0 success, 1 a typed alignsar error (one line on stderr; ``--debug`` for the traceback),
2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

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
    from .stac.cli import cmd_demo as stac_demo

    return stac_demo(args)


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

    from .stac.cli import DEMO_DESCRIPTION, DEMO_HELP, add_demo_arguments

    p = sub.add_parser("demo", help=DEMO_HELP, description=DEMO_DESCRIPTION)
    add_demo_arguments(p)
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
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run a parsed command (``args.func``): typed errors become one line and exit code 1."""
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
