"""Radarcoding of external layers onto radar or map grids (LiDAR point clouds)."""

from .lidar import radarcode_points

__all__ = ["radarcode_points"]
