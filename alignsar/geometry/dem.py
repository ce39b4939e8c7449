"""Digital elevation models, always held as heights above the WGS84 ellipsoid.

Orthometric DEMs (EGM96 / EGM2008 heights) are converted at the door, ``h = H + N``, with PROJ's
``vgridshift`` and a geoid grid: a local file (offline, e.g. ``egm96_15.gtx``) or PROJ's own grids.
The vertical reference comes from the DEM's CRS (e.g. EPSG:9707 = WGS 84 + EGM96 height); a DEM
whose CRS says nothing about heights must be told (``vertical="egm96"`` or ``"ellipsoid"``):
treating EGM96 heights as ellipsoidal shifts Rome by ~48 m in height, ~35 m in slant range, and
that must never happen silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyproj
import rasterio
import shapely
from rasterio.transform import Affine
from scipy.ndimage import map_coordinates

from ..errors import ConfigError, CorruptProductError, GeometryError, MissingDataError

Vertical = Literal["auto", "ellipsoid", "egm96", "egm2008"]
PROJ_GRIDS = {"egm96": "us_nga_egm96_15.tif", "egm2008": "us_nga_egm08_25.tif"}


@dataclass(frozen=True, eq=False)
class DEM:
    """Ellipsoidal heights (m, float32, NaN = no data) on a grid ``transform`` (pixel corners, GDAL
    convention) in ``crs``. ``source_vertical`` says what the file held before conversion."""

    heights: npt.NDArray[np.float32]
    transform: Affine
    crs: pyproj.CRS
    source: str = ""
    source_vertical: str = "ellipsoid"

    @property
    def shape(self) -> tuple[int, int]:
        return self.heights.shape  # type: ignore[return-value]

    def _lonlat_to_rowcol(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        horizontal = self.crs.sub_crs_list[0] if self.crs.is_compound else self.crs
        if horizontal.to_epsg() == 4326 or (horizontal.is_geographic and horizontal.ellipsoid.name == "WGS 84"):
            x, y = lon, lat
        else:
            x, y = pyproj.Transformer.from_crs(4326, horizontal, always_xy=True).transform(lon, lat)
        col, row = ~self.transform @ (np.asarray(x), np.asarray(y))
        return np.asarray(row) - 0.5, np.asarray(col) - 0.5  # pixel-centre indices

    def height(self, lon: npt.ArrayLike, lat: npt.ArrayLike, outside: Literal["raise", "nan"] = "raise") -> np.ndarray:
        """Bilinear ellipsoidal height (m) at (lon, lat) degrees. Points off the DEM raise a
        :class:`GeometryError` (``outside="raise"``) or give NaN."""
        row, col = self._lonlat_to_rowcol(lon, lat)
        ny, nx = self.shape
        off = ~((row >= -0.5) & (row <= ny - 0.5) & (col >= -0.5) & (col <= nx - 0.5))
        if off.any() and outside == "raise":
            raise GeometryError(
                self.source or None,
                f"DEM does not cover {int(off.sum())} of {off.size} points (e.g. lon {np.asarray(lon).ravel()[off.ravel()][0]:.5f}, lat {np.asarray(lat).ravel()[off.ravel()][0]:.5f})",
            )
        h = map_coordinates(
            self.heights, [np.clip(row, 0, ny - 1).ravel(), np.clip(col, 0, nx - 1).ravel()], order=1, mode="nearest"
        ).reshape(row.shape)
        return np.where(off, np.nan, h)

    @property
    def footprint(self) -> shapely.Polygon:
        """The DEM's extent as a lon/lat polygon."""
        ny, nx = self.shape
        cols = np.r_[np.linspace(0, nx, 20), np.full(20, nx), np.linspace(nx, 0, 20), np.zeros(20)]
        rows = np.r_[np.zeros(20), np.linspace(0, ny, 20), np.full(20, ny), np.linspace(ny, 0, 20)]
        x, y = self.transform @ (cols, rows)
        horizontal = self.crs.sub_crs_list[0] if self.crs.is_compound else self.crs
        lon, lat = pyproj.Transformer.from_crs(horizontal, 4326, always_xy=True).transform(x, y)
        return shapely.Polygon(np.column_stack([lon, lat]))

    def check_covers(self, polygon: shapely.Geometry, what: str = "the scene") -> None:
        """Raise :class:`GeometryError` if the DEM does not cover ``polygon`` (lon/lat)."""
        if not self.footprint.buffer(1e-9).contains(polygon):
            missing = shapely.difference(polygon, self.footprint).area / max(polygon.area, 1e-300)
            raise GeometryError(self.source or None, f"DEM does not cover {what} ({missing:.1%} of its area is outside the DEM)")


def vertical_reference(crs: pyproj.CRS) -> str | None:
    """``ellipsoid``, ``egm96``, ``egm2008`` or None (unknown) from a CRS."""
    if crs.is_compound:
        name = crs.sub_crs_list[1].name.lower()
        if "egm96" in name or "egm 96" in name:
            return "egm96"
        if "egm2008" in name or "egm08" in name or "egm 2008" in name:
            return "egm2008"
        return name
    if crs.is_geographic and len(crs.axis_info) == 3:
        return "ellipsoid"
    return None


def geoid_undulation(lon: npt.ArrayLike, lat: npt.ArrayLike, model: str, geoid: str | os.PathLike[str] | None = None) -> np.ndarray:
    """Geoid undulation N (m, geoid above ellipsoid) of ``model`` at (lon, lat) degrees, via PROJ
    ``vgridshift`` (forward with ``+multiplier=1`` adds N: h = H + N)."""
    grid = os.fspath(geoid) if geoid is not None else PROJ_GRIDS.get(model)
    if grid is None:
        raise ConfigError(None, f"unknown geoid model {model!r} (egm96, egm2008)")
    if geoid is not None and not Path(grid).is_file():
        raise MissingDataError(grid, "geoid grid file not found")
    try:
        tr = pyproj.Transformer.from_pipeline(f"+proj=vgridshift +grids={grid} +multiplier=1")
        lon_a, lat_a = np.broadcast_arrays(np.radians(np.asarray(lon, float)), np.radians(np.asarray(lat, float)))
        _, _, n = tr.transform(lon_a, lat_a, np.zeros(lon_a.shape), radians=True, errcheck=True)
    except pyproj.exceptions.ProjError as exc:
        raise GeometryError(grid, f"geoid grid unavailable or does not cover the DEM ({exc}); pass geoid=<path to a local grid>") from exc
    return np.asarray(n)


def open_dem(
    path: str | os.PathLike[str],
    *,
    vertical: Vertical = "auto",
    geoid: str | os.PathLike[str] | None = None,
    bounds: tuple[float, float, float, float] | None = None,
) -> DEM:
    """Read a rasterio-readable DEM and return it with ellipsoidal heights.

    ``vertical``: ``auto`` takes the reference from the file's CRS and refuses a DEM whose CRS has
    none; ``ellipsoid`` / ``egm96`` / ``egm2008`` state it. ``geoid``: a local geoid grid (PROJ
    formats: .gtx, .tif) for the orthometric -> ellipsoidal conversion, else PROJ's own grids.
    ``bounds`` (lon_min, lat_min, lon_max, lat_max): read only that window (plus one pixel).
    """
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        if not Path(path).exists():
            raise MissingDataError(path, "DEM file not found") from exc
        raise CorruptProductError(path, f"unreadable DEM ({exc})") from exc
    with src:
        if src.crs is None:
            raise GeometryError(path, "DEM has no CRS")
        crs = pyproj.CRS.from_user_input(src.crs.to_wkt())
        window = None
        if bounds is not None:
            horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
            x, y = pyproj.Transformer.from_crs(4326, horizontal, always_xy=True).transform(
                [bounds[0], bounds[2], bounds[0], bounds[2]], [bounds[1], bounds[1], bounds[3], bounds[3]]
            )
            w = rasterio.windows.from_bounds(min(x), min(y), max(x), max(y), src.transform)
            c0, r0 = max(int(np.floor(w.col_off)) - 1, 0), max(int(np.floor(w.row_off)) - 1, 0)
            c1 = min(int(np.ceil(w.col_off + w.width)) + 2, src.width)
            r1 = min(int(np.ceil(w.row_off + w.height)) + 2, src.height)
            if c1 <= c0 or r1 <= r0:
                raise GeometryError(path, f"DEM does not cover the bounds {tuple(round(b, 5) for b in bounds)}")
            window = rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)
        data = src.read(1, window=window, masked=True).astype(np.float32).filled(np.nan)
        transform = src.window_transform(window) if window is not None else src.transform
    found = vertical_reference(crs)
    if vertical == "auto":
        if found is None:
            raise GeometryError(path, "DEM CRS has no vertical reference: pass vertical='egm96', 'egm2008' or 'ellipsoid'")
        vertical = found  # type: ignore[assignment]
    elif found not in (None, vertical):
        raise GeometryError(path, f"DEM CRS says heights are {found}, vertical={vertical!r} was given")
    if vertical not in ("ellipsoid", "egm96", "egm2008"):
        raise GeometryError(path, f"unsupported DEM vertical reference {vertical!r}")
    if vertical != "ellipsoid":
        rows, cols = np.mgrid[0 : data.shape[0], 0 : data.shape[1]]
        x, y = transform @ (cols + 0.5, rows + 0.5)
        horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
        lon, lat = pyproj.Transformer.from_crs(horizontal, 4326, always_xy=True).transform(x, y)
        data = (data + geoid_undulation(lon, lat, vertical, geoid)).astype(np.float32)
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    return DEM(data, transform, horizontal, source=os.fspath(path), source_vertical=vertical)
