"""Shared fixtures: the public test data in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ALIGNSAR_SHARED_DATA", ROOT.parent / "shared" / "data"))
S1 = SHARED / "sentinel1"


def shared_path(*parts: str) -> Path:
    """A path below the shared data folder; skips the calling test if it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not available: {path} (set ALIGNSAR_SHARED_DATA or place ../shared/data)")
    return path


def s1_products() -> list[Path]:
    """Every openable Sentinel-1 SAFE folder and zip in the shared data."""
    if not S1.exists():
        return []
    found = sorted(S1.glob("*/*.SAFE")) + sorted(S1.glob("*/*.zip"))
    return [p for p in found if p.name.startswith("S1") and "_S6_" not in p.name and "_WV_" not in p.name]


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared test data not available: {SHARED}")
    return SHARED
