"""Variants of simulated acquisitions for tests and benchmarks: detected (GRD-like) pixels on the same
radar grid, and an annotation whose timing is off by a known amount.

Both keep everything else of the acquisition (orbit, grids, calibration), so the coregistration's
geometric prior still applies; the simulator's truth (``SimulatedScene.truth``) stays valid for the
pixels, while the geometry of :func:`with_timing_error` is wrong by exactly the stated offsets.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.ndimage import uniform_filter

from ..model import Acquisition
from .scene import InMemorySource


def detected(acq: Acquisition, looks: int = 2) -> Acquisition:
    """``acq`` (simulated, complex) as a detected product: intensities ``|DN|^2`` multilooked by a
    ``looks`` x ``looks`` boxcar (scipy ``uniform_filter``: the same filter for every date, so it
    moves no offset), float32, on the same radar grid; ``product_type`` ``GRD``. Only single-swath
    in-memory acquisitions (the simulator's)."""
    if not isinstance(acq.source, InMemorySource):
        raise TypeError(f"{acq.source_path}: detected() takes the simulator's in-memory acquisitions")
    sw = acq.swath()
    rasters = {}
    for pol in acq.polarizations:
        slc = np.asarray(acq.source.rasters[pol.upper()]).astype(np.complex128)
        intensity = slc.real**2 + slc.imag**2
        rasters[pol.upper()] = (uniform_filter(intensity, looks) if looks > 1 else intensity).astype(np.float32)
    source = InMemorySource(rasters, acq.source.calibration(sw.name, acq.polarizations[0]))
    return dataclasses.replace(acq, product_type="GRD", source=source)


def with_timing_error(acq: Acquisition, lines: float, pixels: float) -> Acquisition:
    """``acq`` with its annotated timing late by ``lines`` azimuth time intervals (first line time)
    and ``pixels`` range sampling intervals (first slant-range time), the pixels unchanged: an
    along-track orbit / timing error or a tropospheric delay. Geometry computed from the annotation
    then places every ground point ``lines`` / ``pixels`` px too early in the raster (a geometric
    prior off by minus that constant), which the correlation has to measure. Slant-range grids
    without bursts only."""
    sw = acq.swath()
    grid = sw.grid
    if grid.projection != "slant_range" or grid.is_tops:
        raise ValueError(f"{acq.source_path}: with_timing_error() needs a slant-range stripmap grid")
    late = np.timedelta64(round(lines * grid.azimuth_time_interval * 1e9), "ns")
    shifted = dataclasses.replace(
        grid,
        first_azimuth_time=grid.first_azimuth_time + late,
        first_slant_range_time=grid.first_slant_range_time + pixels / grid.range_sampling_rate,
    )
    return dataclasses.replace(acq, swaths={sw.name: dataclasses.replace(sw, grid=shifted)})
