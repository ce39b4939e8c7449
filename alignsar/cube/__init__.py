"""Aligned datacubes: configuration, time selection, alignment, CF metadata and storage."""
