"""Leak-free spatial splits of chips (blocks + buffer), optional temporal splits, and a checker.

The grid is tiled into square blocks of ``block_size`` px; each block goes to one split at random
(deterministic with ``seed``; block counts proportional to the fractions). A chip belongs to the block
that contains it entirely; chips straddling two blocks, and chips closer than ``buffer`` px to a block
of another split, are dropped. Distances are gaps between pixel sets along rows or columns (Chebyshev):
two windows that touch are 0 px apart, windows with ``k`` pixels between them are ``k`` px apart.
Hence no pixel belongs to two splits and chips of different splits are >= ``buffer`` px apart.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import AlignSARError, ConfigError
from .chips import Chip, chip_id

DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.15, "test": 0.15}
BLOCK_CHIPS = 4  # default block width, in chips


class SplitLeakError(AlignSARError):
    """Chips of different splits share pixels or are closer than the buffer."""


def _check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    if not fractions:
        raise ConfigError("fractions", "no split given")
    out = {str(k): float(v) for k, v in fractions.items()}
    if any(v < 0 or not math.isfinite(v) for v in out.values()) or not math.isclose(sum(out.values()), 1.0, abs_tol=1e-6):
        raise ConfigError("fractions", f"{out} must be non-negative and sum to 1")
    return out


def block_splits(n_blocks: int, fractions: Mapping[str, float], seed: int = 0) -> list[str]:
    """One split name per block: counts proportional to ``fractions`` (largest remainder), shuffled with ``seed``."""
    fr = _check_fractions(fractions)
    names = list(fr)
    exact = np.array([fr[n] * n_blocks for n in names])
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n_blocks - counts.sum()]:
        counts[i] += 1
    labels = np.repeat(np.array(names, dtype=object), counts)
    return [str(s) for s in np.random.default_rng(seed).permutation(labels)]


def _gap(a0: Any, a1: Any, b0: Any, b1: Any) -> np.ndarray:
    """Pixels between half-open intervals [a0, a1) and [b0, b1) (0 if they touch or overlap)."""
    return np.maximum(0, np.maximum(b0 - a1, a0 - b1))


def assign_splits(
    chips: Sequence[Chip],
    shape: tuple[int, int],
    *,
    chip_size: int,
    block_size: int | None = None,
    buffer: int | None = None,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> list[Chip]:
    """Chips kept by the block split, each with its ``split`` set (dropped chips are left out).

    ``shape`` is the grid's (rows, cols) in px; ``block_size`` (px) defaults to 4 chips
    (``4 * chip_size``); ``buffer`` (px) defaults to ``chip_size`` and must be >= ``chip_size``.
    """
    if chip_size <= 0:
        raise ConfigError("chip_size", "must be a positive number of pixels")
    block = BLOCK_CHIPS * chip_size if block_size is None else int(block_size)
    buf = chip_size if buffer is None else int(buffer)
    if block < chip_size:
        raise ConfigError("block_size", f"{block} px is smaller than a chip ({chip_size} px)")
    if buf < chip_size:
        raise ConfigError("buffer", f"{buf} px is smaller than the chip size ({chip_size} px): neighbouring chips would leak")
    if any(c.size > chip_size for c in chips):
        raise ConfigError("chip_size", f"chips larger than chip_size={chip_size} px")
    ny, nx = (int(v) for v in shape)
    nby, nbx = -(-ny // block), -(-nx // block)
    split_of = np.array(block_splits(nby * nbx, fractions, seed), dtype=object).reshape(nby, nbx)

    reach = -(-buf // block)  # how many blocks away a block can be within the buffer
    kept = []
    for chip in chips:
        bi, bj = chip.row0 // block, chip.col0 // block
        if (chip.row1 - 1) // block != bi or (chip.col1 - 1) // block != bj:
            continue  # straddles blocks
        split = str(split_of[bi, bj])
        ok = True
        for i in range(max(0, bi - reach), min(nby, bi + reach + 1)):
            for j in range(max(0, bj - reach), min(nbx, bj + reach + 1)):
                if split_of[i, j] == split:
                    continue
                gr = _gap(chip.row0, chip.row1, i * block, min(ny, (i + 1) * block))
                gc = _gap(chip.col0, chip.col1, j * block, min(nx, (j + 1) * block))
                if max(int(gr), int(gc)) < buf:
                    ok = False
                    break
            if not ok:
                break
        if ok:
            kept.append(dataclasses.replace(chip, split=split))
    return kept


def split_parameters(
    chip_size: int,
    block_size: int | None = None,
    buffer: int | None = None,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """The parameters of :func:`assign_splits` with defaults resolved, JSON-ready (px)."""
    return {
        "method": "spatial-blocks",
        "chip_size": chip_size,
        "block_size": BLOCK_CHIPS * chip_size if block_size is None else int(block_size),
        "buffer": chip_size if buffer is None else int(buffer),
        "fractions": _check_fractions(fractions),
        "seed": seed,
    }


def check_disjoint(chips: Sequence[Chip], buffer: int) -> float:
    """Verify the split guarantees; return the smallest gap (px) between chips of different splits (inf if none).

    Raises SplitLeakError if a pixel lies in chips of two splits or two such chips are < ``buffer`` px apart.
    Chips without a split are ignored. Cost: O(n^2) over chips, vectorised per chip.
    """
    chips = [c for c in chips if c.split is not None]
    if not chips:
        return math.inf
    r0 = np.array([c.row0 for c in chips])
    c0 = np.array([c.col0 for c in chips])
    r1 = r0 + np.array([c.size for c in chips])
    c1 = c0 + np.array([c.size for c in chips])
    split = np.array([c.split for c in chips], dtype=object)
    best = math.inf
    for k, chip in enumerate(chips):
        other = split != chip.split
        other[: k + 1] = False
        if not other.any():
            continue
        gap = np.maximum(_gap(r0[k], r1[k], r0[other], r1[other]), _gap(c0[k], c1[k], c0[other], c1[other]))
        overlap = (np.minimum(r1[k], r1[other]) > np.maximum(r0[k], r0[other])) & (
            np.minimum(c1[k], c1[other]) > np.maximum(c0[k], c0[other])
        )
        if overlap.any():
            raise SplitLeakError("chips", f"chip {chip.id} ({chip.split}) shares pixels with a chip of another split")
        g = int(gap.min())
        if g < buffer:
            raise SplitLeakError("chips", f"chip {chip.id} ({chip.split}) is {g} px from a chip of another split (buffer {buffer} px)")
        best = min(best, g)
    return best


def temporal_split(times: Sequence[Any] | np.ndarray, ranges: Mapping[str, tuple[Any, Any]]) -> dict[str, np.ndarray]:
    """Indices of ``times`` per split: ``start <= t < end`` (either bound None = open), ranges must not overlap.

    Bounds are anything ``numpy.datetime64`` accepts (``"2021-06-01"``); times are UTC.
    """
    t = np.asarray(times).astype("datetime64[ns]")
    out: dict[str, np.ndarray] = {}
    seen = np.zeros(t.shape, dtype=bool)
    for name, (start, end) in ranges.items():
        sel = np.ones(t.shape, dtype=bool)
        if start is not None:
            sel &= t >= np.datetime64(start, "ns")
        if end is not None:
            sel &= t < np.datetime64(end, "ns")
        if start is not None and end is not None and np.datetime64(end, "ns") <= np.datetime64(start, "ns"):
            raise ConfigError(f"ranges[{name}]", f"end {end} is not after start {start}")
        if (sel & seen).any():
            raise ConfigError(f"ranges[{name}]", "overlaps the range of another split")
        seen |= sel
        out[str(name)] = np.flatnonzero(sel)
    return out


def with_times(chips: Sequence[Chip], time_indices: Mapping[str, Sequence[int] | np.ndarray]) -> list[Chip]:
    """Single-date copies of every chip: one per time index of the chip's split (``time_indices[split]``).

    Combine a spatial split with a temporal one: a ``train`` chip is repeated for the training dates only.
    """
    out = []
    for chip in chips:
        for t in time_indices.get(chip.split or "", []):
            out.append(dataclasses.replace(chip, id=chip_id(chip.row0, chip.col0, int(t)), time=int(t)))
    return out
