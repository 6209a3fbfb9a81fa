"""The synthetic generator's files: atomic writes and its COCO ground truth.

Category ids from 1 in the order of the classes; a box is the visible box of its
object as COCO's ``[x, y, width, height]``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detector_app.detection.synthetic_shapes import CLASS_NAMES, SynthObject


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it (mode 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; data files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise



def coco_categories(classes: Sequence[str] = CLASS_NAMES) -> list[dict[str, Any]]:
    """COCO ``categories`` of ``classes``, ids from 1 in their order."""
    return [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(classes)]


def coco_annotation(ann_id: int, image_id: int, obj: SynthObject, category_id: int) -> dict[str, Any]:
    """The COCO annotation of ``obj`` (its visible box as ``[x, y, width, height]``)."""
    x1, y1, x2, y2 = obj.box
    return {
        "id": ann_id, "image_id": image_id, "category_id": category_id,
        "bbox": [x1, y1, x2 - x1, y2 - y1], "area": float((x2 - x1) * (y2 - y1)),
        "iscrowd": 0,
    }



__all__ = ["atomic_write_bytes", "coco_annotation", "coco_categories"]
