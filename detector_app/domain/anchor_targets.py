"""How RPN training labels a trace's anchors, in numpy: the anchor-label overlay.

The same arithmetic as ``detection.anchor_labels.label_trace_anchors`` (torchvision's
``resize_boxes``, ``box_iou`` and ``det_utils.Matcher`` with low-quality matches, and
``seed_rpn.crosses_boundary``), operation for operation in float32, so the labels are
identical (``tests/detection/test_anchor_labels.py`` compares them). It runs on the GUI
thread after every edit while the overlay is on: torch there would wait for the intra-op
thread pool the inference worker is using.

Shapes: A anchors, G ground-truth boxes; boxes are ``x1, y1, x2, y2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detector_app.domain.annotations import Annotation
from detector_app.domain.trace import DetectionTrace

POSITIVE, NEGATIVE, IGNORED = 1, 0, -1
#: Ignored because it crosses the image boundary (the paper's rule, ``seed_rpn``): shown apart.
CROSSES_BOUNDARY = -2


def _boxes(value: np.ndarray) -> np.ndarray:
    return np.asarray(value, np.float32).reshape(-1, 4)


def box_iou_f32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``float32[N, M]``: ``torchvision.ops.box_iou`` of ``float[N, 4]`` and ``float[M, 4]``,
    every step in float32 (``domain.boxes.box_iou`` works in float64 and rounds once).
    Works in place on ``[N, M]`` arrays: ``M`` is every anchor of the image."""
    a, bt = _boxes(a), np.ascontiguousarray(_boxes(b).T)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (bt[2] - bt[0]) * (bt[3] - bt[1])
    zero = np.float32(0)
    inter: np.ndarray = np.minimum(a[:, 2, None], bt[2])
    inter -= np.maximum(a[:, 0, None], bt[0])
    np.maximum(inter, zero, out=inter)
    h = np.minimum(a[:, 3, None], bt[3])
    h -= np.maximum(a[:, 1, None], bt[1])
    np.maximum(h, zero, out=h)
    inter *= h
    union = area_a[:, None] + area_b[None, :]
    union -= inter
    with np.errstate(divide="ignore", invalid="ignore"):
        inter /= union
    return inter


def resize_boxes(boxes: np.ndarray, image_size: tuple[int, int], resized_size: tuple[int, int]) -> np.ndarray:
    """``float32[N, 4]``: torchvision's ``transform.resize_boxes`` (ratios in float32)."""
    b = _boxes(boxes)
    ratio_h = np.float32(resized_size[0]) / np.float32(image_size[0])
    ratio_w = np.float32(resized_size[1]) / np.float32(image_size[1])
    resized: np.ndarray = np.stack([b[:, 0] * ratio_w, b[:, 1] * ratio_h, b[:, 2] * ratio_w, b[:, 3] * ratio_h],
                                   axis=1)
    return resized


def resized_anchors(anchors: np.ndarray, image_size: tuple[int, int], resized_size: tuple[int, int]) -> np.ndarray:
    """``float32[A, 4]``: a trace's anchors back in the resized image's pixels, whole pixels as
    the anchor generator made them (recovered by rounding; kept unrounded if they were not)."""
    a = resize_boxes(anchors, image_size, resized_size)
    if not a.size:
        return a
    r = np.round(a)  # half to even, as torch.round
    return r if float(np.abs(a - r).max()) < 1e-2 else a


def crosses_boundary(anchors: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``bool[A]``: anchors (resized pixels) reaching outside the ``(H, W)`` image."""
    h, w = size
    a = _boxes(anchors)
    return (a[:, 0] < 0) | (a[:, 1] < 0) | (a[:, 2] > w) | (a[:, 3] > h)


def matcher_labels(iou: np.ndarray, fg_iou: float, bg_iou: float) -> np.ndarray:
    """``int8[A]`` from ``float32[G, A]`` (``G >= 1``): torchvision's ``Matcher`` with
    ``allow_low_quality_matches``: an anchor's best IoU ``>= fg_iou`` is positive, ``< bg_iou``
    negative, in between ignored; the anchors tying for a box's best IoU are positive too.
    Thresholds compare in float32, as torch compares a float32 tensor with a Python float."""
    best = iou.max(axis=0)
    labels = np.full(best.shape, IGNORED, np.int8)
    labels[best < np.float32(bg_iou)] = NEGATIVE
    labels[best >= np.float32(fg_iou)] = POSITIVE
    best_of_each_box = iou.max(axis=1)
    labels[(iou == best_of_each_box[:, None]).any(axis=0)] = POSITIVE
    return labels


def rpn_anchor_labels(anchors: np.ndarray, image_size: tuple[int, int], resized_size: tuple[int, int],
                      gt_boxes: np.ndarray, fg_iou: float = 0.7, bg_iou: float = 0.3,
                      ignore_cross_boundary: bool = False) -> np.ndarray:
    """``int8[A]``: the RPN's training labels of a trace's ``anchors`` (original pixels) against
    ``gt_boxes`` (``float[G, 4]``, original pixels), both in the resized frame as training has
    them; with ``ignore_cross_boundary`` (the paper's rule) anchors crossing the resized image's
    boundary are :data:`CROSSES_BOUNDARY` and the others are matched among themselves."""
    if bg_iou > fg_iou:
        raise ValueError(f"bg_iou ({bg_iou}) must not exceed fg_iou ({fg_iou})")
    resized = resized_anchors(anchors, image_size, resized_size)
    gt = resize_boxes(gt_boxes, image_size, resized_size)
    labels = np.full(len(resized), NEGATIVE, np.int8)
    inside = np.ones(len(resized), bool)
    if ignore_cross_boundary:
        inside = ~crosses_boundary(resized, (int(resized_size[0]), int(resized_size[1])))
        labels[~inside] = CROSSES_BOUNDARY
    if len(gt) and inside.any():
        labels[inside] = matcher_labels(box_iou_f32(gt, resized[inside]), fg_iou, bg_iou)
    return labels


def trace_anchor_labels(trace: DetectionTrace, annotations: Sequence[Annotation],
                        fg_iou: float = 0.7, bg_iou: float = 0.3) -> np.ndarray:
    """``int8[A]``: how the RPN would label each anchor of ``trace`` with ``annotations`` as the
    ground truth (1 positive, 0 negative, -1 ignored, -2 crossing the boundary where the
    model's RPN has that rule)."""
    gt = np.array([a.box.to_tuple() for a in annotations], np.float32).reshape(-1, 4)
    return rpn_anchor_labels(trace.anchors, trace.image_size, trace.resized_size, gt, fg_iou, bg_iou,
                             trace.rpn_ignore_cross_boundary)
