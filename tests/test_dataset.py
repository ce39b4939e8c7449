"""alignsar.dataset: chips, leak-free splits, statistics, pairs, writers, iterators, CLI.

Truth is computed independently with numpy / scipy on the arrays the synthetic cubes are built from.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from scipy.ndimage import maximum_filter

from alignsar.dataset import (
    Chip,
    ChipStore,
    SplitLeakError,
    assign_splits,
    check_disjoint,
    class_counts,
    iter_chips,
    make_chips,
    normalisation_statistics,
    pair_chips,
    temporal_split,
    with_times,
    write_chips,
)
from alignsar.dataset.cli import add_parser
from alignsar.dataset.splits import block_splits
from alignsar.errors import ConfigError

CLASSES = {1: "water", 2: "forest", 3: "urban"}
TIMES = np.array(["2021-04-01T05:26:22", "2021-04-13T05:26:23", "2021-04-25T05:26:24"], dtype="datetime64[ns]")


def _arrays(ny: int, nx: int, nt: int, seed: int, label_time: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lab_shape = (nt, ny, nx) if label_time else (ny, nx)
    return {
        "sigma0_vv": rng.gamma(2.0, 0.05, (nt, ny, nx)).astype(np.float32),
        "coherence_vv": rng.uniform(0, 1, (nt, ny, nx)).astype(np.float32),
        "height": rng.normal(300, 40, (ny, nx)).astype(np.float32),
        "label": rng.integers(0, 4, lab_shape).astype(np.uint8),
    }


def _dataset(arr: dict[str, np.ndarray], radar: bool = False) -> xr.Dataset:
    nt, ny, nx = arr["sigma0_vv"].shape
    Y, X = ("azimuth", "range") if radar else ("y", "x")
    attrs = {
        "sigma0_vv": {"units": "m2 m-2", "long_name": "sigma0 VV"},
        "coherence_vv": {"units": "1", "long_name": "coherence VV"},
        "height": {"units": "m", "long_name": "ellipsoidal height"},
        "label": {"flag_values": list(CLASSES), "flag_meanings": " ".join(CLASSES.values()), "long_name": "land cover"},
    }
    data = {k: ((("time", Y, X) if v.ndim == 3 else (Y, X)), v, attrs[k]) for k, v in arr.items()}
    ds = xr.Dataset(data, coords={"time": TIMES[:nt]})
    if radar:
        rows, cols = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        ds = ds.assign_coords(
            line=(Y, np.arange(ny)),
            pixel=(X, np.arange(nx)),
            lat=((Y, X), 42.0 + rows * 1e-4 + cols * 2e-5),
            lon=((Y, X), 12.5 + cols * 1e-4),
        )
        return ds
    ds = ds.assign_coords(y=4_650_005.0 - 10.0 * np.arange(ny), x=300_005.0 + 10.0 * np.arange(nx))
    return ds.rio.write_crs("EPSG:32633")


def _open(arr: dict[str, np.ndarray], tmp_path: Path, radar: bool = False, chunk: int = 32, name: str = "cube.zarr") -> xr.Dataset:
    ds = _dataset(arr, radar)
    Y, X = ("azimuth", "range") if radar else ("y", "x")
    path = tmp_path / name
    ds.chunk({Y: chunk, X: chunk}).to_zarr(path, consolidated=False)
    return xr.open_zarr(path, consolidated=False)


def _split_masks(chips: list[Chip], shape: tuple[int, int]) -> dict[str, np.ndarray]:
    masks: dict[str, np.ndarray] = {}
    for c in chips:
        m = masks.setdefault(c.split or "", np.zeros(shape, dtype=bool))
        m[c.row0 : c.row1, c.col0 : c.col1] = True
    return masks


def _grid_chips(shape: tuple[int, int], size: int, stride: int) -> list[Chip]:
    return [Chip(f"r{r}_c{c}", r, c, size) for r in range(0, shape[0] - size + 1, stride) for c in range(0, shape[1] - size + 1, stride)]


# ---------------------------------------------------------------------------------------------- chips


@pytest.mark.parametrize("stride", [16, 8, 12])
def test_make_chips_valid_fraction(tmp_path: Path, stride: int) -> None:
    arr = _arrays(96, 80, 3, 1, False)
    arr["sigma0_vv"][:, 0:20, 0:40] = np.nan  # no data at any date
    arr["coherence_vv"][1, 50:60, 30:80] = np.nan  # no data at one date
    cube = _open(arr, tmp_path)
    chips = make_chips(cube, size=16, stride=stride, min_valid=0.6, variables=["sigma0_vv", "coherence_vv"])
    ok = np.isfinite(arr["sigma0_vv"]).all(0) & np.isfinite(arr["coherence_vv"]).all(0)
    expected = {}
    for r in range(0, 96 - 16 + 1, stride):
        for c in range(0, 80 - 16 + 1, stride):
            f = ok[r : r + 16, c : c + 16].mean()
            if f >= 0.6:
                expected[(r, c)] = f
    got = {(ch.row0, ch.col0): ch.valid_fraction for ch in chips}
    assert set(got) == set(expected)
    assert all(got[k] == pytest.approx(v) for k, v in expected.items())
    assert (0, 0) not in got and all(ch.size == 16 and ch.split is None and ch.time is None for ch in chips)
    assert len({ch.id for ch in chips}) == len(chips)


def test_make_chips_mask_and_errors(tmp_path: Path) -> None:
    arr = _arrays(64, 64, 2, 2, False)
    cube = _open(arr, tmp_path)
    cube["land"] = xr.DataArray(np.zeros((64, 64), np.uint8), dims=("y", "x"))
    cube["land"][:32] = 1
    chips = make_chips(cube, size=16, mask_var="land")
    assert {c.row0 for c in chips} == {0, 16}
    assert len(make_chips(cube, size=16, min_valid=0.0)) == 16  # default variables: the signature ones
    with pytest.raises(ConfigError):
        make_chips(cube, size=128)
    with pytest.raises(ConfigError):
        make_chips(cube, size=16, min_valid=1.5)


# ---------------------------------------------------------------------------------------------- splits


@pytest.mark.parametrize(("stride", "buffer", "block"), [(8, 8, 32), (4, 12, 32), (8, 40, 96), (6, 8, 30)])
def test_splits_leak_free(stride: int, buffer: int, block: int) -> None:
    shape = (512, 480)
    chips = _grid_chips(shape, 8, stride)
    out = assign_splits(chips, shape, chip_size=8, block_size=block, buffer=buffer, seed=3)
    assert out and {c.split for c in out} == {"train", "val", "test"}
    # independent truth: no pixel in two splits; split masks dilated by the buffer never reach another split
    masks = _split_masks(out, shape)
    assert (sum(m.astype(int) for m in masks.values()) <= 1).all()
    for a, ma in masks.items():
        grown = maximum_filter(ma, size=2 * buffer + 1)
        for b, mb in masks.items():
            if a != b:
                assert not (grown & mb).any(), (a, b)
    # each kept chip lies inside one block
    assert all(c.row0 // block == (c.row1 - 1) // block and c.col0 // block == (c.col1 - 1) // block for c in out)
    assert check_disjoint(out, buffer) >= buffer


def test_splits_fractions_and_seed() -> None:
    shape = (640, 640)  # 400 blocks of 32 px
    chips = _grid_chips(shape, 8, 8)
    out = assign_splits(chips, shape, chip_size=8, block_size=32, seed=0)
    labels = block_splits(400, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    assert [labels.count(s) for s in ("train", "val", "test")] == [280, 60, 60]
    # blocks keeping chips follow the fractions; chip shares favour train (val / test blocks, mostly
    # surrounded by train, lose their border chips to the buffer)
    blocks = {s: {(c.row0 // 32, c.col0 // 32) for c in out if c.split == s} for s in ("train", "val", "test")}
    n = sum(len(b) for b in blocks.values())
    assert len(blocks["train"]) / n == pytest.approx(0.7, abs=0.03)
    assert len(blocks["val"]) / n == pytest.approx(0.15, abs=0.03) and len(blocks["test"]) / n == pytest.approx(0.15, abs=0.03)
    share = {s: sum(c.split == s for c in out) / len(out) for s in ("train", "val", "test")}
    assert 0.7 <= share["train"] < 0.9 and 0.05 < share["val"] <= 0.15 and 0.05 < share["test"] <= 0.15
    assert out == assign_splits(chips, shape, chip_size=8, block_size=32, seed=0)
    assert out != assign_splits(chips, shape, chip_size=8, block_size=32, seed=1)
    # the default block is 4 chips wide and the default buffer one chip
    default = assign_splits(chips, shape, chip_size=8, seed=0)
    assert default == out and check_disjoint(default, 8) >= 8


def test_split_errors_and_checker() -> None:
    chips = _grid_chips((128, 128), 16, 16)
    with pytest.raises(ConfigError, match="buffer"):
        assign_splits(chips, (128, 128), chip_size=16, buffer=8)
    with pytest.raises(ConfigError, match="fractions"):
        assign_splits(chips, (128, 128), chip_size=16, fractions={"train": 0.7, "val": 0.2})
    a = Chip("a", 0, 0, 16, split="train")
    with pytest.raises(SplitLeakError):
        check_disjoint([a, Chip("b", 8, 8, 16, split="val")], 16)  # shared pixels
    with pytest.raises(SplitLeakError):
        check_disjoint([a, Chip("b", 0, 26, 16, split="val")], 16)  # 10 px apart
    assert check_disjoint([a, Chip("b", 0, 32, 16, split="val"), Chip("c", 40, 0, 16, split="train")], 16) == 16


def test_temporal_split_and_single_date_chips() -> None:
    idx = temporal_split(TIMES, {"train": (None, "2021-04-10"), "val": ("2021-04-10", "2021-04-20"), "test": ("2021-04-20", None)})
    assert {k: v.tolist() for k, v in idx.items()} == {"train": [0], "val": [1], "test": [2]}
    with pytest.raises(ConfigError):
        temporal_split(TIMES, {"train": (None, "2021-04-20"), "val": ("2021-04-10", None)})
    chips = [Chip("a", 0, 0, 8, split="train"), Chip("b", 0, 32, 8, split="val")]
    timed = with_times(chips, {"train": [0, 1], "val": [2]})
    assert [(c.split, c.time) for c in timed] == [("train", 0), ("train", 1), ("val", 2)]
    assert len({c.id for c in timed}) == 3


# ---------------------------------------------------------------------------------------------- statistics


def _stat_truth(values: np.ndarray) -> dict[str, float]:
    v = values[np.isfinite(values)].astype(np.float64)
    p = np.percentile(v, [2, 50, 98])
    return {"count": v.size, "mean": v.mean(), "std": v.std(), "min": v.min(), "max": v.max(), "p2": p[0], "p50": p[1], "p98": p[2]}


def _assert_stats(got: dict, truth: dict[str, float]) -> None:
    assert got["count"] == truth["count"]
    for k in ("mean", "std", "min", "max"):
        assert got[k] == pytest.approx(truth[k], rel=1e-6, abs=1e-9), k
    for p in ("2", "50", "98"):
        assert got["percentiles"][p] == pytest.approx(truth[f"p{p}"], rel=1e-6), p


def test_statistics_on_training_chips_only(tmp_path: Path) -> None:
    shape = (128, 128)
    chips = assign_splits(_grid_chips(shape, 16, 8), shape, chip_size=16, block_size=32, seed=1)
    masks = _split_masks(chips, shape)
    train = masks["train"]
    arr = _arrays(*shape, 3, 4, False)
    arr["sigma0_vv"][:, ~train] += 5.0  # val / test / unused regions drawn from another distribution
    arr["height"][~train] -= 1000.0
    arr["sigma0_vv"][1, 10:20, 10:20] = np.nan
    cube = _open(arr, tmp_path)
    stats = normalisation_statistics(cube, chips, ["sigma0_vv", "height"])
    assert stats["split"] == "train" and stats["chips"] == sum(c.split == "train" for c in chips)
    _assert_stats(stats["variables"]["sigma0_vv"], _stat_truth(arr["sigma0_vv"][:, train]))
    _assert_stats(stats["variables"]["height"], _stat_truth(arr["height"][train]))
    assert stats["variables"]["sigma0_vv"]["units"] == "m2 m-2"
    everything = np.zeros(shape, bool)
    for m in masks.values():
        everything |= m
    assert abs(stats["variables"]["sigma0_vv"]["mean"] - _stat_truth(arr["sigma0_vv"][:, everything])["mean"]) > 0.3
    # percentiles on a subsample beyond max_samples stay close
    sub = normalisation_statistics(cube, chips, ["sigma0_vv"], max_samples=5000)["variables"]["sigma0_vv"]
    assert sub["count"] == stats["variables"]["sigma0_vv"]["count"] and sub["percentile_sample_step"] > 1
    assert sub["percentiles"]["50"] == pytest.approx(stats["variables"]["sigma0_vv"]["percentiles"]["50"], rel=0.05)
    with pytest.raises(ConfigError):
        normalisation_statistics(cube, [c for c in chips if c.split != "train"], ["sigma0_vv"])


@pytest.mark.parametrize("label_time", [False, True])
def test_class_counts(tmp_path: Path, label_time: bool) -> None:
    shape = (96, 96)
    chips = assign_splits(_grid_chips(shape, 16, 8), shape, chip_size=16, block_size=32, seed=2)
    arr = _arrays(*shape, 3, 5, label_time)
    arr["label"][..., 0:5, :] = 7  # a value outside flag_values
    cube = _open(arr, tmp_path)
    got = class_counts(cube, chips)
    names = {0: "unlabelled", **CLASSES}
    for split, mask in _split_masks(chips, shape).items():
        values, n = np.unique(arr["label"][..., mask], return_counts=True)
        truth = {names.get(int(v), str(int(v))): int(k) for v, k in zip(values, n, strict=True)}
        assert {k: v for k, v in got[split].items() if v} == truth
        assert set(CLASSES.values()) <= set(got[split])


# ---------------------------------------------------------------------------------------------- pairs and writers


def test_pair_chips_change_labels(tmp_path: Path) -> None:
    arr = _arrays(64, 64, 3, 6, True)
    cube = _open(arr, tmp_path)
    chips = [Chip("a", 0, 0, 16, split="train"), Chip("b", 32, 16, 16, split="val", time=2)]
    pairs = pair_chips(cube, chips)
    assert [(p.chip.id, p.t1, p.t2) for p in pairs] == [("a", 0, 1), ("a", 1, 2), ("b", 1, 2)]
    assert [(p.t1, p.t2) for p in pair_chips(cube, chips[:1], [(0, 2)])] == [(0, 2)]
    with pytest.raises(ConfigError):
        pair_chips(cube, chips, [(0, 0)])
    out = write_chips(cube, chips, tmp_path / "ml", variables=["sigma0_vv"], pairs="consecutive", statistics=False)
    ds = xr.open_zarr(out / "chips" / "a.zarr", consolidated=False)
    lab = arr["label"][:, 0:16, 0:16]
    for k, (t1, t2) in enumerate([(0, 1), (1, 2)]):
        a, b = lab[t1], lab[t2]
        truth = np.where((a == 0) | (b == 0), 0, np.where(a != b, 2, 1))
        np.testing.assert_array_equal(ds["change"].isel(pair=k).values, truth)
        assert (int(ds["pair_t1"][k]), int(ds["pair_t2"][k])) == (t1, t2)
    index = json.loads((out / "index.json").read_text())
    assert [p["t1"] for p in index["chips"][0]["pairs"]] == [0, 1]
    static = _open(_arrays(64, 64, 3, 6, False), tmp_path, name="static.zarr")
    with pytest.raises(ConfigError, match="time-varying"):
        pair_chips(static, chips)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # rioxarray's Affine '*'
def test_geotiff_chips_are_georeferenced(tmp_path: Path) -> None:
    import rasterio

    arr = _arrays(64, 96, 3, 7, False)
    cube = _open(arr, tmp_path)
    chips = assign_splits(make_chips(cube, size=16, variables=["sigma0_vv"]), (64, 96), chip_size=16, block_size=32, seed=0)
    out = write_chips(cube, chips, tmp_path / "tif", variables=["sigma0_vv", "height"], format="geotiff")
    index = json.loads((out / "index.json").read_text())
    ref = cube.rio.transform()
    assert index["grid"] == "map" and Affine(*index["transform"]) == ref
    for entry in index["chips"][:4]:
        files = entry["paths"]["geotiff"]
        assert [Path(f).name for f in files["sigma0_vv"]] == [
            f"sigma0_vv_{s}.tif" for s in ("20210401T052622", "20210413T052623", "20210425T052624")
        ]
        with rasterio.open(out / files["sigma0_vv"][1]) as src:
            assert src.transform == ref @ Affine.translation(entry["col0"], entry["row0"])
            assert src.crs.to_epsg() == 32633
            assert list(src.bounds) == pytest.approx(entry["bounds"])
            r, c = entry["row0"], entry["col0"]
            np.testing.assert_array_equal(src.read(1), arr["sigma0_vv"][1, r : r + 16, c : c + 16])
        with rasterio.open(out / files["label"][0]) as src:
            np.testing.assert_array_equal(src.read(1), arr["label"][r : r + 16, c : c + 16])
    # iterating GeoTIFF chips gives what Zarr chips give
    zarr = write_chips(cube, chips, tmp_path / "zarr", variables=["sigma0_vv", "height"])
    for (xa, ya), (xb, yb) in zip(iter_chips(out, "val"), iter_chips(zarr, "val"), strict=True):
        np.testing.assert_allclose(xa, xb)
        np.testing.assert_array_equal(ya, yb)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # rioxarray's Affine '*'
def test_iterator_shapes_and_normalisation(tmp_path: Path) -> None:
    arr = _arrays(64, 64, 3, 8, False)
    arr["sigma0_vv"][0, 0:4, 0:4] = np.nan
    cube = _open(arr, tmp_path)
    chips = assign_splits(make_chips(cube, size=16), (64, 64), chip_size=16, block_size=32, seed=0)
    out = write_chips(cube, chips, tmp_path / "ml", variables=["sigma0_vv", "height"], split_parameters={"seed": 0})
    stats = json.loads((out / "statistics.json").read_text())
    assert stats["splits"] == {"seed": 0} and stats["source"].endswith("cube.zarr")
    assert set(stats["class_counts"]) == {c.split for c in chips}
    norm = stats["normalisation"]["variables"]
    train = [c for c in chips if c.split == "train"]
    raw = list(iter_chips(out, "train", normalise=False))
    assert len(raw) == len(train)
    for chip, (x, y) in zip(train, raw, strict=True):
        r, c = chip.row0, chip.col0
        assert x.shape == (2, 3, 16, 16) and x.dtype == np.float32 and y.shape == (16, 16)
        np.testing.assert_array_equal(x[0], arr["sigma0_vv"][:, r : r + 16, c : c + 16])
        np.testing.assert_array_equal(x[1], np.broadcast_to(arr["height"][r : r + 16, c : c + 16], (3, 16, 16)))
        np.testing.assert_array_equal(y, arr["label"][r : r + 16, c : c + 16])
    for (x, _), (xr_, _) in zip(iter_chips(out, "train"), raw, strict=True):
        for b, v in enumerate(["sigma0_vv", "height"]):
            truth = np.nan_to_num((xr_[b] - norm[v]["mean"]) / norm[v]["std"], nan=0.0)
            np.testing.assert_allclose(x[b], truth, rtol=1e-5, atol=1e-5)
        assert np.isfinite(x).all()
    x, y = next(iter_chips(out, "train", time=1))
    assert x.shape == (2, 16, 16) and y.shape == (16, 16)
    # Zarr chips keep the grid mapping: rioxarray reads the cube's CRS and the chip's transform
    entry = ChipStore(out).chips("train")[0]
    chip = xr.open_zarr(out / entry["paths"]["zarr"], consolidated=False)
    assert chip.rio.crs.to_epsg() == 32633
    assert chip.rio.transform() == cube.rio.transform() @ Affine.translation(entry["col0"], entry["row0"])


def test_single_date_chips(tmp_path: Path) -> None:
    arr = _arrays(64, 64, 3, 9, True)
    cube = _open(arr, tmp_path)
    chips = assign_splits(make_chips(cube, size=16), (64, 64), chip_size=16, block_size=32, seed=0)
    idx = temporal_split(cube["time"].values, {"train": (None, "2021-04-20"), "val": ("2021-04-20", None)})
    timed = with_times(chips, {**idx, "test": [2]})
    out = write_chips(cube, timed, tmp_path / "ml", variables=["sigma0_vv"])
    store = ChipStore(out)
    assert {e["time_index"] for e in store.chips("train")} == {0, 1}
    entry = store.chips("train")[1]
    x, y = store.load(entry, normalise=False)
    r, c, t = entry["row0"], entry["col0"], entry["time_index"]
    assert x.shape == (1, 16, 16) and y.shape == (16, 16)
    np.testing.assert_array_equal(x[0], arr["sigma0_vv"][t, r : r + 16, c : c + 16])
    np.testing.assert_array_equal(y, arr["label"][t, r : r + 16, c : c + 16])
    # training statistics count only the training dates
    train = _split_masks(chips, (64, 64))["train"]
    assert json.loads((out / "statistics.json").read_text())["normalisation"]["variables"]["sigma0_vv"]["count"] == 2 * train.sum()


def test_radar_grid(tmp_path: Path) -> None:
    import rasterio

    arr = _arrays(96, 64, 2, 10, False)
    cube = _open(arr, tmp_path, radar=True)
    chips = assign_splits(make_chips(cube, size=8), (96, 64), chip_size=8, block_size=32, seed=0)
    assert check_disjoint(chips, 8) >= 8 and any(c.split == "train" for c in chips)
    few = [c for c in chips if c.split == "train"][:3] + [c for c in chips if c.split != "train"][:2]
    out = write_chips(cube, few, tmp_path / "ml", variables=["sigma0_vv", "coherence_vv"])
    index = json.loads((out / "index.json").read_text())
    assert index["grid"] == "radar" and index["crs_wkt"] is None and all(e["bounds"] is None for e in index["chips"])
    e = index["chips"][0]
    ds = xr.open_zarr(out / e["paths"]["zarr"], consolidated=False)
    assert ds["sigma0_vv"].dims == ("time", "azimuth", "range") and "lat" in ds.coords
    np.testing.assert_array_equal(ds["line"].values, np.arange(e["row0"], e["row0"] + 8))
    x, _ = next(iter_chips(out, e["split"], normalise=False))
    assert x.shape == (2, 2, 8, 8)
    tif = write_chips(cube, chips[:2], tmp_path / "tif", variables=["sigma0_vv"], format="geotiff", statistics=False)
    e = json.loads((tif / "index.json").read_text())["chips"][0]
    with rasterio.open(tif / e["paths"]["geotiff"]["sigma0_vv"][0]) as src:
        gcps, crs = src.gcps
        assert crs.to_epsg() == 4326 and len(gcps) == 9
        g = gcps[0]
        assert g.y == pytest.approx(42.0 + e["row0"] * 1e-4 + e["col0"] * 2e-5) and g.x == pytest.approx(12.5 + e["col0"] * 1e-4)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    cube = _open(_arrays(32, 32, 2, 11, False), tmp_path)
    with pytest.raises(Exception, match="nope"):
        write_chips(cube, [Chip("a", 0, 0, 16, split="train")], tmp_path / "ml", variables=["nope"])
    with pytest.raises(ConfigError):
        write_chips(cube, [Chip("a", 0, 0, 16, split="val")], tmp_path / "ml", variables=["sigma0_vv"])  # no training chip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.zarr"]


# ---------------------------------------------------------------------------------------------- torch and CLI


def test_torch_dataset_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    import alignsar.dataset as dataset
    from alignsar.dataset import torch as chip_torch

    chip_torch._dataset_class.cache_clear()
    monkeypatch.setitem(sys.modules, "torch", None)  # makes ``import torch`` fail
    try:
        with pytest.raises(ImportError, match=r"install alignsar\[ml\]"):
            _ = dataset.ChipDataset
    finally:
        chip_torch._dataset_class.cache_clear()


def test_torch_dataset(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed (alignsar[ml])")
    from alignsar.dataset.torch import ChipDataset

    cube = _open(_arrays(64, 64, 2, 12, False), tmp_path)
    chips = assign_splits(make_chips(cube, size=16), (64, 64), chip_size=16, block_size=32, seed=0)
    chips = [c for c in chips if c.split == "train"][:4]
    out = write_chips(cube, chips, tmp_path / "ml", variables=["sigma0_vv"])
    ds = ChipDataset(out, "train")
    assert isinstance(ds, torch.utils.data.Dataset) and len(ds) == sum(c.split == "train" for c in chips)
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert tuple(x.shape) == (2, 1, 2, 16, 16) and x.dtype == torch.float32 and tuple(y.shape) == (2, 16, 16)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alignsar")
    parser.add_argument("-q", "--quiet", action="store_true")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _open(_arrays(64, 64, 3, 13, True), tmp_path)
    out = tmp_path / "ml"
    args = _parser().parse_args(
        ["chips", str(tmp_path / "cube.zarr"), "-o", str(out), "--size", "16", "--block-size", "32", "--pairs", "--seed", "1"]
    )
    assert args.func(args) == 0
    index = json.loads((out / "index.json").read_text())
    stats = json.loads((out / "statistics.json").read_text())
    assert index["variables"] == ["coherence_vv", "sigma0_vv"] and index["label"] == "label"  # sorted: stable channels
    assert stats["splits"]["buffer"] == 16 and stats["splits"]["block_size"] == 32 and stats["splits"]["seed"] == 1
    assert all(e["pairs"] for e in index["chips"])
    assert "chips (train" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["chips", "--help"])
    assert exc.value.code == 0
    assert "--block-size" in capsys.readouterr().out
    args = _parser().parse_args(["-q", "chips", str(tmp_path / "cube.zarr"), "-o", str(out), "--size", "16", "--buffer", "8"])
    with pytest.raises(ConfigError):
        args.func(args)
