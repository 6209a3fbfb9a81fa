"""How much a person's correction of an image would teach the model (active learning).

From an image's trace and its detections under the current thresholds, four
signals, each a count a person can check on the image:

* **unsure**: proposals whose best class probability lies within 0.15 of the
  score threshold (the model hesitates: a correction moves a decision);
* **dropped objects**: proposals the RPN is confident about (objectness >= 0.9)
  that the RoI head calls background (a missed object, or a background the
  RPN keeps proposing);
* **disagreement**: pairs of detections of different classes overlapping at
  IoU > 0.5 (the head cannot tell the classes apart there);
* **rare classes**: detections of classes the project has few boxes of
  (1 / (1 + boxes of that class), summed).

The score is their weighted sum; the reason names the largest contribution.
Images are ordered by score, highest first. Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector_app.domain.boxes import box_iou
from detector_app.domain.trace import DetectionTrace, Fate, PostprocessResult

UNSURE_MARGIN = 0.15
CONFIDENT_OBJECTNESS = 0.9
WEIGHTS = {"unsure": 1.0, "dropped": 0.5, "disagree": 1.5, "rare": 2.0}


@dataclass(frozen=True)
class Usefulness:
    score: float
    reason: str
    terms: dict[str, float]


def signals(trace: DetectionTrace, result: PostprocessResult, score_thresh: float) -> dict[str, object]:
    """The per-image counts (``unsure``, ``dropped``, ``disagree``) and the detected class
    names (``labels``): everything :func:`rate` needs, small enough to store per image."""
    names = trace.class_names
    unsure = dropped = disagree = 0
    if trace.class_probs.ndim == 2 and trace.class_probs.shape[1] > 1 and len(trace.class_probs):
        best_fg = trace.class_probs[:, 1:].max(axis=1)
        unsure = int((np.abs(best_fg - score_thresh) <= UNSURE_MARGIN).sum())
        background = np.argmax(trace.class_probs, axis=1) == 0
        confident = trace.proposal_scores >= CONFIDENT_OBJECTNESS
        below = result.fate == Fate.BELOW_SCORE if len(result.fate) == len(background) else background
        dropped = int((background & confident & below).sum())
    if len(result.boxes) > 1:
        iou = box_iou(result.boxes, result.boxes)
        differ = result.labels[:, None] != result.labels[None, :]
        disagree = int(np.triu((iou > 0.5) & differ, k=1).sum())
    labels = [names[int(c)] if int(c) < len(names) else str(int(c)) for c in result.labels]
    return {"unsure": unsure, "dropped": dropped, "disagree": disagree, "labels": labels}


def _count(sig: dict[str, object], key: str) -> float:
    value = sig.get(key, 0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def rate(sig: dict[str, object], class_counts: dict[str, int] | None = None) -> Usefulness:
    """The score and reason of an image's :func:`signals`, given the project's boxes per class."""
    counts = class_counts or {}
    raw = sig.get("labels", [])
    labels = [str(x) for x in raw] if isinstance(raw, (list, tuple)) else []
    rare_names = {name: int(counts.get(name, 0)) for name in labels}
    terms = {"unsure": _count(sig, "unsure"), "dropped": _count(sig, "dropped"), "disagree": _count(sig, "disagree"),
             "rare": float(sum(1.0 / (1.0 + rare_names[n]) for n in labels))}
    weighted = {k: WEIGHTS[k] * v for k, v in terms.items()}
    score = float(sum(weighted.values()))
    top = max(weighted, key=lambda k: weighted[k])
    if weighted[top] <= 0:
        reason = "nothing uncertain: few corrections expected"
    elif top == "unsure":
        reason = f"{terms['unsure']:.0f} proposal(s) scored within {UNSURE_MARGIN} of the threshold"
    elif top == "dropped":
        reason = (
            f"{terms['dropped']:.0f} confident proposal(s) (objectness >= {CONFIDENT_OBJECTNESS}) called background"
        )
    elif top == "disagree":
        reason = f"{terms['disagree']:.0f} overlapping detection(s) of different classes"
    else:
        rarest = min(rare_names, key=lambda n: rare_names[n])
        reason = f"classes with few boxes in the project: {rarest} ({rare_names[rarest]} box(es))"
    return Usefulness(score, reason, terms)


def usefulness(trace: DetectionTrace, result: PostprocessResult, score_thresh: float,
               class_counts: dict[str, int] | None = None) -> Usefulness:
    """The image's usefulness for fine-tuning (module docstring)."""
    return rate(signals(trace, result, score_thresh), class_counts)


__all__ = ["Usefulness", "WEIGHTS", "rate", "signals", "usefulness"]
