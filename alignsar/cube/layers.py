"""Static cube variables: 2-D lat / lon on radar grids, external layers and labels on the reference
grid (written once, with the first time step).

Layers keep the names the layer functions give them, prefixed with the layer's ``name``
(``landcover_fraction_forest``, ``lidar_count``...). Labels become one integer variable (default
``label``): 0 = unlabelled, classes coded 1..n (or their own positive integer codes), CF
``flag_values`` / ``flag_meanings``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError
from ..geometry import DEM
from .align import ReferenceGrid


def _target(grid: ReferenceGrid) -> Any:
    return grid.geobox if grid.kind == "map" else grid.primary


def _on_grid(ds: xr.Dataset | xr.DataArray, grid: ReferenceGrid) -> Any:
    """Crop a full-swath radar result to the grid window and give it the grid's coordinates."""
    if grid.kind == "radar":
        ds = grid.crop(ds) if isinstance(ds, xr.DataArray) else ds.isel({"azimuth": slice(*grid.bounds[:2]), "range": slice(*grid.bounds[2:])})
        ds = ds.drop_vars([c for c in ds.coords if c not in grid.dims], errors="ignore")
    return ds.assign_coords({k: v for k, v in grid.coords().items()})


def lat_lon(grid: ReferenceGrid, dem: DEM | None) -> dict[str, xr.DataArray]:
    """2-D ``lat`` / ``lon`` (deg, WGS84) of every radar-grid pixel centre (rdr2geo on the DEM, else
    on the ellipsoid)."""
    from ..geometry.radarcode import radar_coordinates

    rc = _on_grid(radar_coordinates(grid.primary, dem, swath=grid.swath, chunks=grid.chunks), grid)
    lat = rc["lat"].astype(np.float64)
    lon = rc["lon"].astype(np.float64)
    lat.attrs = {"standard_name": "latitude", "long_name": "latitude of the pixel centre", "units": "degrees_north"}
    lon.attrs = {"standard_name": "longitude", "long_name": "longitude of the pixel centre", "units": "degrees_east"}
    return {"lat": lat, "lon": lon}


def static_layers(config: Any, grid: ReferenceGrid, dem: DEM | None) -> dict[str, xr.DataArray]:
    """Every static variable the configuration asks for, on the grid (lazy)."""
    out: dict[str, xr.DataArray] = {}
    for layer in config.layers:
        out.update(_layer(layer, grid, dem))
    if config.labels is not None:
        out[config.labels.name] = _labels(config.labels, grid, dem)
    return out


def _prefixed(ds: xr.Dataset, prefix: str, grid: ReferenceGrid) -> dict[str, xr.DataArray]:
    ds = _on_grid(ds, grid)
    return {f"{prefix}_{k}": v for k, v in ds.data_vars.items()}


def _layer(layer: Any, grid: ReferenceGrid, dem: DEM | None) -> dict[str, xr.DataArray]:
    from pathlib import Path

    kind = layer.type
    name = layer.name or Path(getattr(layer, "path", None) or layer.paths[0]).stem
    if kind == "vector":
        from ..layers import radarcode_vectors

        if not layer.class_field:
            raise ConfigError(f"layers.{name}.class_field", "vector layers need a class field")
        ds = radarcode_vectors(layer.path, _target(grid), column=layer.class_field, dem=dem, swath=grid.swath, attributes=layer.attributes, layer=layer.layer)
        return _prefixed(ds, name, grid)
    if kind == "raster":
        from ..layers.raster import radarcode_raster

        target = grid.geobox if grid.kind == "map" else _radar_coords(grid, dem)
        da_ = radarcode_raster(layer.path, target, layer.method, nodata=layer.nodata)
        return {name: _on_grid(da_, grid)}
    if kind == "geometry":
        from ..geometry.layers import geometry_layers

        if dem is None:
            raise ConfigError(f"layers.{name}", "geometry layers need a DEM (config key dem)")
        ds = geometry_layers(grid.primary, dem, geobox=grid.geobox, swath=grid.swath, chunks=grid.chunks)
        if grid.kind == "radar":
            l0, l1, p0, p1 = grid.bounds
            ds = ds.isel(azimuth=slice(l0, l1), range=slice(p0, p1))
        missing = [w for w in layer.which if w not in ds]
        if missing:
            raise ConfigError(f"layers.{name}.which", f"unknown geometry layer(s) {missing}; have {list(ds.data_vars)}")
        ds = _on_grid(ds[list(layer.which)], grid)
        return {str(k): v for k, v in ds.data_vars.items()}
    if kind == "lidar":
        from ..layers import radarcode_points

        ds = radarcode_points(layer.paths, _target(grid), swath=grid.swath, horizontal_crs=layer.horizontal_crs, vertical=layer.vertical)
        return _prefixed(ds, name, grid)
    raise ConfigError("layers", f"unknown layer type {kind!r}")


def _radar_coords(grid: ReferenceGrid, dem: DEM | None) -> xr.Dataset:
    from ..geometry.radarcode import radar_coordinates

    return radar_coordinates(grid.primary, dem, swath=grid.swath, chunks=grid.chunks)


def _classes(classes: Any) -> tuple[list[Any] | None, list[str] | None]:
    """Config ``classes``: a list of class values, or a mapping class name -> class value."""
    if isinstance(classes, dict):
        return list(classes.values()), [str(k) for k in classes]
    return (list(classes) if classes else None), None


def _labels(labels: Any, grid: ReferenceGrid, dem: DEM | None) -> xr.DataArray:
    """The label variable (codes 1..n in class order, 0 unlabelled; see
    :mod:`alignsar.layers.labels`)."""
    from ..layers.labels import flag_meanings, raster_labels, vector_labels

    values, names = _classes(labels.classes)
    if labels.type == "vector":
        # footprints from the geolocated pixel corners (subsamples=1): exact enough for a majority
        # class, 16x fewer rdr2geo points than the layer default
        out = vector_labels(labels.path, _target(grid), labels.class_field or "class", values, labels.name, dem=dem, swath=grid.swath, subsamples=1)
    elif labels.type == "raster":
        target = grid.geobox if grid.kind == "map" else _radar_coords(grid, dem)
        mapping = dict(zip(values, names, strict=True)) if names else values
        out = raster_labels(labels.path, target, mapping, labels.name, dem=dem, swath=grid.swath)
    elif labels.type == "icecube":
        out = _icecube_label(labels, grid, values)
    else:
        raise ConfigError("labels.type", f"unknown label type {labels.type!r}")
    if names:
        out.attrs.update({"flag_meanings": flag_meanings(names), "classes": names})
    out = _on_grid(out, grid)
    out.name = labels.name
    return out


def _icecube_label(labels: Any, grid: ReferenceGrid, classes: list[Any] | None) -> xr.DataArray:
    """icecube labels JSON (pixel coordinates of each product raster): the primary's objects burned
    on the primary's raster grid (radar grids only)."""
    from pathlib import Path

    from ..layers.labels import flag_meanings, rasterize_icecube, read_icecube_labels

    if grid.kind != "radar":
        raise ConfigError("labels.type", "icecube labels are in product pixel coordinates: use a radar reference grid")
    parsed = read_icecube_labels(labels.path)
    try:
        objects = parsed[Path(grid.primary.source_path).name].objects
    except KeyError as exc:
        raise ConfigError("labels.path", str(exc.args[0])) from exc
    classes = classes or parsed.classes
    mask = rasterize_icecube(objects, grid.primary.swath(grid.swath).grid.shape, classes)
    out = xr.DataArray(mask, dims=grid.dims)
    out.attrs = {
        "long_name": "class label (0 = unlabelled)",
        "units": "1",
        "flag_values": list(range(1, len(classes) + 1)),
        "flag_meanings": flag_meanings(classes),
        "source": f"{labels.path} (icecube labels)",
    }
    return out


__all__ = ["lat_lon", "static_layers"]
