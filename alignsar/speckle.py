"""Speckle filters and the equivalent number of looks, lazily on xarray DataArrays.

Conventions
-----------
* Input is **linear intensity** (power, |s|², e.g. sigma0 in linear scale), never dB: speckle is
  multiplicative in linear intensity, and averaging dB values is biased (the mean of the log is not
  the log of the mean; for single-look speckle the bias is about -2.5 dB). An input whose ``units``
  attribute is ``dB`` is refused with :class:`~alignsar.errors.ConfigError`.
* The last two dimensions are the spatial ones (``("azimuth", "range")`` or ``("y", "x")``); any
  leading dimension (e.g. ``"date"``) is filtered image by image. The multi-temporal filter
  :func:`quegan` combines the images along the dimension ``dim``.
* A window is an odd int ``n`` (``n x n``) or an odd ``(rows, cols)`` pair, centred on the pixel.
* NaN is missing data: NaN pixels are left out of every local statistic (means, variances, counts)
  and stay NaN in the output; they never spread. Outside the image is missing data too, so windows
  shrink at the image border (statistics over the valid pixels only).
* Dask-backed input stays lazy: one ``dask.array.map_overlap`` with a halo of half the window per
  spatial axis (NaN beyond the image), so every chunk sees exactly the pixels a single-chunk
  computation would and chunk borders are exact. Outputs keep the input's dims, coords and chunks.
* Local statistics are computed in float64; the output is float32 for float32 input, else float64.
* Local variances are sample variances (``n - 1`` denominator, ``n`` = valid pixels in the window).

Every filtered output carries ``attrs``: ``units`` (copied from the input, ``"1"`` if absent),
``long_name``, ``speckle_filter``, ``window`` (``[rows, cols]``) and ``formula`` (a short reference).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
from scipy import ndimage

from .errors import ConfigError

__all__ = ["boxcar", "enl", "lee", "quegan", "refined_lee"]

Window = int | tuple[int, int]
_Kernel = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------------------------
# validation and the lazy, chunk-exact application of a block kernel


def _window(window: Window, *, min_area: int = 1) -> tuple[int, int]:
    """``(rows, cols)`` of a centred window; ConfigError unless both are odd ints >= 1."""
    pair = (window, window) if isinstance(window, int | np.integer) else tuple(window) if isinstance(window, tuple | list) else ()
    if len(pair) != 2 or not all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in pair):
        raise ConfigError(None, f"window must be an odd int or a (rows, cols) pair of odd ints, got {window!r}")
    rows, cols = int(pair[0]), int(pair[1])
    if rows < 1 or cols < 1 or rows % 2 == 0 or cols % 2 == 0:
        raise ConfigError(None, f"window sizes must be odd and >= 1 (a centred window), got {rows}x{cols}")
    if rows * cols < min_area:
        raise ConfigError(None, f"window {rows}x{cols} is too small: a local variance needs at least {min_area} pixels")
    return rows, cols


def _check_input(intensity: xr.DataArray) -> None:
    if not isinstance(intensity, xr.DataArray):
        raise ConfigError(None, f"expected an xarray.DataArray of linear intensity, got {type(intensity).__name__}")
    if intensity.ndim < 2:
        raise ConfigError(None, f"need at least two (spatial) dims, got {intensity.dims}")
    if str(intensity.attrs.get("units", "")).strip().lower() == "db":
        raise ConfigError(None, "input is in dB: speckle filters work on linear intensity (convert with 10**(dB/10))")


def _out_dtype(intensity: xr.DataArray) -> np.dtype:
    return np.dtype(np.float32) if intensity.dtype == np.float32 else np.dtype(np.float64)


def _apply(intensity: xr.DataArray, kernel: _Kernel, rows: int, cols: int, out_dtype: np.dtype) -> Any:
    """Run ``kernel`` (padded float64 block -> same-shape block) with a NaN halo of half the window.

    Lazy and chunk-preserving for dask data; the same NaN padding for numpy data, so both agree.
    """
    data = intensity.data
    nd = data.ndim
    hr, hc = rows // 2, cols // 2

    def run(block: np.ndarray) -> np.ndarray:
        return kernel(np.asarray(block, dtype=np.float64)).astype(out_dtype, copy=False)

    if isinstance(data, da.Array):
        depth = {ax: 0 for ax in range(nd)} | {nd - 2: hr, nd - 1: hc}
        boundary = {ax: "none" for ax in range(nd)} | {nd - 2: np.nan, nd - 1: np.nan}
        out = da.map_overlap(
            run,
            data.astype(np.float64),
            depth=depth,
            boundary=boundary,
            trim=True,
            dtype=out_dtype,
            meta=np.empty((0,) * nd, dtype=out_dtype),
        )
        if out.chunks != data.chunks:  # dask grew chunks smaller than the halo: restore the layout
            out = out.rechunk(data.chunks)
        return out
    pad = [(0, 0)] * (nd - 2) + [(hr, hr), (hc, hc)]
    padded = np.pad(np.asarray(data, dtype=np.float64), pad, constant_values=np.nan)
    return run(padded)[..., hr : hr + data.shape[-2], hc : hc + data.shape[-1]]


def _wrap(
    intensity: xr.DataArray, data: Any, *, name: str, long_name: str, formula: str, window: tuple[int, int], **extra: Any
) -> xr.DataArray:
    out = intensity.copy(data=data)
    attrs = dict(intensity.attrs)
    attrs.update(
        units=intensity.attrs.get("units", "1"),
        long_name=long_name,
        speckle_filter=name,
        window=[int(window[0]), int(window[1])],
        formula=formula,
        **extra,
    )
    out.attrs = attrs
    return out


# ----------------------------------------------------------------------------------------------
# numpy block kernels (last two axes spatial; input already NaN-padded by half the window)


def _window_sum(a: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Centred running sum of odd length ``n`` along ``axis`` (zeros beyond the ends)."""
    h = n // 2
    pad = [(0, 0)] * a.ndim
    pad[axis] = (h + 1, h)
    cs = np.cumsum(np.pad(a, pad), axis=axis)
    length = a.shape[axis]
    return np.take(cs, np.arange(n, n + length), axis=axis) - np.take(cs, np.arange(length), axis=axis)


def _box_sum(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return _window_sum(_window_sum(a, rows, a.ndim - 2), cols, a.ndim - 1)


def _moments(a: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NaN-aware local (count, mean, sample variance) in a ``rows x cols`` box."""
    valid = np.isfinite(a)
    x = np.where(valid, a, 0.0)
    return _stats(_box_sum(valid.astype(np.float64), rows, cols), _box_sum(x, rows, cols), _box_sum(x * x, rows, cols))


def _stats(n: np.ndarray, s: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(count, mean, sample variance) from window sums; variance 0 where fewer than two pixels."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s / n, np.nan)
        var = np.where(n > 1, (s2 - s * mean) / (n - 1), 0.0)
    return n, mean, np.maximum(var, 0.0)


def _boxcar_kernel(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    valid = np.isfinite(a)
    n = _box_sum(valid.astype(np.float64), rows, cols)
    s = _box_sum(np.where(valid, a, 0.0), rows, cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, s / n, np.nan)


def _enl_kernel(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    _, mean, var = _moments(a, rows, cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(a), mean * mean / var, np.nan)


def _lee_update(y: np.ndarray, mean: np.ndarray, var: np.ndarray, looks: float) -> np.ndarray:
    """Lee's minimum-mean-square-error estimate for multiplicative speckle of ``looks`` looks."""
    cu2 = 1.0 / looks  # squared coefficient of variation of the speckle
    var_x = (var - mean * mean * cu2) / (1.0 + cu2)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.clip(np.where(var > 0, var_x / var, 0.0), 0.0, 1.0)
    return np.where(np.isfinite(y), mean + k * (y - mean), np.nan)


def _lee_kernel(a: np.ndarray, rows: int, cols: int, looks: float) -> np.ndarray:
    _, mean, var = _moments(a, rows, cols)
    return _lee_update(a, mean, var, looks)


def _shift(a: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """``out[..., r, c] = a[..., r + dr, c + dc]``, NaN where that falls outside ``a``."""
    out = np.full_like(a, np.nan)
    R, C = a.shape[-2:]
    out[..., max(0, -dr) : R - max(0, dr), max(0, -dc) : C - max(0, dc)] = a[
        ..., max(0, dr) : R - max(0, -dr), max(0, dc) : C - max(0, -dc)
    ]
    return out


def _directional_masks(n: int) -> np.ndarray:
    """The 8 edge-aligned non-symmetric ``n x n`` windows of the refined Lee filter, each holding the centre line.

    0 / 1: left / right half (vertical edge); 2 / 3: upper / lower half (horizontal edge);
    4 / 5: upper-right / lower-left triangle (edge along the main diagonal);
    6 / 7: upper-left / lower-right triangle (edge along the anti-diagonal).
    """
    h = n // 2
    du, dv = np.mgrid[-h : h + 1, -h : h + 1]
    return np.stack([dv <= 0, dv >= 0, du <= 0, du >= 0, dv >= du, dv <= du, du + dv <= 0, du + dv >= 0]).astype(np.float64)


def _subwindow(n: int) -> tuple[int, int]:
    """(size, step) of the 3 x 3 grid of sub-windows tiling an ``n x n`` window (3 and 2 for n = 7)."""
    size = (n // 2) if (n // 2) % 2 else (n // 2 - 1)
    return size, (n - size) // 2


def _refined_lee_kernel(a: np.ndarray, n: int, looks: float) -> np.ndarray:
    lead = (1,) * (a.ndim - 2)
    valid = np.isfinite(a)
    x = np.where(valid, a, 0.0)
    w = valid.astype(np.float64)

    # 1. the 3 x 3 grid of sub-window means M[i][j] (i, j = -1, 0, +1 sub-window offsets)
    size, step = _subwindow(n)
    sub_n = _box_sum(w, size, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        sub = np.where(sub_n > 0, _box_sum(x, size, size) / sub_n, np.nan)
    M = {(i, j): _shift(sub, i * step, j * step) for i in (-1, 0, 1) for j in (-1, 0, 1)}

    # 2. the edge direction: the largest absolute response of the four 3 x 3 gradient templates
    def total(cells: list[tuple[int, int]]) -> np.ndarray:
        return functools.reduce(np.add, (M[c] for c in cells))

    gradients = np.stack(
        [
            total([(-1, 1), (0, 1), (1, 1)]) - total([(-1, -1), (0, -1), (1, -1)]),  # vertical edge
            total([(1, -1), (1, 0), (1, 1)]) - total([(-1, -1), (-1, 0), (-1, 1)]),  # horizontal edge
            total([(-1, 0), (-1, 1), (0, 1)]) - total([(0, -1), (1, -1), (1, 0)]),  # main-diagonal edge
            total([(-1, -1), (-1, 0), (0, -1)]) - total([(0, 1), (1, 0), (1, 1)]),  # anti-diagonal edge
        ]
    )
    direction = np.argmax(np.nan_to_num(np.abs(gradients), nan=-1.0), axis=0)

    # 3. the side of the edge whose sub-window mean is closer to the centre sub-window's
    centre = M[0, 0]

    def distance(cell: tuple[int, int]) -> np.ndarray:
        return np.nan_to_num(np.abs(M[cell] - centre), nan=np.inf)

    sides = [((0, -1), (0, 1)), ((-1, 0), (1, 0)), ((-1, 1), (1, -1)), ((-1, -1), (1, 1))]
    second = np.stack([distance(b) < distance(a_) for a_, b in sides])
    choice = 2 * direction + np.take_along_axis(second, direction[None], axis=0)[0]

    # 4. Lee's estimate with the statistics of the chosen directional window
    mean = np.full(a.shape, np.nan)
    var = np.zeros(a.shape)
    for k, mask in enumerate(_directional_masks(n)):
        sel = choice == k
        if not sel.any():
            continue
        kern = mask.reshape(lead + mask.shape)
        sums = [ndimage.correlate(q, kern, mode="constant", cval=0.0) for q in (w, x, x * x)]
        _, m_k, v_k = _stats(*sums)
        mean[sel] = m_k[sel]
        var[sel] = v_k[sel]
    return _lee_update(a, mean, var, looks)


# ----------------------------------------------------------------------------------------------
# public filters


def boxcar(intensity: xr.DataArray, window: Window) -> xr.DataArray:
    """Moving average of linear intensity over a centred ``window`` (NaN-aware).

    NaN pixels are left out of the mean and stay NaN; at the image border the window shrinks to the
    pixels inside the image. For uncorrelated L-look speckle the output ENL is ``L * rows * cols``.
    """
    _check_input(intensity)
    rows, cols = _window(window)
    data = _apply(intensity, functools.partial(_boxcar_kernel, rows=rows, cols=cols), rows, cols, _out_dtype(intensity))
    return _wrap(
        intensity,
        data,
        name="boxcar",
        long_name=f"boxcar {rows}x{cols} filtered intensity",
        formula="boxcar: J = <I> (NaN-aware local mean)",
        window=(rows, cols),
    )


def enl(intensity: xr.DataArray, window: Window | None = None) -> float | xr.DataArray:
    """Equivalent number of looks ``ENL = mean² / variance`` of linear intensity.

    ``window=None``: one float over every finite pixel of the array (meaningful on a homogeneous
    area). With a ``window``: a local ENL map (NaN-aware local mean and sample variance; ``inf``
    where the local variance is 0), same dims / coords / chunks as the input.
    """
    _check_input(intensity)
    if window is None:
        x = intensity.astype(np.float64)
        mean, var = dask.compute(x.mean(skipna=True), x.var(skipna=True, ddof=1))
        return float(mean) ** 2 / float(var)
    rows, cols = _window(window, min_area=2)
    data = _apply(intensity, functools.partial(_enl_kernel, rows=rows, cols=cols), rows, cols, _out_dtype(intensity))
    out = _wrap(intensity, data, name="enl", long_name="equivalent number of looks", formula="ENL = <I>^2 / var(I)", window=(rows, cols))
    out.attrs["units"] = "1"
    del out.attrs["speckle_filter"]
    return out


def _looks(looks: float) -> float:
    if not np.isfinite(looks) or looks <= 0:
        raise ConfigError(None, f"looks (the input's equivalent number of looks) must be > 0, got {looks!r}")
    return float(looks)


def lee(intensity: xr.DataArray, window: Window, looks: float) -> xr.DataArray:
    """The classic Lee (1980) adaptive filter on linear intensity.

    ``J = m + k (I - m)`` with ``m``, ``var_y`` the local mean and sample variance in ``window``,
    ``var_x = (var_y - m²/L) / (1 + 1/L)`` and ``k = var_x / var_y`` clipped to [0, 1].
    ``looks`` (``L``) is the ENL of the *input* speckle (1 for single-look data; estimate it with
    :func:`enl` on a homogeneous area). Homogeneous areas get the local mean, strong texture and
    edges keep the pixel value.
    """
    _check_input(intensity)
    rows, cols = _window(window, min_area=2)
    L = _looks(looks)
    data = _apply(intensity, functools.partial(_lee_kernel, rows=rows, cols=cols, looks=L), rows, cols, _out_dtype(intensity))
    return _wrap(
        intensity,
        data,
        name="lee",
        long_name=f"Lee {rows}x{cols} filtered intensity",
        formula="Lee 1980: J = <I> + k (I - <I>), k = clip(var_x/var_I, 0, 1), var_x = (var_I - <I>^2/L)/(1 + 1/L)",
        window=(rows, cols),
        looks=L,
    )


def refined_lee(intensity: xr.DataArray, window: int = 7, *, looks: float) -> xr.DataArray:
    """Lee's refined filter (Lee 1981) with edge-aligned windows, on linear intensity.

    Implemented, per pixel, in a square ``window`` ``n x n`` (odd, ``n >= 7``):

    1. A 3 x 3 grid of sub-windows of ``s x s`` pixels, centred at offsets ``{-t, 0, t}`` with
       ``s`` the largest odd number <= ``n/2`` and ``t = (n - s)/2`` (``s = 3, t = 2`` for the
       classic 7 x 7: overlapping 3 x 3 sub-windows tiling the window); their NaN-aware means ``M``.
    2. Four gradient templates on ``M`` (vertical ``[-1 0 1]`` columns, horizontal, and the two
       diagonals ``[[0 1 1], [-1 0 1], [-1 -1 0]]`` and its mirror); the edge direction is the one
       with the largest absolute response.
    3. Of the two non-symmetric windows along that edge, the one on the side whose outer sub-window
       mean (the side's middle sub-window for vertical / horizontal edges, the corner sub-window for
       diagonal ones) is closer to the centre sub-window mean.
    4. The 8 windows are the left / right / upper / lower halves and the four triangles cut by the
       diagonals, each including the centre line (``n (n + 1) / 2`` pixels). Lee's estimate
       (see :func:`lee`) with the mean and sample variance of the chosen window.

    ``looks`` is the ENL of the input. Not implemented: the polarimetric (covariance matrix)
    version, and the "point target" preservation some software adds.
    """
    _check_input(intensity)
    rows, cols = _window(window)
    if rows != cols or rows < 7:
        raise ConfigError(None, f"refined Lee needs a square odd window of at least 7x7, got {rows}x{cols}")
    L = _looks(looks)
    data = _apply(intensity, functools.partial(_refined_lee_kernel, n=rows, looks=L), rows, cols, _out_dtype(intensity))
    return _wrap(
        intensity,
        data,
        name="refined_lee",
        long_name=f"refined Lee {rows}x{cols} filtered intensity",
        formula="Lee 1981: Lee's J = <I> + k (I - <I>) with statistics in the edge-aligned window (8 directions, 3x3 sub-window gradients)",
        window=(rows, cols),
        looks=L,
    )


def quegan(stack: xr.DataArray, window: Window, dim: str = "date") -> xr.DataArray:
    """The multi-temporal filter of Quegan & Yu (2001) on a stack of co-registered linear intensities.

    ``J_k = <I_k>/N * sum_i I_i / <I_i>`` with ``<.>`` the NaN-aware boxcar mean in ``window``
    and ``N`` the number of dates with a valid value at the pixel. Each date keeps its local mean;
    for ``N`` uncorrelated single-look dates the output ENL tends to ``N`` when the local means are
    well estimated (large window), i.e. ``N`` times the input's.

    Lazy for dask input (boxcar per date, then a reduction over ``dim``: memory per spatial chunk
    is the stack's chunk, not more). For numpy input the dates are summed one at a time, so the
    working memory is the output plus a few images.
    """
    _check_input(stack)
    if dim not in stack.dims:
        raise ConfigError(None, f"dimension {dim!r} not in the stack's dims {stack.dims}")
    if dim in stack.dims[-2:]:
        raise ConfigError(None, f"dimension {dim!r} is a spatial dim: the last two dims must be the image axes")
    rows, cols = _window(window)
    out_dtype = _out_dtype(stack)
    kernel = functools.partial(_boxcar_kernel, rows=rows, cols=cols)
    axis = stack.get_axis_num(dim)

    if isinstance(stack.data, da.Array):
        means = _apply(stack, kernel, rows, cols, np.dtype(np.float64))
        ratio = stack.data.astype(np.float64) / means
        total = da.nansum(ratio, axis=axis, keepdims=True)
        count = da.sum(da.isfinite(ratio), axis=axis, keepdims=True)
        data = (means * (total / count)).astype(out_dtype)
        data = data.rechunk(stack.data.chunks)
    else:
        values = np.asarray(stack.data)
        data = np.empty(values.shape, dtype=np.float64)
        total = np.zeros((*values.shape[:axis], 1, *values.shape[axis + 1 :]))
        count = np.zeros_like(total)
        for k in range(values.shape[axis]):
            image = stack.isel({dim: [k]})
            mean_k = _apply(image, kernel, rows, cols, np.dtype(np.float64))
            np.moveaxis(data, axis, 0)[k] = np.moveaxis(mean_k, axis, 0)[0]
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.asarray(image.data, dtype=np.float64) / mean_k
            valid = np.isfinite(ratio)
            total += np.where(valid, ratio, 0.0)
            count += valid
        with np.errstate(invalid="ignore", divide="ignore"):
            data *= total / count
        data = data.astype(out_dtype, copy=False)
    return _wrap(
        stack,
        data,
        name="quegan",
        long_name=f"Quegan multi-temporal {rows}x{cols} filtered intensity",
        formula="Quegan & Yu 2001: J_k = <I_k>/N sum_i I_i/<I_i>",
        window=(rows, cols),
        dim=dim,
    )
