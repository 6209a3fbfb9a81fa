"""Helpers for the data-layer app tests (a plain module: test files import it by name)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def labelme_json(image_path: str, width: int, height: int, shapes: Any) -> str:
    """A LabelMe file: ``shapes`` a list of ``(label, [[x, y], [x, y]])`` rectangles, or any
    JSON value (to make a malformed file)."""
    if isinstance(shapes, list):
        shapes = [{"label": label, "points": points, "shape_type": "rectangle", "flags": {}}
                  for label, points in shapes]
    return json.dumps({"version": "5.2.1", "flags": {}, "imagePath": image_path, "imageData": None,
                       "imageWidth": width, "imageHeight": height, "shapes": shapes})


def grey_png(path: Path, width: int, height: int) -> Path:
    """A valid grey PNG of ``width x height`` (OpenCV-encoded), parents created."""
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((height, width, 3), 128, np.uint8))
    return path
