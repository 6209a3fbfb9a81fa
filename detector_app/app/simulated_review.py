"""A simulated reviewer: corrects the session's current image from its true boxes.

It presses what a person presses (``Session.accept_all``, ``delete_annotation``,
``choose_label``, ``move_box``, ``add_box``, ``toggle_verified``), following
:func:`detector_app.domain.review_plan.plan_review`, so the project ends up with
exactly the true boxes, saved by the store and undoable like any edit. The
counts are of the actions carried out, which is what
``benchmarks/bench_correction_loop.py`` reports as a person's work per image.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from detector_app.app.session import Event, Session
from detector_app.domain.annotations import Annotation, ItemState
from detector_app.domain.boxes import Box, box_iou
from detector_app.domain.review_plan import ReviewPlan, plan_review
from detector_app.domain.trace import Detector


@dataclass
class ReviewCounts:
    """Actions of a review (summed over images with ``+``)."""

    images: int = 0
    accept_all: int = 0  # Shift+Enter presses
    accepted: int = 0  # boxes those presses added
    deleted: int = 0
    relabelled: int = 0
    adjusted: int = 0
    drawn: int = 0
    verified: int = 0
    #: corrections per class they involve: the detection's class and the object's (a box of one
    #: class relabelled to another counts for both; summed over classes this exceeds ``corrections``)
    involving: Counter[str] = field(default_factory=Counter)

    @property
    def corrections(self) -> int:
        """The work the model left: deletions, relabels, adjustments, drawn boxes."""
        return self.deleted + self.relabelled + self.adjusted + self.drawn

    @property
    def actions(self) -> int:
        return self.corrections + self.accept_all + self.verified

    def __add__(self, other: ReviewCounts) -> ReviewCounts:
        return ReviewCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class ReviewError(RuntimeError):
    """The session shows no detections of its current image to review."""


def current_plan(session: Session, gt_boxes: np.ndarray, gt_labels: Sequence[str]) -> ReviewPlan:
    """The plan for the session's current image and its shown detections (no edit)."""
    result, trace = session.result, session.trace
    if result is None or trace is None or session.trace_key != session.key:
        raise ReviewError(f"no detections of {session.key} to review (detect it first)")
    labels = [trace.class_names[int(c)] for c in result.labels]
    return plan_review(result.boxes, labels, result.scores, gt_boxes, gt_labels)


def _accepted_of_detections(session: Session, added: list[Annotation]) -> dict[int, Annotation]:
    """Which annotation accept-all made of which shown detection (same label and
    score, the box clipped to the image at most)."""
    result, trace = session.result, session.trace
    assert result is not None and trace is not None
    out: dict[int, Annotation] = {}
    free = list(added)
    for d in range(len(result.scores)):
        label = trace.class_names[int(result.labels[d])]
        for ann in free:
            same_box = box_iou(result.boxes[d:d + 1].astype(np.float64),
                               np.array([ann.box.to_tuple()], np.float64))[0, 0] > 0.95
            if ann.label == label and ann.score == float(result.scores[d]) and same_box:
                out[d] = ann
                free.remove(ann)
                break
    return out


def _annotation_ids(session: Session) -> set[str]:
    return {a.id for a in session.record.annotations} if session.record is not None else set()


def review_current(session: Session, gt_boxes: np.ndarray, gt_labels: Sequence[str]) -> ReviewCounts:
    """Correct the current image to ``gt_boxes`` float[G, 4] / ``gt_labels`` and verify it.
    The image starts without boxes (the reviewer's first look at the model's suggestions)."""
    gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    plan = current_plan(session, gt, gt_labels)
    counts = ReviewCounts(images=1)
    accepted: dict[int, Annotation] = {}
    if plan.accept_all:
        before = _annotation_ids(session)
        counts.accept_all = 1
        counts.accepted = session.accept_all()
        assert session.record is not None
        accepted = _accepted_of_detections(session, [a for a in session.record.annotations if a.id not in before])
    found: set[int] = set()
    for d, ann in accepted.items():
        g = int(plan.matched[d])
        if g < 0:
            session.delete_annotation(ann.id)
            counts.deleted += 1
            counts.involving[ann.label] += 1
            continue
        found.add(g)
        if d in plan.relabel:
            counts.involving.update({ann.label, gt_labels[g]})
            session.select_annotation(ann.id)
            session.choose_label(gt_labels[g])
            counts.relabelled += 1
        if d in plan.adjust:
            session.move_box(ann.id, Box(*gt[g]))
            counts.adjusted += 1
            counts.involving[gt_labels[g]] += 1
    session.select_annotation(None)
    for g in range(len(gt)):
        if g in found:
            continue
        session.choose_label(gt_labels[g])
        if session.add_box(Box(*gt[g])) is not None:
            counts.drawn += 1
            counts.involving[gt_labels[g]] += 1
        session.select_annotation(None)
    if session.record is not None and session.record.state is not ItemState.VERIFIED:
        session.toggle_verified()
        counts.verified = 1
    return counts


def detect_synchronously(session: Session, detector: Detector) -> None:
    """Answer the session's detection requests at once, on this thread (the GUI
    runs them on a worker; a script has no event loop to wait on)."""
    session.subscribe(Event.DETECT, lambda key, rgb, _group: session.on_trace(key, detector(rgb)))


def review_items(session: Session, truth: Mapping[str, tuple[np.ndarray, Sequence[str]]],
                 indices: Sequence[int] | None = None) -> ReviewCounts:
    """Visit items ``indices`` (default: all) of the open project and correct each to
    ``truth[item name]`` (boxes float[G, 4], labels); detection must be answered
    (:func:`detect_synchronously`). Items without truth are left alone."""
    total = ReviewCounts()
    for index in range(len(session.items)) if indices is None else indices:
        name = session.item_name(index)
        if name not in truth:
            continue
        session.go_to(index)
        boxes, labels = truth[name]
        total = total + review_current(session, boxes, labels)
    return total


__all__ = ["ReviewCounts", "ReviewError", "current_plan", "detect_synchronously", "review_current", "review_items"]
