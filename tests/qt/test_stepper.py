"""ProposalStepper on the hand-built trace whose fates are known."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from detector_app.domain.trace import Fate
from detector_app.qt.stepper import ProposalStepper


@pytest.fixture
def stepper(qtbot, fake_trace, fake_result):
    w = ProposalStepper()
    qtbot.addWidget(w)
    w.resize(520, 420)
    w.set_trace(fake_trace, fake_result)
    return w


def test_shows_source_anchor_scale_ratio_and_fate(stepper, fake_trace):
    stepper.set_current(3)
    text = stepper.info_text()
    a = int(fake_trace.proposal_anchor_index[3])
    assert a == (2 * 10 + 3) * 6 + 4  # cell (2, 3), a = ratio 2 * 2 scales + scale 0
    assert f"Source anchor #{a}" in text
    assert "cell (row 2, col 3)" in text
    assert "scale 0 (32 px)" in text and "ratio 2 (h/w 2)" in text
    assert "Objectness 0.800" in text
    assert stepper.fate() == (Fate.SUPPRESSED, 0)
    assert "suppressed" in stepper.fate_text() and "detection 0" in stepper.fate_text()
    # The RoI head line names the class of detection 0 (cat) and its refined box.
    assert "RoI head: cat 0.700" in text and "(44.0, 42.0, 122.0, 138.0)" in text


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0, "became detection 0"),
        (1, "became detection 1"),
        (2, "dropped: below score threshold"),
        (4, "dropped: box too small"),
        (5, "dropped: over the detections-per-image cap"),
    ],
)
def test_every_fate_reads_right(stepper, p, expected):
    stepper.set_current(p)
    assert stepper.fate_text() == expected


def test_deltas_line_decodes_anchor_to_the_proposal(stepper, fake_trace):
    stepper.set_current(2)
    p = fake_trace.proposals[2]
    # The fixture's proposals are decoded anchors clipped to the image; p2's right/bottom are not clipped.
    assert f"{p[2]:.1f}, {p[3]:.1f})" in stepper.info_text().split("RPN deltas")[1].split("\n")[0]


def test_chart_shows_class_probabilities(stepper, fake_trace):
    stepper.set_current(1)
    np.testing.assert_allclose(stepper.probabilities(), fake_trace.class_probs[1])
    stepper.set_current(4)
    np.testing.assert_allclose(stepper.probabilities(), fake_trace.class_probs[4])


def test_select_detection_jumps_to_its_proposal(qtbot, stepper, fake_result):
    stepper.set_current(5)
    with qtbot.waitSignal(stepper.currentProposalChanged) as sig:
        stepper.select_detection(1)
    assert sig.args == [int(fake_result.proposal_index[1])] == [1]
    stepper.select_detection(0)
    assert stepper.current() == 0
    stepper.select_detection(7)  # no such detection: stays
    assert stepper.current() == 0


def test_keys_slider_and_buttons_step(qtbot, stepper):
    stepper.set_current(0)
    seen = []
    stepper.currentProposalChanged.connect(seen.append)
    for key in (Qt.Key.Key_BracketRight, Qt.Key.Key_Period, Qt.Key.Key_BracketLeft, Qt.Key.Key_End,
                Qt.Key.Key_Comma, Qt.Key.Key_Home):
        qtbot.keyClick(stepper, key)
    assert seen == [1, 2, 1, 5, 4, 0]
    qtbot.keyClick(stepper, Qt.Key.Key_Comma)  # already first: nothing
    assert seen[-1] == 0 and len(seen) == 6
    stepper._slider.setValue(3)
    assert stepper.current() == 3 and stepper._spin.value() == 3
    qtbot.mouseClick(stepper._next, Qt.MouseButton.LeftButton)
    assert stepper.current() == 4 and stepper._slider.value() == 4


def test_new_thresholds_change_the_fate(stepper, fake_trace):
    stepper.set_current(5)
    assert stepper.fate_text().startswith("dropped: over")
    stepper.set_result(fake_trace.postprocess(detections_per_img=100), score_thresh=0.05)
    assert stepper.fate_text() == "became detection 2"
    stepper.set_result(fake_trace.postprocess(score_thresh=0.5), score_thresh=0.5)
    assert stepper.fate_text() == "dropped: below score threshold"


def test_empty_and_cleared(qtbot, stepper):
    stepper.set_trace(None)
    assert stepper.current() is None and stepper.fate_text() == "" and len(stepper.probabilities()) == 0
