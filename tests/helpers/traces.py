"""Hand-built ``DetectionTrace`` objects (no model needed) whose every stage is known.

**The documented trace** (:func:`make_fake_trace`, used by the session, worker and Qt
tests): image 300 x 200, resized by 0.5 to 150 x 100, one level of stride 16 -> a
7 x 10 grid, 2 scales x 3 ratios = 6 anchors per cell, A = 420, torchvision's anchor
layout. Its six proposals' fates under the default thresholds (score 0.05, NMS 0.5,
at most 2 detections) are::

    p0  cat 0.90            -> became detection 0
    p1  dog 0.80            -> became detection 1
    p2  background          -> dropped: below score threshold
    p3  cat 0.70, overlaps p0's box  -> suppressed by NMS (detection 0)
    p4  dog 0.60, degenerate box     -> dropped: box too small
    p5  cat 0.30, elsewhere          -> over the detections-per-image cap

``FAKE`` documents the anchors each proposal came from.

**Miss scenarios** (:func:`make`, :func:`one_proposal`, used by the diagnosis and funnel
tests): the object is G = (10, 10, 50, 50), class "cat"; image 100 x 100, not resized;
one feature level of 2 x 2 cells with one anchor each. Horizontal shifts of a 40-px box
by d pixels have IoU (40 - d) / (40 + d) with G: d 10 -> 0.60, d 16 -> 0.43, and two
boxes 6 px apart overlap at 0.74.
"""

from __future__ import annotations

import math

import numpy as np

from detector_app.domain.trace import DetectionTrace, Fate, FeatureLevel

# ---- the documented trace

TRACE_SIZE = (300, 200)  # the documented trace's image: width, height
CLASS_NAMES = ["__background__", "cat", "dog"]
STRIDE = 16
GRID = (7, 10)  # rows, cols
SIZES = (32.0, 64.0)
RATIOS = (0.5, 1.0, 2.0)
K = len(SIZES) * len(RATIOS)

#: proposal -> (row, col, a) of its source anchor; a = ratio_index * 2 + scale_index
FAKE = {
    0: (2, 3, 1),
    1: (4, 7, 3),
    2: (1, 1, 0),
    3: (2, 3, 4),
    4: (5, 2, 2),
    5: (0, 8, 5),
}
EXPECTED_FATES = [Fate.DETECTED, Fate.DETECTED, Fate.BELOW_SCORE, Fate.SUPPRESSED, Fate.TOO_SMALL, Fate.OVER_CAP]
EXPECTED_FATE_DETECTION = [0, 1, -1, 0, -1, -1]


def anchor_index(row: int, col: int, a: int) -> int:
    return (row * GRID[1] + col) * K + a


def _cell_anchors() -> np.ndarray:
    """torchvision ``AnchorGenerator.generate_anchors`` (rounded), ``float[K, 4]``."""
    scales = np.array(SIZES)
    ratios = np.array(RATIOS)
    h_ratios = np.sqrt(ratios)
    w_ratios = 1.0 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return np.round(np.stack([-ws, -hs, ws, hs], axis=1) / 2)


def _decode(anchor: np.ndarray, d: np.ndarray) -> np.ndarray:
    w, h = anchor[2] - anchor[0], anchor[3] - anchor[1]
    cx, cy = anchor[0] + w / 2, anchor[1] + h / 2
    pcx, pcy, pw, ph = cx + d[0] * w, cy + d[1] * h, w * math.exp(d[2]), h * math.exp(d[3])
    return np.array([pcx - pw / 2, pcy - ph / 2, pcx + pw / 2, pcy + ph / 2])


def make_fake_trace() -> DetectionTrace:
    """Build the documented trace (deterministic)."""
    rng = np.random.default_rng(0)
    image_size, resized = (200, 300), (100, 150)
    scale = 0.5  # resized / original
    rows, cols = GRID
    shifts = np.array(
        [(c * STRIDE, r * STRIDE, c * STRIDE, r * STRIDE) for r in range(rows) for c in range(cols)], float
    )
    anchors_resized = (shifts[:, None, :] + _cell_anchors()[None, :, :]).reshape(-1, 4)
    anchors = (anchors_resized / scale).astype(np.float32)
    num_a = len(anchors)
    a_local = np.tile(np.arange(K), rows * cols)
    logits = np.clip(rng.normal(-2.0, 1.0, num_a), -6.0, 0.5).astype(np.float32)
    deltas = (rng.normal(0.0, 0.1, (num_a, 4))).astype(np.float32)

    src = np.array([anchor_index(*FAKE[p]) for p in range(6)], np.int64)
    scores = np.array([0.95, 0.9, 0.85, 0.8, 0.75, 0.7], np.float32)
    logits[src] = np.log(scores / (1 - scores))
    proposals = np.stack([_decode(anchors[i].astype(float), deltas[i].astype(float)) for i in src])
    proposals[:, 0::2] = np.clip(proposals[:, 0::2], 0, 300)
    proposals[:, 1::2] = np.clip(proposals[:, 1::2], 0, 200)

    probs = np.array([
        [0.08, 0.90, 0.02],
        [0.17, 0.03, 0.80],
        [0.97, 0.02, 0.01],
        [0.29, 0.70, 0.01],
        [0.38, 0.02, 0.60],
        [0.68, 0.30, 0.02],
    ], np.float32)
    refined = np.repeat(proposals[:, None, :], 3, axis=1).astype(np.float32)
    refined[0, 1] = (40, 40, 120, 140)
    refined[1, 2] = (180, 60, 260, 150)
    refined[3, 1] = (44, 42, 122, 138)
    refined[4, 2] = (200, 20, 200.004, 20.004)
    refined[5, 1] = (150, 150, 190, 190)

    order = np.argsort(-logits, kind="stable")[:30]
    trace = DetectionTrace(
        image_size=image_size,
        resized_size=resized,
        class_names=list(CLASS_NAMES),
        levels=[FeatureLevel("0", GRID, (float(STRIDE), float(STRIDE)), 0, SIZES, RATIOS)],
        anchors=anchors,
        anchor_level=np.zeros(num_a, np.int16),
        anchor_scale_index=(a_local % len(SIZES)).astype(np.int8),
        anchor_ratio_index=(a_local // len(SIZES)).astype(np.int8),
        objectness_logits=logits,
        rpn_deltas=deltas,
        pre_nms_boxes=anchors[order],
        pre_nms_scores=(1 / (1 + np.exp(-logits[order]))).astype(np.float32),
        pre_nms_anchor_index=order.astype(np.int64),
        proposals=proposals.astype(np.float32),
        proposal_scores=scores,
        proposal_anchor_index=src,
        class_probs=probs,
        refined_boxes=refined,
        detections_per_img=2,
        timings_ms={"preprocess": 1.5, "backbone": 12.0, "rpn": 3.25, "roi_heads": 4.0, "postprocess": 0.5},
    )
    res = trace.postprocess()
    trace.detection_boxes = res.boxes
    trace.detection_labels = res.labels
    trace.detection_scores = res.scores
    trace.detection_proposal_index = res.proposal_index
    trace.proposal_fate = res.fate
    trace.proposal_fate_detection = res.fate_detection
    return trace


# ---- miss scenarios

G = (10.0, 10.0, 50.0, 50.0)
FAR = [70.0, 70.0, 95.0, 95.0]
SCENARIO_NAMES = ["__background__", "cat", "dog"]


def shifted(d: float) -> list[float]:
    return [10.0 + d, 10.0, 50.0 + d, 50.0]


def make(anchors=None, logits=None, candidates=(), proposals=(), probs=(), refined=()) -> DetectionTrace:
    """A trace with the given stages. ``candidates``: (box, objectness, anchor); ``proposals``:
    (box, objectness, anchor); ``probs`` / ``refined``: per proposal, ``[C]`` and ``[C, 4]``."""
    anchors = np.array(anchors if anchors is not None else [FAR] * 4, np.float32)
    n = len(proposals)
    return DetectionTrace(
        image_size=(100, 100), resized_size=(100, 100), class_names=list(SCENARIO_NAMES),
        levels=[FeatureLevel("0", (2, 2), (50.0, 50.0), 0, (40.0,), (1.0,))],
        anchors=anchors, anchor_level=np.zeros(4, np.int16), anchor_scale_index=np.zeros(4, np.int8),
        anchor_ratio_index=np.zeros(4, np.int8),
        objectness_logits=np.array(logits if logits is not None else [0.0] * 4, np.float32),
        rpn_deltas=np.zeros((4, 4), np.float32),
        pre_nms_boxes=np.array([c[0] for c in candidates], np.float32).reshape(-1, 4),
        pre_nms_scores=np.array([c[1] for c in candidates], np.float32),
        pre_nms_anchor_index=np.array([c[2] for c in candidates], np.int64),
        proposals=np.array([p[0] for p in proposals], np.float32).reshape(-1, 4),
        proposal_scores=np.array([p[1] for p in proposals], np.float32),
        proposal_anchor_index=np.array([p[2] for p in proposals], np.int64),
        class_probs=np.array(probs, np.float32).reshape(n, 3),
        refined_boxes=np.array(refined, np.float32).reshape(n, 3, 4),
    )


def one_proposal(probs, refined_cat, box=None) -> DetectionTrace:
    box = shifted(0) if box is None else box
    refined = [[FAR, refined_cat, FAR]]
    return make(candidates=[(box, 0.9, 0)], proposals=[(box, 0.9, 0)], probs=[probs], refined=refined)
