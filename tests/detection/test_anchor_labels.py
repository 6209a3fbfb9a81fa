"""``label_anchors``: hand-computed cases and torchvision's own RPN assignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detector_app.detection.anchor_labels import CROSSES_BOUNDARY, label_anchors
from detector_app.detection.builders import build_model
from detector_app.detection.config import ModelConfig
from detector_app.detection.seed_rpn import SeedRPN
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


@pytest.mark.parametrize("builder, size", [
    *(("small", s) for s in [(300, 500), (375, 500), (512, 512), (200, 640), (641, 333)]),
    *(pytest.param("paper", s, marks=pytest.mark.slow) for s in [(512, 512), (641, 333)]),  # VGG-16 at 600 px
])
def test_overlay_labels_equal_training_labels_on_resized_images(builder: str, size: tuple[int, int]) -> None:
    """The anchor-label overlay (``domain.anchor_targets`` on a trace) equals what RPN training
    assigns: the model's own transform, anchor generator and ``assign_targets_to_anchors``."""
    from detector_app.detection.tracing import trace
    from detector_app.domain.anchor_targets import trace_anchor_labels
    from detector_app.domain.annotations import Annotation
    from detector_app.domain.boxes import Box

    torch.manual_seed(0)
    model = build_model(ModelConfig(builder=builder, num_classes=3)).eval()
    h, w = size
    rng = np.random.default_rng(h * w)
    image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    xy = rng.uniform(0, [w * 0.7, h * 0.7], (5, 2))
    wh = rng.uniform([w * 0.05, h * 0.05], [w * 0.3, h * 0.3], (5, 2))
    gt = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    # training's view: the transform resizes image and boxes, the generator makes the anchors
    tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    with torch.no_grad():
        images, targets = model.transform([tensor], [{"boxes": torch.from_numpy(gt), "labels": torch.ones(5).long()}])
        out = model.backbone(images.tensors)
        feats = list(out.values()) if isinstance(out, dict) else [out]
        anchors = model.rpn.anchor_generator(images, feats)
        if isinstance(model.rpn, SeedRPN):  # the paper builder: cross-boundary anchors ignored
            model.rpn.set_batch(images, {"0": feats[0]})
        expected, _ = model.rpn.assign_targets_to_anchors(anchors, targets)
    t = trace(model, image)
    assert t.num_anchors == len(expected[0]) and tuple(t.resized_size) == tuple(images.image_sizes[0])
    assert t.rpn_ignore_cross_boundary == (builder == "paper")
    shown = trace_anchor_labels(t, [Annotation(Box(*map(float, b)), "a") for b in gt])
    crossing = shown == CROSSES_BOUNDARY
    assert crossing.any() == (builder == "paper")  # shown apart, ignored (-1) by training
    np.testing.assert_array_equal(np.where(crossing, -1, shown), expected[0].numpy().astype(np.int8))
    assert (shown == 1).sum() >= 5  # every box has its best anchor(s)
