"""Moving-window (boxcar) means of real or complex rasters: :func:`alignsar.speckle.boxcar` (lazy,
chunk-exact, NaN-aware; NaN pixels stay NaN) applied to real and imaginary parts."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..speckle import Window, _window, boxcar


def window_shape(window: Window) -> tuple[int, int]:
    """``(rows, cols)`` of a window given as an odd int or a pair of odd ints (pixels)."""
    return _window(window)


def local_mean(values: xr.DataArray | Any, window: Window) -> Any:
    """Boxcar mean over the last two dims in ``window`` pixels; complex values are averaged as real
    and imaginary parts. Attributes are dropped (the callers set their own)."""
    arr = values if isinstance(values, xr.DataArray) else xr.DataArray(values)
    arr = arr.copy()
    arr.attrs = {}
    if np.iscomplexobj(arr.dtype.type(0)):
        out = boxcar(arr.real, window) + 1j * boxcar(arr.imag, window)
    else:
        out = boxcar(arr, window)
    out.attrs = {}
    return out if isinstance(values, xr.DataArray) else out.data
