"""The review a careful person makes of a model's detections (hand-computed cases)."""

from __future__ import annotations

import numpy as np

from detector_app.domain.review_plan import plan_review

GT = np.array([[0, 0, 100, 100], [200, 200, 260, 260], [400, 0, 440, 40]], np.float64)
GT_LABELS = ["circle", "square", "cross"]


def test_right_wrong_loose_relabelled_and_missed_boxes() -> None:
    det = np.array([
        [0, 0, 100, 100],      # circle, exact: kept
        [2, 0, 100, 100],      # second circle on the same object: deleted
        [200, 200, 250, 250],  # square, IoU 2500/3600 = 0.69: adjusted
        [600, 600, 650, 650],  # nothing there: deleted
    ], np.float64)
    plan = plan_review(det, ["circle", "circle", "star", "bar"], np.array([0.9, 0.8, 0.7, 0.6]), GT, GT_LABELS)
    assert plan.matched.tolist() == [0, -1, 1, -1]
    assert plan.delete == [1, 3]
    assert plan.relabel == [2] and plan.adjust == [2]  # found the square, called it a star, box loose
    assert plan.draw == [2]  # the cross was missed
    assert plan.corrections == 2 + 1 + 1 + 1
    assert plan.accept_all and plan.actions == 5 + 1 + 1


def test_the_higher_score_takes_the_object() -> None:
    det = np.array([[0, 0, 90, 90], [0, 0, 100, 100]], np.float64)  # IoU 0.81 and 1.0 with GT 0
    plan = plan_review(det, ["circle", "circle"], np.array([0.95, 0.5]), GT[:1], GT_LABELS[:1])
    assert plan.matched.tolist() == [0, -1]  # the first, though looser, is the one a person sees first
    assert plan.adjust == [] and plan.delete == [1]


def test_nothing_shown_means_drawing_everything_and_no_accept() -> None:
    plan = plan_review(np.zeros((0, 4)), [], np.zeros(0), GT, GT_LABELS)
    assert plan.draw == [0, 1, 2] and not plan.accept_all
    assert plan.corrections == 3 and plan.actions == 4  # three boxes and the verify key


def test_only_false_positives_are_left_alone_rather_than_accepted_and_deleted() -> None:
    plan = plan_review(np.array([[600, 600, 650, 650]], np.float64), ["bar"], np.array([0.9]), GT[:0], [])
    assert not plan.accept_all and plan.matched.tolist() == [-1]
    assert plan.delete == [] and plan.draw == []
    assert plan.corrections == 0 and plan.actions == 1  # verify only
