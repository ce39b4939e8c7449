"""Training labels on a reference grid (segmentation rasters), icecube label files, COCO export.

Label rasters
-------------
A label raster is an integer variable (default name ``label``) on a reference grid: a radar grid
(dims ``(azimuth, range)``) or a map grid (an odc-geo GeoBox, dims of the GeoBox). ``0`` means
unlabelled; classes get the codes ``1..n`` in class order (given, or the sorted unique values of the
source). CF attrs: ``flag_values`` (list of int, ``[1..n]``), ``flag_meanings`` (the class names,
space separated, whitespace inside a name replaced by ``_``), ``long_name``, ``units = "1"``,
plus ``classes`` (the names as given) and ``source``.

* :func:`vector_labels`: polygons (GeoJSON, GeoPackage, shapefile... in any CRS, or a
  GeoDataFrame) burned with :func:`alignsar.layers.vector.radarcode_vectors` (exact area
  weighting): a pixel takes the class covering the largest area of its footprint, provided the
  polygons cover at least ``min_coverage`` of it.
* :func:`raster_labels`: a categorical raster with a CRS, sampled by ``mode`` onto the grid with
  :func:`alignsar.layers.raster.radarcode_raster`; raster values are recoded to ``1..n``.
* :func:`mask_labels`: a mask without georeferencing (icecube ``masks/*.png``) on the product's
  own raster grid (same shape as the product raster, dims ``(azimuth, range)``).

icecube label files
-------------------
icecube (ICEYE's datacube tool, ``CreateLabels``) writes a JSON list with one entry per product
raster::

    [{"product_file": "ICEYE_GRD_..._0.tif",
      "labels": {"objects": [{"class": "ship", "bbox": {"xmin": 2, "ymin": 5, "xmax": 9, "ymax": 7}},
                             {"class": "ship", "polygon": [[x, y], ...]},
                             {"class": "buoy", "point": {"x": 3, "y": 4}},
                             {"classification": ["tag", ...]}]}},
     {"product_file": "ICEYE_GRD_..._1.tif", "labels": {"segmentation": "masks/..._1.png"}}]

Pixel coordinates are those of the product raster: ``x`` is the column (range pixel) and ``y`` the
row (azimuth line), integers are pixel centres, ``(0, 0)`` the first pixel. **Bounding boxes are
inclusive**: the box covers rows ``ymin..ymax`` and columns ``xmin..xmax``, both ends included
(``(xmax - xmin + 1) x (ymax - ymin + 1)`` pixels). icecube's own example draws
``xmax = randint(xmin, width)``, i.e. ``xmin <= xmax <= width - 1``, so a box may be one pixel wide
(``xmin == xmax``) and never reaches ``width``; an exclusive reading would give such boxes no
pixels. Polygons are accepted as a list of ``[x, y]`` pairs, a list of ``{"x", "y"}`` objects or a
WKT string; points as ``[x, y]``, ``{"x", "y"}`` or WKT. icecube's ``populate_labels`` sometimes nests
objects in lists (``[{...}]``): nested lists are flattened. Segmentation mask paths are resolved
against the JSON file's folder when relative.

COCO
----
:func:`to_coco` writes a COCO detection file: ``images`` (``id``, ``file_name``, ``width``,
``height``), ``annotations`` (``id``, ``image_id``, ``category_id``, ``bbox = [x, y, w, h]`` in
pixels with the origin at the top-left corner of the first pixel, ``area`` in pixels, ``iscrowd =
0``, ``segmentation`` for polygons), ``categories`` (``id``, ``name``); category ids are the label
codes ``1..n``. An inclusive pixel box ``xmin..xmax`` becomes ``x = xmin``, ``w = xmax - xmin + 1``;
polygon vertices (pixel-centre coordinates) are shifted by +0.5 px. :func:`objects_from_label_raster`
derives boxes from a label raster (connected components of each class).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import dask.array as da
import geopandas as gpd
import numpy as np
import rasterio
import rasterio.errors
import rasterio.features
import shapely
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.transform import Affine
from scipy import ndimage
from shapely.errors import GEOSException

from .._fs import atomic_write_text
from ..errors import ConfigError, CorruptProductError, MissingDataError
from ..geometry.dem import DEM
from ..model import Acquisition
from .raster import radarcode_raster
from .vector import radarcode_vectors

PathLike = str | os.PathLike[str]
GeometryKind = Literal["bbox", "polygon", "point"]


# --------------------------------------------------------------------------------------------------
# label rasters
def flag_meanings(classes: Sequence[Any]) -> str:
    """CF ``flag_meanings``: the class names, whitespace inside a name replaced by ``_``."""
    return " ".join(re.sub(r"\s+", "_", str(c).strip()) or "_" for c in classes)


def _label_dtype(n: int) -> np.dtype:
    return np.dtype(np.uint8) if n < 2**8 else np.dtype(np.uint16) if n < 2**16 else np.dtype(np.int32)


def _label_attrs(classes: Sequence[Any], source: str, how: str) -> dict[str, Any]:
    return {
        "long_name": "class label (0 = unlabelled)",
        "units": "1",
        "flag_values": list(range(1, len(classes) + 1)),
        "flag_meanings": flag_meanings(classes),
        "classes": [str(c) for c in classes],
        "source": source,
        "labelling": how,
        "nodata": 0,
    }


def vector_labels(
    path_or_gdf: PathLike | gpd.GeoDataFrame,
    target: Acquisition | GeoBox,
    class_field: str = "class",
    classes: Sequence[Any] | None = None,
    name: str = "label",
    *,
    min_coverage: float = 0.5,
    dem: DEM | None = None,
    swath: str | None = None,
    subsamples: int = 4,
    layer: str | int | None = None,
) -> xr.DataArray:
    """Label raster from polygons (see the module docstring) on a radar grid or a map grid.

    ``path_or_gdf``: any OGR-readable file or a GeoDataFrame, in any CRS. ``target``: an
    :class:`Acquisition` (radar grid of ``swath``, footprints geolocated on ``dem``, heights in m
    above WGS84) or a :class:`GeoBox`. ``class_field``: the class column. ``classes``: class values in
    code order (codes ``1..n``; default: the sorted unique values; polygons of other classes are
    ignored). ``min_coverage``: the fraction (0..1) of a pixel footprint the kept polygons must
    cover for the pixel to be labelled (0: any overlap). Returns an unsigned-integer DataArray
    (``0`` unlabelled) with CF flag attrs. Raises :class:`ConfigError` (bad coverage, unknown
    column), :class:`MissingDataError`, :class:`~alignsar.errors.UnsupportedProductError`.
    """
    if not 0.0 <= min_coverage <= 1.0:
        raise ConfigError(None, f"min_coverage must be in [0, 1], not {min_coverage}")
    try:
        ds = radarcode_vectors(
            path_or_gdf, target, column=class_field, classes=classes, dem=dem, swath=swath, subsamples=subsamples, layer=layer
        )
    except KeyError as exc:
        raise ConfigError(None, f"class_field: {exc.args[0]}") from exc
    labels = list(ds.attrs["classes"])
    codes = np.asarray(ds.attrs["class_codes"], dtype=np.int64)
    majority = ds["class_majority"].values.astype(np.int64)
    # majority code -> position in the class list (+1); -1 (no polygon) -> 0
    order = np.argsort(codes)
    pos = np.searchsorted(codes[order], majority)
    pos = np.clip(pos, 0, len(codes) - 1)
    hit = (majority >= 0) & (codes[order][pos] == majority)
    label = np.where(hit, order[pos] + 1, 0)
    if min_coverage > 0:
        label = np.where(ds["coverage"].values >= min_coverage - 1e-6, label, 0)
    names = [str(c) for c in labels]
    out = xr.DataArray(label.astype(_label_dtype(len(names))), dims=ds["class_majority"].dims, coords=ds.coords, name=name)
    out.attrs = _label_attrs(names, str(ds.attrs.get("source", "GeoDataFrame")), "vector polygons, area-weighted majority class")
    out.attrs.update({"class_field": class_field, "min_coverage": float(min_coverage), "grid": ds.attrs.get("grid", "")})
    return out


def _recode(values: np.ndarray, source_values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Codes ``1..n`` of ``values`` in ``source_values`` order; 0 for values not listed."""
    order = np.argsort(source_values, kind="stable")
    sv = source_values[order]
    pos = np.clip(np.searchsorted(sv, values), 0, len(sv) - 1)
    hit = sv[pos] == values
    return np.where(hit, order[pos] + 1, 0).astype(dtype)


def _class_table(
    classes: Sequence[Any] | Mapping[Any, str] | None, present: np.ndarray, nodata: float | None
) -> tuple[np.ndarray, list[str]]:
    if classes is None:
        vals = [v for v in np.unique(present).tolist() if v != 0 and (nodata is None or v != nodata)]
        return np.asarray(vals), [f"value_{v}" for v in vals]
    if isinstance(classes, Mapping):
        return np.asarray(list(classes.keys())), [str(v) for v in classes.values()]
    return np.asarray(list(classes)), [f"value_{v}" for v in classes]


def raster_labels(
    path: PathLike | xr.DataArray,
    target: xr.Dataset | GeoBox | Acquisition,
    classes: Sequence[Any] | Mapping[Any, str] | None = None,
    name: str = "label",
    *,
    dem: DEM | None = None,
    swath: str | None = None,
    method: Literal["mode", "nearest"] = "mode",
) -> xr.DataArray:
    """Label raster from a categorical raster (GeoTIFF... with a CRS) sampled by ``mode``.

    ``target``: a radar coordinates Dataset (:func:`~alignsar.geometry.radarcode.radar_coordinates`),
    an :class:`Acquisition` (coordinates computed on ``dem``) or a :class:`GeoBox`. ``classes``:
    the raster values to keep, in code order (codes ``1..n``), or a mapping raster value -> class
    name; default: every value present in the result except 0 and the raster nodata (the result is
    then computed, in memory). Other values become 0. Attrs ``source_values`` hold the raster value
    of every code. Lazy (dask) when ``classes`` is given.
    """
    sampled = radarcode_raster(path, target, method, dem=dem, swath=swath)
    nodata = sampled.attrs.get("nodata")
    if classes is None:
        sampled = sampled.compute()
    values, names = _class_table(classes, sampled.values if classes is None else np.zeros(0), nodata)
    dtype = _label_dtype(len(values))
    if len(values) == 0:
        data: Any = np.zeros(sampled.shape, dtype) if not isinstance(sampled.data, da.Array) else da.zeros_like(sampled.data, dtype=dtype)
    elif isinstance(sampled.data, da.Array):
        data = sampled.data.map_blocks(_recode, values.astype(sampled.dtype), dtype, dtype=dtype)
    else:
        data = _recode(np.asarray(sampled.values), values.astype(sampled.dtype), dtype)
    out = xr.DataArray(data, dims=sampled.dims, coords=sampled.coords, name=name)
    out.attrs = _label_attrs(names, str(sampled.attrs.get("source", "")), f"categorical raster resampled by {method}")
    out.attrs.update(
        {"source_values": [v.item() if isinstance(v, np.generic) else v for v in values.tolist()], "grid": sampled.attrs["grid"]}
    )
    return out


def mask_labels(
    png_path: PathLike,
    shape: tuple[int, int],
    *,
    classes: Sequence[Any] | Mapping[Any, str] | None = None,
    name: str = "label",
) -> xr.DataArray:
    """Label raster from a pixel-coordinate mask (icecube ``masks/*.png``: no georeferencing, one
    value per product pixel) on the product's own raster grid, dims ``(azimuth, range)``.

    ``shape``: the product raster's ``(lines, pixels)``; a mask of another shape raises
    :class:`ConfigError`. ``classes``: mask values in code order or a mapping mask value -> name
    (default: every non-zero value present, sorted; e.g. a 0 / 255 mask gives code 1 for 255).
    Band 1 is read (rasterio reads PNG, JPEG, TIFF...).
    """
    p = os.fspath(png_path)
    if not Path(p).exists():
        raise MissingDataError(p, "mask file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(p) as src:
                mask = src.read(1)
    except rasterio.errors.RasterioIOError as exc:
        raise CorruptProductError(p, f"not a readable mask image ({exc})") from exc
    if tuple(mask.shape) != tuple(shape):
        raise ConfigError(p, f"mask shape {tuple(mask.shape)} differs from the product raster shape {tuple(shape)}")
    values, names = _class_table(classes, mask, None)
    dtype = _label_dtype(len(values))
    data = _recode(mask, values.astype(mask.dtype), dtype) if len(values) else np.zeros(mask.shape, dtype)
    out = xr.DataArray(
        data,
        dims=("azimuth", "range"),
        coords={"line": ("azimuth", np.arange(shape[0])), "pixel": ("range", np.arange(shape[1]))},
        name=name,
    )
    out.attrs = _label_attrs(names, p, "pixel mask on the product raster grid")
    out.attrs.update({"source_values": [v.item() if isinstance(v, np.generic) else v for v in values.tolist()], "grid": "product raster"})
    return out


# --------------------------------------------------------------------------------------------------
# icecube label files
@dataclass(frozen=True)
class LabelObject:
    """One labelled object in pixel coordinates of a product raster.

    ``points``: ``(x, y)`` = (column, row) pixel indices, integers at pixel centres. For a ``bbox``
    the two corners ``(xmin, ymin), (xmax, ymax)``, inclusive; for a ``polygon`` its vertices; for a
    ``point`` one point. ``area``: pixel count when known (components of a label raster).
    """

    label: str
    geometry: GeometryKind
    points: tuple[tuple[float, float], ...]
    area: float | None = None

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` pixel indices (inclusive for a ``bbox``; vertex extent otherwise)."""
        xy = np.asarray(self.points, dtype=float)
        return float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max())


@dataclass(frozen=True)
class ProductLabels:
    """The labels of one product raster: objects, image-level classification tags, segmentation mask."""

    product_file: str
    objects: tuple[LabelObject, ...] = ()
    classification: tuple[str, ...] = ()
    segmentation: Path | None = None


@dataclass(frozen=True)
class IcecubeLabels:
    """An icecube label file: one :class:`ProductLabels` per product raster, in file order."""

    path: Path
    products: tuple[ProductLabels, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[ProductLabels]:
        return iter(self.products)

    def __len__(self) -> int:
        return len(self.products)

    def __getitem__(self, product_file: str) -> ProductLabels:
        for p in self.products:
            if p.product_file == product_file or Path(p.product_file).name == Path(product_file).name:
                return p
        raise KeyError(f"no labels for product file {product_file!r} in {self.path}")

    @property
    def classes(self) -> list[str]:
        """Sorted unique object classes of all products."""
        return sorted({o.label for p in self.products for o in p.objects})


def _xy(value: Any, where: str, path: str) -> tuple[float, float]:
    if isinstance(value, Mapping):
        try:
            return float(value["x"]), float(value["y"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptProductError(path, f"{where}: a point needs numeric 'x' and 'y' ({value!r})") from exc
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return float(value[0]), float(value[1])
    raise CorruptProductError(path, f"{where}: not a pixel coordinate [x, y] or {{x, y}} ({value!r})")


def _wkt_points(text: str, kind: str, where: str, path: str) -> list[tuple[float, float]]:
    try:
        geom = shapely.from_wkt(text)
    except GEOSException as exc:
        raise CorruptProductError(path, f"{where}: invalid WKT {kind} ({exc})") from exc
    if kind == "polygon" and geom.geom_type == "Polygon":
        return [(float(x), float(y)) for x, y in np.asarray(geom.exterior.coords)[:-1, :2]]
    if kind == "point" and geom.geom_type == "Point":
        return [(float(geom.x), float(geom.y))]
    raise CorruptProductError(path, f"{where}: WKT is a {geom.geom_type}, expected a {kind}")


def _parse_object(obj: Any, where: str, path: str) -> LabelObject | list[str]:
    if not isinstance(obj, Mapping):
        raise CorruptProductError(path, f"{where}: an object must be a JSON object, not {type(obj).__name__}")
    if "classification" in obj:
        tags = obj["classification"]
        tags = [tags] if isinstance(tags, str) else tags
        if not isinstance(tags, list) or not all(isinstance(t, str | int) for t in tags):
            raise CorruptProductError(path, f"{where}: 'classification' must be a list of tags")
        return [str(t) for t in tags]
    if "class" not in obj:
        raise CorruptProductError(path, f"{where}: missing key 'class'")
    label = str(obj["class"])
    if "bbox" in obj:
        b = obj["bbox"]
        if isinstance(b, Mapping):
            missing = [k for k in ("xmin", "ymin", "xmax", "ymax") if k not in b]
            if missing:
                raise CorruptProductError(path, f"{where}: bbox misses {', '.join(missing)}")
            vals = [b["xmin"], b["ymin"], b["xmax"], b["ymax"]]
        elif isinstance(b, list | tuple) and len(b) == 4:
            vals = list(b)
        else:
            raise CorruptProductError(path, f"{where}: bbox must be {{xmin, ymin, xmax, ymax}}")
        try:
            x0, y0, x1, y1 = (float(v) for v in vals)
        except (TypeError, ValueError) as exc:
            raise CorruptProductError(path, f"{where}: bbox values must be numbers ({vals!r})") from exc
        if x1 < x0 or y1 < y0:
            raise CorruptProductError(path, f"{where}: bbox with xmax < xmin or ymax < ymin ({vals!r})")
        return LabelObject(label, "bbox", ((x0, y0), (x1, y1)))
    if "polygon" in obj:
        poly = obj["polygon"]
        if isinstance(poly, str):
            pts = _wkt_points(poly, "polygon", where, path)
        elif isinstance(poly, list):
            pts = [_xy(v, where, path) for v in poly]
            if len(pts) > 1 and pts[0] == pts[-1]:
                pts = pts[:-1]
        else:
            raise CorruptProductError(path, f"{where}: polygon must be a list of [x, y] or a WKT string")
        if len(pts) < 3:
            raise CorruptProductError(path, f"{where}: a polygon needs at least 3 vertices")
        return LabelObject(label, "polygon", tuple(pts))
    if "point" in obj:
        pt = obj["point"]
        pts = _wkt_points(pt, "point", where, path) if isinstance(pt, str) else [_xy(pt, where, path)]
        return LabelObject(label, "point", tuple(pts))
    raise CorruptProductError(path, f"{where}: no geometry (bbox, polygon or point)")


def _flatten(items: list[Any]) -> Iterator[Any]:
    for it in items:
        if isinstance(it, list):
            yield from _flatten(it)
        else:
            yield it


def read_icecube_labels(path: PathLike) -> IcecubeLabels:
    """Read an icecube label JSON file (see the module docstring) into typed dataclasses.

    Raises :class:`MissingDataError` (no file) and :class:`CorruptProductError` naming the file and
    what is wrong (invalid JSON, missing ``product_file`` / ``labels`` / ``class`` / geometry keys,
    malformed coordinates).
    """
    p = Path(path)
    if not p.exists():
        raise MissingDataError(p, "label file not found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorruptProductError(p, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise CorruptProductError(p, f"not UTF-8 text ({exc.reason})") from exc
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise CorruptProductError(p, "expected a list of {product_file, labels} entries")
    products = []
    for i, entry in enumerate(data):
        if not isinstance(entry, Mapping):
            raise CorruptProductError(p, f"entry {i}: expected an object with product_file and labels")
        for key in ("product_file", "labels"):
            if key not in entry:
                raise CorruptProductError(p, f"entry {i}: missing key {key!r}")
        product = str(entry["product_file"])
        labels = entry["labels"]
        if not isinstance(labels, Mapping):
            raise CorruptProductError(p, f"entry {i} ({product}): 'labels' must be an object")
        keys = {str(k).lower(): k for k in labels}
        if "objects" not in keys and "segmentation" not in keys:
            raise CorruptProductError(p, f"entry {i} ({product}): 'labels' holds neither 'objects' nor 'segmentation'")
        objects: list[LabelObject] = []
        tags: list[str] = []
        if "objects" in keys:
            raw = labels[keys["objects"]]
            if not isinstance(raw, list):
                raise CorruptProductError(p, f"entry {i} ({product}): 'objects' must be a list")
            for j, obj in enumerate(_flatten(raw)):
                parsed = _parse_object(obj, f"entry {i} ({product}), object {j}", str(p))
                if isinstance(parsed, LabelObject):
                    objects.append(parsed)
                else:
                    tags.extend(parsed)
        segmentation = None
        if "segmentation" in keys:
            seg = labels[keys["segmentation"]]
            if not isinstance(seg, str) or not seg:
                raise CorruptProductError(p, f"entry {i} ({product}): 'segmentation' must be a mask file path")
            segmentation = Path(seg) if Path(seg).is_absolute() else p.parent / seg
        products.append(ProductLabels(product, tuple(objects), tuple(tags), segmentation))
    return IcecubeLabels(p, tuple(products))


def rasterize_icecube(objects: Iterable[LabelObject], shape: tuple[int, int], classes: Sequence[str]) -> np.ndarray:
    """Burn objects into a label array of ``shape`` (rows, columns) on the product raster grid.

    Codes: ``classes.index(label) + 1`` (0 unlabelled; objects of other classes are skipped). Boxes
    fill rows ``ymin..ymax`` and columns ``xmin..xmax`` inclusive (clipped to the raster). Polygons
    burn the pixels whose centre is inside (``rasterio.features.rasterize`` in pixel space: identity
    transform, vertices shifted by +0.5 so that integer coordinates are pixel centres). Points burn
    the pixel at the rounded coordinates. Later objects overwrite earlier ones (file order).
    """
    rows, cols = int(shape[0]), int(shape[1])
    index = {str(c): k + 1 for k, c in enumerate(classes)}
    out = np.zeros((rows, cols), _label_dtype(len(index)))
    for obj in objects:
        code = index.get(obj.label)
        if code is None:
            continue
        if obj.geometry == "bbox":
            x0, y0, x1, y1 = obj.bbox
            r0, r1 = max(0, int(np.ceil(y0))), min(rows, int(np.floor(y1)) + 1)
            c0, c1 = max(0, int(np.ceil(x0))), min(cols, int(np.floor(x1)) + 1)
            if r1 > r0 and c1 > c0:
                out[r0:r1, c0:c1] = code
        elif obj.geometry == "polygon":
            xy = np.asarray(obj.points, dtype=float) + 0.5
            burned = rasterio.features.rasterize(
                [(shapely.Polygon(xy), 1)], out_shape=(rows, cols), transform=Affine.identity(), fill=0, dtype="uint8"
            )
            out[burned > 0] = code
        else:
            x, y = obj.points[0]
            r, c = round(y), round(x)
            if 0 <= r < rows and 0 <= c < cols:
                out[r, c] = code
    return out


# --------------------------------------------------------------------------------------------------
# COCO
@dataclass(frozen=True)
class CocoRecord:
    """One image for :func:`to_coco`: its file name, size in pixels and objects."""

    file_name: str
    width: int
    height: int
    objects: tuple[LabelObject, ...] = ()


def _coco_annotation(obj: LabelObject) -> tuple[list[float], float, list[list[float]] | None]:
    if obj.geometry == "bbox":
        x0, y0, x1, y1 = obj.bbox
        w, h = x1 - x0 + 1.0, y1 - y0 + 1.0
        return [x0, y0, w, h], obj.area if obj.area is not None else w * h, None
    if obj.geometry == "point":
        x, y = obj.points[0]
        return [float(round(x)), float(round(y)), 1.0, 1.0], 1.0, None
    xy = np.asarray(obj.points, dtype=float) + 0.5
    x0, y0 = xy.min(0)
    x1, y1 = xy.max(0)
    area = float(shapely.Polygon(xy).area) if obj.area is None else obj.area
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], area, [xy.ravel().tolist()]


def to_coco(records: Iterable[CocoRecord], categories: Sequence[str], out_path: PathLike) -> dict[str, Any]:
    """Write a COCO detection JSON (see the module docstring) atomically and return it.

    ``categories``: class names; category ``k`` (1-based) is ``categories[k - 1]``, the label code.
    Points become 1 x 1 pixel boxes. Raises :class:`ConfigError` for an object whose class is not a
    category or an image without a positive size.
    """
    cat_id = {str(c): k + 1 for k, c in enumerate(categories)}
    if len(cat_id) != len(categories):
        raise ConfigError(None, "COCO categories must be unique")
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, rec in enumerate(records, start=1):
        if rec.width < 1 or rec.height < 1:
            raise ConfigError(None, f"image {rec.file_name!r}: width and height must be positive ({rec.width} x {rec.height})")
        images.append({"id": image_id, "file_name": rec.file_name, "width": int(rec.width), "height": int(rec.height)})
        for obj in rec.objects:
            if obj.label not in cat_id:
                raise ConfigError(None, f"image {rec.file_name!r}: class {obj.label!r} is not one of the categories {list(cat_id)}")
            bbox, area, segmentation = _coco_annotation(obj)
            ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": cat_id[obj.label],
                "bbox": [float(v) for v in bbox],
                "area": float(area),
                "iscrowd": 0,
            }
            if segmentation is not None:
                ann["segmentation"] = segmentation
            annotations.append(ann)
    coco = {
        "info": {"description": "alignsar labels", "version": "1.0"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k, "name": n, "supercategory": "none"} for n, k in cat_id.items()],
    }
    atomic_write_text(out_path, json.dumps(coco, indent=1))
    return coco


def icecube_coco_records(labels: IcecubeLabels, shape: tuple[int, int] | Mapping[str, tuple[int, int]]) -> list[CocoRecord]:
    """COCO records of the products of an icecube label file that hold objects; ``shape``: the
    ``(rows, columns)`` of every product raster, or a mapping product file -> shape."""
    records = []
    for p in labels:
        if not p.objects:
            continue
        rows, cols = shape[p.product_file] if isinstance(shape, Mapping) else shape
        records.append(CocoRecord(p.product_file, int(cols), int(rows), p.objects))
    return records


def objects_from_label_raster(
    labels: np.ndarray | xr.DataArray,
    classes: Sequence[str] | None = None,
    *,
    connectivity: Literal[1, 2] = 2,
    min_pixels: int = 1,
) -> list[LabelObject]:
    """Boxes of the connected components of every class of a label raster (codes ``1..n``, 0 =
    unlabelled), in code then component order. ``classes``: the names of codes ``1..n`` (default:
    the DataArray's ``flag_meanings``, else ``class_<code>``). ``connectivity``: 1 (4-neighbours) or
    2 (8-neighbours). Components smaller than ``min_pixels`` are dropped. Each object is an
    inclusive pixel ``bbox`` with ``area`` = its pixel count.
    """
    if isinstance(labels, xr.DataArray):
        if classes is None and "flag_meanings" in labels.attrs:
            classes = str(labels.attrs["flag_meanings"]).split()
        arr = np.asarray(labels.values)
    else:
        arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ConfigError(None, f"a label raster must be 2-D, not {arr.ndim}-D")
    structure = ndimage.generate_binary_structure(2, connectivity)
    objects: list[LabelObject] = []
    for code in np.unique(arr):
        if code <= 0:
            continue
        name = classes[int(code) - 1] if classes is not None and int(code) <= len(classes) else f"class_{int(code)}"
        comp, n = ndimage.label(arr == code, structure=structure)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel(), minlength=n + 1)
        for k, sl in enumerate(ndimage.find_objects(comp), start=1):
            if sl is None or sizes[k] < min_pixels:
                continue
            rs, cs = sl
            box = ((float(cs.start), float(rs.start)), (float(cs.stop - 1), float(rs.stop - 1)))
            objects.append(LabelObject(str(name), "bbox", box, area=float(sizes[k])))
    return objects
