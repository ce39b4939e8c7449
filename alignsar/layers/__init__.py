"""Radarcoding of external layers onto radar or map grids (LiDAR point clouds, vector polygons)."""

from .lidar import radarcode_points
from .vector import radarcode_vectors

__all__ = ["radarcode_points", "radarcode_vectors"]
