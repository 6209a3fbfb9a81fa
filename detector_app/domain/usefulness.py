"""How much a person's correction of an image would teach the model (active learning).

From an image's trace and its detections under the current score threshold,
four signals, each a count of *objects* a person can check on the image (not
of proposals: a proposal count grows with the clutter of an image, whatever
the model lacks):

* **unsure**: candidate detections (class-wise NMS survivors) scoring within
  ``UNSURE_MARGIN`` of the threshold, on either side: boxes a correction
  confirms or overturns;
* **missed**: objects the RPN is confident about (proposals with objectness
  >= ``CONFIDENT_OBJECTNESS`` that no detection covers at IoU >= 0.5, grouped
  into objects where they overlap at all, IoU > ``GROUP_IOU``):
  a class the model does not know, or a background it keeps proposing;
* **disagree**: pairs of detections of different classes overlapping at
  IoU > 0.5 (the head cannot tell the classes apart there);
* **rare**: detections of classes the project has fewer boxes of than of its
  best-covered class (``1 / (1 + boxes)`` above that class's, summed; zero
  while every class has as many boxes).

The score is their weighted sum; the reason names the largest contribution.
Images are ordered by score, highest first. Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector_app.domain.boxes import box_iou, nms
from detector_app.domain.trace import DetectionTrace, PostprocessResult

#: The signals' definition; summaries stored under another version are not rated.
SIGNALS_VERSION = 2
UNSURE_MARGIN = 0.3
CONFIDENT_OBJECTNESS = 0.9
COVER_IOU = 0.5
#: Confident proposals around one object (its parts, other scales) overlap a little
#: or a lot; a threshold of 0.5 split one object into 5-6 "objects" on the bundled model.
GROUP_IOU = 0.1
WEIGHTS = {"unsure": 1.0, "missed": 1.0, "disagree": 1.0, "rare": 1.0}
STALE = "scored by an older version of the app: run Detect all again (redo) to score it"


@dataclass(frozen=True)
class Usefulness:
    score: float
    reason: str
    terms: dict[str, float]


def unsure_count(trace: DetectionTrace, score_thresh: float) -> int:
    """Candidate detections scoring in [thresh - margin, thresh + margin)."""
    low = trace.postprocess(score_thresh=max(score_thresh - UNSURE_MARGIN, 1e-3))
    return int((low.scores < score_thresh + UNSURE_MARGIN).sum())


def missed_count(trace: DetectionTrace, result: PostprocessResult) -> int:
    """Objects among the confident proposals that no detection of ``result`` covers: NMS at
    ``GROUP_IOU`` over them keeps one proposal per object."""
    sure = trace.proposal_scores >= CONFIDENT_OBJECTNESS
    boxes, scores = trace.proposals[sure].reshape(-1, 4), trace.proposal_scores[sure]
    if len(boxes) and len(result.boxes):
        uncovered = box_iou(boxes, result.boxes).max(axis=1) < COVER_IOU
        boxes, scores = boxes[uncovered], scores[uncovered]
    return len(nms(boxes, scores, GROUP_IOU)[0])


def signals(trace: DetectionTrace, result: PostprocessResult, score_thresh: float) -> dict[str, object]:
    """The per-image counts (``unsure``, ``missed``, ``disagree``), the detected class names
    (``labels``) and the definition's version (``v``): everything :func:`rate` needs,
    small enough to store per image. ``result`` is the trace's detections at ``score_thresh``."""
    names = trace.class_names
    disagree = 0
    if len(result.boxes) > 1:
        iou = box_iou(result.boxes, result.boxes)
        differ = result.labels[:, None] != result.labels[None, :]
        disagree = int(np.triu((iou > 0.5) & differ, k=1).sum())
    labels = [names[int(c)] if int(c) < len(names) else str(int(c)) for c in result.labels]
    return {"v": SIGNALS_VERSION, "unsure": unsure_count(trace, score_thresh),
            "missed": missed_count(trace, result), "disagree": disagree, "labels": labels}


def _count(sig: dict[str, object], key: str) -> float:
    value = sig.get(key, 0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def _reason(top: str, terms: dict[str, float], rare_names: dict[str, int]) -> str:
    if top == "unsure":
        return f"{terms['unsure']:.0f} detection(s) scored within {UNSURE_MARGIN} of the threshold"
    if top == "missed":
        return (f"{terms['missed']:.0f} object(s) the RPN is sure of (objectness >= {CONFIDENT_OBJECTNESS}) "
                "and no detection covers")
    if top == "disagree":
        return f"{terms['disagree']:.0f} overlapping detection(s) of different classes"
    rarest = min(rare_names, key=lambda n: rare_names[n])
    return f"classes with few boxes in the project: {rarest} ({rare_names[rarest]} box(es))"


def rate(sig: dict[str, object], class_counts: dict[str, int] | None = None) -> Usefulness:
    """The score and reason of an image's :func:`signals`, given the project's boxes per class."""
    if sig.get("v") != SIGNALS_VERSION:
        return Usefulness(0.0, STALE, {k: 0.0 for k in WEIGHTS})
    counts = class_counts or {}
    raw = sig.get("labels", [])
    labels = [str(x) for x in raw] if isinstance(raw, (list, tuple)) else []
    rare_names = {name: int(counts.get(name, 0)) for name in labels}
    floor = 1.0 / (1.0 + max(counts.values(), default=0))
    terms = {"unsure": _count(sig, "unsure"), "missed": _count(sig, "missed"), "disagree": _count(sig, "disagree"),
             "rare": float(sum(1.0 / (1.0 + rare_names[n]) - floor for n in labels))}
    weighted = {k: WEIGHTS[k] * v for k, v in terms.items()}
    score = float(sum(weighted.values()))
    top = max(weighted, key=lambda k: weighted[k])
    reason = "nothing uncertain: few corrections expected" if weighted[top] <= 0 else _reason(top, terms, rare_names)
    return Usefulness(score, reason, terms)


def usefulness(trace: DetectionTrace, result: PostprocessResult, score_thresh: float,
               class_counts: dict[str, int] | None = None) -> Usefulness:
    """The image's usefulness for fine-tuning (module docstring)."""
    return rate(signals(trace, result, score_thresh), class_counts)


__all__ = ["SIGNALS_VERSION", "STALE", "Usefulness", "WEIGHTS", "missed_count", "rate", "signals", "unsure_count",
           "usefulness"]
