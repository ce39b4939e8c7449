"""The notebooks in ``notebooks/`` run top to bottom in a fresh ``python3`` kernel of this interpreter.

Each is executed with nbclient (cwd: ``notebooks/``, 600 s per cell, any error fails the test); the
executed copy, with its outputs and also when it fails, is saved to ``tests/e2e/artifacts/`` for CI.
Notebooks 01 and 03 share one demo folder (``ALIGNSAR_DEMO_DIR``): 01 builds it, 03 reuses it (and
builds it itself when run alone). Needs the ``test`` extra's nbformat, nbclient, ipykernel and
matplotlib; notebook 03 also needs torch (``alignsar[ml]``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from .conftest import SHARED

nbformat = pytest.importorskip("nbformat", reason="the notebook tests need nbformat (test extra)")
nbclient = pytest.importorskip("nbclient", reason="the notebook tests need nbclient (test extra)")
pytest.importorskip("ipykernel", reason="the notebook tests need ipykernel (test extra)")
pytest.importorskip("matplotlib", reason="the notebooks need matplotlib (test extra)")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"
CELL_TIMEOUT = 600

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo folder for the module: notebook 01 writes it, notebook 03 reuses it."""
    return tmp_path_factory.mktemp("notebook-demo")


@pytest.fixture
def kernel_env(monkeypatch: pytest.MonkeyPatch, demo_dir: Path) -> None:
    """The environment the kernel inherits: shared data and demo folders, a headless matplotlib
    backend (matplotlib-inline draws with Agg and keeps the figures in the outputs), and the
    kernelspec of this environment before any user-level one."""
    monkeypatch.setenv("ALIGNSAR_DEMO_DIR", str(demo_dir))
    monkeypatch.setenv("ALIGNSAR_SHARED_DATA", str(SHARED))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def _client(nb: nbformat.NotebookNode) -> nbclient.NotebookClient:
    return nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def run_notebook(name: str) -> tuple[nbformat.NotebookNode, float]:
    """Execute ``notebooks/<name>`` and save the executed copy to the artefacts folder (also on failure)."""
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"), (
        f"{name}: clear the outputs before saving"
    )
    t0 = time.perf_counter()
    try:
        _client(nb).execute()
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, ARTIFACTS / name)
    seconds = time.perf_counter() - t0
    print(f"{name}: {seconds:.1f} s")
    return nb, seconds


@pytest.mark.usefixtures("kernel_env")
def test_kernel_is_this_interpreter() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)")])
    _client(nb).execute()
    assert nb.cells[0].outputs[0]["text"].strip() == sys.prefix


@pytest.mark.usefixtures("kernel_env")
def test_01_quickstart(demo_dir: Path) -> None:
    run_notebook("01_quickstart.ipynb")
    assert (demo_dir / "catalog" / "catalog.json").is_file()
    assert (demo_dir / "chips" / "index.json").is_file()


@pytest.mark.usefixtures("kernel_env")
def test_02_sentinel1_geometry() -> None:
    nb, _ = run_notebook("02_sentinel1_geometry.ipynb")
    text = _outputs_text(nb)
    if SHARED.is_dir():
        assert "geolocation check passed" in text
    else:
        assert "shared data not found" in text


@pytest.mark.usefixtures("kernel_env")
def test_03_ml_dataset() -> None:
    pytest.importorskip("torch", reason="notebook 03 needs torch (alignsar[ml])")
    nb, _ = run_notebook("03_ml_dataset.ipynb")
    assert "beats the majority-class baseline" in _outputs_text(nb)
