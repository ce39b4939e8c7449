"""``ChipDataset``: a ``torch.utils.data.Dataset`` over a chip dataset folder (needs ``alignsar[ml]``).

torch is imported only when ``ChipDataset`` is first used; without it that raises an ImportError
telling to ``pip install alignsar[ml]``. Items are ``(x, y)`` tensors: ``x`` float32 as
:func:`alignsar.dataset.iterate.iter_chips` yields it, ``y`` the int64 label window (all 0, i.e.
unlabelled, when the dataset has no label: default collation cannot batch None).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from .iterate import ChipStore


@functools.cache
def _dataset_class() -> type:
    try:
        from torch import from_numpy, int64, zeros
        from torch.utils.data import Dataset
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("alignsar.dataset.torch needs PyTorch: install alignsar[ml] (pip install 'alignsar[ml]')") from exc

    class ChipDataset(Dataset):  # type: ignore[misc,type-arg]
        """Map-style dataset of the chips of one split of a chip dataset folder."""

        def __init__(self, out_dir: str | os.PathLike[str], split: str = "train", normalise: bool = True, time: int | None = None) -> None:
            self.store = ChipStore(out_dir)
            self.entries = self.store.chips(split)
            self.split, self.normalise, self.time = split, normalise, time

        def __len__(self) -> int:
            return len(self.entries)

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            x, y = self.store.load(self.entries[i], normalise=self.normalise, time=self.time)
            xt = from_numpy(x)
            if y is None:
                return xt, zeros(x.shape[-2:], dtype=int64)
            return xt, from_numpy(y.astype("int64"))

    ChipDataset.__module__ = __name__
    return ChipDataset


def __getattr__(name: str) -> Any:
    if name == "ChipDataset":
        return _dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
