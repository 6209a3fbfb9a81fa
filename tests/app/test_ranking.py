"""'Most useful first': usefulness signals from a trace (hand-computed on the fake trace),
the ranking of a project's items, and the session's review order (A / D follow it)."""

from __future__ import annotations

import numpy as np
import pytest

from detector_app.app.ranking import NOT_DETECTED, class_counts, rank_items
from detector_app.domain.annotations import Annotation, ImageRecord, ItemState
from detector_app.domain.boxes import Box
from detector_app.domain.usefulness import WEIGHTS, rate, signals, usefulness
from tests.helpers.traces import make_fake_trace


def test_signals_on_the_fake_trace() -> None:
    """Fake trace at score 0.5: best foreground probabilities 0.90 0.80 0.02 0.70 0.60 0.30 -> within
    0.15 of 0.5: 0.60 only; objectness >= 0.9 and background: p2 (0.85 objectness) no, none; detections
    cat 0.9 and dog 0.8 do not overlap."""
    trace = make_fake_trace()
    result = trace.postprocess(score_thresh=0.5)
    sig = signals(trace, result, 0.5)
    assert sig == {"unsure": 1, "dropped": 0, "disagree": 0, "labels": ["cat", "dog"]}
    u = rate(sig, {"cat": 9, "dog": 0})
    assert u.terms["rare"] == pytest.approx(1 / 10 + 1)
    assert u.score == pytest.approx(WEIGHTS["unsure"] * 1 + WEIGHTS["rare"] * 1.1)
    assert u.reason == "classes with few boxes in the project: dog (0 box(es))"
    sig2 = signals(trace, result, 0.75)  # 0.90, 0.80, 0.70, 0.60 within 0.15 of 0.75
    assert sig2["unsure"] == 4 and rate(sig2, {"cat": 99, "dog": 99}).reason.startswith("4 proposal(s) scored")
    assert usefulness(trace, result, 0.5, {"cat": 9, "dog": 0}) == u


def test_disagreement_and_dropped_objects() -> None:
    trace = make_fake_trace()
    trace.proposal_scores = np.full_like(trace.proposal_scores, 0.95)  # every proposal confident
    result = trace.postprocess(score_thresh=0.5)
    assert signals(trace, result, 0.5)["dropped"] == 2  # p2 (bg 0.97) and p5 (bg 0.68)
    trace.refined_boxes[1, 2] = trace.refined_boxes[0, 1]  # the dog box onto the cat box
    result = trace.postprocess(score_thresh=0.5)
    assert signals(trace, result, 0.5)["disagree"] == 1


def test_rank_items_orders_scored_then_unscored_then_reviewed() -> None:
    items = ["a.png", "b.png", "c.png", "d.png", "clip.mp4"]
    states = [ItemState.DETECTED, ItemState.DETECTED, ItemState.NOT_SEEN, ItemState.VERIFIED, ItemState.NOT_SEEN]
    videos = [False, False, False, False, True]
    summaries = {"a.png": {"unsure": 1, "dropped": 0, "disagree": 0, "labels": []},
                 "b.png": {"unsure": 0, "dropped": 0, "disagree": 2, "labels": []},
                 "d.png": {"unsure": 9, "dropped": 9, "disagree": 9, "labels": []}}
    ranked = rank_items(items, states, videos, summaries, {})
    assert [r.index for r in ranked] == [1, 0, 2, 3, 4]
    assert ranked[0].score == 3.0 and "2 overlapping detection(s)" in ranked[0].reason
    assert ranked[2].reason == NOT_DETECTED and ranked[3].reason == "already verified"
    recs = [ImageRecord("x.png", annotations=[Annotation(Box(0, 0, 1, 1), "cat"), Annotation(Box(0, 0, 2, 2), "cat")])]
    assert class_counts(recs) == {"cat": 2}
