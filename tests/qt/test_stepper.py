"""ProposalStepper on the hand-built trace whose fates are known."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF

from detector_app.domain.trace import Fate
from detector_app.qt.stepper import ProposalStepper, fit_tick_labels


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
    stepper.set_current(0)
    assert stepper.tick_labels() and stepper.chart.plot.toolTip()
    stepper.set_trace(None)
    assert stepper.current() is None and stepper.fate_text() == "" and len(stepper.probabilities()) == 0
    assert stepper.tick_labels() == [] and stepper.chart.plot.toolTip() == ""  # no stale class names


# -- bar labels fitted to the chart's width ----------------------------------------

def _mono_width(text: str) -> float:
    return 7.0 * len(text)


def _mono_elide(text: str, px: float) -> str:
    keep = max(int(px // 7) - 1, 0)
    return text if _mono_width(text) <= px else text[:keep] + "\u2026"


def _fit(names: list[str], slot: float, probs=None) -> list[str]:  # type: ignore[no-untyped-def]
    """Bars ``slot`` px apart, bar i centred (i + 0.6) slots from the left of an n-slot chart."""
    return fit_tick_labels(names, [(i + 0.6) * slot for i in range(len(names))], len(names) * slot,
                           _mono_width, _mono_elide, probs)


def test_fit_tick_labels_whole_cut_or_left_out():
    names = ["bg", "circle", "square", "triangle", "bar", "star"]
    assert _fit(names, 80) == names  # room for all
    # 40 px per bar, left to right: "square" has 26 px between its neighbours, "squ…" needs 28
    assert _fit(names, 40) == ["bg", "circle", "", "triangle", "", ""]
    probs = [0.08, 0.9, 0.0, 0.0, 0.02, 0.0]  # most probable first: "bar" before "triangle", which is cut
    assert _fit(names, 40, probs) == ["bg", "circle", "", "trian\u2026", "bar", ""]
    # 15 px per bar: "bg" would run off the left edge; "circle" spans three bars
    assert _fit(names, 15) == ["", "circle", "", "", "bar", ""]
    assert _fit([], 10) == []


def _wide_trace(trace, num_classes: int):
    """``trace`` with ``num_classes`` classes (COCO-like long names); the extra classes get probability 0."""
    if num_classes == len(trace.class_names):
        return trace, trace.postprocess()
    names = ["__background__"] + [f"class number {i}" for i in range(1, num_classes)]
    extra = num_classes - trace.class_probs.shape[1]
    probs = np.concatenate([trace.class_probs, np.zeros((len(trace.class_probs), extra), np.float32)], axis=1)
    refined = np.concatenate([trace.refined_boxes, np.repeat(trace.refined_boxes[:, :1], extra, axis=1)], axis=1)
    wide = dataclasses.replace(trace, class_names=names, class_probs=probs, refined_boxes=refined)
    return wide, wide.postprocess()


@pytest.mark.parametrize("num_classes, width", [(3, 520), (91, 520), (91, 1400)])
def test_bar_labels_never_overlap(qtbot, fake_trace, num_classes, width):
    w = ProposalStepper()
    qtbot.addWidget(w)
    w.resize(width, 420)
    w.show()
    trace, result = _wide_trace(fake_trace, num_classes)
    w.set_trace(trace, result)
    w.set_current(0)
    shown = min(num_classes, 11)  # a COCO-sized model: the background and the top 10 classes
    qtbot.waitUntil(lambda: len(w.tick_labels()) == shown)
    labels = w.tick_labels()
    classes = w.shown_classes()
    axis = w.chart.plot.getAxis("bottom")
    metrics = QFontMetricsF(axis.style.get("tickFont") or w.chart.plot.font())
    view = w.chart.plot.getViewBox()
    chart = view.width()
    (x0, x1), _ = view.viewRange()

    def centre_px(i: int) -> float:  # bar i sits at x = i
        return (i - x0) / (x1 - x0) * chart

    spans = [(centre_px(i) - metrics.horizontalAdvance(t) / 2, centre_px(i) + metrics.horizontalAdvance(t) / 2)
             for i, t in enumerate(labels) if t]
    assert spans[0][0] >= 0 and spans[-1][1] <= chart  # nothing runs off the chart
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no two labels overlap
    top = classes.index(int(np.argmax(trace.class_probs[0])))
    name = trace.class_names[classes[top]]
    centre = centre_px(top)
    if 2 * min(centre, chart - centre) - 6 >= metrics.horizontalAdvance(name[:3] + "\u2026"):
        assert labels[top] in (name, "bg") or labels[top].endswith("\u2026")  # named first
    if num_classes == 3:
        assert labels == ["bg", "cat", "dog"]  # room enough: whole names
        assert w.chart.plot.toolTip().splitlines()[1] == f"cat: {trace.class_probs[0, 1]:.3f}"
    else:  # 91 classes: the top 10 by probability after the background, every value in the tooltip
        probs = trace.class_probs[0]
        assert classes[0] == 0 and len(classes) == 11
        assert [probs[c] for c in classes[1:]] == sorted(probs[1:], reverse=True)[:10]
        np.testing.assert_allclose(w.probabilities(), probs[classes])
        assert len(w.chart.plot.toolTip().splitlines()) == 91
        assert "top 10 of 90 classes" in w.chart.plot.getPlotItem().titleLabel.text
