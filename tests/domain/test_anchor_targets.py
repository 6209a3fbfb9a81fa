"""The numpy anchor labels (``domain.anchor_targets``) equal the torch reference
(``detection.anchor_labels``: torchvision's own Matcher) exactly, ties and
threshold-edge IoUs included."""

from __future__ import annotations

import numpy as np
import pytest

from detector_app.detection.anchor_labels import label_trace_anchors
from detector_app.domain.anchor_targets import (
    CROSSES_BOUNDARY,
    box_iou_f32,
    rpn_anchor_labels,
    trace_anchor_labels,
)
from detector_app.domain.annotations import Annotation
from detector_app.domain.boxes import Box
from tests.qt.conftest import make_fake_trace


def _grid_anchors(resized: tuple[int, int], stride: int, sizes: list[int], image: tuple[int, int]) -> np.ndarray:
    """Whole-pixel anchors over the resized image (as a generator makes them), mapped to original pixels."""
    h, w = resized
    ys, xs = np.mgrid[0:h:stride, 0:w:stride]
    centres = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    out = []
    for s in sizes:
        for ratio in (0.5, 1.0, 2.0):
            hw = np.round(np.array([s / np.sqrt(ratio), s * np.sqrt(ratio)]) / 2)
            out.append(np.concatenate([centres - hw, centres + hw], 1))
    anchors = np.concatenate(out).astype(np.float32)
    return (anchors * np.array([image[1] / w, image[0] / h] * 2, np.float32)).astype(np.float32)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("ignore_cross_boundary", [False, True])
def test_numpy_labels_equal_the_torch_reference(seed: int, ignore_cross_boundary: bool) -> None:
    rng = np.random.default_rng(seed)
    image = (int(rng.integers(60, 700)), int(rng.integers(60, 700)))
    resized = (int(image[0] * rng.uniform(0.5, 2.0)) or 1, int(image[1] * rng.uniform(0.5, 2.0)) or 1)
    anchors = _grid_anchors(resized, 16, [16, 32, 64], image)
    g = int(rng.integers(0, 7))
    xy = rng.uniform(0, [image[1] * 0.8, image[0] * 0.8], (g, 2))
    wh = rng.uniform(2, [image[1] * 0.5, image[0] * 0.5], (g, 2))
    gt = np.concatenate([xy, xy + wh], 1)
    if seed % 2:  # whole-pixel boxes and copies of anchors: many exactly equal IoUs
        gt = np.round(gt)
        if g:
            gt[0] = anchors[int(rng.integers(len(anchors)))]
    if g > 1 and seed % 3 == 0:
        gt[1] = gt[0]  # a duplicate box
    gt = gt.astype(np.float32)
    for fg, bg in ((0.7, 0.3), (0.5, 0.5), (0.6, 0.2)):
        expected, _ = label_trace_anchors(anchors, image, resized, gt, fg, bg, ignore_cross_boundary)
        got = rpn_anchor_labels(anchors, image, resized, gt, fg, bg, ignore_cross_boundary)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, expected)


def test_threshold_edges_compare_in_float32() -> None:
    """An IoU equal to float32(0.7) (just below 0.7) is positive, as in torch."""
    import torch
    from torchvision.ops import box_iou

    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 7], [0, 0, 10, 3]], np.float32)  # IoU 0.7 and 0.3 in float32
    iou = box_iou_f32(a, b)
    np.testing.assert_array_equal(iou, box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy())
    labels = rpn_anchor_labels(np.concatenate([b, [[50, 50, 60, 60]]]).astype(np.float32), (100, 100), (100, 100),
                               np.concatenate([a, a]))
    expected, _ = label_trace_anchors(np.concatenate([b, [[50, 50, 60, 60]]]).astype(np.float32), (100, 100),
                                      (100, 100), np.concatenate([a, a]))
    np.testing.assert_array_equal(labels, expected)


def test_on_a_trace() -> None:
    trace = make_fake_trace()
    anns = [Annotation(Box(*map(float, trace.anchors[5])), "cat"), Annotation(Box(20, 30, 90, 120), "dog")]
    gt = np.array([a.box.to_tuple() for a in anns], np.float32)
    for ignore in (False, True):
        trace.rpn_ignore_cross_boundary = ignore
        expected, _ = label_trace_anchors(trace.anchors, trace.image_size, trace.resized_size, gt,
                                          ignore_cross_boundary=ignore)
        got = trace_anchor_labels(trace, anns)
        np.testing.assert_array_equal(got, expected)
        assert (got == CROSSES_BOUNDARY).any() == ignore
    trace.rpn_ignore_cross_boundary = False
    assert (trace_anchor_labels(trace, []) == 0).all()  # no boxes: every anchor negative
