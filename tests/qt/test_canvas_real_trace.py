"""The canvas, stepper and stats panel on a real trace of the `small` model
(random weights, 128 px): the views agree with the trace and with each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from detector_app.detection.builders import build_model
from detector_app.detection.config import ModelConfig
from detector_app.detection.tracing import trace as run_trace
from detector_app.domain.trace import Fate
from detector_app.qt.canvas import ImageCanvas
from detector_app.qt.stats_panel import StatsPanel
from detector_app.qt.stepper import ProposalStepper


@pytest.fixture(scope="module")
def real_trace():
    torch.manual_seed(0)
    model = build_model(ModelConfig(builder="small", num_classes=6, min_size=128, max_size=128))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    return image, run_trace(model, image, class_names=["__background__", "a", "b", "c", "d", "e"])


def test_views_agree_with_a_real_trace(qtbot, real_trace):
    image, trace = real_trace
    result = trace.postprocess(score_thresh=0.0)  # random weights: keep every class box
    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(520, 420)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_image(image)
    canvas.set_trace(trace)
    canvas.set_detections(result, trace.class_names)
    canvas.set_layer_visible("anchors", True)

    # Hover: the k anchors of the cell under the cursor, mapped through the trace's own cell_at.
    canvas.set_zoom(3.0)
    canvas.centerOn(64, 48)
    x, y = 70.3, 41.7
    qtbot.mouseMove(canvas.viewport(), canvas.image_to_view(x, y).toPoint())
    px = canvas.mapToScene(canvas.image_to_view(x, y).toPoint())
    cell = trace.cell_at(0, px.x(), px.y())
    assert cell is not None
    shown = canvas.shown_anchor_indices()
    assert shown.tolist() == trace.anchors_at_cell(0, *cell).tolist()
    assert len(shown) == trace.levels[0].num_anchors_per_cell == 9
    # Those anchors are centred on the cell's corner (torchvision's layout), in original pixels.
    sy, sx = trace.scale
    stride = trace.levels[0].stride
    centres = (trace.anchors[shown, :2] + trace.anchors[shown, 2:]) / 2
    np.testing.assert_allclose(centres[:, 0], cell[1] * stride[1] / sx, atol=1.0 / sx)
    np.testing.assert_allclose(centres[:, 1], cell[0] * stride[0] / sy, atol=1.0 / sy)

    canvas.set_anchor_mode("grid")
    assert len(canvas.shown_anchor_indices()) == trace.num_anchors  # small image: no thinning needed
    canvas.set_layer_visible("proposals", True)
    canvas.set_proposal_top_n(50)
    top = canvas.shown_proposal_indices()
    assert len(top) == min(50, trace.num_proposals)
    assert np.all(np.diff(trace.proposal_scores[top]) <= 0)

    stepper = ProposalStepper()
    qtbot.addWidget(stepper)
    stepper.currentProposalChanged.connect(canvas.highlight_proposal)
    stepper.set_trace(trace, result)
    assert len(result.boxes) > 0
    p = int(result.proposal_index[0])
    assert stepper.current() == p  # a new trace opens on the best detection's proposal, not on proposal 0
    stepper.select_detection(0)
    assert stepper.current() == p and stepper.fate() == (Fate.DETECTED, 0)
    assert canvas.layer("highlight").shown == (True, True, True)
    np.testing.assert_allclose(stepper.probabilities(), trace.class_probs[p])
    a = int(trace.proposal_anchor_index[p])
    assert f"Source anchor #{a}" in stepper.info_text()
    stepper.setFocus()
    qtbot.keyClick(stepper, Qt.Key.Key_End)
    assert stepper.current() == trace.num_proposals - 1

    stats = StatsPanel()
    qtbot.addWidget(stats)
    stats.set_trace(trace, result)
    assert stats.histogram()[1].sum() == trace.num_proposals
    rows = dict(stats.rows())
    assert rows["  proposals (after RPN NMS)"] == f"{trace.num_proposals:,}"
    assert rows["  detections"] == f"{len(result.boxes):,}"
