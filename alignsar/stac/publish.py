"""Publish a cube (and its ML chips) as a self-contained static STAC catalog.

Layout (all hrefs relative)::

    catalog.json
    sar-map/       one item per date: one single-band COG per signature on the map grid
                   (proj:code and proj:epsg, stackstac-loadable), a PNG thumbnail
    sar-radar/     one item per date: the radar-geometry Zarr cube (datacube extension, CRS null,
                   proj:shape); collection assets: lat / lon lookups (radar grid), radar line /
                   pixel lookups (map grid), the configuration and a provenance record
    layers/        one item: external layers (COGs on the map grid)
    labels/        one item (label extension): the label raster on the map grid
    ml-chips/      one item per chip (ml-aoi:split), the chip store as asset
    data/          cube.zarr, chips/, lookup/ (the files the items point at)

A radar-grid cube is geocoded onto a map GeoBox (UTM of the footprint, the configuration's
resolution) with the primary's lookup table (orbit + DEM): bilinear for continuous variables,
nearest for labels and class variables. Publishing into an existing catalog keeps the items (and
COGs) of dates already there untouched and adds the new ones; the catalog is written to a
staging copy and renamed into place (:mod:`alignsar.cube.store`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from pystac.extensions.datacube import DatacubeExtension, Dimension, Variable
from pystac.extensions.file import FileExtension
from pystac.extensions.label import LabelClasses, LabelExtension, LabelTask, LabelType
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Statistics
from pystac.extensions.sar import FrequencyBand, ObservationDirection, Polarization, SarExtension
from pystac.extensions.sat import OrbitState, SatExtension
from pystac.extensions.view import ViewExtension

from .. import __version__
from ..cube.build import open_cube
from ..cube.store import _clone, staged
from ..errors import ConfigError, MissingDataError
from .cog import checksum, folder_size, write_cog, write_png

PROJECTION_V1 = "https://stac-extensions.github.io/projection/v1.2.0/schema.json"
PROCESSING = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
ML_AOI = "https://stac-extensions.github.io/ml-aoi/v0.2.0/schema.json"
CLASSIFICATION = "https://stac-extensions.github.io/classification/v1.1.0/schema.json"
COG_TYPE = pystac.MediaType.COG
ZARR_TYPE = "application/vnd+zarr"
SPLIT_NAMES = {"train": "train", "val": "validate", "validate": "validate", "test": "test"}
LICENSE = "CC-BY-4.0"

Progress = Callable[[str, int, int | None], None]


# ----- the map grid ----------------------------------------------------------------------------------


@dataclass(eq=False)
class MapView:
    """Map-grid 2-D arrays of a cube: ``get(var, k)`` (k = time index, None for static);
    ``get_many(vars, k)`` computes several in one pass."""

    geobox: GeoBox
    lazy: Callable[[str, int | None], Any]

    def get(self, var: str, k: int | None) -> np.ndarray:
        return self.get_many([var], k)[var]

    def get_many(self, names: list[str], k: int | None) -> dict[str, np.ndarray]:
        import dask

        values = dask.compute(*[self.lazy(n, k) for n in names])
        return {n: np.asarray(v) for n, v in zip(names, values, strict=True)}


def _geobox_of_map_cube(ds: xr.Dataset) -> GeoBox:
    from affine import Affine

    wkt = ds["spatial_ref"].attrs.get("crs_wkt") or ds.attrs.get("crs_wkt")
    x, y = ds["x"].values, ds["y"].values
    rx, ry = float(x[1] - x[0]), float(y[1] - y[0])
    affine = Affine(rx, 0, float(x[0]) - rx / 2, 0, ry, float(y[0]) - ry / 2)
    return GeoBox((len(y), len(x)), affine, wkt)


def _categorical(var: xr.DataArray) -> bool:
    return var.dtype.kind in "iu" or "flag_values" in var.attrs


def map_view(ds: xr.Dataset, resolution: float | None = None) -> MapView:
    """The cube itself on a map grid; a radar-grid cube geocoded with its primary's lookup table."""
    if ds.attrs.get("reference_grid") == "map":
        box = _geobox_of_map_cube(ds)

        def get_map(var: str, k: int | None) -> Any:
            a = ds[var] if k is None else ds[var].isel(time=k)
            return a.data

        return MapView(box, get_map)
    from ..cube.config import CubeConfig
    from ..geometry import open_dem
    from ..geometry.geocode import default_geobox, geocode, lookup_table
    from ..readers import open_product

    if "alignsar_config" not in ds.attrs:
        raise MissingDataError(None, "the cube has no alignsar_config attribute: cannot find its primary to geocode it")
    cfg = CubeConfig.model_validate_json(ds.attrs["alignsar_config"])
    name = ds.attrs["reference_product"]
    paths = [p for p in cfg.product_paths() if p.name == name or name in p.name]
    if not paths:
        raise MissingDataError(name, "the cube's primary product is not where its configuration says: cannot geocode the cube")
    primary = open_product(paths[0])
    vertical = {"ellipsoidal": "ellipsoid", None: "auto"}.get(cfg.dem_vertical, cfg.dem_vertical)
    dem = open_dem(cfg.dem, vertical=vertical) if cfg.dem else None  # type: ignore[arg-type]
    box = default_geobox(primary, resolution=resolution or cfg.reference.resolution, crs=cfg.reference.crs, swath=cfg.reference.swath)
    lut = lookup_table(primary, box, dem, swath=cfg.reference.swath).compute()

    def get_radar(var: str, k: int | None) -> Any:
        a = ds[var] if k is None else ds[var].isel(time=k)
        a = a.drop_vars([c for c in a.coords if c not in ("line", "pixel")])
        method = "nearest" if _categorical(a) else "bilinear"
        values = geocode(a.astype(np.float32) if method == "nearest" else a, lut, method).data
        if method == "nearest":
            return da.where(da.isnan(values), 0, values).astype(ds[var].dtype)
        return values.astype(np.float32)

    view = MapView(box, get_radar)
    view.lut = lut  # type: ignore[attr-defined]
    return view


# ----- item helpers ------------------------------------------------------------------------------------


def _lonlat_polygon(box: GeoBox) -> dict[str, Any]:
    geom = box.extent.to_crs("EPSG:4326")
    return geom.json


def _bbox(geom: dict[str, Any]) -> list[float]:
    coords = np.asarray(geom["coordinates"][0])
    return [float(coords[:, 0].min()), float(coords[:, 1].min()), float(coords[:, 0].max()), float(coords[:, 1].max())]


def _epsg(box: GeoBox) -> int | None:
    return box.crs.epsg


def _data_type(dtype: np.dtype) -> DataType:
    return DataType(np.dtype(dtype).name)


def _add_projection(asset: pystac.Asset, box: GeoBox | None, shape: tuple[int, ...]) -> None:
    """Projection fields (v1.2.0, which has both ``proj:code`` and ``proj:epsg``): map grids get
    both (stackstac reads ``proj:epsg``), radar grids null CRS fields and ``proj:shape``."""
    if box is not None:
        epsg = _epsg(box)
        asset.extra_fields["proj:code"] = f"EPSG:{epsg}" if epsg else None
        asset.extra_fields["proj:epsg"] = epsg
        if epsg is None:
            asset.extra_fields["proj:wkt2"] = box.crs.to_wkt()
        asset.extra_fields["proj:transform"] = list(box.affine)[:6]
    else:
        asset.extra_fields["proj:code"] = None
        asset.extra_fields["proj:epsg"] = None
    asset.extra_fields["proj:shape"] = [int(s) for s in shape]


def _add_file(asset: pystac.Asset, path: Path, digest: bool = True) -> None:
    fe = FileExtension.ext(asset)
    fe.size = folder_size(path)
    if digest and path.is_file():
        fe.checksum = checksum(path)


def _raster_band(values_dtype: np.dtype, nodata: Any, unit: str | None, stats: Any) -> RasterBand:
    s = stats.to_stac()
    return RasterBand.create(
        nodata=nodata,
        data_type=_data_type(values_dtype),
        unit=unit or None,
        statistics=Statistics.create(
            minimum=s.get("minimum"), maximum=s.get("maximum"), mean=s.get("mean"), stddev=s.get("stddev"), valid_percent=s.get("valid_percent")
        ),
    )


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


def _frequency_band(hz: float) -> FrequencyBand:
    ghz = hz / 1e9
    for band, (lo, hi) in {
        "P": (0.25, 0.5),
        "L": (1, 2),
        "S": (2, 4),
        "C": (4, 8),
        "X": (8, 12),
        "Ku": (12, 18),
        "K": (18, 27),
        "Ka": (27, 40),
    }.items():
        if lo <= ghz < hi:
            return FrequencyBand(band)
    raise ConfigError("radar_frequency_hz", f"{ghz} GHz is in no SAR band")


def _date_props(ds: xr.Dataset, k: int) -> dict[str, Any]:
    """Per-date values of the cube coordinates (plain Python types)."""
    out = {}
    for name, c in ds.coords.items():
        if c.dims == ("time",) and name != "time":
            v = c.values[k]
            out[str(name)] = v.item() if hasattr(v, "item") else v
    return out


def _apply_sar(item: pystac.Item, ds: xr.Dataset, k: int, pols: list[str]) -> None:
    p = _date_props(ds, k)
    sar = SarExtension.ext(item, add_if_missing=True)
    sar.apply(
        instrument_mode=str(p.get("instrument_mode", "unknown")),
        frequency_band=_frequency_band(float(ds.attrs.get("radar_frequency_hz", 5.405e9))),
        polarizations=[Polarization(pp) for pp in pols],
        product_type=str(p.get("product_type", "unknown")),
        center_frequency=float(ds.attrs.get("radar_frequency_hz", 5.405e9)) / 1e9,
        observation_direction=ObservationDirection.RIGHT,
    )
    sat = SatExtension.ext(item, add_if_missing=True)
    sat.apply(
        orbit_state=OrbitState(str(p.get("pass_direction", "ascending")).lower()),
        relative_orbit=int(p["relative_orbit"]) if p.get("relative_orbit", -1) >= 0 else None,
        absolute_orbit=int(p["absolute_orbit"]) if p.get("absolute_orbit", -1) >= 0 else None,
    )
    ViewExtension.ext(item, add_if_missing=True).apply(incidence_angle=float(p["incidence_angle_mid"]))
    item.common_metadata.platform = str(p.get("platform", ""))
    item.common_metadata.constellation = str(p.get("mission", ""))
    item.common_metadata.instruments = [str(p.get("mission", "sar"))]
    # per-pair coregistration quality as item properties
    for key, value in p.items():
        if key.startswith("coreg_"):
            fv = value if isinstance(value, str) else float(value)
            item.properties[f"alignsar:{key}"] = None if isinstance(fv, float) and not np.isfinite(fv) else fv
    item.properties["alignsar:source_product"] = str(p.get("product_name"))
    item.properties["alignsar:n_acquisitions"] = int(p.get("n_acquisitions", 1))


def _apply_processing(obj: pystac.Item | pystac.Collection, ds: xr.Dataset, level: str) -> None:
    if PROCESSING not in obj.stac_extensions:
        obj.stac_extensions.append(PROCESSING)
    fields = {
        "processing:level": level,
        "processing:lineage": (
            f"aligned on the {ds.attrs.get('reference_grid')} grid of {ds.attrs.get('reference_product')} "
            f"({ds.attrs.get('coregistration_method')}), calibrated, signatures computed by alignsar"
        ),
        "processing:software": {"alignsar": __version__},
        "processing:datetime": ds.attrs.get("date_modified", _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
    }
    if isinstance(obj, pystac.Item):
        obj.properties.update(fields)
    else:  # collections: as summaries (the processing schema's collection form)
        for key in ("processing:level", "processing:lineage"):
            obj.summaries.add(key, [fields[key]])
        obj.summaries.add("processing:software", fields["processing:software"])


def _use_projection_v1(obj: pystac.Item) -> None:
    exts = [e for e in obj.stac_extensions if "/projection/" not in e]
    obj.stac_extensions = [*exts, PROJECTION_V1]


def _per_date_vars(ds: xr.Dataset, variables: list[str] | None) -> list[str]:
    names = [str(n) for n, v in ds.data_vars.items() if v.dims[:1] == ("time",) and v.ndim == 3 and v.dtype.kind == "f"]
    if variables:
        missing = [v for v in variables if v not in ds.data_vars]
        if missing:
            raise ConfigError("variables", f"not in the cube: {missing}")
        names = [v for v in variables if v in names]
    # a fixed order: dB backscatter first, then the other signatures by name
    return sorted(names, key=lambda n: (not n.endswith("_db"), n))


def _visual(names: list[str]) -> str | None:
    """The signature shown by default (the first dB backscatter, else the first one)."""
    return next((n for n in names if n.endswith("_db")), names[0] if names else None)


def _static_vars(ds: xr.Dataset) -> list[str]:
    return [str(n) for n, v in ds.data_vars.items() if "time" not in v.dims and v.ndim == 2]


def _time_str(t: np.datetime64) -> str:
    return np.datetime_as_string(t, unit="s").replace("-", "").replace(":", "")


def _dt_of(t: np.datetime64) -> _dt.datetime:
    return _dt.datetime.fromisoformat(np.datetime_as_string(t, unit="us")).replace(tzinfo=_dt.UTC)


# ----- the catalog ---------------------------------------------------------------------------------------


def _collection(cid: str, title: str, description: str, items_extent: tuple[list[float], _dt.datetime, _dt.datetime]) -> pystac.Collection:
    bbox, t0, t1 = items_extent
    return pystac.Collection(
        id=cid,
        title=title,
        description=description,
        extent=pystac.Extent(pystac.SpatialExtent([bbox]), pystac.TemporalExtent([[t0, t1]])),
        license=LICENSE,
        providers=[
            pystac.Provider("alignsar", roles=[pystac.ProviderRole.PROCESSOR], url="https://github.com/alignsar/alignsar"),
        ],
    )


def _existing_item(stage: Path, collection: str, item_id: str) -> pystac.Item | None:
    path = stage / collection / item_id / f"{item_id}.json"
    if path.exists():
        return pystac.Item.from_file(str(path))
    return None


def publish(
    cube_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    chips: str | os.PathLike[str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
    variables: list[str] | None = None,
    resolution: float | None = None,
    title: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Publish the cube at ``cube_path`` (and the chip dataset ``chips``) as a catalog in ``out``
    (see the module docstring); returns the path of ``catalog.json``."""
    out = Path(out)
    with staged(out, clone=True) as stage:
        publish_into(stage, cube_path, chips=chips, config_path=config_path, variables=variables, resolution=resolution, title=title, progress=progress)
    return out / "catalog.json"


def publish_into(
    stage: Path,
    cube_path: str | os.PathLike[str],
    *,
    chips: str | os.PathLike[str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
    variables: list[str] | None = None,
    resolution: float | None = None,
    title: str | None = None,
    progress: Progress | None = None,
) -> None:
    """:func:`publish` into an already staged folder (no rename)."""
    say = progress or (lambda *_: None)
    cube_path = Path(cube_path)
    data = stage / "data"
    data.mkdir(parents=True, exist_ok=True)
    # the cube inside the catalog (hard links when it is elsewhere)
    cube_in = data / "cube.zarr"
    if cube_path.resolve() != cube_in.resolve():
        shutil.rmtree(cube_in, ignore_errors=True)
        if cube_path.is_dir():
            _clone(cube_path, cube_in)
        else:
            cube_in = data / cube_path.name
            shutil.copy2(cube_path, cube_in)
    ds = open_cube(cube_in)
    say("geocoding onto the map grid", 0, None)
    view = map_view(ds, resolution)
    box = view.geobox
    geom = _lonlat_polygon(box)
    bbox = _bbox(geom)
    times = ds["time"].values
    t0, t1 = _dt_of(times.min()), _dt_of(times.max())
    pols = sorted({str(v.attrs["polarization"]) for v in ds.data_vars.values() if "polarization" in v.attrs})
    names = _per_date_vars(ds, variables)
    catalog = pystac.Catalog(
        id="alignsar-catalog",
        title=title or str(ds.attrs.get("title", "alignsar catalog")),
        description=str(ds.attrs.get("summary", "SAR datacube published by alignsar")),
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    written: set[str] = set()

    # --- SAR stack on the map grid: COGs per date and signature
    sar_map = _collection("sar-map", "SAR signatures on the map grid", "One item per date; one single-band COG per signature (stackstac-loadable).", (bbox, t0, t1))
    sar_radar = _collection(
        "sar-radar",
        "SAR datacube on the radar grid",
        "One item per date; the radar-geometry Zarr cube (datacube extension) with lat / lon lookups.",
        (_bbox(_radar_polygon(ds)) if "lat" in ds.coords else bbox, t0, t1),
    )
    for k, t in enumerate(times):
        item_id = str(ds["product_name"].values[k]) if "product_name" in ds.coords else f"date-{_time_str(t)}"
        say(f"date {k + 1}/{len(times)}: {item_id}", k, len(times))
        item = _existing_item(stage, "sar-map", item_id)
        if item is None:
            item = _map_item(stage, ds, view, k, item_id, names, pols, geom, bbox)
            written.add(f"sar-map/{item_id}")
        sar_map.add_item(item)
        ritem = _existing_item(stage, "sar-radar", item_id)
        if ritem is None:
            ritem = _radar_item(stage, ds, k, item_id, names, pols, cube_in)
            written.add(f"sar-radar/{item_id}")
        sar_radar.add_item(ritem)
    _summaries(sar_map, ds, pols, names)
    _summaries(sar_radar, ds, pols, names)
    _radar_collection_assets(sar_radar, stage, ds, view, config_path)
    catalog.add_child(sar_map)
    catalog.add_child(sar_radar)

    # --- static layers and labels
    static = _static_vars(ds)
    label_vars = [v for v in static if "flag_values" in ds[v].attrs and v.startswith("label")]
    layer_vars = [v for v in static if v not in label_vars]
    if layer_vars:
        layers = _collection("layers", "External layers", "Layers radarcoded / geocoded onto the reference grid (land cover...).", (bbox, t0, t1))
        layers.add_item(_static_item(stage, ds, view, "layers", "layers", layer_vars, geom, bbox, t0, t1))
        catalog.add_child(layers)
    if label_vars:
        labels = _collection("labels", "Labels", "Ground-truth labels on the map grid (label extension).", (bbox, t0, t1))
        litem = _static_item(stage, ds, view, "labels", "labels", label_vars, geom, bbox, t0, t1)
        _apply_label(litem, ds, label_vars[0], sar_map)
        labels.add_item(litem)
        catalog.add_child(labels)

    # --- ML chips
    if chips is not None:
        catalog.add_child(_chips_collection(stage, Path(chips), ds, box, bbox, t0, t1))

    # thumbnails of the collections: the first date's thumbnail
    first = next(iter(sar_map.get_items()), None)
    if first is not None and "thumbnail" in first.assets:
        sar_map.add_asset("thumbnail", pystac.Asset(first.assets["thumbnail"].href, media_type=pystac.MediaType.PNG, roles=["thumbnail"]))
    # an absolute file href: pystac takes its folder (a folder href ending in ".partial" looks like a file)
    catalog.normalize_hrefs(str(stage.resolve() / "catalog.json"))
    _make_asset_hrefs_relative(catalog)
    _save(catalog, written)


def _make_asset_hrefs_relative(catalog: pystac.Catalog) -> None:
    for coll in catalog.get_children():
        for a in coll.assets.values():
            if os.path.isabs(a.href):
                a.href = _rel(Path(a.href), Path(coll.self_href).parent)
        for item in coll.get_items():
            for a in item.assets.values():
                if os.path.isabs(a.href):
                    a.href = _rel(Path(a.href), Path(item.self_href).parent)


def _save(catalog: pystac.Catalog, written: set[str]) -> None:
    """Write the catalog and collections; items only when new (existing ones stay untouched)."""
    catalog.save_object(include_self_link=False)
    for coll in catalog.get_children():
        coll.save_object(include_self_link=False)
        for item in coll.get_items():
            key = f"{coll.id}/{item.id}"
            if key in written or coll.id in ("layers", "labels", "ml-chips") or not Path(item.self_href).exists():
                item.save_object(include_self_link=False)


def _radar_polygon(ds: xr.Dataset) -> dict[str, Any]:
    lat, lon = ds["lat"], ds["lon"]
    n0, n1 = lat.shape
    idx = [(0, j) for j in range(0, n1, max(1, n1 // 8))] + [(i, n1 - 1) for i in range(0, n0, max(1, n0 // 8))]
    idx += [(n0 - 1, j) for j in range(n1 - 1, -1, -max(1, n1 // 8))] + [(i, 0) for i in range(n0 - 1, -1, -max(1, n0 // 8))]
    la = lat.values
    lo = lon.values
    ring = [[float(lo[i, j]), float(la[i, j])] for i, j in idx]
    ring.append(ring[0])
    import shapely

    poly = shapely.geometry.polygon.orient(shapely.Polygon(ring).buffer(0), 1.0)
    return shapely.geometry.mapping(poly)


def _cog_asset(stage: Path, folder: Path, name: str, values: np.ndarray, box: GeoBox, var: xr.DataArray, item_dir: Path) -> pystac.Asset:
    categorical = _categorical(var)
    nodata: float | None = 0 if categorical else float("nan")
    path = folder / f"{name}.tif"
    stats = write_cog(path, values, box.affine, box.crs.to_wkt(), nodata=nodata, categorical=categorical, description=name, units=var.attrs.get("units"))
    asset = pystac.Asset(
        _rel(path, item_dir),
        title=str(var.attrs.get("long_name", name)),
        description=str(var.attrs.get("formula", "")) or None,
        media_type=COG_TYPE,
        roles=["data"],
    )
    _add_projection(asset, box, values.shape)
    band = _raster_band(values.dtype, "nan" if not categorical else 0, var.attrs.get("units"), stats)
    RasterExtension.ext(asset).bands = [band]
    # STAC 1.1 common band metadata too: STAC Browser scales COGs from these (not from raster:bands)
    asset.extra_fields["bands"] = [{k: v for k, v in band.to_dict().items() if k in ("nodata", "data_type", "statistics", "unit")} | {"name": name}]
    _add_file(asset, path)
    return asset


def _map_item(stage: Path, ds: xr.Dataset, view: MapView, k: int, item_id: str, names: list[str], pols: list[str], geom: dict, bbox: list[float]) -> pystac.Item:
    t = ds["time"].values[k]
    item_dir = stage / "sar-map" / item_id
    folder = stage / "data" / "map" / item_id
    item = pystac.Item(item_id, geom, bbox, _dt_of(t), {})
    RasterExtension.add_to(item)
    FileExtension.add_to(item)
    ProjectionExtension.add_to(item)
    thumb_src = None
    visual = _visual(names)
    computed = view.get_many(names, k)  # one pass over the date's data for every signature
    for name in names:
        values = computed[name]
        asset = _cog_asset(stage, folder, name, values, view.geobox, ds[name], item_dir)
        if name == visual:  # what STAC Browser draws on the map by default
            asset.roles = ["data", "visual"]
        item.add_asset(name, asset)
        if thumb_src is None and name.endswith("_db"):
            thumb_src = values
    if thumb_src is None and names:
        thumb_src = view.get(names[0], k)
    if thumb_src is not None:
        png = folder / "thumbnail.png"
        write_png(png, thumb_src)
        item.add_asset("thumbnail", pystac.Asset(_rel(png, item_dir), media_type=pystac.MediaType.PNG, roles=["thumbnail"], title="quicklook"))
    _use_projection_v1(item)
    item.properties["proj:code"] = f"EPSG:{_epsg(view.geobox)}" if _epsg(view.geobox) else None
    item.properties["proj:epsg"] = _epsg(view.geobox)
    _apply_sar(item, ds, k, pols)
    _apply_processing(item, ds, "L2")
    return item


def _radar_item(stage: Path, ds: xr.Dataset, k: int, item_id: str, names: list[str], pols: list[str], cube_in: Path) -> pystac.Item:
    t = ds["time"].values[k]
    item_dir = stage / "sar-radar" / item_id
    geom = _radar_polygon(ds) if "lat" in ds.coords else None
    item = pystac.Item(item_id, geom, _bbox(geom) if geom else None, _dt_of(t), {})
    asset = pystac.Asset(_rel(cube_in, item_dir), title="radar-geometry datacube (all dates)", media_type=ZARR_TYPE, roles=["data"])
    asset.extra_fields["alignsar:time_index"] = k
    item.add_asset("cube", asset)
    dims = [d for d in ds.dims if d != "time"]
    shape = [int(ds.sizes[d]) for d in dims]
    _add_projection(asset, None, shape)
    item.properties["proj:code"] = None
    item.properties["proj:epsg"] = None
    item.properties["proj:shape"] = shape
    _use_projection_v1(item)
    dc = DatacubeExtension.ext(item, add_if_missing=True)
    dc.apply(_datacube_dimensions(ds), _datacube_variables(ds))
    FileExtension.add_to(item)
    _apply_sar(item, ds, k, pols)
    _apply_processing(item, ds, "L2")
    return item


def _datacube_dimensions(ds: xr.Dataset) -> dict[str, Dimension]:
    times = ds["time"].values
    dims: dict[str, Dimension] = {
        "time": Dimension.from_dict(
            {"type": "temporal", "extent": [_dt_of(times.min()).isoformat().replace("+00:00", "Z"), _dt_of(times.max()).isoformat().replace("+00:00", "Z")]}
        )
    }
    if "azimuth" in ds.dims:
        for d, c in (("azimuth", "line"), ("range", "pixel")):
            v = ds[c].values
            dims[d] = Dimension.from_dict(
                {"type": f"radar_{d}", "description": f"{d} index of the primary raster ({c}; integer = pixel centre)", "extent": [int(v[0]), int(v[-1])], "step": 1, "unit": "pixel"}
            )
    else:
        box = _geobox_of_map_cube(ds)
        epsg = box.crs.epsg
        for d in ("x", "y"):
            v = ds[d].values
            dims[d] = Dimension.from_dict(
                {"type": "spatial", "axis": d, "extent": [float(v.min()), float(v.max())], "step": float(v[1] - v[0]), "reference_system": epsg or box.crs.to_wkt()}
            )
    return dims


def _datacube_variables(ds: xr.Dataset) -> dict[str, Variable]:
    out = {}
    for name, v in ds.data_vars.items():
        if name == "spatial_ref":
            continue
        d = {"dimensions": list(v.dims), "type": "data", "description": str(v.attrs.get("long_name", name))}
        if v.attrs.get("units"):
            d["unit"] = str(v.attrs["units"])
        out[str(name)] = Variable(d)
    for name in ("lat", "lon"):
        if name in ds.coords:
            out[name] = Variable({"dimensions": list(ds[name].dims), "type": "auxiliary", "description": ds[name].attrs.get("long_name", name), "unit": ds[name].attrs.get("units")})
    return out


def _summaries(coll: pystac.Collection, ds: xr.Dataset, pols: list[str], names: list[str]) -> None:
    coll.summaries.add("sar:polarizations", pols)
    coll.summaries.add("sar:frequency_band", [_frequency_band(float(ds.attrs.get("radar_frequency_hz", 5.405e9))).value])
    coll.summaries.add("sat:orbit_state", sorted({str(v).lower() for v in ds["pass_direction"].values}) if "pass_direction" in ds.coords else [])
    coll.summaries.add("platform", sorted({str(v) for v in ds["platform"].values}) if "platform" in ds.coords else [])
    if coll.id == "sar-map":
        from pystac.extensions.item_assets import AssetDefinition

        coll.item_assets = {
            n: AssetDefinition(
                {"title": str(ds[n].attrs.get("long_name", n)), "type": COG_TYPE, "roles": ["data", "visual"] if n == _visual(names) else ["data"]}
            )
            for n in names
        } | {"thumbnail": AssetDefinition({"type": pystac.MediaType.PNG, "roles": ["thumbnail"]})}
    else:
        from pystac.extensions.item_assets import AssetDefinition

        coll.item_assets = {"cube": AssetDefinition({"title": "radar-geometry datacube", "type": ZARR_TYPE, "roles": ["data"]})}
    _apply_processing(coll, ds, "L2")


def _radar_collection_assets(coll: pystac.Collection, stage: Path, ds: xr.Dataset, view: MapView, config_path: Any) -> None:
    folder = stage / "data" / "lookup"
    cdir = stage / coll.id
    if "lat" in ds.coords:
        lookup = folder / "latlon.zarr"
        shutil.rmtree(lookup, ignore_errors=True)
        xr.Dataset({"lat": ds["lat"].variable, "lon": ds["lon"].variable}).to_zarr(lookup, mode="w", consolidated=False)
        a = pystac.Asset(_rel(lookup, cdir), title="lat / lon of every radar-grid pixel centre (deg, WGS84)", media_type=ZARR_TYPE, roles=["metadata", "lookup"])
        _add_projection(a, None, ds["lat"].shape)
        coll.add_asset("latlon", a)
    lut = getattr(view, "lut", None)
    if lut is not None:
        for name in ("line", "pixel"):
            values = np.asarray(lut[name].values, dtype=np.float32)
            path = folder / f"radar_{name}.tif"
            stats = write_cog(path, values, view.geobox.affine, view.geobox.crs.to_wkt(), nodata=float("nan"), description=f"radar {name}", units="pixel")
            a = pystac.Asset(_rel(path, cdir), title=f"radar {name} of every map pixel centre (fractional, integer = pixel centre)", media_type=COG_TYPE, roles=["metadata", "lookup"])
            _add_projection(a, view.geobox, values.shape)
            RasterExtension.ext(a).bands = [_raster_band(values.dtype, "nan", "pixel", stats)]
            _add_file(a, path)
            coll.add_asset(f"radar_{name}", a)
    if config_path is not None:
        dst = stage / "data" / "config.yaml"
        shutil.copy2(config_path, dst)
        coll.add_asset("config", pystac.Asset(_rel(dst, cdir), title="alignsar cube configuration", media_type="application/yaml", roles=["metadata"]))
    prov = stage / "data" / "provenance.json"
    record = {
        "software": {"alignsar": __version__},
        "history": ds.attrs.get("history", ""),
        "source_products": ds.attrs.get("source", ""),
        "reference_product": ds.attrs.get("reference_product"),
        "reference_grid": ds.attrs.get("reference_grid"),
        "excluded_products": json.loads(ds.attrs.get("excluded_products", "[]")),
        "configuration": json.loads(ds.attrs.get("alignsar_config", "{}")),
        "coregistration": {
            str(ds["product_name"].values[k]): {n: _plain(ds[n].values[k]) for n in ds.coords if str(n).startswith("coreg_")} for k in range(ds.sizes["time"])
        }
        if "product_name" in ds.coords
        else {},
    }
    prov.write_text(json.dumps(record, indent=1), encoding="utf-8")
    coll.add_asset("provenance", pystac.Asset(_rel(prov, cdir), title="provenance record", media_type=pystac.MediaType.JSON, roles=["metadata"]))


def _plain(v: Any) -> Any:
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and not np.isfinite(v) else v


def _static_item(
    stage: Path, ds: xr.Dataset, view: MapView, coll_id: str, item_id: str, names: list[str], geom: dict, bbox: list[float], t0: _dt.datetime, t1: _dt.datetime
) -> pystac.Item:
    item_dir = stage / coll_id / item_id
    folder = stage / "data" / coll_id
    item = pystac.Item(item_id, geom, bbox, None, {}, start_datetime=t0, end_datetime=t1)
    RasterExtension.add_to(item)
    FileExtension.add_to(item)
    computed = view.get_many(names, None)
    for name in names:
        item.add_asset(name, _cog_asset(stage, folder, name, computed[name], view.geobox, ds[name], item_dir))
    first = names[0]
    png = folder / f"{first}_thumbnail.png"
    write_png(png, computed[first], categorical=_categorical(ds[first]))
    item.add_asset("thumbnail", pystac.Asset(_rel(png, item_dir), media_type=pystac.MediaType.PNG, roles=["thumbnail"]))
    _use_projection_v1(item)
    item.properties["proj:code"] = f"EPSG:{_epsg(view.geobox)}" if _epsg(view.geobox) else None
    item.properties["proj:epsg"] = _epsg(view.geobox)
    _apply_processing(item, ds, "L3")
    return item


def _apply_label(item: pystac.Item, ds: xr.Dataset, var: str, sources: pystac.Collection) -> None:
    attrs = ds[var].attrs
    names = str(attrs.get("flag_meanings", "")).split()
    values = [int(v) for v in np.atleast_1d(attrs.get("flag_values", []))]
    label = LabelExtension.ext(item, add_if_missing=True)
    label.apply(
        label_description=str(attrs.get("long_name", "class labels")),
        label_type=LabelType.RASTER,
        label_properties=None,
        label_classes=[LabelClasses.create(classes=[*names], name=None)],
        label_tasks=[LabelTask.SEGMENTATION, LabelTask.CLASSIFICATION],
        label_methods=["automated"],
    )
    item.properties["alignsar:label_codes"] = dict(zip(names, values, strict=False))
    item.assets[var].roles = ["labels", "labels-raster"]
    for src in sources.get_items():
        item.add_link(pystac.Link("source", src, media_type=pystac.MediaType.GEOJSON, title=f"SAR date {src.id}"))


def _chips_collection(stage: Path, chips: Path, ds: xr.Dataset, box: GeoBox, bbox: list[float], t0: _dt.datetime, t1: _dt.datetime) -> pystac.Collection:
    import pyproj
    import shapely

    index_path = chips / "index.json"
    if not index_path.exists():
        raise MissingDataError(chips, "no index.json: not a chip dataset")
    dst = stage / "data" / "chips"
    if chips.resolve() != dst.resolve():
        shutil.rmtree(dst, ignore_errors=True)
        _clone(chips, dst, copy_metadata=False)  # chip stores are never modified in place
    index = json.loads((dst / "index.json").read_text())
    entries = index["chips"] if isinstance(index, dict) else index
    coll = _collection("ml-chips", "ML chips", "Chips of the cube with a spatially disjoint train / validate / test split (ml-aoi).", (bbox, t0, t1))
    coll.stac_extensions.append(ML_AOI)
    coll.summaries.add("ml-aoi:split", sorted({SPLIT_NAMES.get(str(e.get("split")), str(e.get("split"))) for e in entries}))
    for name in ("index.json", "statistics.json"):
        if (dst / name).exists():
            coll.add_asset(name.split(".")[0], pystac.Asset(_rel(dst / name, stage / "ml-chips"), media_type=pystac.MediaType.JSON, roles=["metadata"]))
    radar = "lat" in ds.coords and ds.attrs.get("reference_grid") == "radar"
    lat = ds["lat"].values if radar else None
    lon = ds["lon"].values if radar else None
    to_ll = None if radar else pyproj.Transformer.from_crs(_geobox_of_map_cube(ds).crs.to_wkt(), 4326, always_xy=True)
    for e in entries:
        r0, c0, size = int(e["row0"]), int(e["col0"]), int(e["size"])
        if radar:
            rr = [r0, r0, r0 + size - 1, r0 + size - 1]
            cc = [c0, c0 + size - 1, c0 + size - 1, c0]
            ring = [[float(lon[r, c]), float(lat[r, c])] for r, c in zip(rr, cc, strict=True)]
        else:
            x, y = ds["x"].values, ds["y"].values
            xs = [x[c0], x[c0 + size - 1], x[c0 + size - 1], x[c0]]
            ys = [y[r0], y[r0], y[r0 + size - 1], y[r0 + size - 1]]
            lo, la = to_ll.transform(xs, ys)  # type: ignore[union-attr]
            ring = [[float(a), float(b)] for a, b in zip(lo, la, strict=True)]
        poly = shapely.geometry.polygon.orient(shapely.Polygon([*ring, ring[0]]), 1.0)
        g = shapely.geometry.mapping(poly)
        cid = str(e["id"])
        item = pystac.Item(cid, g, list(poly.bounds), None, {}, start_datetime=t0, end_datetime=t1)
        item.stac_extensions.append(ML_AOI)
        item.properties["ml-aoi:split"] = SPLIT_NAMES.get(str(e.get("split")), str(e.get("split")))
        item.properties["alignsar:chip"] = {"row0": r0, "col0": c0, "size": size, "valid_fraction": float(e.get("valid_fraction", 1.0))}
        paths = e.get("paths") or {}
        paths = list(paths.values()) if isinstance(paths, dict) else ([paths] if isinstance(paths, str) else list(paths))
        for p in paths:
            target = dst / p
            kind = ZARR_TYPE if str(p).endswith(".zarr") else COG_TYPE
            a = pystac.Asset(_rel(target, stage / "ml-chips" / cid), media_type=kind, roles=["data"])
            a.extra_fields["ml-aoi:role"] = "feature"
            item.add_asset(Path(p).stem if len(paths) > 1 else "chip", a)
        coll.add_item(item)
    return coll


__all__ = ["MapView", "map_view", "publish", "publish_into"]
