"""Drawing detections on an image (``detect --save-overlays``), OpenCV only.

Boxes are in original-image pixels (``x1, y1, x2, y2``); each class gets a
fixed colour, each box a tag ``"name 0.87"`` above it (inside when there is no
room above).
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np


def class_color(label: int) -> tuple[int, int, int]:
    """A distinct, stable RGB colour for class ``label`` (golden-ratio hue steps)."""
    hue = (0.13 + 0.618033988749895 * int(label)) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_detections(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
    thickness: int | None = None,
) -> np.ndarray:
    """A copy of ``image`` (``uint8[H, W, 3]`` RGB) with the detections drawn.

    Args: boxes ``float[D, 4]``, labels ``int[D]`` (indices into ``class_names``),
    scores ``float[D]``. Lower-scoring boxes are drawn first so the best stay on top.
    """
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    thick = thickness or max(1, round(min(h, w) / 300))
    font_scale = max(0.35, min(h, w) / 1000)
    order = np.argsort(np.asarray(scores), kind="stable")
    for i in order:
        x1, y1, x2, y2 = (int(round(float(v))) for v in boxes[i])
        label = int(labels[i])
        color = class_color(label)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick, cv2.LINE_8)
        name = class_names[label] if 0 <= label < len(class_names) else f"class {label}"
        text = f"{name} {float(scores[i]):.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1 + thick  # inside when no room above
        tx = min(max(x1, 0), max(w - tw - 2, 0))
        cv2.rectangle(out, (tx, top), (tx + tw + 2, top + th + base + 2), color, -1)
        luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        cv2.putText(out, text, (tx + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, ink, 1, cv2.LINE_AA)
    return out
