"""Benchmark helper: run Python code in a fresh interpreter and read its own peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Any


def run_child(code: str, label: str, stream: bool = False, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``code`` (prefixed by ``NAME = value`` lines for ``params``) in a fresh interpreter; its
    last stdout line is JSON (``stream``: stdout passes through, no result). ``ru_maxrss`` of that
    child (``os.wait4``, not a maximum over every child) is added as ``peak_mb`` (the larger of it
    and a ``peak_mb`` the child reports), the wall time as ``wall`` (s). A failing child stops the
    benchmark with ``label``, its exit code and the end of its stderr."""
    head = "".join(f"{k} = {v!r}\n" for k, v in (params or {}).items())
    with tempfile.TemporaryFile("w+") as fout, tempfile.TemporaryFile("w+") as ferr:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", head + textwrap.dedent(code)], stdout=None if stream else fout, stderr=ferr, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        exit_code = os.waitstatus_to_exitcode(status)
        fout.seek(0)
        ferr.seek(0)
        if exit_code:
            raise SystemExit(f"{label}: exit {exit_code}\n" + ferr.read()[-4000:])
        result = {} if stream else json.loads(fout.read().strip().splitlines()[-1])
    result["peak_mb"] = max(result.get("peak_mb", 0.0), usage.ru_maxrss / 1024)
    result["wall"] = wall
    return result
