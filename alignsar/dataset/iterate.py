"""Read a chip dataset folder written by :func:`alignsar.dataset.write.write_chips`.

``x`` is float32 with bands in the order of ``index.json``'s ``variables`` (static variables repeated
over dates): ``(bands, time, size, size)`` for a multi-date chip, ``(bands, size, size)`` for one date
(a single-date chip, or ``time=`` a cube time index). Values are in the variables' units, or with
``normalise=True`` standardised with the stored training statistics, ``(x - mean) / std`` (std 0 -> 1),
NaN (no data) -> 0. ``y`` is the label window (integer, 0 = unlabelled) with the same time layout, or
None when the dataset has no label.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, MissingDataError

Sample = tuple[np.ndarray, np.ndarray | None]


class ChipStore:
    """A chip dataset folder: its index, statistics and chip readers."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.root = Path(out_dir)
        index = self.root / "index.json"
        if not index.is_file():
            raise MissingDataError(index, "not a chip dataset (no index.json)")
        self.index: dict[str, Any] = json.loads(index.read_text(encoding="utf-8"))
        stats = self.root / "statistics.json"
        self.statistics: dict[str, Any] | None = json.loads(stats.read_text(encoding="utf-8")) if stats.is_file() else None

    @property
    def variables(self) -> list[str]:
        """Band names, in order."""
        return list(self.index["variables"])

    def chips(self, split: str | None = "train") -> list[dict[str, Any]]:
        """Index entries of the chips of ``split`` (None: all chips)."""
        return [c for c in self.index["chips"] if split is None or c["split"] == split]

    def _norm(self) -> tuple[np.ndarray, np.ndarray]:
        norm = (self.statistics or {}).get("normalisation")
        if not norm:
            raise MissingDataError(
                self.root / "statistics.json", "no normalisation statistics (write with statistics=True, or normalise=False)"
            )
        stats = norm["variables"]
        mean = np.array([stats[v]["mean"] if stats[v]["mean"] is not None else 0.0 for v in self.variables], dtype=np.float32)
        std = np.array([stats[v]["std"] or 1.0 for v in self.variables], dtype=np.float32)
        return mean, np.where(std > 0, std, 1.0).astype(np.float32)

    def _arrays(self, entry: dict[str, Any]) -> dict[str, np.ndarray]:
        """Each stored array of the chip: ``(dates, size, size)`` for dated ones, ``(size, size)`` for static ones."""
        paths = entry["paths"]
        if "zarr" in paths:
            import xarray as xr

            ds = xr.open_zarr(self.root / paths["zarr"], consolidated=False)
            names = [*self.variables, *([self.index["label"]] if self.index.get("label") else [])]
            return {n: np.asarray(ds[n].values) for n in names}
        import rasterio

        out = {}
        for name, files in paths["geotiff"].items():
            bands = []
            for f in files:
                with rasterio.open(self.root / f) as src:
                    bands.append(src.read(1))
            dated = name in self.index.get("time_variables", []) or (name == self.index.get("label") and self.index.get("label_has_time"))
            out[name] = np.stack(bands) if dated else bands[0]
        return out

    def load(self, entry: dict[str, Any], *, normalise: bool = True, time: int | None = None) -> Sample:
        """``(x, y)`` of one chip (see the module docstring for shapes)."""
        arrays = self._arrays(entry)
        dates = [entry["time_index"]] if entry.get("time_index") is not None else list(range(len(self.index["times"])))
        if time is not None and time not in dates:
            raise ConfigError("time", f"time index {time} is not among chip {entry['id']}'s dates {dates}")
        pick = dates.index(time) if time is not None else (0 if len(dates) == 1 and entry.get("time_index") is not None else None)
        size = int(entry["size"])
        bands = []
        for v in self.variables:
            a = arrays[v].astype(np.float32)
            a = a if a.ndim == 3 else np.broadcast_to(a, (len(dates), size, size))
            bands.append(a)
        x = np.stack(bands) if bands else np.zeros((0, len(dates), size, size), np.float32)
        if pick is not None:
            x = x[:, pick]
        if normalise:
            mean, std = self._norm()
            shape = (-1,) + (1,) * (x.ndim - 1)
            x = np.nan_to_num((x - mean.reshape(shape)) / std.reshape(shape), nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        y = None
        label = self.index.get("label")
        if label:
            y = arrays[label]
            if y.ndim == 3 and pick is not None:
                y = y[pick]
        return np.ascontiguousarray(x, dtype=np.float32), y


def iter_chips(
    out_dir: str | os.PathLike[str], split: str = "train", *, normalise: bool = True, time: int | None = None
) -> Iterator[Sample]:
    """Yield ``(x, y)`` for every chip of ``split``, in index order (chip by chip; nothing else in memory)."""
    store = ChipStore(out_dir)
    for entry in store.chips(split):
        yield store.load(entry, normalise=normalise, time=time)
