"""What the dataset code needs to know about a cube's grid: spatial dims, variables, CRS, transform.

A cube is an ``xarray.Dataset`` with dims ``time`` plus two spatial dims, always the last two of each
variable: ``(y, x)`` on a map grid (1-D pixel-centre coords in metres of the CRS, a ``spatial_ref``
grid-mapping variable with ``crs_wkt``) or ``(azimuth, range)`` on a radar grid (integer coords
``line`` / ``pixel``, 2-D ``lat`` / ``lon`` in degrees).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import xarray as xr
from affine import Affine

from ..errors import ConfigError, MissingDataError

MAP_DIMS = ("y", "x")
RADAR_DIMS = ("azimuth", "range")
DEFAULT_TILE = 1024  # px; the reading tile of arrays that are not dask-backed


def spatial_dims(cube: xr.Dataset) -> tuple[str, str]:
    """The cube's two spatial dims, ``("y", "x")`` or ``("azimuth", "range")``."""
    for dims in (MAP_DIMS, RADAR_DIMS):
        if all(d in cube.dims for d in dims):
            return dims
    raise ConfigError("cube", f"no spatial dims (y, x) or (azimuth, range) among {tuple(cube.dims)}")


def is_map_grid(cube: xr.Dataset) -> bool:
    """True on a map grid (dims ``(y, x)``), False on a radar grid."""
    return spatial_dims(cube) == MAP_DIMS


def grid_shape(cube: xr.Dataset) -> tuple[int, int]:
    """(rows, cols) of the spatial grid, in pixels."""
    ydim, xdim = spatial_dims(cube)
    return int(cube.sizes[ydim]), int(cube.sizes[xdim])


def require(cube: xr.Dataset, name: str) -> xr.DataArray:
    """``cube[name]``, or MissingDataError naming the cube's source."""
    if name not in cube.variables:
        raise MissingDataError(cube.encoding.get("source", "cube"), f"no variable {name!r} (has {sorted(map(str, cube.data_vars))})")
    return cube[name]


def check_spatial(da: xr.DataArray, cube: xr.Dataset) -> None:
    """Raise ConfigError unless the spatial dims are the variable's last two (and time, if any, its first)."""
    ydim, xdim = spatial_dims(cube)
    if tuple(da.dims[-2:]) != (ydim, xdim) or da.ndim not in (2, 3) or (da.ndim == 3 and da.dims[0] != "time"):
        raise ConfigError(str(da.name), f"dims {da.dims} are neither ({ydim}, {xdim}) nor (time, {ydim}, {xdim})")


def signature_variables(cube: xr.Dataset, exclude: tuple[str | None, ...] = ()) -> list[str]:
    """Floating-point variables with dims ``(time, Y, X)``, sorted by name (the order of an opened
    Zarr store without consolidated metadata follows the file system's listing, which differs
    between machines; chip channels must not)."""
    ydim, xdim = spatial_dims(cube)
    return sorted(
        str(n)
        for n, v in cube.data_vars.items()
        if n not in exclude and v.dims == ("time", ydim, xdim) and np.issubdtype(v.dtype, np.floating)
    )


def crs_wkt(cube: xr.Dataset) -> str | None:
    """The map grid's CRS as WKT (``spatial_ref`` grid mapping), None on radar grids or when absent."""
    if not is_map_grid(cube):
        return None
    names = {v.attrs.get("grid_mapping") or v.encoding.get("grid_mapping") for v in cube.data_vars.values()} - {None}
    for name in [*sorted(names), "spatial_ref"]:
        if name in cube.variables:
            attrs = cube[name].attrs
            wkt = attrs.get("crs_wkt") or attrs.get("spatial_ref")
            if wkt:
                return str(wkt)
    return None


def transform(cube: xr.Dataset) -> Affine | None:
    """The map grid's affine transform (pixel corner of row 0, col 0; metres of the CRS); None on radar grids.

    Computed from the 1-D pixel-centre coords ``x`` and ``y``, which must be regularly spaced.
    """
    if not is_map_grid(cube):
        return None
    steps = []
    for name in ("x", "y"):
        if name not in cube.coords or cube[name].ndim != 1 or cube[name].size < 2:
            raise ConfigError(name, "a map grid needs a 1-D coordinate of at least two pixel centres")
        c = np.asarray(cube[name].values, dtype=np.float64)
        d = np.diff(c)
        if not np.allclose(d, d[0], rtol=1e-6, atol=0.0):
            raise ConfigError(name, "pixel centres are not regularly spaced")
        steps.append((float(c[0]), float(d[0])))
    (x0, dx), (y0, dy) = steps
    return Affine(dx, 0.0, x0 - dx / 2.0, 0.0, dy, y0 - dy / 2.0)


def window_bounds(tr: Affine, row0: int, col0: int, rows: int, cols: int) -> list[float]:
    """``[minx, miny, maxx, maxy]`` of a pixel window (outer pixel edges, CRS units)."""
    xs, ys = [], []
    for r, c in ((row0, col0), (row0 + rows, col0 + cols)):
        x, y = tr @ (c, r)
        xs.append(x)
        ys.append(y)
    return [min(xs), min(ys), max(xs), max(ys)]


def class_names(label: xr.DataArray) -> dict[int, str]:
    """``{value: name}`` from CF ``flag_values`` / ``flag_meanings``; 0 is ``unlabelled`` unless named."""
    values = label.attrs.get("flag_values", [])
    values = [int(v) for v in np.atleast_1d(values)]
    meanings = str(label.attrs.get("flag_meanings", "")).split()
    if meanings and len(meanings) != len(values):
        raise ConfigError(str(label.name), f"{len(values)} flag_values but {len(meanings)} flag_meanings")
    names = {0: "unlabelled"}
    names.update({v: (meanings[i] if meanings else str(v)) for i, v in enumerate(values)})
    return names


def time_stamps(cube: xr.Dataset) -> list[str]:
    """Each date as ``YYYYmmddTHHMMSS`` (UTC); ConfigError if two dates share a second."""
    if "time" not in cube.coords:
        return []
    stamps = [s.replace("-", "").replace(":", "") for s in np.datetime_as_string(cube["time"].values, unit="s")]
    if len(set(stamps)) != len(stamps):
        raise ConfigError("time", "two dates fall in the same second: chip file names would collide")
    return stamps


def time_iso(cube: xr.Dataset) -> list[str]:
    """Each date as an ISO 8601 UTC string (``...Z``, nanoseconds dropped below the microsecond)."""
    if "time" not in cube.coords:
        return []
    return [s + "Z" for s in np.datetime_as_string(cube["time"].values, unit="us")]


def spatial_tiles(da: xr.DataArray, ydim: str, xdim: str) -> Iterator[tuple[slice, slice]]:
    """Row and column slices of the variable's storage tiles: its dask chunks, else DEFAULT_TILE squares."""
    # the variable's own chunks (its coordinates may be chunked differently)
    chunks = dict(zip(da.dims, da.chunks, strict=True)) if da.chunks is not None else {}

    def edges(dim: str) -> list[int]:
        n = int(da.sizes[dim])
        if dim in chunks:
            return [0, *np.cumsum(chunks[dim]).tolist()]
        return [*range(0, n, DEFAULT_TILE), n]

    ye, xe = edges(ydim), edges(xdim)
    for i in range(len(ye) - 1):
        for j in range(len(xe) - 1):
            yield slice(ye[i], ye[i + 1]), slice(xe[j], xe[j + 1])
