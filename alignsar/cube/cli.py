"""``alignsar cube CONFIG -o OUT``: build or extend a datacube from a configuration file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_cube(args: argparse.Namespace) -> int:
    from .build import build_cube
    from .config import CubeConfig

    if args.schema:
        print(json.dumps(CubeConfig.json_schema(), indent=1))
        return 0
    if args.config is None or args.output is None:
        print("alignsar cube: CONFIG and -o OUTPUT are required", file=sys.stderr)
        return 2
    config = CubeConfig.load(args.config)
    if args.format:
        config = config.model_copy(update={"output": config.output.model_copy(update={"format": args.format})})
    with progress_bar(args.quiet, "building cube") as advance:
        report = build_cube(config, args.output, scheduler=args.scheduler, progress=advance, rebuild=args.rebuild)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    elif not args.quiet:
        print(
            f"{args.output}: {len(report.written)} time step(s) written, {len(report.skipped)} already present, "
            f"{len(report.excluded)} product(s) excluded{' (rebuilt)' if report.rebuilt else ''}",
            file=sys.stderr,
        )
        for product, reason in report.excluded:
            print(f"  excluded {product}: {reason}", file=sys.stderr)
    return 0


class progress_bar:  # noqa: N801 - used as a context manager like a function
    """A rich progress bar driven by ``advance(message, done, total)`` callbacks (silent if quiet)."""

    def __init__(self, quiet: bool, title: str) -> None:
        self.quiet = quiet
        self.title = title
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.quiet:
            return lambda *_: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True), transient=True
        )
        self._progress.__enter__()
        self._task = self._progress.add_task(self.title, total=None)

        def advance(message: str, done: int, total: int) -> None:
            assert self._progress is not None and self._task is not None
            self._progress.update(self._task, description=f"{self.title}: {message}", completed=done, total=total)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cube",
        help="build or extend a datacube from a configuration",
        description=(
            "Select dates, align every product on the reference grid, compute signatures, layers and labels, and write "
            "a CF datacube (Zarr or NetCDF) atomically. Re-running on an existing cube adds only the new dates."
        ),
    )
    p.add_argument("config", type=Path, nargs="?", help="cube configuration (YAML or JSON; its JSON Schema: `alignsar cube --schema`)")
    p.add_argument("-o", "--output", type=Path, help="cube path (a .zarr folder or a .nc file)")
    p.add_argument("--schema", action="store_true", help="print the configuration's JSON Schema and exit")
    p.add_argument("--format", choices=("zarr", "netcdf"), help="override the configuration's output format")
    p.add_argument(
        "--scheduler",
        default=None,
        help="dask scheduler: 'threads' (default), 'synchronous', 'local' (a LocalCluster of processes), 'auto' "
        "(LocalCluster for large jobs), or a dask.distributed scheduler ADDRESS (tcp://host:8786)",
    )
    p.add_argument("--rebuild", action="store_true", help="ignore an existing cube and build it again")
    p.add_argument("--json", action="store_true", help="print the build report as JSON")
    p.set_defaults(func=cmd_cube)


__all__ = ["add_parser", "cmd_cube", "progress_bar"]
