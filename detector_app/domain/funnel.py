"""The recall funnel: how many annotated objects survive each stage of Faster R-CNN.

For every annotated object (box + class) of a set of traced images, four
questions, each at IoU >= 0.5 (``diagnosis.MATCH_IOU``):

* **anchor coverage**: does some anchor overlap it (IoU >= 0.5; also counted at 0.7)?
* **RPN recall @ N**: is it covered by one of the N best proposals (by
  objectness), for N = 50, 100, 300, 1000?
* **RoI head**: did the head give some proposal a box of its class on it
  (refined box IoU >= 0.5) scoring above the score threshold, i.e. a detection
  before class-wise NMS and the per-image cap? (So "final" never exceeds it.)
* **final**: is it detected at the current thresholds?

plus the stage that lost each missed object (``diagnosis.explain_object``).
Aggregated overall, per class and per COCO size (small < 32^2, medium < 96^2
pixels of area, large). ``Funnel.to_dict`` is the JSON the CLI writes
(schema in docs/diagnose.md). Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector_app.domain.boxes import box_iou
from detector_app.domain.diagnosis import MATCH_IOU, Stage, class_index, explain_object
from detector_app.domain.trace import DetectionTrace, PostprocessResult

PROPOSAL_COUNTS = (50, 100, 300, 1000)
SIZES = ("small", "medium", "large")
#: The funnel's stages, in pipeline order (keys of ``Funnel.recall``).
STAGES = ("anchor IoU>=0.7", "anchor IoU>=0.5", *(f"RPN@{n}" for n in PROPOSAL_COUNTS), "RoI head", "final")
SCHEMA_VERSION = 1


def size_of(box: np.ndarray | tuple[float, ...]) -> str:
    """COCO's size bucket of a box (original-image pixels)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    area = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return "small" if area < 32 ** 2 else "medium" if area < 96 ** 2 else "large"


@dataclass(frozen=True)
class ObjectStages:
    """One annotated object's way through the detector."""

    image: str
    label: str
    size: str
    best_anchor_iou: float
    rpn_rank: int  # 1-based rank (by objectness) of the best-ranked proposal covering it; 0: none
    roi_ok: bool  # a scored box of its class on it before class NMS / cap
    detected: bool
    lost_at: Stage  # Stage.DETECTED when detected

    def passes(self) -> dict[str, bool]:
        """Stage name (``STAGES``) -> reached."""
        out = {"anchor IoU>=0.7": self.best_anchor_iou >= 0.7, "anchor IoU>=0.5": self.best_anchor_iou >= MATCH_IOU}
        for n in PROPOSAL_COUNTS:
            out[f"RPN@{n}"] = 0 < self.rpn_rank <= n
        out["RoI head"] = self.roi_ok
        out["final"] = self.detected
        return out


def object_stages(image: str, trace: DetectionTrace, result: PostprocessResult, box: np.ndarray | tuple[float, ...],
                  label: str, score_thresh: float) -> ObjectStages:
    """Follow one annotated object (``float[4]`` box, class name) through ``trace``."""
    gt = np.asarray(box, np.float64).reshape(1, 4)
    explanation = explain_object(trace, result, gt[0], label, score_thresh)
    a_iou = box_iou(gt, trace.anchors)[0] if len(trace.anchors) else np.zeros(0)
    rank = 0
    roi_ok = False
    if len(trace.proposals):
        p_iou = box_iou(gt, trace.proposals)[0]
        order = np.argsort(-trace.proposal_scores, kind="stable")
        ranks = np.empty(len(order), np.int64)
        ranks[order] = np.arange(1, len(order) + 1)
        covering = np.nonzero(p_iou >= MATCH_IOU)[0]
        if len(covering):
            rank = int(ranks[covering].min())
        c = class_index(trace, label)
        if c > 0 and trace.class_probs.ndim == 2:
            scored = np.nonzero(trace.class_probs[:, c] > score_thresh)[0]
            if len(scored):
                roi_ok = bool((box_iou(gt, trace.refined_boxes[scored, c])[0] >= MATCH_IOU).any())
    return ObjectStages(image, label, size_of(gt[0]), float(a_iou.max()) if len(a_iou) else 0.0, rank, roi_ok,
                        explanation.stage is Stage.DETECTED, explanation.stage)


@dataclass
class Funnel:
    """Objects followed through the detector, and their recall per stage."""

    objects: list[ObjectStages] = field(default_factory=list)
    images: int = 0
    thresholds: dict[str, float] = field(default_factory=dict)
    model: str = ""
    skipped: list[str] = field(default_factory=list)  # images that could not be read, with the reason

    def add_image(self, image: str, trace: DetectionTrace, result: PostprocessResult,
                  annotations: list[tuple[np.ndarray, str]], score_thresh: float) -> None:
        self.images += 1
        for box, label in annotations:
            self.objects.append(object_stages(image, trace, result, box, label, score_thresh))

    def recall(self, objects: list[ObjectStages] | None = None) -> dict[str, float]:
        """Stage -> share of ``objects`` (default all) that reach it (0 when there are none)."""
        objs = self.objects if objects is None else objects
        if not objs:
            return {s: 0.0 for s in STAGES}
        passed = [o.passes() for o in objs]
        return {s: sum(p[s] for p in passed) / len(objs) for s in STAGES}

    def groups(self, key: str) -> dict[str, list[ObjectStages]]:
        """Objects by ``"label"`` or ``"size"`` (sizes in small/medium/large order)."""
        out: dict[str, list[ObjectStages]] = {}
        if key == "size":
            for s in SIZES:
                members = [o for o in self.objects if o.size == s]
                if members:
                    out[s] = members
            return out
        for o in self.objects:
            out.setdefault(o.label, []).append(o)
        return out

    def lost_at(self) -> dict[str, int]:
        """Missed objects by the stage that lost them, in pipeline order."""
        counts = {st.value: 0 for st in Stage if st is not Stage.DETECTED}
        for o in self.objects:
            if o.lost_at is not Stage.DETECTED:
                counts[o.lost_at.value] += 1
        return {k: v for k, v in counts.items() if v}

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``detector-app diagnose --json`` writes (docs/diagnose.md)."""
        def block(objs: list[ObjectStages]) -> dict[str, Any]:
            return {"objects": len(objs), "recall": {k: round(v, 4) for k, v in self.recall(objs).items()}}

        return {
            "schema": "detector_app.recall_funnel", "version": SCHEMA_VERSION,
            "model": self.model, "images": self.images, "thresholds": dict(self.thresholds),
            "stages": list(STAGES), "match_iou": MATCH_IOU,
            "overall": block(self.objects),
            "by_class": {k: block(v) for k, v in self.groups("label").items()},
            "by_size": {k: block(v) for k, v in self.groups("size").items()},
            "lost_at": self.lost_at(), "skipped": list(self.skipped),
            "objects": [{"image": o.image, "label": o.label, "size": o.size,
                         "best_anchor_iou": round(o.best_anchor_iou, 4), "rpn_rank": o.rpn_rank,
                         "roi_ok": o.roi_ok, "detected": o.detected, "lost_at": o.lost_at.value}
                        for o in self.objects],
        }

    def table(self) -> str:
        """A text table: stages as rows, overall / per size / per class as columns."""
        cols: list[tuple[str, list[ObjectStages]]] = [("all", self.objects)]
        cols += list(self.groups("size").items()) + list(self.groups("label").items())
        recalls = [self.recall(objs) for _, objs in cols]
        head = ["stage"] + [f"{name} ({len(objs)})" for name, objs in cols]
        rows = [head] + [[s] + [f"{r[s]:.3f}" for r in recalls] for s in STAGES]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        return "\n".join("  ".join(c.rjust(widths[i]) if i else c.ljust(widths[i]) for i, c in enumerate(r))
                         for r in rows)


__all__ = ["Funnel", "ObjectStages", "PROPOSAL_COUNTS", "SCHEMA_VERSION", "SIZES", "STAGES", "object_stages",
           "size_of"]
