"""``DetectionTrace``: hand-computed post-processing and fates, cell helpers, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from detector_app.domain.trace import DetectionTrace, Fate, FeatureLevel

BOX_A = [0, 0, 10, 10]
BOX_B = [1, 0, 11, 10]  # IoU with A: 90 / 110 = 0.818
FAR = [40, 40, 45, 45]


def hand_trace() -> DetectionTrace:
    """Five proposals, classes (bg, cat, dog), image 50x50 resized to 100x100 (scale 2).

    p0: cat 0.8 at A            -> detection 0
    p1: cat 0.7 at B            -> suppressed by detection 0 (same class, IoU 0.82)
    p2: dog 0.6 at B            -> detection 1 (other class: no suppression)
    p3: cat 0.9, 0.001 px wide  -> too small (0.002 resized px < 0.01)
    p4: nothing above 0.05      -> below score
    """
    probs = np.array([
        [0.16, 0.80, 0.04],
        [0.26, 0.70, 0.04],
        [0.36, 0.04, 0.60],
        [0.06, 0.90, 0.04],
        [0.92, 0.04, 0.04],
    ], np.float32)
    refined = np.zeros((5, 3, 4), np.float32)
    refined[:, :] = FAR
    refined[0, 1] = BOX_A
    refined[1, 1] = BOX_B
    refined[2, 2] = BOX_B
    refined[3, 1] = [20, 20, 20.001, 30]
    return DetectionTrace(
        image_size=(50, 50), resized_size=(100, 100), class_names=["__background__", "cat", "dog"],
        levels=[FeatureLevel("0", (4, 5), (16.0, 16.0), 0, (32.0, 64.0), (0.5, 1.0, 2.0))],
        objectness_logits=np.array([0.0, 2.0], np.float32),
        class_probs=probs, refined_boxes=refined,
    )


def fates(tr: DetectionTrace, **kw: float) -> tuple[list[Fate], list[int], list[int]]:
    r = tr.postprocess(**kw)  # type: ignore[arg-type]
    return [Fate(f) for f in r.fate], r.fate_detection.tolist(), r.proposal_index.tolist()


def test_default_thresholds() -> None:
    tr = hand_trace()
    r = tr.postprocess()
    np.testing.assert_array_equal(r.boxes, [BOX_A, BOX_B])
    assert r.labels.tolist() == [1, 2] and r.scores.tolist() == pytest.approx([0.8, 0.6])
    assert fates(tr) == ([Fate.DETECTED, Fate.SUPPRESSED, Fate.DETECTED, Fate.TOO_SMALL, Fate.BELOW_SCORE],
                         [0, 0, 1, -1, -1], [0, 2])


def test_cap_score_and_nms_thresholds() -> None:
    tr = hand_trace()
    assert fates(tr, detections_per_img=1)[:2] == (
        [Fate.DETECTED, Fate.SUPPRESSED, Fate.OVER_CAP, Fate.TOO_SMALL, Fate.BELOW_SCORE], [0, 0, -1, -1, -1])
    assert fates(tr, score_thresh=0.75)[0] == [
        Fate.DETECTED, Fate.BELOW_SCORE, Fate.BELOW_SCORE, Fate.TOO_SMALL, Fate.BELOW_SCORE]
    f, d, p = fates(tr, nms_thresh=0.9)  # 0.818 no longer suppresses
    assert f[:3] == [Fate.DETECTED] * 3 and d[:3] == [0, 1, 2] and p == [0, 1, 2]


def test_nms_across_classes_keeps_one_box_per_object() -> None:
    """p2 (dog 0.6 at B) overlaps detection 0 (cat 0.8 at A) at IoU 0.82: across classes it is
    suppressed by it (class-wise it stays). At NMS IoU 0.9 A and B both stay, and the dog box at B
    falls to the cat box at B (IoU 1), a better one of another class."""
    tr = hand_trace()
    r = tr.postprocess(class_agnostic=True)
    np.testing.assert_array_equal(r.boxes, [BOX_A])
    assert r.labels.tolist() == [1] and r.proposal_index.tolist() == [0]
    assert fates(tr, class_agnostic=True)[:2] == (
        [Fate.DETECTED, Fate.SUPPRESSED, Fate.SUPPRESSED, Fate.TOO_SMALL, Fate.BELOW_SCORE], [0, 0, 0, -1, -1])
    assert tr.postprocess(class_agnostic=True, nms_thresh=0.9).labels.tolist() == [1, 1]
    assert fates(tr, class_agnostic=True, nms_thresh=0.9)[1][:3] == [0, 1, 1]


def test_describe() -> None:
    assert Fate.SUPPRESSED.describe(3) == "suppressed by NMS (detection 3)"
    assert Fate.SUPPRESSED.describe(-1) == "suppressed by NMS (a box past the cap)"
    assert Fate.DETECTED.describe(0) == "became detection 0"


def test_cell_helpers() -> None:
    tr = hand_trace()
    (lv,) = tr.levels
    assert lv.num_anchors_per_cell == 6 and lv.num_anchors == 4 * 5 * 6
    index = (2 * 5 + 3) * 6 + 4
    tr.anchor_level = np.zeros(lv.num_anchors, np.int16)
    assert tr.anchor_cell(index) == (2, 3)
    assert tr.anchors_at_cell(0, 2, 3).tolist() == list(range(index - 4, index + 2))
    # cells are centred on their anchors' centre (col * 16, row * 16 in resized pixels)
    assert tr.cell_at(0, 25, 17) == (2, 3)  # resized (50, 34): nearest centre (48, 32)
    assert tr.cell_at(0, 20.5, 12.5) == (2, 3)  # resized (41, 25): just past the boundaries at 40 and 24
    assert tr.cell_at(0, 19.5, 11.5) == (1, 2)
    assert tr.cell_at(0, 2, 2) == (0, 0)  # the half cell before the first centre belongs to the first cell
    assert tr.cell_at(0, 38, 26) == (3, 4)  # resized (76, 52): past the last centre (64, 48), still within half a cell
    assert tr.cell_at(0, 49, 10) is None  # resized x 98 -> column 6 of 5
    assert tr.cell_at(0, -1, 10) is None
    for a in (0, index, lv.num_anchors - 1):  # cell_point is the anchors' centre, and gives the cell back
        x, y = tr.cell_point(a)
        assert tr.cell_at(0, x, y) == tr.anchor_cell(a)
    np.testing.assert_allclose(tr.objectness(), [0.5, 1 / (1 + np.exp(-2.0))], rtol=1e-6)


def test_bytes_round_trip() -> None:
    tr = hand_trace()
    tr.timings_ms = {"total": 12.5}
    back = DetectionTrace.from_bytes(tr.to_bytes())
    assert back.levels == tr.levels and back.image_size == (50, 50) and back.timings_ms == {"total": 12.5}
    np.testing.assert_array_equal(back.refined_boxes, tr.refined_boxes)
    assert fates(back) == fates(tr)


def test_assign_fates_takes_each_proposals_best_outcome() -> None:
    """Proposal 0 has a detected box and a suppressed one: detected (its lowest detection).
    Proposal 1's boxes: one suppressed by detection 1 (score 0.6), one by detection 0 (0.7):
    the better-scoring suppressed box names the suppressor. Proposal 2: too small and over
    the cap: over the cap wins. Proposal 3: suppressed by a box past the cap: no detection."""
    from detector_app.domain.trace import assign_fates

    prop = np.array([0, 0, 1, 1, 2, 2, 3, 0])
    scores = np.array([0.9, 0.5, 0.6, 0.7, 0.3, 0.2, 0.1, 0.85], np.float32)
    big = np.array([0, 1, 2, 3, 5, 6, 7])  # candidate 4 is too small
    keep = np.array([0, 7, 5])  # detections 0 (cand 0), 1 (cand 7); cand 5 over a cap of 2
    suppressed_by = np.array([-1, 0, 7, 0, -1, -1, 5, -1])
    fate, det = assign_fates(prop, scores, big, keep, suppressed_by, cap=2, num_proposals=5)
    assert fate.tolist() == [Fate.DETECTED, Fate.SUPPRESSED, Fate.OVER_CAP, Fate.SUPPRESSED, Fate.BELOW_SCORE]
    assert det.tolist() == [0, 0, -1, -1, -1]
