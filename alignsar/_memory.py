"""Returning freed heap memory to the operating system between the steps of long builds.

Each time step of a cube allocates and frees a few hundred MB of chunk buffers from several threads.
glibc keeps freed blocks in per-thread arenas, so the resident set creeps up from step to step
(fragmentation, not live data: the Python-level allocations stay flat). ``malloc_trim(0)`` hands the
free pages back; on other C libraries this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_memory() -> bool:
    """Collect garbage, then return free heap pages to the OS (glibc ``malloc_trim``). True when
    the C library could trim."""
    gc.collect()
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
