"""The datacube configuration: one YAML or JSON file describing a cube from products to ML chips.

``CubeConfig.load(path)`` reads ``.yaml`` / ``.yml`` (``yaml.safe_load``) or ``.json``; relative paths
in the file are resolved against the file's folder; every validation failure becomes one
:class:`~alignsar.errors.ConfigError` naming the file and the offending key path
(``reference.window``, ``layers[1].vector.path``...). ``CubeConfig.json_schema()`` /
:func:`write_json_schema` give the JSON schema, whose descriptions are the documentation of every
key (units stated). ``CubeConfig.dump_yaml()`` round-trips: ``load(dump) == original``.

Time selection lives in ``selection`` (:class:`Selection`); its keys are also accepted at the top
level of a cube config, so that an ICEYE ``icecube`` configuration can be pasted in.

icecube compatibility
---------------------
:func:`load_icecube_config` reads the JSON files of ICEYE's ``icecube`` (its ``CubeConfig`` in
``icecube/bin/config.py`` and the filters in ``icecube/bin/sar_cube/sar_datacube_metadata.py``,
repository ``iceye-ltd/icecube``) and returns a :class:`Selection`;
``CubeConfig.from_icecube(path, products=[...])`` wraps it in a full cube config. Per key:

==========================  ==========================================  ==========================================
icecube key (its default)   alignsar behaviour                          deliberate difference
==========================  ==========================================  ==========================================
``start_date`` (19700101)   ``selection.start_date``, inclusive, whole  no 1970 default: absent = no lower bound.
                            UTC day; ``20210427``, ``"20210427"``,      ISO strings and date objects accepted too;
                            ``"2021-04-27"`` and dates accepted         a time of day is an error (never truncated)
``end_date`` (today)        ``selection.end_date``, inclusive (the      no "today" default: absent = no upper bound
                            whole day), same formats
``min_incidence_angle`` /   ``selection.min/max_incidence_angle``       absent = no bound (icecube: 0 / 90, the
``max_incidence_angle``     (deg, 0..90, inclusive) on the mid-swath    same); icecube silently drops images whose
(0 / 90)                    incidence angle                             angle is unknown (NaN), alignsar lists them
                                                                        in ``Timeline.excluded`` with the reason
``temporal_resolution``     bin width in days; bins start at            fractional days allowed (``0.5`` = 12 h
(0 = natural timeline)      ``start_date`` (else the first image's      bins; icecube raises unless a JSON integer,
                            day 00:00 UTC); every image falls in one    even 1.0); 0 is None. icecube *samples* the
                            bin; ``keep_empty`` is set so empty bins    grid (``asfreq`` + ``reindex``): images off
                            become empty time steps, as icecube's       the grid dates are dropped silently; alignsar
                            dummy layers                                *bins*, nothing is dropped
``temporal_overlap``        ``true`` / ``1`` -> ``"keep_all"`` (every   icecube ``false`` keeps the image with the
(true)                      image its own time step); ``false`` /       latest acquisition time of each calendar
                            ``0`` -> ``"last"`` (one image per step,    day (``prune_temporal_overlap``: idxmax of
                            the latest; the others are listed in        ``acquisition_time``), hence ``"last"``, and
                            ``excluded``). With no                      with a natural timeline it is per calendar
                            ``temporal_resolution`` and ``false`` the   day: we set 1-day bins to keep that. icecube
                            resolution becomes 1 day                    ``true`` + a resolution raises on two images
                                                                        on one date; alignsar keeps both (sub-steps)
``coregistered`` (false)    read only for its one effect in icecube:    alignsar always aligns every product onto
                            ``space_overlap`` is ignored when true      the reference grid; the key is not stored
``space_overlap`` (false)   ``selection.space_overlap``: drop images    the reason is recorded in ``excluded``
                            whose footprint does not intersect the      (icecube only logs when only the primary is
                            earliest kept image's footprint             left); it is applied before ``temporal_overlap``
                                                                        (icecube: after), so a non-overlapping
                                                                        image never wins a ``last`` choice
unknown keys                ignored with a ``UserWarning`` naming them  same as icecube (``warnings.warn``) for
                            (icecube files only)                        icecube files; in a native cube config an
                                                                        unknown key is a ``ConfigError``
empty file ``{}``           no bounds, natural timeline, keep_all       no 1970..today range
==========================  ==========================================  ==========================================

Booleans in icecube are ``bool(value)`` (so the string ``"false"`` is *true* there); alignsar accepts
``true`` / ``false``, ``0`` / ``1`` and the strings ``"true"`` / ``"false"`` with their plain meaning,
and rejects anything else. icecube stamps each layer with the acquisition *end* day at 00:00; alignsar
uses the product's start time (or the bin start).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import math
import os
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .._fs import atomic_write_text
from ..errors import ConfigError

__all__ = [
    "ICECUBE_KEYS",
    "ChipsConfig",
    "Coregistration",
    "CubeConfig",
    "GeometryLayer",
    "Labels",
    "Layer",
    "LidarLayer",
    "Output",
    "RasterLayer",
    "ReferenceGrid",
    "Selection",
    "Signatures",
    "StacSearch",
    "VectorLayer",
    "load_icecube_config",
    "write_json_schema",
]

#: The keys icecube's ``CubeConfig`` knows (``POSSIBLE_KEYS`` in ``icecube/bin/config.py``).
ICECUBE_KEYS = (
    "start_date",
    "end_date",
    "min_incidence_angle",
    "max_incidence_angle",
    "temporal_resolution",
    "coregistered",
    "space_overlap",
    "temporal_overlap",
)

#: icecube's boolean ``temporal_overlap`` -> alignsar's mode (see the module docstring).
ICECUBE_TEMPORAL_OVERLAP: dict[bool, str] = {True: "keep_all", False: "last"}

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

VerticalDatum = Literal["ellipsoidal", "egm96", "egm2008"]
GeometryName = Literal[
    "height", "incidence_angle", "local_incidence_angle", "los_east", "los_north", "los_up", "los_azimuth", "layover_shadow"
]
TemporalOverlap = Literal["aggregate", "keep_all", "first", "last", "error"]


# ----- value parsers ---------------------------------------------------------------------------------
def _is_url(value: str) -> bool:
    return "://" in value


def _resolve_path(value: str, info: ValidationInfo) -> str:
    """Expand ``~`` and make a relative path absolute against the config file's folder (when loaded from a file)."""
    if _is_url(value):
        return value
    value = os.path.expanduser(value)
    base = (info.context or {}).get("base_dir") if isinstance(info.context, dict) else None
    if base is not None and not os.path.isabs(value):
        return os.path.normpath(os.path.join(base, value))
    return value


#: A file path or glob pattern: relative ones are resolved against the config file's folder.
PathStr = Annotated[str, Field(min_length=1), AfterValidator(_resolve_path)]


def _parse_date(value: Any) -> dt.date | None:
    """A whole UTC day from ``20210427``, ``"20210427"``, ``"2021-04-27"``, a date or a midnight datetime."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"invalid date {value!r} (expected YYYYMMDD or YYYY-MM-DD)")
    if isinstance(value, dt.datetime):
        return _midnight_date(value)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid date {value!r} (expected YYYYMMDD or YYYY-MM-DD)")
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return dt.datetime.strptime(text, "%Y%m%d").date()
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return _midnight_date(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as exc:
        if "whole days" in str(exc):
            raise
        raise ValueError(f"invalid date {value!r} (expected YYYYMMDD, YYYY-MM-DD or an ISO date)") from None


def _midnight_date(value: dt.datetime) -> dt.date:
    if value.tzinfo is not None:
        offset = value.utcoffset()
        if offset:
            value = (value - offset).replace(tzinfo=None)
    if value.time() != dt.time(0):
        raise ValueError(f"dates are whole days (UTC); {value.isoformat()} has a time of day")
    return value.date()


def _parse_bool(value: Any, name: str) -> bool:
    """Plain booleans, 0 / 1 and the strings "true" / "false" (case-insensitive); nothing else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "0", "1"):
        return value.strip().lower() in ("true", "1")
    raise ValueError(f"{name} must be true/false (or 1/0), got {value!r}")


def _parse_overlap(value: Any) -> Any:
    """icecube's booleans (true/1 -> keep_all, false/0 -> last); strings are alignsar's mode names."""
    if isinstance(value, bool | int) or (isinstance(value, str) and value.strip().lower() in ("true", "false", "0", "1")):
        return ICECUBE_TEMPORAL_OVERLAP[_parse_bool(value, "temporal_overlap")]
    if isinstance(value, str):
        return value.strip().lower()
    return value


def _parse_resolution(value: Any) -> Any:
    """Days as a float; 0 (icecube's "natural timeline") means None."""
    if isinstance(value, bool):
        raise ValueError(f"temporal_resolution must be a number of days, got {value!r}")
    if isinstance(value, int | float) and value == 0:
        return None
    if isinstance(value, str) and value.strip() in ("0", "0.0"):
        return None
    return value


def _validation_message(err: ValidationError) -> str:
    """One line: ``key.path: reason (got value)`` for every error, joined by ``; ``."""
    parts = []
    for e in err.errors():
        loc = ""
        for item in e.get("loc", ()):
            loc += f"[{item}]" if isinstance(item, int) else (f".{item}" if loc else str(item))
        msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if e.get("type") == "extra_forbidden":
            msg = "unknown key"
        else:
            value = e.get("input")
            if isinstance(value, str | int | float | bool) and len(repr(value)) <= 60 and e.get("type") != "missing":
                msg += f" (got {value!r})"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts).replace("\n", " ")


def _read_mapping(path: Path) -> dict[str, Any]:
    """A config file's top-level mapping (YAML by ``.yaml`` / ``.yml``, JSON by ``.json``)."""
    if not path.is_file():
        raise ConfigError(path, "no such config file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read config file ({exc})") from exc
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(path, "invalid YAML: " + " ".join(str(exc).split())) from exc
    elif suffix == ".json":
        try:
            data = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            raise ConfigError(path, f"invalid JSON: {exc}") from exc
    else:
        raise ConfigError(path, f"unknown config format {suffix!r} (expected .yaml, .yml or .json)")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"the top level must be a mapping of keys to values, got {type(data).__name__}")
    return data


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=False, populate_by_name=False)


# ----- sources ---------------------------------------------------------------------------------------
class StacSearch(_Model):
    """Products found by a STAC search: a STAC API (``url``) or a local static catalog (``catalog``)."""

    url: str | None = Field(None, description="Root URL of a STAC API (exclusive with `catalog`).")
    catalog: PathStr | None = Field(None, description="Path of a local static STAC catalog or collection JSON (exclusive with `url`).")
    collections: list[str] = Field(default_factory=list, description="Collection ids to search; empty = all collections.")
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="Search box (west, south, east, north) in degrees of longitude / latitude (WGS84); west > east crosses 180 deg."
    )
    datetime: str | None = Field(
        None, description="RFC 3339 instant or interval, e.g. '2021-04-01/2021-04-30' or '2021-04-01T00:00:00Z/..' (UTC)."
    )
    query: dict[str, Any] = Field(
        default_factory=dict, description="STAC API query-extension filter, e.g. {'sat:orbit_state': {'eq': 'ascending'}}."
    )
    max_items: int | None = Field(None, gt=0, description="Maximum number of items to use (count); None = all matches.")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.url is None) == (self.catalog is None):
            raise ValueError("give exactly one of 'url' (STAC API) or 'catalog' (local static catalog)")
        if self.bbox is not None:
            w, s, e, n = self.bbox
            if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s < n <= 90):
                raise ValueError(f"bbox must be (west, south, east, north) in degrees with south < north, got {list(self.bbox)}")
        return self


# ----- grid, coregistration, signatures ---------------------------------------------------------------
class ReferenceGrid(_Model):
    """The grid every layer is aligned onto: a primary product's radar grid, or a map grid."""

    type: Literal["radar", "map"] = Field(
        "radar", description="'radar': the primary's azimuth x range grid; 'map': a projected grid (y, x)."
    )
    primary: str | int = Field(
        0, description="Primary acquisition: index into the selected dates (0 = first, -1 = last) or a product name."
    )
    swath: str | None = Field(None, description="Swath / sub-swath of the primary (e.g. 'IW2'); None = all swaths (merged).")
    crs: str | None = Field(
        None, description="Map grid CRS (EPSG code, WKT or PROJ string); None = the UTM zone of the footprint. Map grids only."
    )
    resolution: float = Field(10.0, gt=0, description="Map pixel size in units of `crs` (m for the default UTM zone). Map grids only.")
    bounds: tuple[float, float, float, float] | None = Field(
        None,
        description="Map grid extent (xmin, ymin, xmax, ymax) in units of `crs`; None = the footprint of the selected products. Map grids only.",
    )
    window: tuple[int, int, int, int] | None = Field(
        None, description="Radar subset (line0, line1, pixel0, pixel1) of the primary grid, half-open, in pixels. Radar grids only."
    )

    @field_validator("swath")
    @classmethod
    def _upper_swath(cls, v: str | None) -> str | None:
        return None if v is None else v.strip().upper()

    @field_validator("crs")
    @classmethod
    def _valid_crs(cls, v: str | None) -> str | None:
        if v is None:
            return None
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            CRS.from_user_input(v)
        except CRSError as exc:
            raise ValueError(f"not a CRS pyproj understands: {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.window is not None:
            if self.type != "radar":
                raise ValueError("'window' is a radar-grid subset; use 'bounds' for a map grid")
            l0, l1, p0, p1 = self.window
            if not (0 <= l0 < l1 and 0 <= p0 < p1):
                raise ValueError(
                    f"window must be (line0, line1, pixel0, pixel1) with 0 <= line0 < line1 and 0 <= pixel0 < pixel1, got {list(self.window)}"
                )
        if self.type == "radar" and (self.crs is not None or self.bounds is not None):
            raise ValueError("'crs' and 'bounds' define a map grid: set type: map (or use 'window' on a radar grid)")
        if self.bounds is not None:
            x0, y0, x1, y1 = self.bounds
            if not (x0 < x1 and y0 < y1):
                raise ValueError(f"bounds must be (xmin, ymin, xmax, ymax) with xmin < xmax and ymin < ymax, got {list(self.bounds)}")
        return self


class Coregistration(_Model):
    """How every product is aligned onto the reference grid."""

    method: Literal["dem_assisted", "cross_corr", "stack", "geocode"] = Field(
        "dem_assisted",
        description="'dem_assisted': orbits + DEM (geo2rdr); 'cross_corr': GCP cross-correlation and a warp polynomial; "
        "'stack': products already on one grid (no resampling); 'geocode': terrain-correct each product onto a map grid.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Method parameters under SNAP's names (e.g. nb_gcp, coarseRegistrationWindowWidth, resamplingType), passed through and checked by the coregistration step.",
    )
    resampling: Literal["nearest", "bilinear", "bicubic", "sinc", "cubic6"] | None = Field(
        None, description="Resampling kernel of the secondaries; None = the method's default (sinc for SLC, cubic6 for GRD)."
    )


class Signatures(_Model):
    """Per-date SAR signatures computed on the aligned products."""

    calibration: Literal["sigma0", "beta0", "gamma0"] | None = Field(
        "sigma0", description="Radiometric calibration of intensities (linear m2 m-2); None = uncalibrated |DN|^2."
    )
    thermal_noise: Literal["keep", "subtract", "clip"] = Field(
        "keep",
        description="Thermal noise: 'keep' (not removed), 'subtract' (negatives kept, unbiased when averaged), 'clip' (negatives set to 0).",
    )
    variables: list[Literal["intensity", "amplitude", "db", "dual_pol", "coherence", "phase", "interferogram"]] = Field(
        default_factory=lambda: ["intensity", "db"],
        description="Variables per polarisation: intensity (linear), amplitude (sqrt of intensity), db (10 log10 intensity, dB), "
        "dual_pol (co/cross ratio and span), coherence / phase / interferogram (with the primary, SLC only; phase in rad).",
    )
    window: int = Field(5, ge=1, description="Estimation window of coherence and dual-pol statistics (px, odd).")
    speckle_filter: Literal["none", "boxcar", "lee", "refined_lee", "quegan"] = Field(
        "none", description="Speckle filter of intensities ('quegan' is multi-temporal)."
    )
    speckle_window: int = Field(5, ge=1, description="Speckle filter window (px, odd).")
    multilook: tuple[int, int] = Field((1, 1), description="Multilook factors (azimuth, range) in pixels, >= 1; (1, 1) = full resolution.")

    @field_validator("window", "speckle_window")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"must be odd, got {v}")
        return v

    @field_validator("variables")
    @classmethod
    def _unique_variables(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one variable is required")
        if len(set(v)) != len(v):
            raise ValueError(f"variables are listed twice: {sorted({x for x in v if v.count(x) > 1})}")
        return v

    @field_validator("multilook")
    @classmethod
    def _positive_looks(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 1:
            raise ValueError(f"multilook factors must be >= 1, got {list(v)}")
        return v


# ----- layers and labels ------------------------------------------------------------------------------
class VectorLayer(_Model):
    """Vector polygons rasterised onto the reference grid (class fractions, majority class, attributes)."""

    type: Literal["vector"] = Field("vector", description="Layer kind.")
    path: PathStr = Field(description="Vector file (GeoPackage, Shapefile, GeoJSON, ...).")
    layer: str | None = Field(None, description="Layer inside a multi-layer file; None = the first.")
    class_field: str | None = Field(None, description="Attribute holding the class of each polygon; None = presence mask only.")
    attributes: list[str] = Field(default_factory=list, description="Numeric attributes burned as their own variables.")
    name: str | None = Field(None, description="Variable name prefix; None = the file's stem.")

    @property
    def output_name(self) -> str:
        """The layer's name in the cube."""
        return self.name or Path(self.path).stem


class RasterLayer(_Model):
    """A raster resampled onto the reference grid."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    type: Literal["raster"] = Field("raster", description="Layer kind.")
    path: PathStr = Field(description="Raster file (GeoTIFF / COG / anything GDAL reads).")
    method: Literal["nearest", "mode", "bilinear", "average"] = Field(
        "nearest", description="Resampling: nearest / mode for categories, bilinear / average for continuous values."
    )
    name: str | None = Field(None, description="Variable name; None = the file's stem.")
    nodata: float | None = Field(None, description="No-data value of the source (in its units); None = from the file.")

    @property
    def output_name(self) -> str:
        """The layer's name in the cube."""
        return self.name or Path(self.path).stem


class LidarLayer(_Model):
    """LiDAR point clouds gridded onto the reference grid (heights)."""

    type: Literal["lidar"] = Field("lidar", description="Layer kind.")
    paths: list[PathStr] = Field(min_length=1, description="LAS / LAZ files.")
    horizontal_crs: str | None = Field(None, description="Horizontal CRS of the points; None = from the files' headers.")
    vertical: VerticalDatum | None = Field(None, description="Vertical datum of the heights (m); None = from the files' CRS.")
    name: str = Field("lidar", description="Variable name prefix.")

    @property
    def output_name(self) -> str:
        """The layer's name in the cube."""
        return self.name


class GeometryLayer(_Model):
    """Acquisition geometry computed from the DEM on the reference grid."""

    type: Literal["geometry"] = Field("geometry", description="Layer kind.")
    which: list[GeometryName] = Field(
        default_factory=lambda: ["height", "incidence_angle", "local_incidence_angle", "layover_shadow"],
        min_length=1,
        description="Variables: height (m, WGS84 ellipsoid), incidence_angle / local_incidence_angle (deg), los_east / los_north / "
        "los_up (unit line-of-sight vector, ground -> sensor), los_azimuth (deg), layover_shadow (bit 1 layover, bit 2 shadow).",
    )
    name: str = Field("geometry", description="Group name of the geometry variables.")

    @property
    def output_name(self) -> str:
        """The layer's name in the cube."""
        return self.name


Layer = Annotated[VectorLayer | RasterLayer | LidarLayer | GeometryLayer, Field(discriminator="type")]


class Labels(_Model):
    """Ground-truth labels for the ML dataset."""

    type: Literal["vector", "raster", "icecube"] = Field(description="'vector' polygons, 'raster' class map, or an icecube labels JSON.")
    path: PathStr = Field(description="Labels file.")
    class_field: str | None = Field("class", description="Attribute (vector) holding the class; ignored for rasters.")
    classes: list[str] | dict[str, int] | None = Field(
        None, description="Class names (codes 0, 1, ... in order) or a name -> code mapping; None = the values found in the file."
    )
    name: str = Field("label", description="Variable name of the labels in the cube.")


# ----- time selection ---------------------------------------------------------------------------------
class Selection(_Model):
    """Which acquisitions make the time axis, and how they are binned (see :mod:`alignsar.cube.timeline`)."""

    start_date: dt.date | None = Field(
        None, description="First day kept (UTC, inclusive); YYYYMMDD (string or integer), YYYY-MM-DD; None = no lower bound."
    )
    end_date: dt.date | None = Field(
        None, description="Last day kept (UTC, inclusive: the whole day); same formats; None = no upper bound."
    )
    min_incidence_angle: float | None = Field(
        None, ge=0, le=90, description="Minimum mid-swath incidence angle (deg, inclusive); None = no bound."
    )
    max_incidence_angle: float | None = Field(
        None, ge=0, le=90, description="Maximum mid-swath incidence angle (deg, inclusive); None = no bound."
    )
    temporal_resolution: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Time-step width (days, fractions allowed: 0.5 = 12 h). Bins start at start_date 00:00 UTC (else the first "
        "acquisition's day 00:00 UTC). None (or 0) = every acquisition is its own time step at its own time.",
    )
    aggregation: Literal["mean", "median", "min", "max", "first", "last"] = Field(
        "mean", description="How several images in one time step are combined when temporal_overlap is 'aggregate'."
    )
    temporal_overlap: TemporalOverlap = Field(
        "aggregate",
        description="Several images on one time step: 'aggregate' (combine them, see aggregation), 'keep_all' (each becomes its own "
        "step at its own time), 'first' / 'last' (keep the earliest / latest, the others are excluded with the reason), 'error'. "
        "icecube booleans: true / 1 -> 'keep_all', false / 0 -> 'last' (icecube keeps the latest image of a day).",
    )
    pass_direction: Literal["ascending", "descending"] | None = Field(None, description="Keep one orbit direction only; None = both.")
    relative_orbits: list[int] | None = Field(None, description="Keep these relative orbits (tracks) only; None = all.")
    space_overlap: bool = Field(
        False,
        description="Exclude images whose footprint does not intersect the earliest kept image's footprint (icecube's space_overlap).",
    )
    keep_empty: bool = Field(
        False, description="With temporal_resolution: keep bins without images as empty time steps (start_date..end_date when given)."
    )

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> dt.date | None:
        return _parse_date(v)

    @field_validator("temporal_overlap", mode="before")
    @classmethod
    def _overlap(cls, v: Any) -> Any:
        return _parse_overlap(v)

    @field_validator("temporal_resolution", mode="before")
    @classmethod
    def _resolution(cls, v: Any) -> Any:
        return _parse_resolution(v)

    @field_validator("pass_direction", mode="before")
    @classmethod
    def _lower_pass(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("space_overlap", "keep_empty", mode="before")
    @classmethod
    def _strict_bool(cls, v: Any, info: ValidationInfo) -> bool:
        return _parse_bool(v, str(info.field_name))

    @field_validator("relative_orbits")
    @classmethod
    def _orbits(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or min(v) < 1):
            raise ValueError(f"relative_orbits must be a non-empty list of positive track numbers (None = all), got {v}")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start_date is not None and self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        lo, hi = self.min_incidence_angle, self.max_incidence_angle
        if lo is not None and hi is not None and hi < lo:
            raise ValueError(f"max_incidence_angle {hi} deg is below min_incidence_angle {lo} deg")
        return self


def _icecube_selection_dict(data: dict[str, Any], *, apply_defaults: bool) -> dict[str, Any]:
    """icecube keys -> :class:`Selection` keys (``coregistered`` folded into ``space_overlap``; see the module docstring)."""
    out = {k: data[k] for k in ("start_date", "end_date", "min_incidence_angle", "max_incidence_angle", "temporal_resolution") if k in data}
    space = _parse_bool(data.get("space_overlap", False), "space_overlap")
    coregistered = _parse_bool(data.get("coregistered", False), "coregistered")
    if "space_overlap" in data or "coregistered" in data:
        out["space_overlap"] = space and not coregistered
    if "temporal_overlap" in data:
        out["temporal_overlap"] = data["temporal_overlap"]
    elif apply_defaults:
        out["temporal_overlap"] = ICECUBE_TEMPORAL_OVERLAP[True]  # icecube's default: true
    if apply_defaults:
        if _parse_resolution(out.get("temporal_resolution")) is not None:
            out["keep_empty"] = True  # icecube fills the dates without images with dummy layers
        elif _parse_overlap(out["temporal_overlap"]) == "last":
            out["temporal_resolution"] = 1.0  # icecube's false prunes per calendar day, also on a natural timeline
    return out


def load_icecube_config(path: str | os.PathLike[str]) -> Selection:
    """Read an icecube JSON (or YAML) configuration into a :class:`Selection` (see the module docstring).

    Unknown keys are ignored with a ``UserWarning`` naming them, as icecube does; bad values raise
    :class:`~alignsar.errors.ConfigError` naming the file and the key.
    """
    p = Path(path)
    data = _read_mapping(p)
    unknown = sorted(set(data) - set(ICECUBE_KEYS))
    if unknown:
        warnings.warn(f"{p}: unsupported icecube configuration keys ignored: {', '.join(unknown)}", UserWarning, stacklevel=2)
    try:
        values = _icecube_selection_dict(data, apply_defaults=True)
    except ValueError as exc:
        raise ConfigError(p, str(exc)) from exc
    try:
        return Selection.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(p, _validation_message(exc)) from exc


# ----- outputs ----------------------------------------------------------------------------------------
_CHUNK_DIMS = ("time", "y", "x", "azimuth", "range")
_CHUNK_ALIASES = {"azimuth": "y", "range": "x", "y": "azimuth", "x": "range"}


class Output(_Model):
    """How the cube is written."""

    format: Literal["zarr", "netcdf"] = Field("zarr", description="Cube file format.")
    chunks: dict[str, int] = Field(
        default_factory=lambda: {"y": 512, "x": 512},
        description="Chunk sizes (elements) per dimension: time, y, x; y / x also apply to azimuth / range on radar grids.",
    )
    compression_level: int = Field(3, ge=0, le=9, description="Compression level 0 (none) .. 9 (zstd for Zarr, zlib for NetCDF).")

    @field_validator("chunks")
    @classmethod
    def _chunks(cls, v: dict[str, int]) -> dict[str, int]:
        bad = sorted(k for k in v if k not in _CHUNK_DIMS)
        if bad:
            raise ValueError(f"unknown chunk dimensions {bad} (known: {list(_CHUNK_DIMS)})")
        small = sorted(k for k, n in v.items() if n < 1)
        if small:
            raise ValueError(f"chunk sizes must be >= 1 ({small})")
        return v

    def dim_chunks(self, dims: tuple[str, ...] | list[str]) -> dict[str, int]:
        """Chunk sizes for the given dims (``y`` / ``x`` stand for ``azimuth`` / ``range`` and back)."""
        out = {}
        for d in dims:
            if d in self.chunks:
                out[d] = self.chunks[d]
            elif _CHUNK_ALIASES.get(d) in self.chunks:
                out[d] = self.chunks[_CHUNK_ALIASES[d]]
        return out


class ChipsConfig(_Model):
    """ML chips cut from the cube, and their train / val / test split."""

    size: int = Field(64, ge=1, description="Chip edge (px).")
    stride: int | None = Field(None, ge=1, description="Step between chips (px); None = size (no overlap).")
    min_valid: float = Field(0.5, ge=0, le=1, description="Minimum fraction of valid (non-NaN, labelled) pixels for a chip to be kept.")
    fractions: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.7, "val": 0.15, "test": 0.15},
        description="Split name -> fraction of the chips (non-negative, summing to 1).",
    )
    buffer: int | None = Field(
        None,
        ge=1,
        description="Least gap between chips of different splits (px, >= size, so no pixel serves two splits); None = the chip size.",
    )
    block_size: int | None = Field(
        None, ge=1, description="Edge of the square spatial blocks assigned to one split as a whole (px); None = 4 chips."
    )
    seed: int = Field(0, description="Random seed of the split.")
    format: Literal["zarr", "geotiff"] = Field("zarr", description="Chip file format: one Zarr store or one GeoTIFF folder per chip.")
    variables: list[str] | None = Field(
        None, description="Cube variables written to the chips; None = every signature variable (float, dims (time, Y, X))."
    )
    label: str | None = Field(None, description="Label variable of the cube; None = 'label' when the cube has one.")

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: dict[str, float]) -> dict[str, float]:
        if not v or min(v.values()) < 0 or not math.isclose(sum(v.values()), 1.0, abs_tol=1e-6):
            raise ValueError(f"fractions must be non-negative and sum to 1, got {v}")
        return v


# ----- the cube configuration -------------------------------------------------------------------------
class CubeConfig(_Model):
    """A datacube: which products, on which grid, with which signatures, layers and labels, written how."""

    title: str = Field("alignsar datacube", description="Title of the cube (ACDD 'title', STAC collection title).")
    summary: str = Field("", description="Free-text description (ACDD 'summary', STAC collection description).")
    license: str = Field("CC-BY-4.0", description="SPDX license identifier of the produced data.")
    products: list[PathStr] = Field(
        default_factory=list,
        description="Product paths or glob patterns (SAFE folders, zips, ICEYE files, ...); relative to the config file.",
    )
    stac: StacSearch | None = Field(None, description="Find the products by a STAC search instead of (or in addition to) `products`.")
    dem: PathStr | None = Field(None, description="DEM raster path (heights in m); None = none (flat ellipsoid or the method's default).")
    dem_vertical: VerticalDatum | None = Field(
        None,
        description="Vertical datum of the DEM heights: ellipsoidal (WGS84), egm96 or egm2008 (orthometric); None = read from the DEM's CRS.",
    )
    orbit_files: list[PathStr] = Field(
        default_factory=list, description="Precise / restituted orbit files (EOF) to use instead of the annotated orbits."
    )
    reference: ReferenceGrid = Field(default_factory=ReferenceGrid, description="The grid the cube is aligned on.")
    coregistration: Coregistration = Field(default_factory=Coregistration, description="Alignment of the products onto the reference grid.")
    polarizations: list[str] | None = Field(
        None, description="Polarisations to use (e.g. VV, VH; upper-cased); None = all the primary has."
    )
    signatures: Signatures = Field(default_factory=Signatures, description="SAR variables computed per date.")
    layers: list[Layer] = Field(
        default_factory=list, description="External layers aligned onto the grid (vector, raster, lidar, geometry)."
    )
    labels: Labels | None = Field(None, description="Ground-truth labels; None = unlabelled cube.")
    selection: Selection = Field(
        default_factory=Selection, description="Time selection and binning. Its keys are also accepted at the top level (icecube style)."
    )
    output: Output = Field(default_factory=Output, description="Cube format, chunks and compression.")
    dataset: ChipsConfig | None = Field(None, description="ML chips and splits; None = no chip dataset.")

    # ----- validation ------------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _top_level_selection(cls, data: Any) -> Any:
        """Move selection keys written at the top level (icecube style) into ``selection``."""
        if not isinstance(data, dict):
            return data
        names = set(Selection.model_fields) | {"coregistered"}
        top = {k: data[k] for k in data if k in names}
        if not top:
            return data
        data = {k: v for k, v in data.items() if k not in names}
        nested = data.get("selection")
        nested = {} if nested is None else nested
        if isinstance(nested, Selection):
            nested = nested.model_dump(exclude_unset=True)
        if not isinstance(nested, dict):
            return {**data, **top}  # let the field validation report it
        twice = sorted(set(top) & set(nested))
        if twice:
            raise ValueError(f"selection keys given both at the top level and under 'selection': {twice}")
        moved = _icecube_selection_dict(top, apply_defaults=False)
        moved.update({k: v for k, v in top.items() if k not in ICECUBE_KEYS})
        return {**data, "selection": {**nested, **moved}}

    @field_validator("polarizations")
    @classmethod
    def _pols(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        pols = [p.strip().upper() for p in v]
        if not pols or any(not p for p in pols):
            raise ValueError("polarizations must be a non-empty list (None = all the primary has)")
        if len(set(pols)) != len(pols):
            raise ValueError(f"polarizations listed twice: {pols}")
        return pols

    @model_validator(mode="after")
    def _sources_and_names(self) -> Self:
        if not self.products and self.stac is None:
            raise ValueError(
                "one of 'products' (paths or glob patterns) or 'stac' (a STAC search) is required "
                "(an icecube file? use CubeConfig.from_icecube(path, products=[...]))"
            )
        names: list[str] = []
        for layer in self.layers:
            names.append(layer.output_name)
            if isinstance(layer, GeometryLayer):
                names.extend(layer.which)
        if self.labels is not None:
            names.append(self.labels.name)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"layer / label names must be unique, used twice: {twice} (set 'name')")
        return self

    # ----- I/O -------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CubeConfig:
        """Read a YAML (``.yaml`` / ``.yml``) or JSON (``.json``) cube config; relative paths are resolved against its folder."""
        p = Path(path)
        data = _read_mapping(p)
        try:
            return cls.model_validate(data, context={"base_dir": str(p.resolve().parent)})
        except ValidationError as exc:
            raise ConfigError(p, _validation_message(exc)) from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: str | os.PathLike[str] | None = None) -> CubeConfig:
        """Validate a mapping (relative paths resolved against ``base_dir`` when given); errors are ConfigError."""
        try:
            return cls.model_validate(data, context={"base_dir": None if base_dir is None else os.fspath(base_dir)})
        except ValidationError as exc:
            raise ConfigError("cube config", _validation_message(exc)) from exc

    @classmethod
    def from_icecube(
        cls,
        path: str | os.PathLike[str],
        products: list[str] | None = None,
        stac: StacSearch | dict[str, Any] | None = None,
        **fields: Any,
    ) -> CubeConfig:
        """A cube config from an icecube JSON (the time selection) plus products or a STAC search and other fields."""
        selection = load_icecube_config(path)
        data: dict[str, Any] = {"products": list(products or []), "stac": stac, "selection": selection, **fields}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(path, _validation_message(exc)) from exc

    def dump_yaml(self, exclude_defaults: bool = False) -> str:
        """The config as YAML (``load`` of it gives an equal config)."""
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=exclude_defaults), sort_keys=False, allow_unicode=True)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the config as YAML (``.yaml`` / ``.yml``) or JSON (``.json``), atomically."""
        suffix = Path(path).suffix.lower()
        if suffix in (".yaml", ".yml"):
            text = self.dump_yaml()
        elif suffix == ".json":
            text = self.model_dump_json(indent=2) + "\n"
        else:
            raise ConfigError(path, f"unknown config format {suffix!r} (expected .yaml, .yml or .json)")
        atomic_write_text(path, text)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON schema (draft 2020-12) of a cube config file; its descriptions document every key."""
        schema = cls.model_json_schema()
        return {"$schema": _SCHEMA_DIALECT, "title": "alignsar cube configuration", **{k: v for k, v in schema.items() if k != "title"}}

    # ----- helpers ---------------------------------------------------------------------------------
    def product_paths(self) -> list[Path]:
        """The product paths, glob patterns expanded (``**`` recursive), sorted, without duplicates.

        Raises ConfigError when a pattern (or a plain path) matches nothing.
        """
        found: set[Path] = set()
        for i, entry in enumerate(self.products):
            if _is_url(entry):
                raise ConfigError(f"products[{i}]", f"{entry!r} is a URL; use 'stac' to find remote products")
            if glob.has_magic(entry):
                matches = [Path(m) for m in glob.glob(entry, recursive=True)]
            else:
                matches = [Path(entry)] if Path(entry).exists() else []
            if not matches:
                raise ConfigError(f"products[{i}]", f"{entry!r} matches no file")
            found.update(matches)
        return sorted(found)


def write_json_schema(path: str | os.PathLike[str]) -> None:
    """Write :meth:`CubeConfig.json_schema` as an indented JSON file (atomically)."""
    atomic_write_text(path, json.dumps(CubeConfig.json_schema(), indent=2) + "\n")
