"""ML datasets from cubes: chips, leak-free spatial (and temporal) splits, statistics, change pairs, writers, iterators.

Typical use::

    cube = xr.open_zarr("cube.zarr")
    chips = make_chips(cube, size=64, min_valid=0.5)
    chips = assign_splits(chips, cube_shape, chip_size=64)          # block split with a buffer
    write_chips(cube, chips, "ml", variables=["sigma0_vv_db"])      # chips/, index.json, statistics.json
    for x, y in iter_chips("ml", "train"): ...

``ChipDataset`` (``alignsar.dataset.torch``) is loaded on first access and needs ``alignsar[ml]``.
"""

from __future__ import annotations

from typing import Any

from .chips import Chip, make_chips, valid_mask
from .iterate import ChipStore, iter_chips
from .pairs import ChipPair, change_label, pair_chips
from .splits import SplitLeakError, assign_splits, check_disjoint, split_parameters, temporal_split, with_times
from .stats import class_counts, normalisation_statistics
from .write import write_chips

__all__ = [
    "Chip",
    "ChipDataset",
    "ChipPair",
    "ChipStore",
    "SplitLeakError",
    "assign_splits",
    "change_label",
    "check_disjoint",
    "class_counts",
    "iter_chips",
    "make_chips",
    "normalisation_statistics",
    "pair_chips",
    "split_parameters",
    "temporal_split",
    "valid_mask",
    "with_times",
    "write_chips",
]


def __getattr__(name: str) -> Any:
    if name == "ChipDataset":
        from .torch import ChipDataset

        return ChipDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
