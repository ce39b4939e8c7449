"""Radarcoding of LiDAR point clouds (LAS, LAZ, COPC) onto a radar grid or a map grid.

:func:`radarcode_points` bins the points of one or more point-cloud files into the pixels of a
reference grid and returns per-pixel statistics: point count, minimum / mean / maximum height,
ground height (mean height of the ASPRS class 2 points) and canopy height (maximum minus ground).

Reference grids:

* a radar grid (an :class:`~alignsar.model.Acquisition` and a swath, dims ``(azimuth, range)``):
  every point is transformed to geographic lon / lat and height above the WGS84 ellipsoid (PROJ)
  and projected into the raster with the zero-Doppler :func:`~alignsar.geometry.geo2rdr`; it counts
  in the pixel whose centre (integer line / pixel) is nearest (``np.rint``). Heights are
  ellipsoidal (m above WGS84).
* a map grid (:class:`odc.geo.geobox.GeoBox`, dims of the GeoBox, e.g. ``(y, x)``): the points are
  transformed to the GeoBox CRS and count in the pixel that contains them (pixel edges from the
  GeoBox affine; a point on an edge belongs to the pixel on its right / below). Heights stay in
  the file's vertical reference (in metres) unless ``vertical`` names a geoid, see below.

Coordinates: LAS stores scaled integers, the scaled values (``X * scale + offset``) are used. The
horizontal CRS comes from the header (GeoTIFF keys or WKT record, ``header.parse_crs()``) and may be
overridden by ``horizontal_crs``. Linear units come from the CRS axes: a file in feet (e.g. NAD83 /
Oregon Lambert in international feet, 0.3048 m) or in US survey feet (1200 / 3937 m) is handled
by PROJ horizontally, and heights are converted to metres with the vertical CRS's axis unit, or,
without a vertical CRS, with the horizontal CRS's linear unit (the usual LAS practice), or with
``z_unit``.

Vertical reference (needed on a radar grid, where heights must be ellipsoidal):

* ``vertical=None`` (default): from the file. A compound CRS (e.g. ``+ NAVD88 height``) is
  transformed to ellipsoidal heights by PROJ; if the geoid grid that PROJ needs is not available
  (offline: enable the PROJ network or install the grid) a :class:`GeometryError` is raised instead
  of silently using PROJ's "ballpark" vertical transformation, which ignores the geoid. A 3-D
  geographic CRS is ellipsoidal. A CRS without any vertical part is refused on a radar grid.
* ``vertical="ellipsoid"``: the heights are ellipsoidal (on the datum of the horizontal CRS).
* ``vertical="egm96"`` / ``"egm2008"`` / a geoid grid path (any PROJ grid: ``.gtx``, ``.tif``): the
  heights are orthometric above that geoid, ``h = H + N`` (the grid's undulation, see
  :func:`alignsar.geometry.geoid_undulation`); then also on a map grid heights come out ellipsoidal.

An explicit ``vertical`` overrides the file's vertical CRS (but not its unit).

Memory: points are read ``chunk_points`` at a time (``laspy`` chunk iterator) and accumulated per
pixel with ``np.bincount`` / ``np.minimum.at`` / ``np.maximum.at``, so memory is bounded by the
chunk size and the grid size.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import laspy
import numpy as np
import pyproj
import xarray as xr
from odc.geo.geobox import GeoBox

from ..errors import ConfigError, GeometryError, MissingDataError, UnsupportedProductError
from ..geometry.dem import geoid_undulation
from ..geometry.zero_doppler import geo2rdr
from ..model import Acquisition

GROUND_CLASS = 2  # ASPRS LAS classification "ground"
US_SURVEY_FOOT = 1200.0 / 3937.0
UNITS = {
    "m": 1.0,
    "metre": 1.0,
    "meter": 1.0,
    "ft": 0.3048,
    "foot": 0.3048,
    "feet": 0.3048,
    "us survey foot": US_SURVEY_FOOT,
    "us-ft": US_SURVEY_FOOT,
    "ftus": US_SURVEY_FOOT,
}
GEOID_MODELS = ("egm96", "egm2008")

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------------------------------
# per-file reference frame
@dataclass(frozen=True)
class _Frame:
    """How to read one file's coordinates: horizontal CRS, vertical CRS (or None), metres per z
    unit, and the vertical mode (``crs``, ``ellipsoid``, a geoid model / grid path, or None)."""

    path: str
    horizontal: pyproj.CRS
    vertical_crs: pyproj.CRS | None
    z_factor: float
    mode: str | None
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None  # header (x, y) min / max

    @property
    def height_reference(self) -> str:
        if self.mode == "crs":
            assert self.vertical_crs is not None
            return self.vertical_crs.name
        if self.mode == "ellipsoid":
            return f"ellipsoidal height ({self.horizontal.ellipsoid.name if self.horizontal.ellipsoid else 'unknown'} ellipsoid)"
        if self.mode is None:
            return "unknown vertical reference (heights as stored in the file)"
        return "ellipsoidal height (orthometric heights + geoid undulation of " + os.path.basename(self.mode) + ")"


def _z_factor(horizontal: pyproj.CRS, vertical: pyproj.CRS | None, z_unit: str | float | None) -> float:
    """Metres per unit of the LAS z coordinate."""
    if z_unit is not None:
        if isinstance(z_unit, str):
            try:
                return UNITS[z_unit.strip().lower()]
            except KeyError:
                raise ValueError(f"unknown z_unit {z_unit!r} (one of {sorted(UNITS)} or metres per unit)") from None
        return float(z_unit)
    if vertical is not None:
        return float(vertical.axis_info[0].unit_conversion_factor)
    if len(horizontal.axis_info) == 3:
        return float(horizontal.axis_info[2].unit_conversion_factor)
    if horizontal.is_projected:
        return float(horizontal.axis_info[0].unit_conversion_factor)
    return 1.0


def _frame(path: str, header: laspy.LasHeader, horizontal_crs: Any, vertical: PathLike | None, z_unit: str | float | None) -> _Frame:
    file_crs = None
    try:
        file_crs = header.parse_crs()
    except Exception as exc:  # malformed GeoTIFF keys / WKT record
        if horizontal_crs is None:
            raise UnsupportedProductError(path, f"unreadable CRS records in the header ({exc}); pass horizontal_crs") from exc
    horizontal, vertical_crs = None, None
    if file_crs is not None:
        horizontal, vertical_crs = (file_crs.sub_crs_list[0], file_crs.sub_crs_list[1]) if file_crs.is_compound else (file_crs, None)
    if horizontal_crs is not None:
        try:
            override = pyproj.CRS.from_user_input(horizontal_crs)
        except pyproj.exceptions.CRSError as exc:
            raise ConfigError(None, f"invalid horizontal_crs {horizontal_crs!r} ({exc})") from exc
        horizontal, vertical_crs = (
            (override.sub_crs_list[0], override.sub_crs_list[1]) if override.is_compound else (override, vertical_crs)
        )
    if horizontal is None:
        raise GeometryError(path, "the file header has no CRS: pass horizontal_crs")
    if vertical is None or vertical == "auto":
        mode = "crs" if vertical_crs is not None else ("ellipsoid" if len(horizontal.axis_info) == 3 else None)
    elif vertical == "ellipsoid" or vertical in GEOID_MODELS:
        mode = str(vertical)
    else:
        grid = os.fspath(vertical)
        if not Path(grid).is_file():
            raise MissingDataError(
                grid, "geoid grid file not found (vertical must be 'ellipsoid', 'egm96', 'egm2008' or a geoid grid path)"
            )
        mode = grid
    try:
        bounds = ((float(header.mins[0]), float(header.mins[1])), (float(header.maxs[0]), float(header.maxs[1])))
    except (IndexError, TypeError, ValueError):
        bounds = None
    return _Frame(path, horizontal, vertical_crs, _z_factor(horizontal, vertical_crs, z_unit), mode, bounds)


def _area(frame: _Frame) -> pyproj.aoi.AreaOfInterest | None:
    """The file's extent (header bounds) in lon / lat degrees, to choose PROJ's operation."""
    if frame.bounds is None:
        return None
    (x0, y0), (x1, y1) = frame.bounds
    h2 = frame.horizontal.to_2d() if len(frame.horizontal.axis_info) == 3 else frame.horizontal
    try:
        lon, lat = pyproj.Transformer.from_crs(h2, "EPSG:4326", always_xy=True).transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    except pyproj.exceptions.ProjError:
        return None
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        return None
    return pyproj.aoi.AreaOfInterest(float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat)))


@dataclass
class _ToEllipsoidal:
    """File coordinates -> lon, lat (deg) and height (m above WGS84)."""

    frame: _Frame
    transformer: pyproj.Transformer = field(init=False)
    z_in: float = field(init=False)  # multiply metres by this to get the transformer's z unit

    def __post_init__(self) -> None:
        f = self.frame
        if f.mode is None:
            raise GeometryError(
                f.path,
                "the vertical reference of the heights is unknown (no vertical CRS in the file): pass vertical='ellipsoid', "
                "'egm96', 'egm2008' or the path of a geoid grid",
            )
        if f.mode == "crs":
            assert f.vertical_crs is not None
            src = pyproj.crs.CompoundCRS(f"{f.horizontal.name} + {f.vertical_crs.name}", [f.horizontal, f.vertical_crs])
            self.z_in = 1.0 / float(f.vertical_crs.axis_info[0].unit_conversion_factor)
        else:
            src = f.horizontal if len(f.horizontal.axis_info) == 3 else f.horizontal.to_3d()
            self.z_in = 1.0 / float(src.axis_info[2].unit_conversion_factor)
        # the operation PROJ would pick for the file's area, as one concrete transformation, so that
        # a fallback without the geoid ("ballpark vertical") is seen before it is used
        try:
            with warnings.catch_warnings():  # "best transformation is not available": handled below
                warnings.simplefilter("ignore", UserWarning)
                group = pyproj.transformer.TransformerGroup(src, "EPSG:4979", always_xy=True, area_of_interest=_area(f))
        except pyproj.exceptions.ProjError as exc:
            raise GeometryError(f.path, f"PROJ cannot transform {src.name} to WGS84 ({exc})") from exc
        if not group.transformers or "ballpark vertical" in group.transformers[0].description.lower():
            best = group.unavailable_operations[:1]
            grids = sorted({g.short_name for op in best for g in op.grids if not g.available})
            raise GeometryError(
                f.path,
                f"PROJ cannot convert {f.vertical_crs.name if f.vertical_crs else 'the heights'} to ellipsoidal heights"
                + (f" (missing grids: {', '.join(grids[:6])}{', ...' if len(grids) > 6 else ''})" if grids else "")
                + ": enable the PROJ network (PROJ_NETWORK=ON) or install the grid, or pass vertical=<geoid grid path> / 'ellipsoid'",
            )
        self.transformer = group.transformers[0]

    def __call__(self, x: np.ndarray, y: np.ndarray, z_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lon, lat, h = self.transformer.transform(x, y, z_m * self.z_in)
        lon, lat, h = np.asarray(lon), np.asarray(lat), np.asarray(h)
        if self.frame.mode not in ("crs", "ellipsoid"):
            h = h + _undulation(self.frame.mode, lon, lat)
        return lon, lat, h


def _undulation(mode: str | None, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    assert mode is not None
    if mode in GEOID_MODELS:
        return geoid_undulation(lon, lat, mode)
    return geoid_undulation(lon, lat, "grid", geoid=mode)


# --------------------------------------------------------------------------------------------------
# reference grids
class _RadarTarget:
    def __init__(self, acq: Acquisition, swath: str | None) -> None:
        self.acq = acq
        self.swath = acq.swath(swath).name
        self.shape = tuple(int(n) for n in acq.swath(swath).grid.shape)
        self._to_geo: dict[str, _ToEllipsoidal] = {}

    def prepare(self, frame: _Frame) -> None:
        self._to_geo[frame.path] = _ToEllipsoidal(frame)

    def locate(self, frame: _Frame, x: np.ndarray, y: np.ndarray, z_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col) integer indices (may be outside the grid) and heights (m above WGS84)."""
        lon, lat, h = self._to_geo[frame.path](x, y, z_m)
        rc = geo2rdr(self.acq, lon, lat, h, swath=self.swath)
        line, pixel = np.asarray(rc.line), np.asarray(rc.pixel)
        bad = ~(np.asarray(rc.converged) & np.isfinite(line) & np.isfinite(pixel) & np.isfinite(h))
        row = np.rint(np.where(bad, -1.0, line)).astype(np.int64)
        col = np.rint(np.where(bad, -1.0, pixel)).astype(np.int64)
        row[bad] = -1
        return row, col, h

    def coords(self) -> tuple[tuple[str, str], dict[str, Any], dict[str, Any]]:
        dims = ("azimuth", "range")
        coords = {"line": ("azimuth", np.arange(self.shape[0])), "pixel": ("range", np.arange(self.shape[1]))}
        attrs = {"grid": "radar", "swath": self.swath, "product_name": self.acq.product_name, "binning": "nearest pixel centre (np.rint)"}
        return dims, coords, attrs

    def height_reference(self, frames: list[_Frame]) -> str:
        return "ellipsoidal height above WGS84 (EPSG:4979)"


class _MapTarget:
    def __init__(self, geobox: GeoBox) -> None:
        self.geobox = geobox
        self.shape = (int(geobox.shape[0]), int(geobox.shape[1]))
        self.crs = pyproj.CRS.from_user_input(geobox.crs.to_wkt())
        self.inverse = ~geobox.affine
        self._to_map: dict[str, pyproj.Transformer | None] = {}
        self._to_lonlat: dict[str, pyproj.Transformer] = {}

    def prepare(self, frame: _Frame) -> None:
        h2 = frame.horizontal.to_2d() if len(frame.horizontal.axis_info) == 3 else frame.horizontal
        same = h2.equals(self.crs, ignore_axis_order=False)
        self._to_map[frame.path] = None if same else pyproj.Transformer.from_crs(h2, self.crs, always_xy=True)
        if frame.mode not in (None, "crs", "ellipsoid"):
            self._to_lonlat[frame.path] = pyproj.Transformer.from_crs(h2, "EPSG:4326", always_xy=True)

    def locate(self, frame: _Frame, x: np.ndarray, y: np.ndarray, z_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col) of the pixel containing each point (may be outside the grid) and heights (m)."""
        h = z_m
        if frame.path in self._to_lonlat:
            lon, lat = (np.asarray(v) for v in self._to_lonlat[frame.path].transform(x, y))
            h = z_m + _undulation(frame.mode, lon, lat)
        tr = self._to_map[frame.path]
        if tr is not None:
            x, y = (np.asarray(v) for v in tr.transform(x, y))
        col, row = self.inverse @ (x, y)
        ok = np.isfinite(row) & np.isfinite(col)
        row = np.floor(np.where(ok, row, -1.0)).astype(np.int64)
        col = np.floor(np.where(ok, col, -1.0)).astype(np.int64)
        return row, col, h

    def coords(self) -> tuple[tuple[str, str], dict[str, Any], dict[str, Any]]:
        from odc.geo.xr import xr_coords

        dims = tuple(self.geobox.dimensions)
        attrs = {"grid": "map", "crs": self.crs.to_string(), "binning": "pixel containing the point (GeoBox affine, floor)"}
        return (dims[0], dims[1]), dict(xr_coords(self.geobox)), attrs

    def height_reference(self, frames: list[_Frame]) -> str:
        refs = sorted({f.height_reference for f in frames})
        return "; ".join(refs)


# --------------------------------------------------------------------------------------------------
# accumulation
class _Accumulator:
    def __init__(self, size: int) -> None:
        self.size = size
        self.count = np.zeros(size, np.int64)
        self.total = np.zeros(size)
        self.hmin = np.full(size, np.inf)
        self.hmax = np.full(size, -np.inf)
        self.ground_count = np.zeros(size, np.int64)
        self.ground_total = np.zeros(size)

    def add(self, index: np.ndarray, h: np.ndarray, ground: np.ndarray) -> None:
        if index.size == 0:
            return
        self.count += np.bincount(index, minlength=self.size)
        self.total += np.bincount(index, weights=h, minlength=self.size)
        np.minimum.at(self.hmin, index, h)
        np.maximum.at(self.hmax, index, h)
        if ground.any():
            gi = index[ground]
            self.ground_count += np.bincount(gi, minlength=self.size)
            self.ground_total += np.bincount(gi, weights=h[ground], minlength=self.size)


def _chunks(path: str, reader: laspy.LasReader, n: int) -> Iterator[laspy.ScaleAwarePointRecord]:
    try:
        yield from reader.chunk_iterator(n)
    except Exception as exc:
        raise UnsupportedProductError(path, f"cannot read the points ({type(exc).__name__}: {exc})") from exc


def _open(path: str) -> laspy.LasReader:
    if not Path(path).exists():
        raise MissingDataError(path, "point cloud file not found")
    try:
        stream = open(path, "rb")  # handed to the reader, which closes it
    except OSError as exc:
        raise UnsupportedProductError(path, f"cannot open the file ({exc})") from exc
    try:
        return laspy.open(stream, closefd=True)
    except Exception as exc:
        stream.close()
        raise UnsupportedProductError(path, f"not a readable LAS / LAZ / COPC file ({type(exc).__name__}: {exc})") from exc


def _as_paths(path_or_paths: PathLike | Iterable[PathLike]) -> list[str]:
    if isinstance(path_or_paths, str | os.PathLike):
        return [os.fspath(path_or_paths)]
    return [os.fspath(p) for p in path_or_paths]


def radarcode_points(
    path_or_paths: PathLike | Iterable[PathLike],
    acq_or_geobox: Acquisition | GeoBox,
    *,
    swath: str | None = None,
    horizontal_crs: Any = None,
    vertical: PathLike | None = None,
    z_unit: str | float | None = None,
    chunk_points: int = 5_000_000,
) -> xr.Dataset:
    """Per-pixel statistics of LiDAR points (LAS / LAZ / COPC files) on a radar or map grid.

    ``acq_or_geobox``: an :class:`Acquisition` (radar grid of ``swath``; points go to the nearest
    pixel centre; heights in m above the WGS84 ellipsoid) or a :class:`GeoBox` (map grid; points go
    to the pixel that contains them; heights in m in the file's vertical reference, or ellipsoidal
    when ``vertical`` names a geoid). ``horizontal_crs``: anything pyproj accepts, replaces the
    header's horizontal CRS (a compound CRS also sets the vertical one). ``vertical``: None (from the
    file), ``"ellipsoid"``, ``"egm96"``, ``"egm2008"`` or the path of a geoid grid (orthometric
    heights, h = H + N); see the module docstring. ``z_unit``: unit of the LAS z values (``"metre"``,
    ``"foot"`` = 0.3048 m, ``"us survey foot"`` = 1200/3937 m, or metres per unit) when the CRS is
    silent or wrong. ``chunk_points``: points read at a time.

    Returns a Dataset on the grid with ``point_count`` (int32), ``ground_point_count`` (int32),
    ``height_min`` / ``height_mean`` / ``height_max`` (m, float64), ``ground_height`` (m, mean height
    of ASPRS class 2 points) and ``canopy_height`` (m, ``height_max - ground_height``); heights are
    NaN and counts 0 where no point falls. Points outside the grid are dropped.

    Raises :class:`MissingDataError` (file absent), :class:`UnsupportedProductError` (not a readable
    LAS / LAZ / COPC file, truncated file), :class:`GeometryError` (no CRS, unknown or unconvertible
    vertical reference on a radar grid, no point on the grid), :class:`ConfigError` (invalid
    ``horizontal_crs``).
    """
    if chunk_points < 1:
        raise ValueError("chunk_points must be >= 1")
    paths = _as_paths(path_or_paths)
    if not paths:
        raise ValueError("no point cloud file given")
    target: _RadarTarget | _MapTarget
    if isinstance(acq_or_geobox, GeoBox):
        target = _MapTarget(acq_or_geobox)
    elif isinstance(acq_or_geobox, Acquisition):
        target = _RadarTarget(acq_or_geobox, swath)
    else:
        raise TypeError(f"acq_or_geobox must be an Acquisition or an odc.geo GeoBox, not {type(acq_or_geobox).__name__}")
    ny, nx = target.shape
    acc = _Accumulator(ny * nx)
    frames: list[_Frame] = []
    read = 0
    for path in paths:
        with _open(path) as reader:
            frame = _frame(path, reader.header, horizontal_crs, vertical, z_unit)
            target.prepare(frame)
            frames.append(frame)
            expected, in_file = int(reader.header.point_count), 0
            for pts in _chunks(path, reader, chunk_points):
                if len(pts) == 0:
                    continue
                read += len(pts)
                in_file += len(pts)
                x, y = np.asarray(pts.x, dtype=np.float64), np.asarray(pts.y, dtype=np.float64)
                z_m = np.asarray(pts.z, dtype=np.float64) * frame.z_factor
                ground = np.asarray(pts.classification) == GROUND_CLASS
                row, col, h = target.locate(frame, x, y, z_m)
                inside = (row >= 0) & (row < ny) & (col >= 0) & (col < nx) & np.isfinite(h)
                acc.add(row[inside] * nx + col[inside], h[inside], ground[inside])
            if in_file != expected:
                raise UnsupportedProductError(path, f"truncated file: the header announces {expected} points, {in_file} could be read")
    total = int(acc.count.sum())
    if total == 0:
        raise GeometryError(
            paths[0] if len(paths) == 1 else None,
            f"none of the {read} points of {len(paths)} file(s) falls on the reference grid {ny} x {nx}",
        )
    return _dataset(acc, target, frames, paths, read)


def _dataset(acc: _Accumulator, target: _RadarTarget | _MapTarget, frames: list[_Frame], paths: list[str], read: int) -> xr.Dataset:
    shape = target.shape
    has = acc.count > 0
    has_ground = acc.ground_count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(has, acc.total / np.maximum(acc.count, 1), np.nan)
        ground = np.where(has_ground, acc.ground_total / np.maximum(acc.ground_count, 1), np.nan)
    hmin = np.where(has, acc.hmin, np.nan)
    hmax = np.where(has, acc.hmax, np.nan)
    canopy = np.where(has_ground, hmax - ground, np.nan)
    ref = target.height_reference(frames)
    dims, coords, attrs = target.coords()

    def var(values: np.ndarray, units: str, long_name: str, formula: str) -> tuple[Any, ...]:
        a = {"units": units, "long_name": long_name, "formula": formula}
        if units == "m":
            a["height_reference"] = ref
        return (dims, values.reshape(shape), a)

    data = {
        "point_count": var(
            acc.count.astype(np.int32), "1", "number of LiDAR points in the pixel", "N = count of points binned to the pixel"
        ),
        "ground_point_count": var(
            acc.ground_count.astype(np.int32), "1", "number of ground points (ASPRS class 2) in the pixel", "N_g = count of class 2 points"
        ),
        "height_min": var(hmin, "m", "minimum point height", "min(h_i); NaN where N = 0"),
        "height_mean": var(mean, "m", "mean point height", "sum(h_i) / N; NaN where N = 0"),
        "height_max": var(hmax, "m", "maximum point height", "max(h_i); NaN where N = 0"),
        "ground_height": var(ground, "m", "mean height of the ground points (ASPRS class 2)", "sum(h_i, class 2) / N_g; NaN where N_g = 0"),
        "canopy_height": var(canopy, "m", "height of the highest point above the ground", "height_max - ground_height; NaN where N_g = 0"),
    }
    attrs.update(
        {
            "source_files": [os.fspath(p) for p in paths],
            "points_read": int(read),
            "points_on_grid": int(acc.count.sum()),
            "height_reference": ref,
            "horizontal_crs": sorted({f.horizontal.name for f in frames}),
            "z_unit_in_metres": sorted({f.z_factor for f in frames}),
        }
    )
    return xr.Dataset(data, coords=coords, attrs=attrs)
