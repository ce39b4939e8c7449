"""Write chips as an ML dataset folder: one store per chip, ``index.json`` and ``statistics.json``.

Layout of ``out_dir`` (written to a temporary sibling, renamed into place when complete)::

    chips/<id>.zarr                      format="zarr": the chip's variables, label (and change), dims (time, Y, X)
    chips/<id>/<var>_<YYYYmmddTHHMMSS>.tif   format="geotiff": one single-band file per variable and date
    chips/<id>/<var>.tif                 static variables (and a static label)
    chips/<id>/change_<T1>_<T2>.tif      change labels of date pairs (uint8: 0 unknown, 1 no change, 2 change)
    index.json                           grid, variables, dates, and per chip: id, split, window (px),
                                         bounds (CRS units, map grids), date, valid fraction, paths
    statistics.json                      training-only normalisation statistics, class counts per split,
                                         split parameters, source cube

Spatial dims keep the cube's names (``y, x`` on map grids, ``azimuth, range`` on radar grids). Map-grid
GeoTIFFs carry the cube's CRS and transform offset by the chip origin; radar-grid GeoTIFFs carry 3 x 3
ground control points from the cube's ``lat`` / ``lon`` (EPSG:4326). JSON only, never pickles.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._fs import atomic_dir
from ..errors import ConfigError
from ._grid import (
    check_spatial,
    class_names,
    crs_wkt,
    grid_shape,
    is_map_grid,
    require,
    spatial_dims,
    time_iso,
    time_stamps,
    transform,
    window_bounds,
)
from .chips import Chip
from .pairs import CHANGE_FLAG_MEANINGS, CHANGE_FLAG_VALUES, ChipPair, change_label, pair_chips
from .stats import class_counts, normalisation_statistics

FORMATS = ("zarr", "geotiff")
READ_BUDGET_BYTES = 256 * 2**20  # cube values loaded at once when cutting chips
INDEX_VERSION = 1


def _dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, allow_nan=False) + "\n"


def _groups(chips: Sequence[Chip], tile: int) -> list[list[Chip]]:
    """Chips grouped by the ``tile`` x ``tile`` px square holding their origin (each group read at once)."""
    groups: dict[tuple[int, int], list[Chip]] = {}
    for c in chips:
        groups.setdefault((c.row0 // tile, c.col0 // tile), []).append(c)
    return [groups[k] for k in sorted(groups)]


def _tile_size(cube: xr.Dataset, names: Sequence[str], size: int) -> int:
    ydim, xdim = spatial_dims(cube)
    per_px = sum(int(np.prod([n for d, n in cube[v].sizes.items() if d not in (ydim, xdim)])) * cube[v].dtype.itemsize for v in names)
    chunk = max((max(cube[v].variable.chunksizes.get(ydim, (0,))) for v in names if cube[v].chunks is not None), default=1024)
    return max(size, min(chunk, int(math.sqrt(READ_BUDGET_BYTES / max(per_px, 1)))))


def _window(sub: xr.Dataset, chip: Chip, r: int, c: int, ydim: str, xdim: str) -> xr.Dataset:
    """The chip's window of a loaded group ``sub`` whose first row / column are ``r`` / ``c`` of the grid (all dates)."""
    return sub.isel({ydim: slice(chip.row0 - r, chip.row1 - r), xdim: slice(chip.col0 - c, chip.col1 - c)})


def _georeferencing(ds: xr.Dataset, chip: Chip, tr: Any, wkt: str | None, ydim: str, xdim: str) -> dict[str, Any]:
    """rasterio ``crs`` / ``transform`` (map grids: the cube's, offset by the chip origin) or ``gcps`` (radar grids)."""
    from affine import Affine
    from rasterio.crs import CRS

    if tr is not None:
        return {"transform": tr @ Affine.translation(chip.col0, chip.row0), "crs": CRS.from_wkt(wkt) if wkt else None}
    gcps = _gcps(ds, ydim, xdim)
    return {"gcps": gcps, "gcps_crs": CRS.from_epsg(4326)} if gcps else {}


def _change(ds: xr.Dataset, label: str, pairs: Sequence[ChipPair], ydim: str, xdim: str) -> xr.DataArray:
    lab = ds[label]
    data = np.stack([change_label(lab.isel(time=p.t1).values, lab.isel(time=p.t2).values) for p in pairs])
    return xr.DataArray(
        data,
        dims=("pair", ydim, xdim),
        coords={"pair_t1": ("pair", [p.t1 for p in pairs]), "pair_t2": ("pair", [p.t2 for p in pairs])},
        attrs={
            "long_name": f"change of {label} between two dates (pair_t1, pair_t2: time indices of the source cube)",
            "flag_values": CHANGE_FLAG_VALUES,
            "flag_meanings": CHANGE_FLAG_MEANINGS,
            "units": "1",
        },
    )


def _write_zarr(ds: xr.Dataset, path: Path, attrs: dict[str, Any]) -> None:
    ds = ds.copy()
    if "spatial_ref" in ds.data_vars:
        ds = ds.set_coords("spatial_ref")
    for v in ds.variables.values():
        v.encoding = {}
    ds.attrs = attrs
    ds.to_zarr(path, mode="w", consolidated=False)


def _gcps(ds: xr.Dataset, ydim: str, xdim: str) -> list[Any] | None:
    """3 x 3 ground control points (pixel centres, lon / lat degrees) from 2-D ``lat`` / ``lon``."""
    from rasterio.control import GroundControlPoint

    if "lat" not in ds.variables or "lon" not in ds.variables:
        return None
    lat, lon = ds["lat"].transpose(ydim, xdim).values, ds["lon"].transpose(ydim, xdim).values
    rows, cols = lat.shape
    out = []
    for i in sorted({0, rows // 2, rows - 1}):
        for j in sorted({0, cols // 2, cols - 1}):
            if np.isfinite(lat[i, j]) and np.isfinite(lon[i, j]):
                out.append(GroundControlPoint(row=i + 0.5, col=j + 0.5, x=float(lon[i, j]), y=float(lat[i, j])))
    return out or None


def _write_tif(path: Path, data: np.ndarray, geo: dict[str, Any], name: str, attrs: dict[str, Any]) -> None:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    floating = np.issubdtype(data.dtype, np.floating)
    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype.name if data.dtype != bool else "uint8",
        "compress": "deflate",
        "nodata": np.nan if floating else None,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile, **{k: v for k, v in geo.items() if k in ("crs", "transform")}) as dst:
            dst.write(data.astype(profile["dtype"]), 1)
            dst.set_band_description(1, name)
            dst.update_tags(1, **{k: str(v) for k, v in attrs.items() if k in ("units", "long_name", "flag_values", "flag_meanings")})
            if "gcps" in geo:
                dst.gcps = (geo["gcps"], geo["gcps_crs"])


def _write_geotiffs(
    ds: xr.Dataset,
    folder: Path,
    names: Sequence[str],
    stamps: Sequence[str],
    times: Sequence[int],
    geo: dict[str, Any],
    ydim: str,
    xdim: str,
) -> dict[str, list[str]]:
    """One file per variable and date (``times``: the cube time indices of ``ds``'s dates); ``{name: [relative paths]}``."""
    folder.mkdir(parents=True)
    rel = Path("chips") / folder.name
    out: dict[str, list[str]] = {}
    for name in names:
        da = ds[name]
        files = []
        if "time" in da.dims:
            arr = da.transpose("time", ydim, xdim).values
            for k, t in enumerate(times):
                fname = f"{name}_{stamps[t]}.tif"
                _write_tif(folder / fname, arr[k], geo, name, dict(da.attrs))
                files.append(str(rel / fname))
        elif "pair" in da.dims:
            arr = da.transpose("pair", ydim, xdim).values
            for k, (t1, t2) in enumerate(zip(da["pair_t1"].values, da["pair_t2"].values, strict=True)):
                fname = f"{name}_{stamps[int(t1)]}_{stamps[int(t2)]}.tif"
                _write_tif(folder / fname, arr[k], geo, name, dict(da.attrs))
                files.append(str(rel / fname))
        else:
            fname = f"{name}.tif"
            _write_tif(folder / fname, da.transpose(ydim, xdim).values, geo, name, dict(da.attrs))
            files.append(str(rel / fname))
        out[name] = files
    return out


def _check_inputs(cube: xr.Dataset, variables: Sequence[str], label: str | None, fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError("format", f"{fmt!r} is not one of {FORMATS}")
    if not variables:
        raise ConfigError("variables", "name at least one variable to write")
    for v in variables:
        check_spatial(require(cube, v), cube)
    if label is not None:
        lab = require(cube, label)
        check_spatial(lab, cube)
        if not np.issubdtype(lab.dtype, np.integer):
            raise ConfigError(label, f"a label must be integer, not {lab.dtype}")


def _chip_paths(ds: xr.Dataset, chip: Chip, tmp: Path, fmt: str, ctx: dict[str, Any]) -> dict[str, Any]:
    """Write one chip's window ``ds`` under ``tmp``; its paths relative to the dataset folder."""
    ydim, xdim = ctx["dims"]
    times = [chip.time] if chip.time is not None else list(range(len(ctx["isos"])))
    if fmt == "zarr":
        attrs = {
            "title": f"alignsar ML chip {chip.id}",
            "chip_id": chip.id,
            "split": chip.split or "",
            "row0": chip.row0,
            "col0": chip.col0,
            "size": chip.size,
            "time_indices": times,
            "source": ctx["source"] or "",
        }
        rel = f"chips/{chip.id}.zarr"
        _write_zarr(ds, tmp / rel, attrs)
        return {"zarr": rel}
    geo = _georeferencing(ds, chip, ctx["transform"], ctx["crs_wkt"], ydim, xdim)
    written = [*ctx["names"], *(["change"] if "change" in ds else [])]
    return {"geotiff": _write_geotiffs(ds, tmp / "chips" / chip.id, written, ctx["stamps"], times, geo, ydim, xdim)}


def _index(
    cube: xr.Dataset, fmt: str, variables: list[str], label: str | None, pairs: Any, ctx: dict[str, Any], entries: list[dict[str, Any]]
) -> dict[str, Any]:
    lab = cube[label] if label else None
    tr = ctx["transform"]
    return {
        "version": INDEX_VERSION,
        "format": fmt,
        "grid": "map" if tr is not None else "radar",
        "spatial_dims": list(ctx["dims"]),
        "shape": list(grid_shape(cube)),
        "crs_wkt": ctx["crs_wkt"],
        "transform": list(tr)[:6] if tr is not None else None,
        "variables": variables,
        "time_variables": [v for v in variables if "time" in cube[v].dims],
        "label": label,
        "label_has_time": bool(lab is not None and "time" in lab.dims),
        "classes": {str(k): v for k, v in class_names(lab).items()} if lab is not None else None,
        "pairs": None if pairs is None else (pairs if isinstance(pairs, str) else [[int(t) for t in p] for p in pairs]),
        "times": ctx["isos"],
        "source": ctx["source"],
        "chips": entries,
    }


def write_chips(
    cube: xr.Dataset,
    chips: Sequence[Chip],
    out_dir: str | os.PathLike[str],
    *,
    variables: Sequence[str],
    label: str | None = "label",
    format: str = "zarr",
    statistics: bool = True,
    pairs: str | Sequence[tuple[int, int]] | None = None,
    split_parameters: dict[str, Any] | None = None,
    source: str | os.PathLike[str] | None = None,
    percentiles: Sequence[float] = (2, 50, 98),
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``chips`` of ``cube`` to ``out_dir`` (atomically) and return its path.

    ``label=None`` writes no label. ``pairs`` (``"consecutive"`` or (t1, t2) time indices) adds change
    labels (needs a time-varying label). ``statistics`` computes training-only normalisation statistics
    and class counts (ConfigError without training chips). ``split_parameters`` (e.g. from
    :func:`alignsar.dataset.splits.split_parameters`) and ``source`` (default: the cube's
    ``encoding["source"]``) are recorded. ``progress(done, total)`` is called after every chip.
    """
    variables = [str(v) for v in variables]
    _check_inputs(cube, variables, label, format)
    if len({c.id for c in chips}) != len(chips):
        raise ConfigError("chips", "chip ids are not unique")
    if pairs is not None and label is None:
        raise ConfigError("pairs", "change labels need a label")
    by_chip: dict[str, list[ChipPair]] = {}
    for p in pair_chips(cube, chips, pairs, label) if pairs is not None and label is not None else []:
        by_chip.setdefault(p.chip.id, []).append(p)
    source = source if source is not None else cube.encoding.get("source")
    counts: dict[str, int] = {}
    for ch in chips:
        counts[ch.split or "unassigned"] = counts.get(ch.split or "unassigned", 0) + 1
    stats = {  # first: fails fast without training chips
        "source": str(source) if source else None,
        "splits": split_parameters,
        "chips_per_split": counts,
        "normalisation": normalisation_statistics(cube, chips, variables, percentiles) if statistics else None,
        "class_counts": class_counts(cube, chips, label) if statistics and label else None,
    }
    ydim, xdim = spatial_dims(cube)
    tr = transform(cube)
    names = [*variables, *([label] if label else [])]
    ctx = {
        "dims": (ydim, xdim),
        "transform": tr,
        "crs_wkt": crs_wkt(cube),
        "isos": time_iso(cube),
        "stamps": time_stamps(cube) if format == "geotiff" else [],
        "names": names,
        "source": str(source) if source else None,
    }
    extra = [n for n in ("spatial_ref",) if n in cube.data_vars and is_map_grid(cube)]
    entries: dict[str, dict[str, Any]] = {}
    with atomic_dir(out_dir) as tmp:
        (tmp / "chips").mkdir()
        size = max((c.size for c in chips), default=1)
        for group in _groups(chips, _tile_size(cube, names, size)):
            r, c = min(ch.row0 for ch in group), min(ch.col0 for ch in group)
            r1, c1 = max(ch.row1 for ch in group), max(ch.col1 for ch in group)
            sub = cube[names + extra].isel({ydim: slice(r, r1), xdim: slice(c, c1)}).compute()
            for chip in group:
                win = _window(sub, chip, r, c, ydim, xdim)
                ds = win.isel(time=[chip.time]) if chip.time is not None and "time" in win.dims else win
                chip_pairs = by_chip.get(chip.id, [])
                if chip_pairs and label is not None:
                    ds = ds.assign(change=_change(win, label, chip_pairs, ydim, xdim))
                isos = ctx["isos"]
                entries[chip.id] = {
                    "id": chip.id,
                    "split": chip.split,
                    "row0": chip.row0,
                    "col0": chip.col0,
                    "size": chip.size,
                    "bounds": window_bounds(tr, chip.row0, chip.col0, chip.size, chip.size) if tr is not None else None,
                    "time_index": chip.time,
                    "time": isos[chip.time] if chip.time is not None else None,
                    "valid_fraction": chip.valid_fraction,
                    "paths": _chip_paths(ds, chip, tmp, format, ctx),
                    "pairs": [{"t1": p.t1, "t2": p.t2, "time1": isos[p.t1], "time2": isos[p.t2]} for p in chip_pairs],
                }
                if progress is not None:
                    progress(len(entries), len(chips))
        index = _index(cube, format, variables, label, pairs, ctx, [entries[c.id] for c in chips])
        (tmp / "index.json").write_text(_dumps(index), encoding="utf-8")
        (tmp / "statistics.json").write_text(_dumps(stats), encoding="utf-8")
    return Path(out_dir)
