"""The simulated reviewer corrects real detections of the bundled model through the
session's editing API: the store ends with exactly the true boxes, verified, and the
counted actions are the plan's."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.app.jobs import load_detector
from detector_app.app.session import Session
from detector_app.app.simulated_review import ReviewCounts, current_plan, detect_synchronously, review_items
from detector_app.detection.synthetic import CLASS_NAMES, SHAPES, generate_image
from detector_app.domain.annotations import AnnotationSource, ItemState
from detector_app.domain.boxes import box_iou
from detector_app.domain.review_plan import ADJUST_IOU


@pytest.fixture(scope="module")
def detector():  # type: ignore[no-untyped-def]
    return load_detector(None, "cpu")[0]


def _folder(root: Path, n: int) -> dict[str, tuple[np.ndarray, list[str]]]:
    """``n`` synthetic 320 px images with crosses (a class the model lacks) among the
    known shapes; returns each file's true boxes and labels."""
    root.mkdir(parents=True)
    truth = {}
    for i in range(n):
        sample = generate_image(21, i, 320, classes=(*CLASS_NAMES, "cross"))
        name = f"{i:02d}.png"
        assert cv2.imwrite(str(root / name), cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR))
        truth[name] = (np.array([o.box for o in sample.objects], np.float64),
                       [SHAPES[o.class_index] for o in sample.objects])
    return truth


def test_reviewing_leaves_exactly_the_true_boxes_verified(tmp_path: Path, detector) -> None:  # type: ignore[no-untyped-def]
    truth = _folder(tmp_path / "p", 3)
    session = Session(score_thresh=0.5)
    try:
        detect_synchronously(session, detector)
        session.open_paths([tmp_path / "p"])
        planned = []
        for index in range(3):
            session.go_to(index)
            planned.append(current_plan(session, *truth[session.item_name(index)]))
        counts = review_items(session, truth)
        assert counts.images == 3 and counts.verified == 3
        assert counts.corrections == sum(p.corrections for p in planned)
        assert counts.drawn >= sum(1 for labels in (t[1] for t in truth.values()) for name in labels if name == "cross")
        assert counts.accepted > 0 and counts.accept_all == sum(p.accept_all for p in planned)
        # every cross the model lacks is drawn or relabelled: each counts a correction involving "cross"
        crosses = sum(1 for t in truth.values() for name in t[1] if name == "cross")
        assert crosses > 0 and counts.involving["cross"] >= crosses
        assert sum(counts.involving.values()) >= counts.corrections
        session.save_now()
        for name, (boxes, labels) in truth.items():
            rec = session.store.record(name)
            assert rec.state is ItemState.VERIFIED
            assert len(rec.annotations) == len(boxes)
            # one box per object, of its class; accepted boxes a person would not bother to adjust
            # (IoU >= ADJUST_IOU) stay as the model drew them, the others are the true boxes
            got = np.array([a.box.to_tuple() for a in rec.annotations], np.float64)
            iou = box_iou(got, boxes)
            best = iou.argmax(axis=1)
            assert sorted(best.tolist()) == list(range(len(boxes)))
            assert (iou.max(axis=1) >= ADJUST_IOU).all()
            assert [a.label for a in rec.annotations] == [labels[g] for g in best]
            drawn = [a for a in rec.annotations if a.source is AnnotationSource.MANUAL]
            assert all(a.box.to_tuple() in {tuple(b) for b in boxes} for a in drawn)
        assert "cross" in session.labels.names
    finally:
        session.close()


def test_counts_add_up() -> None:
    a = ReviewCounts(images=1, accept_all=1, accepted=3, deleted=1, drawn=2, verified=1,
                     involving=Counter({"cross": 2, "star": 1}))
    b = ReviewCounts(images=1, relabelled=1, adjusted=2, verified=1, involving=Counter({"cross": 1, "bar": 2}))
    total = a + b
    assert total.images == 2 and total.corrections == 1 + 2 + 1 + 2 and total.actions == 6 + 1 + 2
    assert total.involving == {"cross": 3, "star": 1, "bar": 2}
