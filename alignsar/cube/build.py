"""Build a datacube from a :class:`~alignsar.cube.config.CubeConfig`: select dates, align every
acquisition on the reference grid, compute signatures, radarcode layers and labels, write Zarr
(default) or NetCDF atomically and incrementally.

One time step at a time: each step's variables are one dask graph, computed and written chunk by
chunk into the staging store (:mod:`.store`) before the next step starts, so memory is bounded by
one date whatever the length of the stack. Static variables (labels, layers, lat / lon) are written
with the first step of a new store. Re-running a build on an existing store computes only the time
steps it does not hold; a step falling *before* the last stored one makes the build start over
(the cube stays sorted in time). Dask runs on the threaded scheduler unless ``scheduler`` names a
dask.distributed scheduler address or ``"local"`` (a LocalCluster of processes, one per core).

Per-step variables (dims ``(time, Y, X)``, float32, NaN = no data), with ``CAL`` the calibration
(``sigma0`` ...) and ``P`` the polarisation: ``CAL_P`` (linear), ``CAL_P_db``, ``amplitude_P``,
the dual-pol set of :func:`alignsar.signatures.dual_pol` (``c11`` ... ``dprvi``), ``coherence_P``
and ``phase_P`` against the primary (geometric phase removed; NaN on the primary's own step).
Several acquisitions in one step: intensities are combined with the configured aggregation;
complex signatures (dual-pol covariance, coherence, phase) use the step's first acquisition.
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from .. import __version__
from .._memory import release_memory
from ..errors import ConfigError, MissingDataError
from ..geometry import DEM, open_dem
from ..model import Acquisition
from ..readers import open_product
from . import cf
from .align import Aligned, Aligner, ReferenceGrid, map_grid, to_dataarray
from .config import CubeConfig
from .store import commit, recover, staged
from .timeline import AcquisitionInfo, Timeline, TimeStep, select

CO_POLS = ("VV", "HH")
CROSS_POLS = ("VH", "HV")
LARGE_JOB_PIXELS = 4_000_000_000
"""Grid pixels x steps above which ``scheduler="auto"`` starts a LocalCluster (if installed)."""


@dataclass
class BuildReport:
    """What a build did: the store, the time steps written and skipped, excluded products."""

    path: Path
    written: list[np.datetime64] = field(default_factory=list)
    skipped: list[np.datetime64] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)
    rebuilt: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "written": [str(t) for t in self.written],
            "skipped": [str(t) for t in self.skipped],
            "excluded": [{"product": p, "reason": r} for p, r in self.excluded],
            "rebuilt": self.rebuilt,
        }


# ----- inputs --------------------------------------------------------------------------------------


def _product_paths(config: CubeConfig) -> list[str]:
    paths = [str(p) for p in config.product_paths()] if config.products else []
    if config.stac is not None:
        from ..readers.stac_input import item_product_path, search

        s = config.stac
        source = s.url or s.catalog
        items = search(source, start=None, end=None, bbox=s.bbox, collections=s.collections, max_items=s.max_items)
        paths += [str(item_product_path(it)) for it in items]
    if not paths:
        raise ConfigError("products", "no product selected")
    return paths


def _open(path: str, orbit_files: list[str]) -> Acquisition:
    from ..errors import GeometryError

    for orbit in orbit_files:
        try:
            return open_product(path, orbit=orbit)
        except GeometryError:
            continue
    return open_product(path)


def _primary(config: CubeConfig, timeline: Timeline, acqs: dict[str, Acquisition]) -> Acquisition:
    members = [m for step in timeline.steps for m in step.members]
    if not members:
        raise ConfigError("selection", "no acquisition left after the time selection")
    p = config.reference.primary
    if isinstance(p, int):
        if not -len(members) <= p < len(members):
            raise ConfigError("reference.primary", f"index {p} but {len(members)} acquisitions are selected")
        return acqs[members[p].path]
    for m in members:
        if p in (m.product_name, Path(m.path).name):
            return acqs[m.path]
    raise ConfigError("reference.primary", f"{p!r} is not one of the selected products")


def _grid(config: CubeConfig, primary: Acquisition) -> ReferenceGrid:
    ref = config.reference
    chunk = int(next(iter(config.output.chunks.values()), 512)) if config.output.chunks else 512
    if ref.type == "map":
        box = map_grid(primary, ref.swath, ref.crs, ref.resolution, ref.bounds)
        return ReferenceGrid("map", primary, ref.swath, geobox=box, chunks=chunk)
    return ReferenceGrid("radar", primary, ref.swath, window=ref.window, chunks=chunk)


def _dem(config: CubeConfig) -> DEM | None:
    if config.dem is None:
        return None
    vertical = {"ellipsoidal": "ellipsoid", None: "auto"}.get(config.dem_vertical, config.dem_vertical)
    return open_dem(config.dem, vertical=vertical)  # type: ignore[arg-type]


# ----- one time step ---------------------------------------------------------------------------------

_AGGREGATE: dict[str, Callable[[da.Array], da.Array]] = {
    "mean": lambda s: da.nanmean(s, axis=0),
    "median": lambda s: da.nanmedian(s, axis=0),
    "min": lambda s: da.nanmin(s, axis=0),
    "max": lambda s: da.nanmax(s, axis=0),
    "first": lambda s: s[0],
    "last": lambda s: s[-1],
}


@dataclass(eq=False)
class _StepBuilder:
    config: CubeConfig
    grid: ReferenceGrid
    aligner: Aligner
    acqs: dict[str, Acquisition]
    pols: list[str]

    @property
    def calibration(self) -> str | None:
        return self.config.signatures.calibration

    def _intensity_name(self, pol: str) -> str:
        return f"{self.calibration or 'intensity'}_{pol.lower()}"

    def dataset(self, step: TimeStep) -> xr.Dataset:
        """The step's variables (dims of the grid, no time dim yet)."""
        sig = self.config.signatures
        members = [self.acqs[m.path] for m in step.members]
        aligned = {pol: [self.aligner.align(a, pol) for a in members] for pol in self.pols}
        out: dict[str, xr.DataArray] = {}
        wanted = set(sig.variables)
        intensities: dict[str, xr.DataArray] = {}
        for pol, items in aligned.items():
            stack = [a.intensity(self.calibration, sig.thermal_noise) for a in items]
            values = stack[0] if len(stack) == 1 else _AGGREGATE[step.aggregation](da.stack(stack))
            attrs = cf.intensity_attrs(self.calibration, pol, sig.thermal_noise, len(stack), step.aggregation)
            inten = to_dataarray(values.astype(np.float32), self.grid, self._intensity_name(pol), attrs)
            inten = self._speckle(inten, items[0].is_complex)
            intensities[pol] = inten
            if "intensity" in wanted:
                out[inten.name] = inten
            if "db" in wanted:
                out[f"{inten.name}_db"] = cf.db(inten)
            if "amplitude" in wanted:
                out[f"amplitude_{pol.lower()}"] = cf.amplitude(inten)
        if "dual_pol" in wanted:
            out.update(self._dual_pol(aligned, intensities))
        if wanted & {"coherence", "phase"}:
            out.update(self._interferometric(aligned, step, wanted))
        return xr.Dataset(out)

    def _speckle(self, inten: xr.DataArray, complex_in: bool) -> xr.DataArray:
        from .. import speckle

        sig = self.config.signatures
        name = sig.speckle_filter
        if name in (None, "none"):
            return inten
        if name == "quegan":
            raise ConfigError(
                "signatures.speckle_filter", "quegan needs the whole stack: apply alignsar.speckle.quegan on the built cube"
            )
        looks = 1.0 if complex_in else 4.4
        if name == "boxcar":
            filtered = speckle.boxcar(inten, sig.speckle_window)
        elif name == "lee":
            filtered = speckle.lee(inten, sig.speckle_window, looks)
        else:
            filtered = speckle.refined_lee(inten, sig.speckle_window, looks=looks)
        filtered.name = inten.name
        filtered.attrs = dict(inten.attrs) | {"speckle_filter": f"{name} {sig.speckle_window} px, looks {looks}"}
        return filtered

    def _dual_pol(self, aligned: dict[str, list[Aligned]], intensities: dict[str, xr.DataArray]) -> dict[str, xr.DataArray]:
        from ..signatures import dual_pol

        co = next((p for p in CO_POLS if p in aligned), None)
        cross = next((p for p in CROSS_POLS if p in aligned), None)
        if co is None or cross is None:
            raise MissingDataError(self.grid.primary.source_path, f"dual_pol needs a co- and a cross-polarisation, have {sorted(aligned)}")
        a_co, a_cross = aligned[co][0], aligned[cross][0]
        if a_co.is_complex:
            c = to_dataarray(a_co.complex(self.calibration), self.grid, co, {"polarization": co})
            x = to_dataarray(a_cross.complex(self.calibration), self.grid, cross, {"polarization": cross})
        else:
            c, x = intensities[co], intensities[cross]
            c.attrs["polarization"], x.attrs["polarization"] = co, cross
        ds = dual_pol(c, x, self.config.signatures.window)
        return {str(k): v.astype(np.float32) for k, v in ds.data_vars.items()}

    def _interferometric(self, aligned: dict[str, list[Aligned]], step: TimeStep, wanted: set[str]) -> dict[str, xr.DataArray]:
        from ..signatures import coherence

        window = self.config.signatures.window
        out: dict[str, xr.DataArray] = {}
        primary = self.grid.primary
        for pol, items in aligned.items():
            sec = items[0]
            if not sec.is_complex:
                raise ConfigError("signatures.variables", "coherence and phase need SLC products")
            ref = self.aligner.align(primary, pol)
            s1 = to_dataarray(ref.complex(self.calibration), self.grid, "s1", {"polarization": pol})
            s2 = to_dataarray(sec.complex(self.calibration), self.grid, "s2", {"polarization": pol})
            phi = self.aligner.geometric_phase(ref, sec)
            phase = None if phi is None else to_dataarray(phi, self.grid, "geometric_phase", {})
            same = sec.acquisition is primary
            if "coherence" in wanted:
                coh = coherence(s1, s2, window, phase=phase)
                coh = coh.where(not same)
                coh.attrs.update(cf.coherence_attrs(pol, window, primary.product_name))
                out[f"coherence_{pol.lower()}"] = coh.astype(np.float32)
            if "phase" in wanted:
                from ..signatures import interferogram
                from ..signatures._window import local_mean

                ifg = local_mean(interferogram(s1, s2, phase), window)
                ph = xr.DataArray(da.angle(ifg.data) if isinstance(ifg, xr.DataArray) else da.angle(ifg), dims=self.grid.dims)
                ph = to_dataarray(ph.data.astype(np.float32), self.grid, f"phase_{pol.lower()}", cf.phase_attrs(pol, window, primary.product_name))
                out[ph.name] = ph.where(not same)
        return out


# ----- per-date coordinates --------------------------------------------------------------------------


def _step_coords(step: TimeStep, acqs: dict[str, Acquisition], aligner: Aligner, pol: str) -> dict[str, Any]:
    first = acqs[step.members[0].path]
    aligner.align(first, pol)  # makes sure the quality record exists
    quality = aligner._positions[first.source_path][2]
    coords = cf.date_coords(first, step, quality)
    # strings as variable-length (object) arrays: fixed-width dtypes would differ between appended dates
    return {
        k: ("time", np.array([v], dtype=object) if isinstance(v, str) else [v], cf.DATE_COORD_ATTRS.get(k, {})) for k, v in coords.items()
    }


# ----- static variables ------------------------------------------------------------------------------


def _static(config: CubeConfig, grid: ReferenceGrid, dem: DEM | None) -> tuple[dict[str, xr.DataArray], dict[str, xr.DataArray]]:
    """Static variables and (radar grids) the 2-D lat / lon coordinates."""
    from .layers import lat_lon, static_layers

    return static_layers(config, grid, dem), (lat_lon(grid, dem) if grid.kind == "radar" else {})


# ----- schedulers --------------------------------------------------------------------------------------


@contextmanager
def _scheduler(scheduler: str | None, work_pixels: int) -> Iterator[Any]:
    if scheduler in (None, "threads") or (scheduler == "auto" and work_pixels < LARGE_JOB_PIXELS):
        yield None
        return
    if scheduler == "synchronous":
        with dask.config.set(scheduler="synchronous"):
            yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - distributed is a dependency
        raise ConfigError("scheduler", "dask.distributed is not installed") from exc
    if scheduler in ("local", "auto"):
        n = max(1, os.cpu_count() or 1)
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
        return
    with Client(scheduler) as client:
        yield client


# ----- the build ---------------------------------------------------------------------------------------


def _existing_times(path: Path, fmt: str) -> np.ndarray:
    if not path.exists():
        return np.array([], dtype="datetime64[ns]")
    try:
        ds = xr.open_zarr(path, consolidated=False) if fmt == "zarr" else xr.open_dataset(path, engine="h5netcdf")
    except Exception as exc:  # an unreadable previous store: start over, say so
        warnings.warn(f"{path}: existing cube unreadable ({exc}); rebuilding", stacklevel=3)
        return np.array([], dtype="datetime64[ns]")
    with ds:
        return np.asarray(ds["time"].values, dtype="datetime64[ns]")


def _encoding(ds: xr.Dataset, grid: ReferenceGrid, config: CubeConfig, fmt: str) -> dict[str, dict[str, Any]]:
    chunks = config.output.chunks or {}
    cy = int(chunks.get(grid.dims[0], chunks.get("y", grid.chunks)))
    cx = int(chunks.get(grid.dims[1], chunks.get("x", grid.chunks)))
    enc: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        if var.ndim == 0 or name in ("x", "y"):
            continue
        sizes = {"time": 1, grid.dims[0]: cy, grid.dims[1]: cx}
        ch = tuple(min(sizes.get(d, var.shape[i]), var.shape[i]) for i, d in enumerate(var.dims))
        e: dict[str, Any] = {}
        if fmt == "zarr":
            from zarr.codecs import BloscCodec

            e["chunks"] = ch
            if var.dtype.kind in "fciu":
                e["compressors"] = [BloscCodec(cname="zstd", clevel=config.output.compression_level, shuffle="bitshuffle")]
        else:
            e["chunksizes"] = ch
            if var.dtype.kind in "fiu":
                e.update(zlib=True, complevel=config.output.compression_level)
        if var.dtype.kind == "f" and name not in ("time",):
            e["_FillValue"] = np.nan
        if var.dtype.kind == "U" or var.dtype == object:
            e.pop("compressors", None)
        if var.dtype.kind == "M":  # exact, append-safe times: integer ns since the epoch
            e = {k: v for k, v in e.items() if k in ("chunks", "chunksizes")} | {"units": "nanoseconds since 1970-01-01", "dtype": "int64"}
        enc[str(name)] = e
    return enc


def build_cube(
    config: CubeConfig,
    out: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    rebuild: bool = False,
) -> BuildReport:
    """Build (or extend) the cube ``out`` described by ``config`` (see the module docstring).

    ``progress(message, done, total)`` is called once per time step. ``rebuild`` ignores an
    existing store. Raises :class:`ConfigError` for inconsistent configurations and the readers' /
    geometry's typed errors for bad inputs; ``out`` is untouched by a failed build.
    """
    out = Path(out)
    fmt = config.output.format
    recover(out)
    acq_list = [_open(p, config.orbit_files) for p in _product_paths(config)]
    acqs = {a.source_path: a for a in acq_list}
    infos = [AcquisitionInfo.from_acquisition(a, config.reference.swath) for a in acq_list]
    timeline = select(infos, config.selection)
    report = BuildReport(out, excluded=[(i.product_name, reason) for i, reason in timeline.excluded])
    primary = _primary(config, timeline, acqs)
    pols = [p.upper() for p in (config.polarizations or list(primary.polarizations))]
    for a in [acqs[m.path] for s in timeline.steps for m in s.members]:
        missing = [p for p in pols if p not in a.polarizations]
        if missing:
            raise MissingDataError(a.source_path, f"polarisation(s) {missing} asked for but the product has {list(a.polarizations)}")
    grid = _grid(config, primary)
    dem = _dem(config)
    aligner = Aligner(grid, dem, config.coregistration.method, options=dict(config.coregistration.options))
    if config.coregistration.resampling:
        aligner.options.setdefault("resamplingType", cf.SNAP_RESAMPLING[config.coregistration.resampling])
    builder = _StepBuilder(config, grid, aligner, acqs, pols)

    existing = np.array([], dtype="datetime64[ns]") if rebuild else _existing_times(out, fmt)
    steps = [s for s in timeline.steps if s.members]
    todo = [s for s in steps if np.datetime64(s.time, "ns") not in set(existing)]
    report.skipped = [s.time for s in steps if np.datetime64(s.time, "ns") in set(existing)]
    if existing.size and todo and min(np.datetime64(s.time, "ns") for s in todo) < existing.max():
        todo, report.skipped, existing, report.rebuilt = steps, [], existing[:0], True
    append = bool(existing.size)
    if not todo:
        return report
    work = grid.shape[0] * grid.shape[1] * len(todo)
    with _scheduler(scheduler, work), staged(out, clone=append and fmt == "zarr") as tmp:
        zarr_path = tmp if fmt == "zarr" else tmp.with_name(tmp.name + ".zarr")
        try:
            attrs = _stored_attrs(zarr_path) if append and fmt == "zarr" else {}
            if not attrs:
                attrs = cf.global_attrs(config, grid, primary, timeline, [acqs[m.path] for s in steps for m in s.members])
            for k, step in enumerate(todo):
                if progress:
                    progress(f"time step {step.time} ({len(step.members)} acquisition(s))", k, len(todo))
                ds = builder.dataset(step)
                ds = ds.expand_dims(time=[np.datetime64(step.time, "ns")]).assign_coords(_step_coords(step, acqs, aligner, pols[0]))
                if k == 0 and not (append and fmt == "zarr"):  # a new store (NetCDF appends: the new dates only)
                    if not append:
                        static, latlon = _static(config, grid, dem)
                        ds = ds.assign(static).assign_coords(latlon)
                    ds = cf.finish(ds, grid, config, timeline, primary)
                    ds.attrs = dict(attrs)
                    ds.to_zarr(zarr_path, mode="w", encoding=_encoding(ds, grid, config, "zarr"), consolidated=False, zarr_format=3)
                else:
                    ds = cf.finish(ds, grid, config, timeline, primary, static=False)
                    ds = ds.drop_vars([v for v in ds.variables if "time" not in ds[v].dims])
                    ds.attrs = dict(attrs)  # appending rewrites the group attributes
                    ds.to_zarr(zarr_path, mode="a", append_dim="time", consolidated=False)
                report.written.append(step.time)
                for m in step.members:  # this date's offsets / lookup tables are not needed again
                    if m.path != primary.source_path:
                        aligner.forget(acqs[m.path])
                del ds
                release_memory()  # freed chunk buffers back to the OS: flat memory over many dates
            _update_history(zarr_path, config, report)
            if fmt == "netcdf":
                _to_netcdf(zarr_path, tmp, out if append else None, config, grid)
        finally:
            if fmt == "netcdf":
                import shutil

                shutil.rmtree(zarr_path, ignore_errors=True)
    if progress:
        progress("done", len(todo), len(todo))
    return report


def _stored_attrs(path: Path) -> dict[str, Any]:
    import zarr

    try:
        return dict(zarr.open_group(str(path), mode="r").attrs.asdict())
    except Exception:
        return {}


def _update_history(path: Path, config: CubeConfig, report: BuildReport) -> None:
    import zarr

    group = zarr.open_group(str(path), mode="r+")
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{now} alignsar {__version__}: {'rebuilt' if report.rebuilt else 'wrote'} {len(report.written)} time step(s)"
    history = str(group.attrs.get("history", ""))
    group.attrs["history"] = (history + "\n" + line).strip()
    group.attrs["date_modified"] = now
    ds = xr.open_zarr(path, consolidated=False)
    times = ds["time"].values
    group.attrs["time_coverage_start"] = str(np.datetime_as_string(times.min(), "s")) + "Z"
    group.attrs["time_coverage_end"] = str(np.datetime_as_string(times.max(), "s")) + "Z"
    ds.close()


def _to_netcdf(zarr_path: Path, tmp: Path, previous: Path | None, config: CubeConfig, grid: ReferenceGrid) -> None:
    new = xr.open_zarr(zarr_path, consolidated=False)
    if previous is not None:
        old = xr.open_dataset(previous, engine="h5netcdf", chunks={})
        def timed(ds: xr.Dataset) -> xr.Dataset:
            return ds.drop_vars([v for v in ds.variables if "time" not in ds[v].dims])

        combined = xr.concat([timed(old), timed(new)], dim="time", data_vars="all", coords="different", compat="equals", join="outer")
        static = old.drop_vars([v for v in old.variables if "time" in old[v].dims])
        new = xr.merge([static, combined], combine_attrs="override")
        new.attrs = dict(old.attrs) | {k: v for k, v in new.attrs.items() if k.startswith(("history", "time_coverage", "date_"))}
    for v in [*new.variables.values(), new]:
        if isinstance(v, xr.Variable):
            v.encoding = {}
        # NetCDF attributes have no booleans: 0 / 1
        v.attrs = {k: (int(a) if isinstance(a, bool | np.bool_) else a) for k, a in v.attrs.items()}
    new.to_netcdf(tmp, engine="h5netcdf", encoding=_encoding(new, grid, config, "netcdf"))
    new.close()


def open_cube(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a built cube lazily (Zarr folder or NetCDF file)."""
    path = Path(path)
    if not path.exists():
        raise MissingDataError(path, "no such cube")
    if path.is_dir():
        return xr.open_zarr(path, consolidated=False)
    return xr.open_dataset(path, engine="h5netcdf", chunks={})


__all__ = ["BuildReport", "build_cube", "commit", "open_cube"]
