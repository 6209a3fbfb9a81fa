"""'Most useful first': usefulness signals from a trace (hand-computed on the fake trace),
the ranking of a project's items, and the session's review order (A / D follow it)."""

from __future__ import annotations

import numpy as np
import pytest

from detector_app.app.ranking import NOT_DETECTED, class_counts, rank_items
from detector_app.domain.annotations import Annotation, ImageRecord, ItemState
from detector_app.domain.boxes import Box
from detector_app.domain.usefulness import SIGNALS_VERSION, STALE, WEIGHTS, rate, signals, usefulness
from tests.helpers.traces import make_fake_trace


def test_unsure_counts_candidate_detections_near_the_threshold() -> None:
    """Fake trace, class-wise NMS survivors: cat 0.90 (p0), dog 0.80 (p1), cat 0.30 (p5); cat 0.70
    (p3) is suppressed by p0 and dog 0.60 (p4) is too small. At 0.5 the window is [0.2, 0.8):
    only p5's 0.30; at 0.75 it is [0.45, 1.05) but the cap of 2 detections keeps 0.90 and 0.80."""
    trace = make_fake_trace()
    trace.detections_per_img = 100
    assert signals(trace, trace.postprocess(score_thresh=0.5), 0.5)["unsure"] == 1
    trace.detections_per_img = 2
    assert signals(trace, trace.postprocess(score_thresh=0.75), 0.75)["unsure"] == 2
    assert signals(trace, trace.postprocess(score_thresh=0.5), 0.5)["unsure"] == 0


def test_missed_objects_are_confident_proposals_no_detection_covers_grouped_per_object() -> None:
    """Detections at 0.5: cat (40, 40, 120, 140), dog (180, 60, 260, 150). Confident proposals: one on
    the cat box (covered), two on one uncovered object (one object), one more elsewhere: 2 missed."""
    trace = make_fake_trace()
    trace.proposals = np.array([(40, 40, 120, 140), (0, 0, 50, 50), (2, 2, 52, 52), (200, 150, 260, 190),
                                (0, 100, 30, 130), (10, 100, 40, 130)], np.float32)
    trace.proposal_scores = np.array([0.95, 0.95, 0.95, 0.95, 0.5, 0.5], np.float32)
    result = trace.postprocess(score_thresh=0.5)
    assert result.boxes.tolist() == [[40, 40, 120, 140], [180, 60, 260, 150]]
    sig = signals(trace, result, 0.5)
    assert sig["missed"] == 2 and sig["labels"] == ["cat", "dog"] and sig["v"] == SIGNALS_VERSION
    u = rate(sig, {})
    assert u.terms == {"unsure": 0.0, "missed": 2.0, "disagree": 0.0, "rare": 0.0}
    assert u.reason.startswith("2 object(s) the RPN is sure of")
    assert usefulness(trace, result, 0.5) == u


def test_rare_classes_count_against_the_best_covered_class() -> None:
    """Labels cat, dog with 9 cat boxes and no dog box: cat 1/10 - 1/10 = 0, dog 1 - 1/10 = 0.9.
    A project where every class has as many boxes (none yet, too) adds nothing."""
    sig = {"v": SIGNALS_VERSION, "unsure": 0, "missed": 0, "disagree": 0, "labels": ["cat", "dog"]}
    u = rate(sig, {"cat": 9, "dog": 0})
    assert u.terms["rare"] == pytest.approx(0.9) and u.score == pytest.approx(WEIGHTS["rare"] * 0.9)
    assert u.reason == "classes with few boxes in the project: dog (0 box(es))"
    assert rate(sig, {}).terms["rare"] == 0.0 and rate(sig, {"cat": 3, "dog": 3}).terms["rare"] == 0.0
    assert rate(sig, {}).reason == "nothing uncertain: few corrections expected"
    assert rate({"unsure": 190, "labels": []}).reason == STALE  # an older definition: not rated


def test_disagreement() -> None:
    trace = make_fake_trace()
    trace.refined_boxes[1, 2] = trace.refined_boxes[0, 1]  # the dog box onto the cat box
    result = trace.postprocess(score_thresh=0.5)
    sig = signals(trace, result, 0.5)
    assert sig["disagree"] == 1 and sig["missed"] == 2  # the fake proposals lie beside the boxes
    assert rate({**sig, "missed": 0}).reason == "1 overlapping detection(s) of different classes"


def test_rank_items_orders_scored_then_unscored_then_reviewed() -> None:
    items = ["a.png", "b.png", "c.png", "d.png", "clip.mp4", "e.png"]
    states = [ItemState.DETECTED, ItemState.DETECTED, ItemState.NOT_SEEN, ItemState.VERIFIED, ItemState.NOT_SEEN,
              ItemState.DETECTED]
    videos = [False, False, False, False, True, False]
    v = SIGNALS_VERSION
    summaries = {"a.png": {"v": v, "unsure": 1, "missed": 0, "disagree": 0, "labels": []},
                 "b.png": {"v": v, "unsure": 0, "missed": 0, "disagree": 2, "labels": []},
                 "d.png": {"v": v, "unsure": 9, "missed": 9, "disagree": 9, "labels": []},
                 "e.png": {"unsure": 150, "dropped": 3, "disagree": 0, "labels": []}}  # stored by an older app
    ranked = rank_items(items, states, videos, summaries, {})
    assert [r.index for r in ranked] == [1, 0, 2, 5, 3, 4]
    assert ranked[0].score == 2.0 and "2 overlapping detection(s)" in ranked[0].reason
    assert ranked[2].reason == NOT_DETECTED and ranked[3].reason == STALE and ranked[3].score is None
    assert ranked[4].reason == "already verified"
    recs = [ImageRecord("x.png", annotations=[Annotation(Box(0, 0, 1, 1), "cat"), Annotation(Box(0, 0, 2, 2), "cat")])]
    assert class_counts(recs) == {"cat": 2}
