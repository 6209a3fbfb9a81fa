"""Axis-aligned boxes in the project's single convention.

Convention: float ``x1, y1, x2, y2`` in original-image pixels, continuous
coordinates (pixel ``i`` spans ``[i, i + 1)``), ``x1 < x2`` and ``y1 < y2``.
Formats convert at their edges (COCO ``xywh``, VOC 1-based inclusive, YOLO
normalised centre); nothing else in the project uses another convention.

Array helpers take ``boxes: float[N, 4]`` in the same convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detector_app.domain.errors import UserError

#: Boxes narrower or shorter than this (pixels) are degenerate.
MIN_BOX_SIZE = 1e-3


class BoxError(UserError, ValueError):
    """A box that is not a valid ``x1 < x2, y1 < y2`` rectangle."""


@dataclass(frozen=True, slots=True)
class Box:
    """One rectangle ``x1, y1, x2, y2`` in original-image pixels."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        values = (self.x1, self.y1, self.x2, self.y2)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise BoxError(f"box coordinates must be finite numbers, got {values!r}")
        if self.x2 - self.x1 < MIN_BOX_SIZE or self.y2 - self.y1 < MIN_BOX_SIZE:
            raise BoxError(
                "degenerate box (zero or negative size): "
                f"x1={self.x1:g}, y1={self.y1:g}, x2={self.x2:g}, y2={self.y2:g}"
            )
        for name in ("x1", "y1", "x2", "y2"):
            object.__setattr__(self, name, float(getattr(self, name)))

    # -- construction -------------------------------------------------
    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float) -> Box:
        """From top-left corner plus width and height (COCO's ``bbox``)."""
        return cls(x, y, x + w, y + h)

    @classmethod
    def from_points(cls, xa: float, ya: float, xb: float, yb: float) -> Box:
        """From two opposite corners in any order (e.g. a mouse drag)."""
        return cls(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))

    @classmethod
    def from_array(cls, values: np.ndarray | list[float] | tuple[float, ...]) -> Box:
        x1, y1, x2, y2 = (float(v) for v in values)
        return cls(x1, y1, x2, y2)

    # -- properties ---------------------------------------------------
    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    def to_xywh(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.width, self.height)

    def to_tuple(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def to_array(self) -> np.ndarray:
        """``float32[4]``."""
        return np.array(self.to_tuple(), dtype=np.float32)

    # -- operations ---------------------------------------------------
    def clipped(self, width: float, height: float) -> Box:
        """This box clipped to an image of ``width x height``.

        Raises :class:`BoxError` when nothing of it lies inside the image.
        """
        x1 = min(max(self.x1, 0.0), float(width))
        x2 = min(max(self.x2, 0.0), float(width))
        y1 = min(max(self.y1, 0.0), float(height))
        y2 = min(max(self.y2, 0.0), float(height))
        if x2 - x1 < MIN_BOX_SIZE or y2 - y1 < MIN_BOX_SIZE:
            raise BoxError(
                f"box {self.to_tuple()} lies outside the {width:g}x{height:g} image"
            )
        return Box(x1, y1, x2, y2)

    def translated(self, dx: float, dy: float) -> Box:
        return Box(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy)

    def scaled(self, sx: float, sy: float) -> Box:
        return Box(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)

    def iou(self, other: Box) -> float:
        return float(box_iou(self.to_array()[None], other.to_array()[None])[0, 0])

    def contains(self, x: float, y: float) -> bool:
        return self.x1 <= x <= self.x2 and self.y1 <= y <= self.y2


def as_box_array(boxes: np.ndarray | list[Box] | list[list[float]]) -> np.ndarray:
    """Any list of boxes as ``float32[N, 4]``."""
    if isinstance(boxes, np.ndarray):
        arr = boxes.astype(np.float32, copy=False)
    elif len(boxes) == 0:
        arr = np.zeros((0, 4), np.float32)
    elif isinstance(boxes[0], Box):
        arr = np.array([b.to_tuple() for b in boxes if isinstance(b, Box)], np.float32)
    else:
        arr = np.asarray(boxes, np.float32)
    return arr.reshape(-1, 4)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """``float[N, 4] -> float[N]``."""
    area: np.ndarray = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return area


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU, ``float[N, 4] x float[M, 4] -> float[N, M]``.

    Same definition as ``torchvision.ops.box_iou`` (continuous coordinates).
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou.astype(np.float32)


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip ``float[N, 4]`` boxes to ``[0, width] x [0, height]``."""
    out = np.array(boxes, np.float32, copy=True).reshape(-1, 4)
    out[:, 0::2] = np.clip(out[:, 0::2], 0.0, width)
    out[:, 1::2] = np.clip(out[:, 1::2], 0.0, height)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy non-maximum suppression in numpy (matches ``torchvision.ops.nms``).

    Args:
        boxes: ``float[N, 4]``.
        scores: ``float[N]``.
        iou_threshold: a box is suppressed when its IoU with a kept,
            higher-scoring box is strictly greater than this.

    Returns:
        ``(keep, suppressed_by)``: ``keep`` is ``int64[K]`` indices of kept
        boxes by decreasing score; ``suppressed_by`` is ``int64[N]``, for
        each box the index (into ``boxes``) of the kept box that suppressed
        it, or ``-1`` for kept boxes.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    n = len(boxes)
    suppressed_by = np.full(n, -1, np.int64)
    if n == 0:
        return np.zeros(0, np.int64), suppressed_by
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(boxes, boxes)
    alive = np.ones(n, bool)
    keep: list[int] = []
    for i in order:
        if not alive[i]:
            continue
        keep.append(int(i))
        hit = alive & (iou[i] > iou_threshold)
        hit[i] = False
        suppressed_by[hit] = i
        alive &= ~hit
        alive[i] = False
    return np.array(keep, np.int64), suppressed_by


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """NMS applied independently per group (e.g. per class), like
    ``torchvision.ops.batched_nms``. Returns ``(keep, suppressed_by)`` as :func:`nms`,
    with ``keep`` sorted by decreasing score over all groups."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    groups = np.asarray(groups).reshape(-1)
    suppressed_by = np.full(len(boxes), -1, np.int64)
    kept: list[np.ndarray] = []
    for g in np.unique(groups):
        idx = np.nonzero(groups == g)[0]
        k, s = nms(boxes[idx], scores[idx], iou_threshold)
        kept.append(idx[k])
        hit = s >= 0
        suppressed_by[idx[hit]] = idx[s[hit]]
    if not kept:
        return np.zeros(0, np.int64), suppressed_by
    keep = np.concatenate(kept)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    return keep, suppressed_by
