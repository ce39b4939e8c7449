"""Radarcoding of vector layers (land-cover polygons, cadastre, OSM) onto a radar grid or a map grid.

:func:`radarcode_vectors` burns the polygons of a vector layer into the pixels of a reference grid
by **exact area weighting**: every pixel's ground footprint is a polygon, it is intersected with
the vector polygons (shapely 2 / GEOS, vectorised) and the intersection areas are accumulated per
(pixel, class). There is no rasterisation and no point sampling, so a pixel's class fractions are
the true area fractions of its footprint (to floating-point precision), whatever the pixel size.

Reference grids:

* a radar grid (an :class:`~alignsar.model.Acquisition` and a swath, dims ``(azimuth, range)``;
  integer line / pixel are pixel centres): the footprint of pixel (i, j) is bounded by the radar
  coordinates line = i +- 0.5 and pixel = j +- 0.5, geolocated with the zero-Doppler
  :func:`~alignsar.geometry.rdr2geo` on the DEM (or at height 0 above the WGS84 ellipsoid without a
  DEM) and projected to the local UTM zone (metres), where areas are computed. Each pixel edge is
  split into ``subsamples`` segments (the footprint has ``4 * subsamples`` vertices), so the
  curvature of the ground mapping across a pixel (terrain, far range) is followed; with
  ``subsamples=1`` the footprint is the quadrilateral of the four corners. Footprints that fold
  over (layover, where the ground mapping is not one-to-one) are repaired with
  ``shapely.make_valid``: their fractions are unreliable there.
* a map grid (:class:`odc.geo.geobox.GeoBox`, dims of the GeoBox): the footprints are the pixel
  cells (from the GeoBox affine) in the GeoBox CRS, exact; the vectors are reprojected to that CRS
  vertex by vertex (``subsamples`` is not used). Areas are in the GeoBox CRS units (square degrees
  for a geographic CRS: the fractions are then fractions of the cell in lon / lat).

Only polygonal geometries (Polygon, MultiPolygon, polygon parts of collections) count; points and
lines have no area and are ignored. Invalid polygons are repaired (``make_valid``). Polygons of one
layer are expected to form a partition (no overlaps): an area covered by two polygons counts
twice, and fractions are then clipped to 1.

Memory: the grid is processed in blocks of at most ``block_rows`` rows (fewer when there are many
classes: the per-block (pixels x classes) area table is kept below ~20 M cells); per block the
footprints, the (footprint, polygon) pairs from an STRtree query and that table are held. The
outputs (one float32 fraction layer per class) are held in memory for the whole grid. Pixel edges
on the boundary between two blocks are geolocated twice (once per block).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
import xarray as xr
from odc.geo.geobox import GeoBox

from ..errors import MissingDataError, UnsupportedProductError
from ..geometry.dem import DEM
from ..geometry.geocode import utm_crs
from ..geometry.zero_doppler import rdr2geo
from ..model import Acquisition

PathLike = str | os.PathLike[str]
POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)
METHOD = "exact area weighting: footprint polygons intersected with the vector polygons (shapely / GEOS), no rasterisation"


# --------------------------------------------------------------------------------------------------
# reading
def _read(vectors: PathLike | gpd.GeoDataFrame, layer: str | int | None) -> tuple[gpd.GeoDataFrame, str | None]:
    if isinstance(vectors, gpd.GeoDataFrame):
        return vectors, None
    path = os.fspath(vectors)
    if not Path(path).exists():
        raise MissingDataError(path, "vector file not found")
    # OSM files whose node ids are not sorted need GDAL's non-custom indexing (set for this read only)
    osm = path.lower().endswith((".osm", ".pbf"))
    previous = pyogrio.get_gdal_config_option("OSM_USE_CUSTOM_INDEXING") if osm else None
    try:
        if osm:
            pyogrio.set_gdal_config_options({"OSM_USE_CUSTOM_INDEXING": "NO"})
        if layer is None:
            layer = _polygon_layer(path)
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:
        raise UnsupportedProductError(path, f"not a readable vector file ({type(exc).__name__}: {exc})") from exc
    finally:
        if osm:
            pyogrio.set_gdal_config_options({"OSM_USE_CUSTOM_INDEXING": previous})
    return gdf, path


def _polygon_layer(path: str) -> str | int:
    """The first layer with polygon geometries (e.g. ``multipolygons`` of an OSM file), else 0."""
    layers = pyogrio.list_layers(path)
    for name, geometry_type in layers:
        if geometry_type is not None and "polygon" in str(geometry_type).lower():
            return str(name)
    return 0


def _label_codes(values: pd.Series, classes: Sequence[Any] | None) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Class labels, their integer codes, and the index into the labels of every row (-1 = not kept)."""
    present = values.dropna()
    labels = list(classes) if classes is not None else sorted(present.unique().tolist())
    numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
    integral = numeric and all(float(v).is_integer() for v in labels)
    codes = np.array([int(v) for v in labels] if integral else list(range(len(labels))), dtype=np.int64)
    lookup = {v: k for k, v in enumerate(labels)}
    index = np.array([lookup.get(v, -1) if not _isnull(v) else -1 for v in values.tolist()], dtype=np.int64)
    return [v.item() if isinstance(v, np.generic) else v for v in labels], codes, index


def _isnull(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _polygons(gdf: gpd.GeoDataFrame, crs: pyproj.CRS, path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Valid polygon parts in ``crs`` and the row of the GeoDataFrame each comes from."""
    geoms = np.asarray(gdf.to_crs(crs).geometry.values, dtype=object)
    rows = np.arange(len(geoms))
    keep = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    geoms, rows = geoms[keep], rows[keep]
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    parts, index = shapely.get_parts(geoms, return_index=True)
    # collections from make_valid: one more level
    parts, sub = shapely.get_parts(parts, return_index=True)
    index = index[sub]
    poly = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    if not poly.any():
        raise UnsupportedProductError(path, "the layer holds no polygons (points and lines have no area to burn)")
    return parts[poly], rows[index[poly]]


# --------------------------------------------------------------------------------------------------
# reference grids: footprints of a block of rows in a metric / map CRS
class _RadarGrid:
    def __init__(self, acq: Acquisition, swath: str | None, dem: DEM | None, subsamples: int) -> None:
        sw = acq.swath(swath)
        self.acq, self.swath, self.dem, self.s = acq, sw.name, dem, subsamples
        self.shape = (int(sw.grid.shape[0]), int(sw.grid.shape[1]))
        n, m = self.shape
        # the perimeter of the grid: the working CRS (UTM of its centre) and the extent
        per_l = np.concatenate([np.linspace(-0.5, n - 0.5, 33), np.full(33, n - 0.5), np.linspace(n - 0.5, -0.5, 33), np.full(33, -0.5)])
        per_p = np.concatenate([np.full(33, -0.5), np.linspace(-0.5, m - 0.5, 33), np.full(33, m - 0.5), np.linspace(m - 0.5, -0.5, 33)])
        centre = self._lonlat(np.array([(n - 1) / 2]), np.array([(m - 1) / 2]))
        self.crs = utm_crs(float(centre[0][0]), float(centre[1][0]))
        self._to_map = pyproj.Transformer.from_crs(4326, self.crs, always_xy=True)
        x, y = self._xy(per_l, per_p)
        self.bounds = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))

    def _lonlat(self, lines: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = rdr2geo(self.acq, lines, pixels, dem=self.dem, height=0.0, swath=self.swath)
        return np.asarray(g.lon), np.asarray(g.lat)

    def _xy(self, lines: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._lonlat(lines, pixels)
        x, y = self._to_map.transform(lon, lat)
        return np.asarray(x), np.asarray(y)

    def footprints(self, r0: int, r1: int) -> np.ndarray:
        """Footprint polygons (row-major) of rows r0..r1-1, from the geolocated pixel edges."""
        s, m = self.s, self.shape[1]
        nb = r1 - r0
        # horizontal edges: lines r - 0.5 (r0..r1), densified in pixel; vertical edges: pixels
        # c - 0.5 (0..m), densified in line
        hl, hp = np.meshgrid(np.arange(r0, r1 + 1) - 0.5, np.arange(m * s + 1) / s - 0.5, indexing="ij")
        vl, vp = np.meshgrid(np.arange(nb * s + 1) / s + r0 - 0.5, np.arange(m + 1) - 0.5, indexing="ij")
        hx, hy = self._xy(hl, hp)
        if s == 1:
            vx, vy = hx, hy
        else:
            vx, vy = self._xy(vl, vp)
        hxy, vxy = np.stack([hx, hy], -1), np.stack([vx, vy], -1)
        i, j = np.meshgrid(np.arange(nb), np.arange(m), indexing="ij")
        i, j = i.ravel()[:, None], j.ravel()[:, None]
        k = np.arange(s)[None, :]
        ring = np.concatenate(
            [
                hxy[i, j * s + k],  # top edge, left to right
                vxy[i * s + k, j + 1],  # right edge, downwards
                hxy[i + 1, (j + 1) * s - k],  # bottom edge, right to left
                vxy[(i + 1) * s - k, j],  # left edge, upwards
            ],
            axis=1,
        )
        polys = shapely.polygons(ring)
        bad = ~shapely.is_valid(polys)
        if bad.any():  # folded footprints (layover)
            polys[bad] = shapely.make_valid(polys[bad])
        return polys

    def coords(self) -> tuple[tuple[str, str], dict[str, Any], dict[str, Any]]:
        dims = ("azimuth", "range")
        coords = {"line": ("azimuth", np.arange(self.shape[0])), "pixel": ("range", np.arange(self.shape[1]))}
        attrs = {
            "grid": "radar",
            "swath": self.swath,
            "product_name": self.acq.product_name,
            "footprint": f"pixel edges line +- 0.5, pixel +- 0.5 geolocated with rdr2geo ({'on the DEM' if self.dem is not None else 'height 0 m above WGS84'}), {self.s} segments per edge",
            "area_crs": self.crs.to_string(),
        }
        return dims, coords, attrs


class _MapGrid:
    def __init__(self, geobox: GeoBox) -> None:
        self.geobox = geobox
        self.shape = (int(geobox.shape[0]), int(geobox.shape[1]))
        self.crs = pyproj.CRS.from_user_input(geobox.crs.to_wkt())
        n, m = self.shape
        x, y = geobox.affine @ (np.array([0, m, m, 0], float), np.array([0, 0, n, n], float))
        self.bounds = (float(np.min(x)), float(np.min(y)), float(np.max(x)), float(np.max(y)))

    def footprints(self, r0: int, r1: int) -> np.ndarray:
        m = self.shape[1]
        rr, cc = np.meshgrid(np.arange(r0, r1 + 1, dtype=float), np.arange(m + 1, dtype=float), indexing="ij")
        x, y = self.geobox.affine @ (cc, rr)
        xy = np.stack([np.asarray(x), np.asarray(y)], -1)
        i, j = np.meshgrid(np.arange(r1 - r0), np.arange(m), indexing="ij")
        i, j = i.ravel(), j.ravel()
        ring = np.stack([xy[i, j], xy[i, j + 1], xy[i + 1, j + 1], xy[i + 1, j]], axis=1)
        return shapely.polygons(ring)

    def coords(self) -> tuple[tuple[str, str], dict[str, Any], dict[str, Any]]:
        from odc.geo.xr import xr_coords

        dims = tuple(self.geobox.dimensions)
        attrs = {"grid": "map", "crs": self.crs.to_string(), "footprint": "pixel cells of the GeoBox", "area_crs": self.crs.to_string()}
        return (dims[0], dims[1]), dict(xr_coords(self.geobox)), attrs


# --------------------------------------------------------------------------------------------------
def _var_name(prefix: str, label: Any, used: set[str]) -> str:
    name = prefix + (re.sub(r"[^0-9A-Za-z_]+", "_", str(label)).strip("_") or "class")
    base, k = name, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def radarcode_vectors(
    vectors: PathLike | gpd.GeoDataFrame,
    target: Acquisition | GeoBox,
    *,
    column: str,
    classes: Sequence[Any] | None = None,
    dem: DEM | None = None,
    swath: str | None = None,
    subsamples: int = 4,
    attributes: Sequence[str] = (),
    layer: str | int | None = None,
    block_rows: int = 256,
) -> xr.Dataset:
    """Class fractions, majority class and burned attributes of a polygon layer on a radar or map grid.

    ``vectors``: a path (anything GDAL / pyogrio reads: GeoPackage, GeoJSON, shapefile, OSM pbf; the
    first polygon layer unless ``layer`` is given) or a GeoDataFrame, in any CRS (it must have one).
    ``target``: an :class:`Acquisition` (radar grid of ``swath``; footprints on ``dem`` or at 0 m
    above the ellipsoid) or a :class:`GeoBox` (map grid). ``column``: the class column. ``classes``:
    the class labels to burn, in this order (default: every value of ``column``, sorted); polygons of
    other classes are ignored. Integer-valued numeric labels keep their values as codes; other labels
    (strings...) get codes 0, 1, ... in label order (Dataset attrs ``classes`` / ``class_codes``).
    ``subsamples``: segments per pixel edge of the radar footprints (see module docstring).
    ``attributes``: columns burned as ``attr_<name>``. ``block_rows``: rows per processing block.

    Returns a Dataset on the grid with ``class_majority`` (int32 code of the class covering the
    largest area of the pixel footprint, -1 where no polygon), ``fraction_<label>`` (float32, area
    fraction of the footprint covered by that class, in [0, 1]), ``coverage`` (float32, fraction
    covered by any kept class), and ``attr_<name>``: the area-weighted mean (numeric column, float64,
    NaN where nothing) or the area-weighted majority (other columns, strings, "" where nothing).

    Raises :class:`MissingDataError` (file absent), :class:`UnsupportedProductError` (unreadable
    file, no CRS, no polygons), :class:`KeyError` (unknown column), :class:`GeometryError` (footprints
    off the DEM).
    """
    if subsamples < 1:
        raise ValueError("subsamples must be >= 1")
    if block_rows < 1:
        raise ValueError("block_rows must be >= 1")
    gdf, path = _read(vectors, layer)
    if gdf.crs is None:
        raise UnsupportedProductError(path, "the vector layer has no CRS (add a .prj / set the CRS)")
    for name in (column, *attributes):
        if name not in gdf.columns:
            raise KeyError(f"column {name!r} not in the vector layer (columns: {[c for c in gdf.columns if c != gdf.geometry.name]})")
    grid: _RadarGrid | _MapGrid
    if isinstance(target, GeoBox):
        grid = _MapGrid(target)
    elif isinstance(target, Acquisition):
        grid = _RadarGrid(target, swath, dem, subsamples)
    else:
        raise TypeError(f"target must be an Acquisition or an odc.geo GeoBox, not {type(target).__name__}")

    labels, codes, row_class = _label_codes(gdf[column], classes)
    if not labels:
        raise UnsupportedProductError(path, f"column {column!r} holds no class value")
    polys, rows = _polygons(gdf, grid.crs, path)
    # only what can touch the grid, clipped to it (cheaper intersections with huge polygons)
    x0, y0, x1, y1 = grid.bounds
    pad = 0.01 * max(x1 - x0, y1 - y0)
    frame = shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    near = shapely.intersects(polys, frame) & (row_class[rows] >= 0)
    polys, rows = polys[near], rows[near]
    inside = shapely.within(polys, frame)
    polys = polys.copy()
    polys[~inside] = shapely.intersection(polys[~inside], frame)
    poly_class = row_class[rows]
    shapely.prepare(polys)
    tree = shapely.STRtree(polys)

    # attribute encodings: numeric -> values; other -> codes into their labels
    attr_info: list[tuple[str, bool, np.ndarray, list[Any]]] = []
    for name in attributes:
        col = gdf[name]
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            attr_info.append((name, True, col.to_numpy(dtype=np.float64, na_value=np.nan)[rows], []))
        else:
            alabels, _, aindex = _label_codes(col, None)
            attr_info.append((name, False, aindex[rows], alabels))

    n, m = grid.shape
    k_cls = len(labels)
    frac = np.zeros((k_cls, n * m), np.float32)
    majority = np.full(n * m, -1, np.int32)
    coverage = np.zeros(n * m, np.float32)
    attr_out: dict[str, np.ndarray] = {
        name: (np.full(n * m, np.nan) if numeric else np.full(n * m, -1, np.int64)) for name, numeric, _, _ in attr_info
    }
    pairs_total = 0
    # rows per block: at most block_rows, and a (pixels x classes) area table of <= ~20 M cells
    step = max(1, min(block_rows, 20_000_000 // max(1, m * k_cls)))
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        fps = grid.footprints(r0, r1)
        npx = len(fps)
        fp_area = shapely.area(fps)
        ifp, ipoly = tree.query(fps, predicate="intersects")
        pairs_total += len(ifp)
        area = np.empty(len(ifp))
        whole = shapely.contains_properly(polys[ipoly], fps[ifp])
        area[whole] = fp_area[ifp[whole]]
        part = ~whole
        area[part] = shapely.area(shapely.intersection(fps[ifp[part]], polys[ipoly[part]]))
        table = np.zeros((npx, k_cls))
        np.add.at(table, (ifp, poly_class[ipoly]), area)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(fp_area[:, None] > 0, table / fp_area[:, None], 0.0)
        f = np.clip(f, 0.0, 1.0)
        sl = slice(r0 * m, r1 * m)
        frac[:, sl] = f.T
        coverage[sl] = np.clip(f.sum(1), 0.0, 1.0)
        has = table.max(1, initial=0.0) > 0
        majority[sl] = np.where(has, codes[np.argmax(table, axis=1)], -1)
        for name, numeric, values, alabels in attr_info:
            v = values[ipoly]
            if numeric:
                ok = np.isfinite(v)
                wsum = np.bincount(ifp[ok], weights=area[ok], minlength=npx)
                vsum = np.bincount(ifp[ok], weights=area[ok] * v[ok], minlength=npx)
                with np.errstate(invalid="ignore", divide="ignore"):
                    attr_out[name][sl] = np.where(wsum > 0, vsum / wsum, np.nan)
            else:
                ok = v >= 0
                at = np.zeros((npx, max(len(alabels), 1)))
                np.add.at(at, (ifp[ok], v[ok]), area[ok])
                attr_out[name][sl] = np.where(at.max(1) > 0, np.argmax(at, axis=1), -1)

    return _dataset(grid, gdf, path, labels, codes, frac, majority, coverage, attr_info, attr_out, column, pairs_total)


def _dataset(
    grid: _RadarGrid | _MapGrid,
    gdf: gpd.GeoDataFrame,
    path: str | None,
    labels: list[Any],
    codes: np.ndarray,
    frac: np.ndarray,
    majority: np.ndarray,
    coverage: np.ndarray,
    attr_info: list[tuple[str, bool, np.ndarray, list[Any]]],
    attr_out: dict[str, np.ndarray],
    column: str,
    pairs: int,
) -> xr.Dataset:
    shape = grid.shape
    dims, coords, attrs = grid.coords()
    data: dict[str, Any] = {
        "class_majority": (
            dims,
            majority.reshape(shape),
            {
                "units": "1",
                "long_name": f"class of {column!r} covering the largest area of the pixel footprint",
                "formula": "argmax_c area(footprint & polygons of class c); -1 where no polygon",
                "nodata": -1,
                "classes": [str(v) for v in labels],
                "class_codes": codes.tolist(),
            },
        ),
        "coverage": (
            dims,
            coverage.reshape(shape),
            {"units": "1", "long_name": "fraction of the pixel footprint covered by polygons", "formula": "min(1, sum_c fraction_c)"},
        ),
    }
    used = set(data)
    for k, (label, code) in enumerate(zip(labels, codes.tolist(), strict=True)):
        name = _var_name("fraction_", label, used)
        data[name] = (
            dims,
            frac[k].reshape(shape),
            {
                "units": "1",
                "long_name": f"area fraction of the pixel footprint covered by {column} = {label}",
                "formula": "min(1, area(footprint & polygons of the class) / area(footprint))",
                "class": str(label),
                "class_code": int(code),
            },
        )
    for name, numeric, _, alabels in attr_info:
        vname = _var_name("attr_", name, used)
        if numeric:
            data[vname] = (
                dims,
                attr_out[name].reshape(shape),
                {
                    "units": "as the source column",
                    "long_name": f"area-weighted mean of {name!r}",
                    "formula": "sum_i a_i v_i / sum_i a_i, a_i = area(footprint & polygon i); NaN where nothing",
                },
            )
        else:
            lut = np.array([str(v) for v in alabels] + [""], dtype=str)
            data[vname] = (
                dims,
                lut[attr_out[name]].reshape(shape),
                {
                    "units": "1",
                    "long_name": f"area-weighted majority of {name!r}",
                    "formula": 'argmax_v sum_{i: v_i = v} area(footprint & polygon i); "" where nothing',
                },
            )
    attrs.update(
        {
            "source": path if path is not None else "GeoDataFrame",
            "source_crs": gdf.crs.to_string(),
            "class_column": column,
            "classes": [str(v) for v in labels],
            "class_codes": codes.tolist(),
            "method": METHOD,
            "intersected_pairs": int(pairs),
        }
    )
    return xr.Dataset(data, coords=coords, attrs=attrs)
