"""The end-to-end demo on the embedded default (the scene simulator): simulate a small stack, build
its datacube from a configuration, cut ML chips.

``OUTDIR/products/`` (simulated products), ``OUTDIR/truth/`` (their ground truth: radar truth,
class map, DEM, land-cover polygons), ``OUTDIR/config.yaml`` (the cube configuration, a worked
example), ``OUTDIR/cube.zarr`` (the cube on the primary's radar grid: sigma0 VV / VH linear and dB,
the dual-pol set, coherence and phase against the primary, land-cover fractions, labels),
``OUTDIR/chips/`` (chips with a leak-free block split and training statistics),
``OUTDIR/catalog/`` (all of it published as a self-contained STAC catalog, :mod:`alignsar.stac`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._fs import atomic_write_text

Progress = Callable[[str, int, int | None], None]


@dataclass
class DemoResult:
    outdir: Path
    products: list[Path]
    config: Path
    cube: Path
    chips: Path
    chip_summary: dict[str, Any]
    catalog: Path


def demo_config(outdir: Path, chip_size: int) -> dict[str, Any]:
    """The demo's cube configuration (paths relative to ``outdir``)."""
    from .simulate.scene import DEFAULT_CLASSES

    return {
        "title": "alignsar demo: simulated dual-pol SLC stack",
        "summary": "Three simulated Sentinel-1-like dual-pol SLC dates over a synthetic landscape, aligned on the first date's radar grid.",
        "license": "CC-BY-4.0",
        "products": ["products/*"],
        "dem": "truth/dem.tif",
        "dem_vertical": "ellipsoidal",
        "reference": {"type": "radar", "primary": 0},
        "coregistration": {"method": "dem_assisted"},
        "signatures": {"calibration": "sigma0", "variables": ["intensity", "db", "dual_pol", "coherence", "phase"], "window": 5},
        "layers": [{"type": "vector", "path": "truth/landcover.geojson", "class_field": "name", "name": "landcover"}],
        "labels": {
            "type": "vector",
            "path": "truth/landcover.geojson",
            "class_field": "class",
            "classes": {c.name: c.value for c in DEFAULT_CLASSES},
        },
        "output": {"format": "zarr", "chunks": {"y": 128, "x": 128}},
        "dataset": {
            "size": chip_size,
            "min_valid": 0.8,
            "block_size": 2 * chip_size,
            "seed": 0,
            "variables": ["sigma0_vv_db", "sigma0_vh_db", "cross_pol_correlation", "entropy", "alpha", "rvi"],
        },
    }


def run_demo(
    outdir: str | os.PathLike[str],
    *,
    lines: int = 256,
    samples: int = 256,
    dates: int = 3,
    seed: int = 0,
    chip_size: int = 32,
    progress: Progress | None = None,
) -> DemoResult:
    """Simulate -> cube -> chips -> STAC catalog into ``outdir`` (see the module docstring)."""
    import yaml

    from .cube.build import build_cube
    from .cube.config import CubeConfig
    from .dataset.cli import build_chips_from_config
    from .simulate import SceneConfig, simulate_scene
    from .simulate.io import write_scene

    say = progress or (lambda *_: None)
    outdir = Path(outdir)
    say("simulating scene", 0, None)
    scene = simulate_scene(SceneConfig(lines=lines, samples=samples, dates=dates, seed=seed), progress=lambda m: say(m, 0, None))
    products = write_scene(scene, outdir, progress=lambda name: say(f"wrote {name}", 0, None))
    config_path = outdir / "config.yaml"
    data = demo_config(outdir, chip_size)
    text = "# alignsar cube configuration (worked example; JSON Schema: `alignsar cube --schema`)\n" + yaml.safe_dump(data, sort_keys=False)
    atomic_write_text(config_path, text)
    config = CubeConfig.load(config_path)
    cube = outdir / "cube.zarr"
    build_cube(config, cube, progress=lambda m, k, n: say(f"cube: {m}", k, n), rebuild=True)
    assert config.dataset is not None
    summary = build_chips_from_config(cube, outdir / "chips", config.dataset, progress=progress)
    from .stac.publish import publish

    catalog = publish(cube, outdir / "catalog", chips=outdir / "chips", config_path=config_path, title=config.title, progress=progress)
    return DemoResult(outdir, products, config_path, cube, outdir / "chips", summary, catalog)


__all__ = ["DemoResult", "demo_config", "run_demo"]
