"""The miss explainer on hand-built traces: in each, one stage is the known culprit.

The scenarios (``tests.helpers.traces``): the object is G = (10, 10, 50, 50), class
"cat"; image 100 x 100, not resized; one feature level of 2 x 2 cells with one anchor
each. Horizontal shifts of a 40-px box by d pixels have IoU (40 - d) / (40 + d) with
G: d 10 -> 0.60, d 16 -> 0.43, and two boxes 6 px apart overlap at 0.74.
"""

from __future__ import annotations

import numpy as np
import pytest

from detector_app.domain.diagnosis import (
    Stage,
    explain_false_positive,
    explain_object,
    false_positives,
)
from detector_app.domain.trace import DetectionTrace
from tests.helpers.traces import FAR, SCENARIO_NAMES, G, make, one_proposal, shifted


def explain(trace: DetectionTrace, score: float = 0.5, cap: int = 100, label: str = "cat"):
    result = trace.postprocess(score_thresh=score, detections_per_img=cap)
    return explain_object(trace, result, G, label, score_thresh=score, detections_per_img=cap)


def test_detected() -> None:
    e = explain(one_proposal([0.05, 0.9, 0.05], shifted(2)))
    assert e.stage is Stage.DETECTED and not e.missed and e.detection == 0 and e.proposal == 0


def test_unknown_class() -> None:
    e = explain(one_proposal([0.05, 0.9, 0.05], shifted(2)), label="zebra")
    assert e.stage is Stage.UNKNOWN_CLASS and "no class 'zebra'" in e.summary


def test_no_anchor_covers_it() -> None:
    e = explain(make(anchors=[shifted(16), FAR, FAR, FAR]))  # best anchor IoU 0.43
    assert e.stage is Stage.NO_ANCHOR and e.anchor == 0 and e.best_anchor_iou == pytest.approx(24 / 56, abs=1e-4)
    assert "best anchor reaches IoU 0.43" in e.summary and "anchor #0 (cell row 0 col 0, 40 px, h/w 1)" in e.evidence[0]


def test_low_objectness() -> None:
    e = explain(make(anchors=[FAR, shifted(4), FAR, FAR], logits=[3.0, -6.0, 2.0, 1.0],
                     candidates=[(FAR, 0.95, 0)], proposals=[(FAR, 0.95, 0)],
                     probs=[[0.9, 0.05, 0.05]], refined=[[FAR, FAR, FAR]]))
    assert e.stage is Stage.LOW_OBJECTNESS and e.anchor == 1
    assert "1 anchor(s) cover it" in e.summary and "scores 0.002, rank 4 of 4" in e.summary


def test_rpn_nms_names_the_suppressing_proposal() -> None:
    e = explain(make(candidates=[(shifted(10), 0.6, 2), (shifted(16), 0.9, 3)],
                     proposals=[(shifted(16), 0.9, 3)], probs=[[0.9, 0.05, 0.05]], refined=[[FAR, FAR, FAR]]))
    assert e.stage is Stage.RPN_NMS and e.candidate == 0 and e.suppressor == 0 and e.anchor == 2
    assert "suppressed by proposal 0 (objectness 0.900), which overlaps it at IoU 0.74 > 0.7" in e.summary


def test_rpn_top_n_cut() -> None:
    e = explain(make(candidates=[(shifted(10), 0.6, 2), (FAR, 0.9, 3)], proposals=[(FAR, 0.9, 3)],
                     probs=[[0.9, 0.05, 0.05]], refined=[[FAR, FAR, FAR]]))
    assert e.stage is Stage.RPN_NMS and e.suppressor == -1 and "ranked past the 1 proposals kept" in e.summary


def test_roi_head_background_and_other_class_and_low_score() -> None:
    e = explain(one_proposal([0.9, 0.06, 0.04], shifted(2)))
    assert e.stage is Stage.ROI_BACKGROUND and e.proposal == 0 and "background 0.90, cat 0.06" in e.summary
    e = explain(one_proposal([0.1, 0.2, 0.7], shifted(2)))
    assert e.stage is Stage.ROI_WRONG_CLASS and "called it dog (0.70) rather than cat (0.20)" in e.summary
    e = explain(one_proposal([0.3, 0.4, 0.3], shifted(2)))
    assert e.stage is Stage.BELOW_SCORE and "cat 0.40 <= 0.50" in e.summary
    assert "class probabilities: cat 0.40, background 0.30, dog 0.30" in e.evidence[1]


def test_refined_box_drift() -> None:
    e = explain(one_proposal([0.05, 0.9, 0.05], shifted(16)))  # proposal on it, refined box 0.43
    assert e.stage is Stage.BOX_DRIFT and "refined cat box has IoU 0.43 < 0.5" in e.summary


def test_class_nms_names_the_suppressing_detection() -> None:
    # p0: cat 0.95 at d = 20 (IoU 0.33 with G); p1: cat 0.8 at d = 12 (IoU 0.54), 0.67 with p0's box
    trace = make(candidates=[(shifted(20), 0.9, 0), (shifted(12), 0.8, 1)],
                 proposals=[(shifted(20), 0.9, 0), (shifted(12), 0.8, 1)],
                 probs=[[0.04, 0.95, 0.01], [0.15, 0.8, 0.05]],
                 refined=[[FAR, shifted(20), FAR], [FAR, shifted(12), FAR]])
    e = explain(trace)
    assert e.stage is Stage.CLASS_NMS and e.suppressor == 0 and e.proposal == 1
    assert "suppressed by detection 0 (cat 0.95), which overlaps it at IoU 0.67 > 0.5" in e.summary


def test_over_the_cap() -> None:
    trace = make(candidates=[(FAR, 0.9, 0), (shifted(2), 0.8, 1)],
                 proposals=[(FAR, 0.9, 0), (shifted(2), 0.8, 1)],
                 probs=[[0.04, 0.95, 0.01], [0.15, 0.8, 0.05]],
                 refined=[[FAR, FAR, FAR], [FAR, shifted(2), FAR]])
    assert explain(trace).stage is Stage.DETECTED
    e = explain(trace, cap=1)
    assert e.stage is Stage.OVER_CAP and "cap: 1 detections already" in e.summary


def test_false_positives_are_explained() -> None:
    trace = make(candidates=[(FAR, 0.9, 0), (shifted(2), 0.8, 1)],
                 proposals=[(FAR, 0.9, 0), (shifted(2), 0.8, 1)],
                 probs=[[0.04, 0.95, 0.01], [0.15, 0.05, 0.8]],
                 refined=[[FAR, FAR, FAR], [FAR, FAR, shifted(2)]])
    result = trace.postprocess(score_thresh=0.5)
    annotations = [(np.array(G), "cat")]
    fps = false_positives(result, annotations, SCENARIO_NAMES)
    assert sorted(fps) == [0, 1]  # cat where nothing is annotated; dog on the cat
    by_label = {SCENARIO_NAMES[int(result.labels[d])]: explain_false_positive(trace, result, d, annotations)
                for d in fps}
    assert "where nothing is annotated" in by_label["cat"].summary
    assert "on an object annotated as cat (IoU 0.90): the RoI head chose the wrong class" in by_label["dog"].summary
    assert by_label["dog"].proposal == 1 and "class probabilities: dog 0.80" in by_label["dog"].evidence[0]
