"""Cloud-optimised GeoTIFFs and PNG quicklooks of map-grid arrays.

:func:`write_cog`: one band, tiled (256 px blocks), deflate, internal overviews (average for
continuous data, nearest for categorical; levels down to ~128 px, at least one), nodata set, and the band's min / max / mean / std
written as GDAL statistics tags (``STATISTICS_*``) so that viewers (STAC Browser, QGIS) stretch it
sensibly; written to a temporary sibling and renamed. :func:`write_png` writes an 8-bit quicklook
stretched between the 2nd and 98th percentiles (categorical: a fixed palette).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.shutil import copy as rio_copy

BLOCK = 256


@dataclass(frozen=True)
class BandStats:
    """Statistics of the valid pixels of a band (units of the data)."""

    minimum: float | None
    maximum: float | None
    mean: float | None
    stddev: float | None
    valid_percent: float

    def to_stac(self) -> dict[str, float]:
        out = {"minimum": self.minimum, "maximum": self.maximum, "mean": self.mean, "stddev": self.stddev, "valid_percent": self.valid_percent}
        return {k: float(v) for k, v in out.items() if v is not None}


def band_stats(values: np.ndarray, nodata: float | None) -> BandStats:
    valid = np.isfinite(values) if values.dtype.kind == "f" else np.ones(values.shape, bool)
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        valid &= values != nodata
    pct = 100.0 * float(valid.mean()) if values.size else 0.0
    if not valid.any():
        return BandStats(None, None, None, None, pct)
    v = values[valid].astype(np.float64)
    return BandStats(float(v.min()), float(v.max()), float(v.mean()), float(v.std()), pct)


def write_cog(
    path: str | os.PathLike[str],
    values: np.ndarray,
    transform: Affine,
    crs: Any,
    *,
    nodata: float | None,
    categorical: bool = False,
    description: str | None = None,
    units: str | None = None,
) -> BandStats:
    """Write a single-band COG (see the module docstring); returns the band statistics."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stats = band_stats(values, nodata)
    profile = {
        "driver": "GTiff",
        "height": values.shape[0],
        "width": values.shape[1],
        "count": 1,
        "dtype": values.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    tmp = path.with_name(f".{path.name}.partial")
    with MemoryFile() as mem:
        with mem.open(**profile) as src:
            src.write(values, 1)
            tags = {f"STATISTICS_{k.upper()}": f"{v:.10g}" for k, v in stats.to_stac().items() if k != "valid_percent"}
            if tags:
                tags["STATISTICS_VALID_PERCENT"] = f"{stats.valid_percent:.4g}"
                src.update_tags(1, **tags)
            if description:
                src.set_band_description(1, description)
            if units:
                src.update_tags(1, units=units)
            src.units = (units or "",)
        with mem.open() as src:
            rio_copy(
                src,
                tmp,
                driver="COG",
                blocksize=BLOCK,
                compress="deflate",
                predictor=2 if values.dtype.kind in "iu" else 3 if values.dtype.kind == "f" else 1,
                overview_resampling=(Resampling.nearest if categorical else Resampling.average).name,
                overviews="AUTO",
                # down to about 128 px, at least one level (also for images smaller than a block)
                overview_count=max(1, int(np.ceil(np.log2(max(values.shape) / 128)))),
            )
    os.replace(tmp, path)
    return stats


PALETTE = np.array(
    [[0, 0, 0], [31, 120, 180], [51, 160, 44], [255, 217, 47], [227, 26, 28], [166, 118, 29], [106, 61, 154], [253, 191, 111], [128, 128, 128]],
    dtype=np.uint8,
)


def write_png(path: str | os.PathLike[str], values: np.ndarray, *, categorical: bool = False, max_size: int = 512) -> None:
    """An 8-bit PNG quicklook (grey 2-98 % stretch, or a class palette; transparent where no data)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    step = max(1, int(np.ceil(max(values.shape) / max_size)))
    v = values[::step, ::step]
    if categorical:
        idx = np.clip(v.astype(np.int64), 0, len(PALETTE) - 1)
        rgb = PALETTE[idx]
        alpha = np.where(v > 0, 255, 0).astype(np.uint8)
    else:
        ok = np.isfinite(v)
        lo, hi = (np.percentile(v[ok], [2, 98]) if ok.any() else (0.0, 1.0))
        grey = np.clip((np.nan_to_num(v, nan=lo) - lo) / max(hi - lo, 1e-12) * 255, 0, 255).astype(np.uint8)
        rgb = np.repeat(grey[..., None], 3, axis=2)
        alpha = np.where(ok, 255, 0).astype(np.uint8)
    data = np.concatenate([rgb, alpha[..., None]], axis=2).transpose(2, 0, 1)
    tmp = path.with_name(f".{path.name}.partial")
    with warnings.catch_warnings():  # a quicklook PNG carries no georeferencing, by design
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", driver="PNG", height=data.shape[1], width=data.shape[2], count=4, dtype="uint8") as dst:
            dst.write(data)
    os.replace(tmp, path)
    for aux in path.parent.glob(f".{path.name}.partial.aux.xml"):
        aux.unlink()


def checksum(path: str | os.PathLike[str]) -> str:
    """Multihash (sha2-256, hex: ``1220`` + digest) of a file, as the STAC file extension wants."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "1220" + h.hexdigest()


def folder_size(path: str | os.PathLike[str]) -> int:
    """Bytes of a file or of every file below a folder."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


__all__ = ["BandStats", "band_stats", "checksum", "folder_size", "write_cog", "write_png"]
