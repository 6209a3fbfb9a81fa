"""Pure data types: boxes, annotations, label maps, detection traces.

Only numpy and the standard library may be imported here.
"""

from detector_app.domain.annotations import (
    Annotation,
    AnnotationSource,
    ImageRecord,
    ItemState,
)
from detector_app.domain.boxes import Box, BoxError, box_iou, clip_boxes, nms
from detector_app.domain.labels import LabelError, LabelMap

__all__ = [
    "Annotation",
    "AnnotationSource",
    "Box",
    "BoxError",
    "ImageRecord",
    "ItemState",
    "LabelError",
    "LabelMap",
    "box_iou",
    "clip_boxes",
    "nms",
]
