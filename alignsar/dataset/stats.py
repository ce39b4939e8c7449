"""Normalisation statistics over training chips only, and class pixel counts per split.

Statistics are over the finite values of the elements the chips cover (pixel x date for variables
with a time dim, pixel for static ones), each element counted once even where chips overlap. They
are in the variable's own units (its ``units`` attr is copied). ``std`` is the population standard
deviation (ddof=0); percentiles use numpy's linear interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError
from ._grid import check_spatial, class_names, require, spatial_dims
from ._read import covered_values
from .chips import Chip

MAX_PERCENTILE_SAMPLES = 10_000_000  # values kept for percentiles; beyond, every k-th value is used


class _Moments:
    """Streaming count / mean / M2 / min / max in float64 (Chan et al. pairwise update)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, v: np.ndarray) -> None:
        if v.size == 0:
            return
        v = v.astype(np.float64)
        n, mean = v.size, float(v.mean())
        m2 = float(((v - mean) ** 2).sum())
        delta, total = mean - self.mean, self.n + n
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total
        self.min = min(self.min, float(v.min()))
        self.max = max(self.max, float(v.max()))


def _split_chips(chips: Sequence[Chip], split: str) -> list[Chip]:
    out = [c for c in chips if c.split == split]
    if not out:
        raise ConfigError("chips", f"no chip in split {split!r}: statistics need them")
    return out


def variable_statistics(
    cube: xr.Dataset,
    chips: Sequence[Chip],
    name: str,
    percentiles: Sequence[float] = (2, 50, 98),
    max_samples: int = MAX_PERCENTILE_SAMPLES,
) -> dict[str, Any]:
    """Statistics of one variable over the elements ``chips`` cover (all of them; no split filter)."""
    ydim, xdim = spatial_dims(cube)
    da = require(cube, name)
    check_spatial(da, cube)
    ntime = int(da.sizes.get("time", 1))
    bound = sum(c.size * c.size * (ntime if c.time is None else 1) for c in chips)
    step = max(1, -(-bound // max_samples))
    mom, samples = _Moments(), []
    for v in covered_values(da, chips, ydim, xdim):
        v = v[np.isfinite(v)]
        mom.add(v)
        samples.append(v[::step])
    sample = np.concatenate(samples) if samples else np.empty(0)
    ok = mom.n > 0
    pct = np.percentile(sample.astype(np.float64), list(percentiles)) if ok else [None] * len(percentiles)
    return {
        "count": mom.n,
        "mean": mom.mean if ok else None,
        "std": math.sqrt(mom.m2 / mom.n) if ok else None,
        "min": mom.min if ok else None,
        "max": mom.max if ok else None,
        "percentiles": {f"{p:g}": (None if q is None else float(q)) for p, q in zip(percentiles, pct, strict=True)},
        "percentile_sample_step": step,
        "units": da.attrs.get("units"),
        "long_name": da.attrs.get("long_name"),
    }


def normalisation_statistics(
    cube: xr.Dataset,
    chips: Sequence[Chip],
    variables: Sequence[str],
    percentiles: Sequence[float] = (2, 50, 98),
    *,
    split: str = "train",
    max_samples: int = MAX_PERCENTILE_SAMPLES,
) -> dict[str, Any]:
    """Per-variable count, mean, std, min, max and percentiles over the chips of ``split`` (training) only.

    Returns ``{"split": ..., "chips": n, "variables": {name: {...}}}``. Percentiles are exact while the
    covered values number at most ``max_samples``, else computed on every k-th value.
    """
    train = _split_chips(chips, split)
    return {
        "split": split,
        "chips": len(train),
        "variables": {str(v): variable_statistics(cube, train, v, percentiles, max_samples) for v in variables},
    }


def class_counts(cube: xr.Dataset, chips: Sequence[Chip], label: str = "label") -> dict[str, dict[str, int]]:
    """``{split: {class_name: pixel_count}}`` over the chips of each split (chips without split: ``unassigned``).

    Every class of ``flag_values`` is listed (0 = ``unlabelled``), values outside them under their
    number. A time-varying label counts pixel-dates.
    """
    ydim, xdim = spatial_dims(cube)
    da = require(cube, label)
    check_spatial(da, cube)
    if not np.issubdtype(da.dtype, np.integer):
        raise ConfigError(label, f"a label must be integer, not {da.dtype}")
    names = class_names(da)
    groups: dict[str, list[Chip]] = {}
    for c in chips:
        groups.setdefault(c.split or "unassigned", []).append(c)
    out: dict[str, dict[str, int]] = {}
    for split, members in groups.items():
        counts = dict.fromkeys(names.values(), 0)
        for v in covered_values(da, members, ydim, xdim):
            values, n = np.unique(v, return_counts=True)
            for value, k in zip(values.tolist(), n.tolist(), strict=True):
                key = names.get(int(value), str(int(value)))
                counts[key] = counts.get(key, 0) + int(k)
        out[split] = counts
    return out
