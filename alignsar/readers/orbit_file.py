"""Sentinel-1 orbit files (Earth Explorer ``.EOF``: POEORB precise, RESORB restituted)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import CorruptProductError, MissingDataError
from ..model import Orbit
from ._xml import parse_xml, text


def read_eof(path: str | os.PathLike[str]) -> Orbit:
    """Read the state vectors (UTC, ECEF m, m/s) of an Earth Explorer orbit file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError as exc:
        raise MissingDataError(path, "orbit file not found") from exc
    root = parse_xml(data, path)
    osvs = root.findall("Data_Block/List_of_OSVs/OSV")
    if len(osvs) < 2:
        raise CorruptProductError(path, f"orbit file has {len(osvs)} state vectors (need >= 2)")
    try:
        times = np.array([np.datetime64(text(o, "UTC", path).removeprefix("UTC="), "ns") for o in osvs])
        pos = np.array([[float(text(o, a, path)) for a in ("X", "Y", "Z")] for o in osvs])
        vel = np.array([[float(text(o, a, path)) for a in ("VX", "VY", "VZ")] for o in osvs])
    except ValueError as exc:
        raise CorruptProductError(path, f"bad state vector value ({exc})") from exc
    file_type = root.findtext("Earth_Explorer_Header/Fixed_Header/File_Type") or ""
    source = (
        "POEORB"
        if "POEORB" in file_type or "POEORB" in os.fspath(path)
        else ("RESORB" if "RESORB" in file_type or "RESORB" in os.fspath(path) else file_type or "orbit file")
    )
    return Orbit(times, pos, vel, source=source, frame="Earth Fixed")
