"""Radarcoding of external layers onto radar or map grids (LiDAR point clouds, vector polygons,
rasters) and training labels (label rasters, icecube label files, COCO export)."""

from .labels import (
    CocoRecord,
    IcecubeLabels,
    LabelObject,
    ProductLabels,
    icecube_coco_records,
    mask_labels,
    objects_from_label_raster,
    raster_labels,
    rasterize_icecube,
    read_icecube_labels,
    to_coco,
    vector_labels,
)
from .lidar import radarcode_points
from .raster import radarcode_raster
from .vector import radarcode_vectors

__all__ = [
    "CocoRecord",
    "IcecubeLabels",
    "LabelObject",
    "ProductLabels",
    "icecube_coco_records",
    "mask_labels",
    "objects_from_label_raster",
    "radarcode_points",
    "radarcode_raster",
    "radarcode_vectors",
    "raster_labels",
    "rasterize_icecube",
    "read_icecube_labels",
    "to_coco",
    "vector_labels",
]
