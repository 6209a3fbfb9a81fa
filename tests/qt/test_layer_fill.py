"""What the overlay layers are filled with: pens, boxes and tags from a trace and its
post-processing (``qt/layer_fill.py``), and which class the highlight refines."""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import Qt

from detector_app.qt import overlay_data as od
from detector_app.qt.colors import class_color
from detector_app.qt.highlight_layer import HighlightLayer
from detector_app.qt.layer_fill import fill_anchor_labels, fill_detections, fill_highlight, fill_proposals
from detector_app.qt.layers import LabelledRectLayer, RectLayer
from detector_app.qt.overlay_style import DEFAULT_STYLE


def test_detections_are_dashed_in_their_class_colour_with_score_tags(qtbot, fake_trace, fake_result):
    layer = LabelledRectLayer()
    shown = np.arange(len(fake_result.boxes))
    fill_detections(layer, fake_result, shown, fake_trace.class_names, None, DEFAULT_STYLE)
    labels = fake_result.labels.tolist()
    batches = layer.batches()
    assert [pen.color() for pen, _ in batches] == [class_color(c) for c in sorted(set(labels))]
    assert all(pen.style() == Qt.PenStyle.DashLine for pen, _ in batches)
    assert sum(len(b) for _, b in batches) == len(shown)
    assert layer.tags == [f"{fake_trace.class_names[c]} {s:.2f}" for c, s in zip(labels, fake_result.scores.tolist())]
    fill_detections(layer, fake_result, shown[1:], fake_trace.class_names, 1, DEFAULT_STYLE)
    assert len(layer.tags) == len(shown) - 1
    fill_detections(layer, fake_result, shown[:0], fake_trace.class_names, None, DEFAULT_STYLE)
    assert layer.rect_count == 0 and layer.tags == []


def test_anchor_labels_keep_every_positive_and_draw_them_last(qtbot, fake_trace):
    labels = np.full(fake_trace.num_anchors, -1, np.int8)
    labels[:410] = 0  # of 420 anchors: more negatives than the style shows
    labels[[3, 7, 11]] = 1
    labels[-1] = -2
    layer = RectLayer()
    fill_anchor_labels(layer, fake_trace.anchors, labels, DEFAULT_STYLE)
    crossing, ignored, negative, positive = (boxes for _, boxes in layer.batches())
    assert np.array_equal(positive, fake_trace.anchors[[3, 7, 11]])
    assert len(negative) == min(int((labels == 0).sum()), DEFAULT_STYLE.max_negative_labels)
    assert len(ignored) == min(int((labels == -1).sum()), DEFAULT_STYLE.max_ignored_labels)
    assert np.array_equal(crossing, fake_trace.anchors[-1:])


def test_proposals_take_one_pen_per_objectness_bin(qtbot, fake_trace):
    layer = RectLayer()
    fill_proposals(layer, fake_trace, np.array([0, 1, 2]), DEFAULT_STYLE)
    assert layer.rect_count == 3
    assert all(len(boxes) for _, boxes in layer.batches())


def test_the_highlight_refines_for_the_detection_a_proposal_became_or_its_best_class(fake_trace, fake_result):
    assert od.highlighted_class(fake_trace, fake_result, 3) == int(fake_result.labels[0])  # suppressed by detection 0
    p2_best = int(np.argmax(fake_trace.class_probs[2, 1:])) + 1
    assert od.highlighted_class(fake_trace, fake_result, 2) == p2_best  # dropped: its most probable class
    assert od.highlighted_class(fake_trace, None, 2) == p2_best
    no_classes = dataclasses.replace(fake_trace, class_probs=np.zeros((fake_trace.num_proposals, 1), np.float32))
    assert od.highlighted_class(no_classes, None, 2) is None


def test_highlight_without_a_class_shows_anchor_and_proposal_only(qtbot, fake_trace):
    layer = HighlightLayer()
    fill_highlight(layer, fake_trace, 0, None)
    assert layer.shown == (True, True, False)
    fill_highlight(layer, fake_trace, 0, 1)
    assert layer.shown == (True, True, True)
