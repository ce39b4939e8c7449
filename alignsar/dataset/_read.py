"""Read only what chips cover: each storage tile once, each covered element once.

A chip with ``time=None`` covers its pixels at every date; a chip with a time index covers them at
that date only. Static (Y, X) variables are covered per pixel.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import xarray as xr

from ._grid import spatial_tiles
from .chips import Chip


def covered_values(da: xr.DataArray, chips: Sequence[Chip], ydim: str, xdim: str) -> Iterator[np.ndarray]:
    """1-D arrays of ``da``'s values at the elements covered by ``chips`` (overlapping chips counted once).

    Reads the variable tile by tile (its dask chunks), skipping tiles no chip touches.
    """
    if not chips:
        return
    r0 = np.array([c.row0 for c in chips])
    c0 = np.array([c.col0 for c in chips])
    r1 = r0 + np.array([c.size for c in chips])
    c1 = c0 + np.array([c.size for c in chips])
    tt = np.array([-1 if c.time is None else c.time for c in chips])
    has_time = "time" in da.dims
    for ys, xs in spatial_tiles(da, ydim, xdim):
        hit = np.flatnonzero((r0 < ys.stop) & (r1 > ys.start) & (c0 < xs.stop) & (c1 > xs.start))
        if hit.size == 0:
            continue
        shape = (ys.stop - ys.start, xs.stop - xs.start)
        every = np.zeros(shape, dtype=bool)
        per_t: dict[int, np.ndarray] = {}
        for k in hit:
            rs = slice(max(r0[k], ys.start) - ys.start, min(r1[k], ys.stop) - ys.start)
            cs = slice(max(c0[k], xs.start) - xs.start, min(c1[k], xs.stop) - xs.start)
            target = every if tt[k] < 0 or not has_time else per_t.setdefault(int(tt[k]), np.zeros(shape, dtype=bool))
            target[rs, cs] = True
        tile = da.isel({ydim: ys, xdim: xs})
        if not has_time:
            yield np.asarray(tile.values)[every]
            continue
        tile = tile.transpose("time", ydim, xdim)
        if every.any():
            full = np.asarray(tile.values)
            yield full[:, every].ravel()
            dates = {t: full[t] for t in per_t}
        else:
            times = sorted(per_t)
            dates = dict(zip(times, np.asarray(tile.isel(time=times).values), strict=True))
        for t, m in per_t.items():
            m &= ~every
            if m.any():
                yield dates[t][m]
