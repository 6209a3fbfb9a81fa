"""How the RPN labels anchors against ground truth during training.

``label_anchors`` runs torchvision's own ``det_utils.Matcher`` on the IoU
matrix (``box_ops.box_iou``), exactly as ``RegionProposalNetwork.
assign_targets_to_anchors`` does: IoU >= ``fg_iou`` is positive, < ``bg_iou``
negative, in between ignored, and (``allow_low_quality_matches``) the
best-overlapping anchor(s) of each ground-truth box are positive even below
``fg_iou``. An image without ground truth makes every anchor negative.

Numpy in, numpy out. Training labels anchors in the *resized* image's pixels
(after ``GeneralizedRCNNTransform``), and the Matcher's "best anchor of a
ground-truth box" rule compares IoUs for exact equality, so labelling a
trace's anchors in original-image pixels breaks ties differently on resized
images (about 40% fewer positives seen on a 375x500 image). ``label_trace_anchors``
therefore maps both back to the resized frame as training has them: the
ground truth through torchvision's own ``resize_boxes``, the anchors to the
whole-pixel boxes ``AnchorGenerator`` made (its base anchors are rounded and
its strides are integers).
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import box_iou

from detector_app.domain.errors import UserError

POSITIVE, NEGATIVE, IGNORED = 1, 0, -1
#: Ignored because it crosses the image boundary (the paper's rule, ``seed_rpn``): shown apart.
CROSSES_BOUNDARY = -2


def _boxes(name: str, value: np.ndarray) -> torch.Tensor:
    arr = np.asarray(value, dtype=np.float32)
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise UserError(f"{name} must have shape (N, 4) as x1, y1, x2, y2; got {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def label_anchors(
    anchors: np.ndarray, gt_boxes: np.ndarray, fg_iou: float = 0.7, bg_iou: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Label each anchor as the RPN's training target assignment would.

    Args:
        anchors: ``float[A, 4]`` x1, y1, x2, y2.
        gt_boxes: ``float[G, 4]`` in the same coordinates (``G`` may be 0).
        fg_iou, bg_iou: the Matcher's high and low thresholds (``bg_iou <= fg_iou``).

    Returns:
        ``labels int8[A]``: 1 positive, 0 negative, -1 ignored;
        ``matched_gt int64[A]``: the matched ground-truth index for positives,
        ``-1`` below ``bg_iou`` and ``-2`` between the thresholds (the Matcher's codes).
    """
    if bg_iou > fg_iou:
        raise UserError(f"bg_iou ({bg_iou}) must not exceed fg_iou ({fg_iou})")
    a = _boxes("anchors", anchors)
    g = _boxes("gt_boxes", gt_boxes)
    if g.shape[0] == 0:
        return np.zeros(a.shape[0], np.int8), np.full(a.shape[0], det_utils.Matcher.BELOW_LOW_THRESHOLD, np.int64)
    if a.shape[0] == 0:
        return np.zeros(0, np.int8), np.zeros(0, np.int64)
    matcher = det_utils.Matcher(fg_iou, bg_iou, allow_low_quality_matches=True)
    matched = matcher(box_iou(g, a))  # [A]
    labels = torch.full(matched.shape, POSITIVE, dtype=torch.int8)
    labels[matched == matcher.BELOW_LOW_THRESHOLD] = NEGATIVE
    labels[matched == matcher.BETWEEN_THRESHOLDS] = IGNORED
    return labels.numpy(), matched.numpy().astype(np.int64)


def resized_anchors(anchors: np.ndarray, image_size: tuple[int, int], resized_size: tuple[int, int]) -> np.ndarray:
    """``float32[A, 4]``: a trace's anchors (original pixels) back in the resized
    image's pixels, as the anchor generator made them: whole pixels, recovered
    exactly by rounding (kept unrounded if they were not whole pixels)."""
    a = resize_boxes(_boxes("anchors", anchors), list(image_size), list(resized_size))
    r = a.round()
    return (r if bool((a - r).abs().max() < 1e-2) else a).numpy() if a.numel() else a.numpy()


def label_trace_anchors(
    anchors: np.ndarray, image_size: tuple[int, int], resized_size: tuple[int, int], gt_boxes: np.ndarray,
    fg_iou: float = 0.7, bg_iou: float = 0.3, ignore_cross_boundary: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`label_anchors` as RPN training computes it for a traced image.

    Args:
        anchors: ``float[A, 4]`` a trace's anchors in original-image pixels.
        image_size, resized_size: ``(H, W)`` before and after the model's resize.
        gt_boxes: ``float[G, 4]`` in original-image pixels.
        ignore_cross_boundary: the paper's rule (``seed_rpn.SeedRPN``): anchors crossing
            the resized image's boundary get :data:`CROSSES_BOUNDARY` (training ignores
            them) and the others are matched among themselves.
    """
    from detector_app.detection.seed_rpn import crosses_boundary

    gt = resize_boxes(_boxes("gt_boxes", gt_boxes), list(image_size), list(resized_size)).numpy()
    resized = resized_anchors(anchors, image_size, resized_size)
    if not ignore_cross_boundary:
        return label_anchors(resized, gt, fg_iou, bg_iou)
    crossing = crosses_boundary(torch.from_numpy(resized), (int(resized_size[0]), int(resized_size[1]))).numpy()
    labels = np.full(len(resized), CROSSES_BOUNDARY, np.int8)
    matched = np.full(len(resized), det_utils.Matcher.BETWEEN_THRESHOLDS, np.int64)
    inside = ~crossing
    if inside.any():
        labels[inside], matched[inside] = label_anchors(resized[inside], gt, fg_iou, bg_iou)
    return labels, matched
