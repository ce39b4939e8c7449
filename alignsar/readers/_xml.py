"""Safe XML parsing for product metadata: no DTDs, no entity expansion, no external references."""

from __future__ import annotations

import os
from typing import IO
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..errors import CorruptProductError, UnsafeInputError


def parse_xml(data: bytes, name: str | os.PathLike[str]) -> Element:
    """Parse XML bytes refusing DTDs and entities; errors name the file ``name``."""
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeInputError(name, f"XML with a DTD or entity declarations is refused ({exc.__class__.__name__})") from exc
    except SafeET.ParseError as exc:
        raise CorruptProductError(name, f"malformed XML: {exc}") from exc


def read_xml(fileobj: IO[bytes], name: str | os.PathLike[str]) -> Element:
    """Read and safely parse an XML file object."""
    return parse_xml(fileobj.read(), name)


def text(element: Element, path: str, name: str | os.PathLike[str], default: str | None = None) -> str:
    """Text of the first ``path`` under ``element``; a typed error naming the file if absent."""
    found = element.findtext(path)
    if found is None:
        if default is not None:
            return default
        raise CorruptProductError(name, f"missing XML element {path!r}")
    return found.strip()


def floats(value: str) -> list[float]:
    return [float(v) for v in value.split()]
