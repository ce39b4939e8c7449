"""``alignsar chips``: cut a cube into ML chips with leak-free spatial splits, statistics and an index.

Output folder (written atomically): ``chips/`` (one Zarr store or GeoTIFF folder per chip),
``index.json`` and ``statistics.json`` (see :mod:`alignsar.dataset.write`). Sizes are pixels.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MissingDataError
from ._grid import grid_shape, signature_variables
from .chips import make_chips
from .splits import DEFAULT_FRACTIONS, assign_splits, split_parameters
from .write import FORMATS, write_chips


def add_parser(sub: Any) -> None:
    """Add the ``chips`` subcommand to an argparse subparsers object."""
    p = sub.add_parser(
        "chips",
        help="cut a cube into ML chips with spatial train/val/test splits",
        description="Cut a cube (Zarr or NetCDF) into square chips, split them by spatial blocks with a buffer (no leakage), "
        "and write one store per chip, index.json and statistics.json (training-only normalisation, class counts).",
    )
    p.add_argument("cube", type=Path, help="cube: Zarr folder or NetCDF file")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder")
    p.add_argument("--size", type=int, default=64, help="chip size in pixels (default 64)")
    p.add_argument("--stride", type=int, help="distance between chip origins in pixels (default: the chip size)")
    p.add_argument("--min-valid", type=float, default=0.5, help="least share of valid pixels to keep a chip (default 0.5)")
    p.add_argument("--variables", nargs="+", help="variables to write (default: every signature variable (time, Y, X))")
    p.add_argument("--label", help="label variable (default: 'label' when the cube has one)")
    p.add_argument("--format", choices=FORMATS, default="zarr", help="chip format (default zarr)")
    p.add_argument("--block-size", type=int, help="split block width in pixels (default 4 chips)")
    p.add_argument("--buffer", type=int, help="least gap in pixels between chips of different splits (default: the chip size)")
    p.add_argument(
        "--fractions",
        type=float,
        nargs=3,
        metavar=("TRAIN", "VAL", "TEST"),
        default=list(DEFAULT_FRACTIONS.values()),
        help="split fractions (default 0.7 0.15 0.15)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the block assignment (default 0)")
    p.add_argument("--pairs", action="store_true", help="add change labels of consecutive date pairs (needs a time-varying label)")
    p.set_defaults(func=cmd_chips)


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True)
    ) as bar:
        yield bar


def cmd_chips(args: argparse.Namespace) -> int:
    """Run ``alignsar chips``; returns the exit code 0 (errors are raised as typed alignsar errors)."""
    quiet = bool(getattr(args, "quiet", False))
    fractions = dict(zip(DEFAULT_FRACTIONS, args.fractions, strict=True))
    with _progress(quiet) as bar:
        task = bar.add_task("chips", total=None) if bar is not None else None

        def report(message: str, done: int, total: int | None) -> None:
            if bar is not None and task is not None:
                bar.update(task, description=message, completed=done, total=total)

        summary = build_chips(args.cube, args.output, **_chip_settings(args), fractions=fractions, pairs=args.pairs, progress=report)
    counts = summary["splits"]
    for split, n in counts.items():
        if n == 0 and fractions[split] > 0:
            print(f"alignsar: warning: no chip in split {split!r} (too few blocks? try a smaller --block-size)", file=sys.stderr)
    print(f"{summary['chips']} chips ({', '.join(f'{s} {n}' for s, n in counts.items())}) -> {args.output}")
    return 0


def build_chips(
    cube_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    size: int = 64,
    stride: int | None = None,
    min_valid: float = 0.5,
    variables: Sequence[str] | None = None,
    label: str | None = None,
    format: str = "zarr",
    block_size: int | None = None,
    buffer: int | None = None,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
    pairs: bool = False,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Chips of the cube at ``cube_path`` with a leak-free block split, written to ``out`` (see
    :func:`write_chips`); returns ``{"chips": n, "splits": {split: n}, "path": out}``. ``label``:
    the label variable (default ``label`` when the cube has one); ``variables``: default every
    signature variable (float, dims (time, Y, X))."""
    from ..cube.build import open_cube

    fractions = dict(fractions or dict(zip(DEFAULT_FRACTIONS, (0.7, 0.15, 0.15), strict=True)))
    cube = open_cube(cube_path)
    if label and label not in cube.data_vars:
        raise MissingDataError(cube_path, f"no label variable {label!r}")
    label = label or ("label" if "label" in cube.data_vars else None)
    variables = list(variables or signature_variables(cube, exclude=(label,)))
    if not variables:
        raise ConfigError("variables", "the cube has no signature variable (float, dims (time, Y, X)); name them")
    params = split_parameters(size, block_size, buffer, fractions, seed)
    params |= {"stride": stride or size, "min_valid": min_valid, "variables": list(variables)}
    if progress:
        progress("finding valid chips", 0, None)
    chips = make_chips(cube, size=size, stride=stride, min_valid=min_valid, variables=variables)
    chips = assign_splits(chips, grid_shape(cube), chip_size=size, block_size=block_size, buffer=buffer, fractions=fractions, seed=seed)
    write_chips(
        cube,
        chips,
        out,
        variables=variables,
        label=label,
        format=format,
        pairs="consecutive" if pairs else None,
        split_parameters=params,
        source=cube_path,
        progress=(lambda done, total: progress("writing chips", done, total)) if progress else None,
    )
    return {"chips": len(chips), "splits": {s: sum(c.split == s for c in chips) for s in fractions}, "path": str(out)}


#: the :func:`build_chips` settings named alike on the command line and in ChipsConfig
_SHARED_SETTINGS = ("size", "stride", "min_valid", "variables", "label", "format", "block_size", "buffer", "seed")


def _chip_settings(source: Any) -> dict[str, Any]:
    """The shared chip settings of parsed arguments or a :class:`alignsar.cube.config.ChipsConfig`."""
    return {name: getattr(source, name) for name in _SHARED_SETTINGS}


def build_chips_from_config(cube_path: str | os.PathLike[str], out: str | os.PathLike[str], config: Any, progress: Any = None) -> dict[str, Any]:
    """:func:`build_chips` with the settings of a cube configuration's ``dataset`` section
    (:class:`alignsar.cube.config.ChipsConfig`); an existing ``out`` is replaced."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    return build_chips(cube_path, out, **_chip_settings(config), fractions=dict(config.fractions), progress=progress)
