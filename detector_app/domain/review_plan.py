"""What a careful reviewer does to turn a model's detections into the right boxes.

Given the detections shown on an image (above the score threshold) and the
image's true boxes, :func:`plan_review` decides, detection by detection in
descending score, what a person would do in the app's fastest workflow:

1. accept every shown detection at once (Shift+Enter: one action, only worth
   pressing when at least one detection is right);
2. delete each accepted detection that matches no true box (a false positive,
   or a second box on an object already matched);
3. relabel each that found its object with the wrong class;
4. adjust each whose box is loose (IoU with its object below ``adjust_iou``);
5. draw each true box that no detection found;
6. mark the image verified (Space: one action).

Steps 2-5 are the *corrections*: the work the model leaves to a person, the
number a better model lowers. Matching is greedy by score at IoU >=
``match_iou`` regardless of class (a right box with a wrong class is relabelled,
not deleted and redrawn). Pure numpy: used by the simulated reviewer
(``app.simulated_review``) and by benchmarks counting the actions without
editing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from detector_app.domain.boxes import box_iou

#: A detection at this IoU (or more) with a true box found that object.
MATCH_IOU = 0.5
#: A found object's box is adjusted by hand below this IoU with the true box.
ADJUST_IOU = 0.75


@dataclass(frozen=True)
class ReviewPlan:
    """What to do with each of D detections and G true boxes.

    ``matched[d]`` is the true box detection ``d`` found (-1: none: delete it);
    ``relabel`` and ``adjust`` are detection indices (sorted); ``draw`` are the
    indices of the true boxes no detection found.
    """

    matched: np.ndarray  # int64[D]
    relabel: list[int] = field(default_factory=list)
    adjust: list[int] = field(default_factory=list)
    draw: list[int] = field(default_factory=list)

    @property
    def delete(self) -> list[int]:
        """The wrong detections accept-all turned into boxes (none when it is not pressed:
        suggestions left alone are not boxes and need no deleting)."""
        return [int(d) for d in np.flatnonzero(self.matched < 0)] if self.accept_all else []

    @property
    def accept_all(self) -> bool:
        """Whether pressing accept-all is worth it: at least one detection is right."""
        return bool((self.matched >= 0).any())

    @property
    def corrections(self) -> int:
        """Deletions + relabels + adjustments + drawn boxes."""
        return len(self.delete) + len(self.relabel) + len(self.adjust) + len(self.draw)

    @property
    def actions(self) -> int:
        """Every key press or drag of the review, accept-all and verify included."""
        return self.corrections + int(self.accept_all) + 1


def plan_review(det_boxes: np.ndarray, det_labels: Sequence[str], det_scores: np.ndarray,
                gt_boxes: np.ndarray, gt_labels: Sequence[str],
                match_iou: float = MATCH_IOU, adjust_iou: float = ADJUST_IOU) -> ReviewPlan:
    """The review of one image (see the module docstring).

    ``det_boxes`` float[D, 4] and ``gt_boxes`` float[G, 4] are x1, y1, x2, y2 in
    image pixels; ``det_scores`` float[D] orders the greedy matching.
    """
    det = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    matched = np.full(len(det), -1, np.int64)
    if len(det) == 0 or len(gt) == 0:
        return ReviewPlan(matched, draw=list(range(len(gt))))
    iou = box_iou(det, gt)  # float[D, G]
    taken = np.zeros(len(gt), bool)
    relabel: list[int] = []
    adjust: list[int] = []
    for d in np.argsort(-np.asarray(det_scores, np.float64), kind="stable"):
        row = np.where(taken, -1.0, iou[d])
        g = int(np.argmax(row))
        if row[g] < match_iou:
            continue
        taken[g] = True
        matched[d] = g
        if det_labels[d] != gt_labels[g]:
            relabel.append(int(d))
        if row[g] < adjust_iou:
            adjust.append(int(d))
    return ReviewPlan(matched, sorted(relabel), sorted(adjust), [int(g) for g in np.flatnonzero(~taken)])


__all__ = ["ADJUST_IOU", "MATCH_IOU", "ReviewPlan", "plan_review"]
