"""``python -m alignsar.stac``: build, publish, validate, serve, demo.

Exit codes: 0 success (``validate``: every file valid), 1 a typed alignsar error or invalid STAC,
2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__


def build_catalog(config_path: str | os.PathLike[str], out: str | os.PathLike[str], *, scheduler: str | None = None, progress=None) -> Path:
    """Run the cube pipeline of ``config_path`` (cube, then chips if the configuration has a
    ``dataset`` section) and publish it into ``out``, all in a staging copy of ``out`` renamed into
    place at the end. An existing catalog is extended: its cube gains the new dates only, items of
    dates already published stay untouched; an interrupted build leaves it as it was."""
    from ..cube.build import build_cube
    from ..cube.config import CubeConfig
    from ..cube.store import staged
    from ..dataset.cli import build_chips_from_config
    from .publish import publish_into

    say = progress or (lambda *_: None)
    config = CubeConfig.load(config_path)
    out = Path(out)
    with staged(out, clone=True) as stage:
        cube = stage / "data" / "cube.zarr"
        build_cube(config, cube, scheduler=scheduler, progress=lambda m, k, n: say(f"cube: {m}", k, n))
        chips = None
        if config.dataset is not None:
            chips = stage / "data" / "chips"
            build_chips_from_config(cube, chips, config.dataset, progress=progress)
        publish_into(stage, cube, chips=chips, config_path=config_path, title=config.title, progress=progress)
    return out / "catalog.json"


def _progress(args: argparse.Namespace, title: str):
    from ..cube.cli import progress_bar

    return progress_bar(args.quiet, title)


def cmd_build(args: argparse.Namespace) -> int:
    with _progress(args, "build") as advance:
        path = build_catalog(args.config, args.output, scheduler=args.scheduler, progress=advance)
    print(path)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from .publish import publish

    with _progress(args, "publish") as advance:
        path = publish(args.cube, args.output, chips=args.chips, config_path=args.config, variables=args.variables, resolution=args.resolution, progress=advance)
    print(path)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .validate import validate_path

    report = validate_path(args.path, args.schemas)
    if not args.quiet:
        for f in report.files if args.verbose else report.invalid:
            for line in report.lines():
                if line.startswith(str(f.path)):
                    print(line)
    print(report.summary(), file=sys.stderr)
    return 0 if report.ok else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    serve(args.directory, args.host, args.port, args.quiet, browser_dir=args.browser)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    from ..demo import run_demo

    t0 = time.perf_counter()
    with _progress(args, "demo") as advance:
        result = run_demo(args.outdir, lines=args.lines, samples=args.samples, dates=args.dates, seed=args.seed, progress=advance)
    if not args.quiet:
        s = result.chip_summary
        print(
            f"simulated {len(result.products)} dates of {args.lines} x {args.samples} px, built {result.cube}, "
            f"{s['chips']} chips ({', '.join(f'{k} {n}' for k, n in s['splits'].items())}), published {result.catalog} "
            f"in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    for p in (*result.products, result.config, result.cube, result.chips, result.catalog):
        print(p)
    return 0


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("outdir", type=Path, help="output folder")
    p.add_argument("--lines", type=int, default=256, help="azimuth lines per image (default 256)")
    p.add_argument("--samples", type=int, default=256, help="range samples per image (default 256)")
    p.add_argument("--dates", type=int, default=3, help="number of dates (default 3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


DEMO_HELP = "simulate a small SAR stack, build its cube and ML chips, publish them as STAC"
DEMO_DESCRIPTION = (
    "The end-to-end demo on the embedded default: simulate a small SAR stack (products and truth), build its datacube from "
    "OUTDIR/config.yaml (written as a worked example), cut ML chips with a leak-free split and publish everything as a "
    "STAC catalog in OUTDIR/catalog."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alignsar.stac", description="Publish alignsar cubes as STAC catalogs.")
    parser.add_argument("--version", action="version", version=f"alignsar {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="run a cube configuration and publish it", description=build_catalog.__doc__)
    p.add_argument("config", type=Path, help="cube configuration (YAML / JSON)")
    p.add_argument("-o", "--output", type=Path, required=True, help="catalog folder, e.g. catalogs/NAME")
    p.add_argument("--scheduler", help="dask scheduler (see `alignsar cube --help`)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("publish", help="publish an existing cube", description="Publish an existing cube (and chips) as a STAC catalog.")
    p.add_argument("cube", type=Path, help="cube (Zarr folder or NetCDF file)")
    p.add_argument("-o", "--output", type=Path, required=True, help="catalog folder")
    p.add_argument("--chips", type=Path, help="chip dataset folder (from `alignsar chips`)")
    p.add_argument("--config", type=Path, help="the cube's configuration file, published as an asset")
    p.add_argument("--variables", nargs="+", help="per-date variables published as COGs (default: all)")
    p.add_argument("--resolution", type=float, help="map-grid pixel size (m) of the COGs of a radar-grid cube (default: the configuration's)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("validate", help="validate a catalog, collection or item (recursively)", description="Validate STAC JSON against its schemas.")
    p.add_argument("path", type=Path, help="catalog.json, collection.json or an item")
    p.add_argument("--schemas", type=Path, help="local schema mirror (offline), e.g. ../shared/stac/schemas; default $ALIGNSAR_STAC_SCHEMAS, else online")
    p.add_argument("-v", "--verbose", action="store_true", help="list valid files too")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("serve", help="serve a catalog folder (CORS, HTTP Range) for STAC Browser", description="Static file server for a catalog folder.")
    p.add_argument("directory", type=Path, help="catalog folder")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    p.add_argument("--browser", type=Path, help="a built STAC Browser folder, served at /browser/")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help=DEMO_HELP, description=DEMO_DESCRIPTION)
    add_demo_arguments(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ..cli import run

    return run(build_parser().parse_args(argv))


__all__ = ["build_catalog", "build_parser", "main"]
