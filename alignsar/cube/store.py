"""Atomic, incremental cube stores.

A build never writes into the published store. It works on a *staging* copy, a temporary sibling
``.NAME.<pid>.partial``, and renames it into place when every date is written:

- new store: the staging folder starts empty;
- append (new dates after the stored ones): the staging folder is a copy-on-write clone of the
  published store: chunk files are hard links (no data copied), metadata files (``zarr.json``,
  ``.zarray``, ``.zattrs``, ``.zgroup``, ``.zmetadata``) real copies, because appending rewrites
  them. Appended dates only ever create *new* chunk files (time chunks of one date), so the
  published store's files are never modified;
- commit: the published store is renamed to ``.NAME.<pid>.old``, the staging folder to ``NAME``,
  then the old one is removed. A kill between the two renames leaves ``NAME`` missing and the old
  store beside it: :func:`recover` (run at the start of every build) puts it back.

A killed build leaves only its staging folder, which the next build removes (the pid in its name is
no longer alive). Readers of ``NAME`` therefore only ever see a complete store.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

METADATA_FILES = frozenset({"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"})
_SIBLING = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<kind>partial|old)$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def recover(target: str | os.PathLike[str]) -> list[Path]:
    """Restore ``target`` from an interrupted commit and remove stale staging folders of dead
    builds. Returns the paths removed or restored."""
    target = Path(target)
    touched: list[Path] = []
    if not target.parent.exists():
        return touched
    for sibling in sorted(target.parent.iterdir()):
        m = _SIBLING.match(sibling.name)
        if not m or m["name"] != target.name or _alive(int(m["pid"])):
            continue
        if m["kind"] == "old" and not target.exists():
            os.replace(sibling, target)
        else:
            _remove(sibling)
        touched.append(sibling)
    return touched


def _clone(src: Path, dst: Path, copy_metadata: bool = True) -> None:
    """Copy-on-write clone of a folder tree: hard-linked data files, copied metadata files (also
    hard-linked with ``copy_metadata=False``, for trees that are never modified in place)."""
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for d in dirs:
            (dst / rel / d).mkdir(exist_ok=True)
        for f in files:
            s, d = Path(root) / f, dst / rel / f
            if copy_metadata and f in METADATA_FILES:
                shutil.copy2(s, d)
            else:
                try:
                    os.link(s, d)
                except OSError:  # no hard links on this file system: copy
                    shutil.copy2(s, d)


@contextlib.contextmanager
def staged(target: str | os.PathLike[str], *, clone: bool) -> Iterator[Path]:
    """Yield a staging path for ``target`` (empty, or a clone of the published store when
    ``clone``); on success it replaces ``target``; on any exception it is removed and ``target``
    is left as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    _remove(tmp)
    try:
        if clone and target.exists():
            if target.is_dir():
                _clone(target, tmp)
            else:
                shutil.copy2(target, tmp)
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    commit(tmp, target)


def commit(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` onto ``target`` (keeping the old one aside until the new one is in place)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        _remove(old)
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        _remove(old)


__all__ = ["METADATA_FILES", "commit", "recover", "staged"]
