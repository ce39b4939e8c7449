"""The alignsar command line: info, demo, --version, errors as one line with a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import alignsar
from alignsar.cli import main

from .conftest import shared_path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alignsar", *args], capture_output=True, text=True, timeout=300)


def test_version_and_help() -> None:
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"alignsar {alignsar.__version__}"
    for cmd in ([], ["info"], ["demo"]):
        res = run(*cmd, "--help")
        assert res.returncode == 0 and "usage: alignsar" in res.stdout


def test_info_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    product = shared_path("sentinel1", "s1-reader", "S1A_IW_SLC__1SDV_20220828T042306_20220828T042335_044748_0557C6_F396.zip")
    assert main(["info", str(product)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["mission"] == "sentinel-1" and info["platform"] == "sentinel-1a"
    assert info["product_type"] == "SLC" and info["mode"] == "IW" and info["swaths"] == ["IW1", "IW2", "IW3"]
    assert info["start_time"] == "2022-08-28T04:23:06.019745Z" and info["absolute_orbit"] == 44748
    assert info["relative_orbit"] == 51 and info["pass_direction"] == "ascending" and info["look_side"] == "right"
    assert info["polarizations"] == ["VV", "VH"] and info["footprint"]["type"] == "Polygon"
    assert info["radar_grids"]["IW2"]["bursts"] == 10


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda d: d / "absent.SAFE", "MissingDataError"),
        (lambda d: (d / "junk.bin").write_bytes(b"\x00junk" * 100) and d / "junk.bin", "UnsupportedProductError"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "UnsupportedProductError"),
    ],
)
def test_bad_input_one_line_nonzero(tmp_path: Path, make, expected: str) -> None:
    path = make(tmp_path)
    res = run("info", str(path))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"alignsar: {expected}: ") and str(path) in lines[0]
    debug = run("--debug", "info", str(path))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_demo_writes_openable_stack(tmp_path: Path) -> None:
    res = run("--quiet", "demo", str(tmp_path / "out"), "--lines", "96", "--samples", "80", "--dates", "2")
    assert res.returncode == 0, res.stderr
    out = [Path(p) for p in res.stdout.split()]
    paths = out[:2]
    assert all(p.is_dir() for p in paths)
    # the demo goes on: its worked-example configuration, the cube and the chips
    assert out[2:] == [tmp_path / "out" / n for n in ("config.yaml", "cube.zarr", "chips", "catalog/catalog.json")]
    import xarray as xr

    from alignsar.cube.config import CubeConfig

    assert CubeConfig.load(out[2]).labels is not None
    cube = xr.open_zarr(out[3], consolidated=False)
    assert cube.sizes == {"time": 2, "azimuth": 96, "range": 80}
    assert json.loads((out[4] / "index.json").read_text())
    acqs = [alignsar.open_product(p) for p in paths]
    assert acqs[0].start_time < acqs[1].start_time
    slc = acqs[1].measurement("VV")
    assert slc.shape == (96, 80) and slc.dtype == np.complex64
    assert np.isfinite(acqs[1].measurement("VH", calibration="sigma0").values).all()
    assert (tmp_path / "out" / "truth" / "class_map.tif").is_file()
    assert not list((tmp_path / "out").glob(".*partial"))
    info = run("info", str(paths[0]))
    assert info.returncode == 0 and json.loads(info.stdout)["mission"] == "alignsar-simulator"


def test_usage_error_exit_code() -> None:
    assert run("nonsense").returncode == 2
