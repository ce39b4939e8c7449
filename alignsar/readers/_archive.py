"""Product containers: plain folders and zip archives, read in place (never extracted).

Member names of archives are checked before use: absolute names or names with ``..`` components
(path traversal) are refused with :class:`UnsafeInputError`, even though nothing is extracted.
"""

from __future__ import annotations

import os
import posixpath
import zipfile
import zlib
from pathlib import Path
from typing import IO

from ..errors import CorruptProductError, MissingDataError, UnsafeInputError


class Container:
    """Read-only access to the files of a product below a root (folder or folder inside a zip)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self.root = ""
        if self.path.is_file():
            try:
                self._zip = zipfile.ZipFile(self.path)
                bad = self._zip.testzip() if self.path.stat().st_size < 64 * 2**20 else None
            except zipfile.BadZipFile as exc:
                raise CorruptProductError(self.path, f"not a valid zip archive ({exc})") from exc
            except (OSError, EOFError, zlib.error) as exc:
                raise CorruptProductError(self.path, f"unreadable zip archive ({exc})") from exc
            if bad is not None:
                raise CorruptProductError(self.path, f"zip member {bad!r} is corrupt (CRC mismatch)")
            names = self._zip.namelist()
            for name in names:
                parts = name.split("/")
                if name.startswith("/") or "\\" in name or ".." in parts or (len(name) > 1 and name[1] == ":"):
                    raise UnsafeInputError(self.path, f"zip member {name!r} escapes the archive")
            self._names = {n.rstrip("/") for n in names}
        elif not self.path.is_dir():
            raise MissingDataError(self.path, "no such file or folder")

    def find_root(self, marker: str) -> str:
        """Find the folder that contains ``marker`` (e.g. ``manifest.safe``) and make it the root."""
        if self._zip is None:
            if (self.path / marker).is_file():
                return ""
            raise MissingDataError(self.path, f"no {marker} in folder")
        hits = sorted((n for n in self._names if posixpath.basename(n) == marker), key=lambda n: n.count("/"))
        if not hits:
            raise MissingDataError(self.path, f"no {marker} in zip archive")
        self.root = posixpath.dirname(hits[0])
        return self.root

    def _member(self, relpath: str) -> str:
        rel = posixpath.normpath(relpath.replace("\\", "/"))
        if rel.startswith("../") or rel == ".." or posixpath.isabs(rel):
            raise UnsafeInputError(self.path, f"reference {relpath!r} escapes the product")
        return posixpath.join(self.root, rel) if self.root else rel

    def exists(self, relpath: str) -> bool:
        member = self._member(relpath)
        if self._zip is None:
            return (self.path / member).is_file()
        return member in self._names

    def open(self, relpath: str) -> IO[bytes]:
        member = self._member(relpath)
        try:
            if self._zip is None:
                return open(self.path / member, "rb")
            return self._zip.open(member)
        except (FileNotFoundError, KeyError) as exc:
            raise MissingDataError(self.describe(relpath), "file listed by the product is missing") from exc
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise CorruptProductError(self.describe(relpath), f"cannot read ({exc})") from exc

    def read(self, relpath: str) -> bytes:
        with self.open(relpath) as f:
            try:
                return f.read()
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                raise CorruptProductError(self.describe(relpath), f"truncated or corrupt ({exc})") from exc

    def gdal_path(self, relpath: str) -> str:
        """A path GDAL / rasterio can open (``/vsizip/`` inside archives)."""
        member = self._member(relpath)
        if self._zip is None:
            return str(self.path / member)
        return f"/vsizip/{self.path.resolve()}/{member}"

    def describe(self, relpath: str) -> str:
        """Human-readable location of a member for error messages."""
        member = self._member(relpath)
        return str(self.path / member) if self._zip is None else f"{self.path}!{member}"
