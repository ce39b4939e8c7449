"""Chip pairs for change detection: (chip, t1, t2) with a change label from a time-varying label.

Change labels need a label with dims ``(time, Y, X)``: a static label cannot change. The change label
follows the cube's label convention (0 = unlabelled): ``0`` where either date is unlabelled,
``1`` where ``label[t1] == label[t2]`` (no change), ``2`` where ``label[t1] != label[t2]`` (change).
``t1`` and ``t2`` are indices on the cube's ``time`` axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import ConfigError
from ._grid import check_spatial, require
from .chips import Chip

CHANGE_FLAG_VALUES = [1, 2]
CHANGE_FLAG_MEANINGS = "no_change change"


@dataclass(frozen=True)
class ChipPair:
    """A chip seen at two dates (indices on the cube's time axis, ``t1`` before ``t2`` in the list's sense)."""

    chip: Chip
    t1: int
    t2: int


def change_label(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """uint8 change label of two label arrays: 0 unknown (either 0), 1 no change, 2 change."""
    before, after = np.asarray(before), np.asarray(after)
    out = np.where(before != after, 2, 1).astype(np.uint8)
    out[(before == 0) | (after == 0)] = 0
    return out


def _time_pairs(ntime: int, pairs: str | Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    if isinstance(pairs, str):
        if pairs != "consecutive":
            raise ConfigError("pairs", f"{pairs!r}: use 'consecutive' or a list of (t1, t2) time indices")
        return [(t, t + 1) for t in range(ntime - 1)]
    out = []
    for p in pairs:
        t1, t2 = (int(v) for v in p)
        if not (0 <= t1 < ntime and 0 <= t2 < ntime) or t1 == t2:
            raise ConfigError("pairs", f"({t1}, {t2}) are not two different time indices in 0..{ntime - 1}")
        out.append((t1, t2))
    return out


def pair_chips(
    cube: xr.Dataset, chips: Sequence[Chip], pairs: str | Sequence[tuple[int, int]] = "consecutive", label: str = "label"
) -> list[ChipPair]:
    """Every chip with every date pair (``"consecutive"``: (0, 1), (1, 2) ...; or explicit index pairs).

    A single-date chip (``chip.time`` set) is paired only as the later image: pairs with ``t2 == chip.time``.
    Raises ConfigError if ``label`` has no time dim (change labels need a time-varying label).
    """
    da = require(cube, label)
    check_spatial(da, cube)
    if "time" not in da.dims:
        raise ConfigError(label, "change labels need a time-varying label with dims (time, Y, X); this one is static")
    tp = _time_pairs(int(cube.sizes["time"]), pairs)
    return [ChipPair(c, t1, t2) for c in chips for t1, t2 in tp if c.time is None or t2 == c.time]
