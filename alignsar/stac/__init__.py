"""STAC publication of cubes and chip datasets: ``python -m alignsar.stac`` (build, publish,
validate, serve, demo)."""

from .load import load_items
from .publish import map_view, publish, publish_into

__all__ = ["load_items", "map_view", "publish", "publish_into"]
