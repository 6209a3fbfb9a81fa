"""``label_anchors``: hand-computed cases and torchvision's own RPN assignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detector_app.detection.anchor_labels import label_anchors
from detector_app.detection.builders import build_model
from detector_app.detection.config import ModelConfig
from detector_app.domain.errors import UserError

ANCHORS = np.array([
    [0, 0, 10, 10],      # 0
    [0, 0, 10, 20],      # 1: IoU 0.5 with anchor 0's box
    [0, 0, 10, 4],       # 2: IoU 0.4 with anchor 0's box
    [100, 100, 110, 110],  # 3: far away
], np.float32)


def test_gt_equal_to_an_anchor() -> None:
    labels, matched = label_anchors(ANCHORS, np.array([[0, 0, 10, 10]]))
    # IoU 1.0 -> positive; 0.5 and 0.4 are between 0.3 and 0.7 -> ignored; 0 -> negative
    assert labels.tolist() == [1, -1, -1, 0]
    assert matched.tolist() == [0, -2, -2, -1]
    assert labels.dtype == np.int8 and matched.dtype == np.int64


def test_best_anchor_is_positive_below_threshold() -> None:
    """GT [0, 0, 10, 40]: IoUs 0.25, 0.5, 0.1, 0 -> the best (0.5) becomes positive anyway."""
    labels, matched = label_anchors(ANCHORS, np.array([[0, 0, 10, 40]]))
    assert labels.tolist() == [0, 1, 0, 0]
    assert matched.tolist() == [-1, 0, -1, -1]


def test_between_thresholds_and_thresholds_are_parameters() -> None:
    gt = np.array([[0, 0, 10, 10], [101, 100, 111, 110]])  # second: IoU 9*10/(110) = 0.818 with anchor 3
    labels, matched = label_anchors(ANCHORS, gt)
    assert labels.tolist() == [1, -1, -1, 1] and matched.tolist() == [0, -2, -2, 1]
    labels, _ = label_anchors(ANCHORS, gt, fg_iou=0.45, bg_iou=0.45)
    assert labels.tolist() == [1, 1, 0, 1]  # 0.5 >= 0.45 positive, 0.4 < 0.45 negative


def test_no_ground_truth_all_negative() -> None:
    labels, matched = label_anchors(ANCHORS, np.zeros((0, 4)))
    assert labels.tolist() == [0, 0, 0, 0] and matched.tolist() == [-1] * 4


def test_bad_shapes_are_user_errors() -> None:
    with pytest.raises(UserError, match="gt_boxes"):
        label_anchors(ANCHORS, np.zeros((2, 3)))
    with pytest.raises(UserError, match="bg_iou"):
        label_anchors(ANCHORS, ANCHORS, fg_iou=0.3, bg_iou=0.7)


def test_matches_torchvision_rpn_assignment() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(builder="small", num_classes=3))
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 400, (2000, 2))
    anchors = np.concatenate([xy, xy + rng.uniform(8, 200, (2000, 2))], 1).astype(np.float32)
    gxy = rng.uniform(0, 400, (6, 2))
    gt = np.concatenate([gxy, gxy + rng.uniform(20, 150, (6, 2))], 1).astype(np.float32)
    tv_labels, tv_boxes = model.rpn.assign_targets_to_anchors(
        [torch.from_numpy(anchors)], [{"boxes": torch.from_numpy(gt)}])
    labels, matched = label_anchors(anchors, gt)
    np.testing.assert_array_equal(labels, tv_labels[0].numpy().astype(np.int8))
    assert {-1, 0, 1} <= set(labels.tolist())
    pos = labels == 1
    np.testing.assert_array_equal(gt[matched[pos]], tv_boxes[0].numpy()[pos])
