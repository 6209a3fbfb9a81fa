"""Why was an object missed? Which stage of Faster R-CNN lost it, with its evidence.

Given a :class:`DetectionTrace`, the detections under the current thresholds
(a :class:`PostprocessResult`) and one annotated box of class ``c``, the object
is followed down the pipeline and the first stage it does not pass is named:

1. ``NO_ANCHOR``: no pre-NMS candidate covers it (IoU >= 0.5) and no anchor
   reaches IoU 0.5 either (anchor coverage: scales / ratios / stride).
2. ``LOW_OBJECTNESS``: anchors do cover it, but none of them, once regressed,
   is among the RPN's top-k candidates (their objectness was too low).
3. ``RPN_NMS``: a candidate covered it but no proposal does: suppressed by the
   RPN's NMS (the proposal that did it is named) or cut by the post-NMS top-N.
4. ``ROI_BACKGROUND`` / ``ROI_WRONG_CLASS``: proposals cover it and the RoI head
   called the best of them background / another class (its probabilities).
5. ``BOX_DRIFT``: the class is right and scored, but the refined box moved
   off the object (its IoU).
6. ``BELOW_SCORE``: the class is the head's choice but its probability is not
   above the score threshold.
7. ``CLASS_NMS`` / ``OVER_CAP`` / ``TOO_SMALL``: a good, scored box was removed
   by class-wise NMS (the detection that suppressed it), by the per-image cap,
   or for being too small.

``DETECTED`` means a detection of class ``c`` has IoU >= 0.5 with it (not a miss).
:func:`explain_false_positive` does the same for a detection no annotation
matches. :func:`object_stages` gives the per-object flags the recall funnel
(``funnel``) counts. Numpy only; every box in original-image pixels.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector_app.domain.boxes import box_iou
from detector_app.domain.trace import DetectionTrace, PostprocessResult

#: IoU at which a box "covers" an object (COCO's AP50 criterion, the issue's).
MATCH_IOU = 0.5
#: The RPN's positive threshold (training).
RPN_POSITIVE_IOU = 0.7


class Stage(enum.Enum):
    """Where an object was lost (pipeline order), or ``DETECTED``."""

    DETECTED = "detected"
    UNKNOWN_CLASS = "the model has no such class"
    NO_ANCHOR = "no anchor covers it"
    LOW_OBJECTNESS = "low objectness"
    RPN_NMS = "RPN NMS / top-N"
    ROI_BACKGROUND = "RoI head: background"
    ROI_WRONG_CLASS = "RoI head: another class"
    BOX_DRIFT = "refined box drifted"
    BELOW_SCORE = "score under the threshold"
    CLASS_NMS = "class NMS"
    OVER_CAP = "detections-per-image cap"
    TOO_SMALL = "box too small"


@dataclass
class Explanation:
    """One object's (or one false positive's) diagnosis.

    ``anchor`` / ``candidate`` / ``proposal`` / ``detection`` index the trace's
    anchors, pre-NMS candidates, proposals and the result's detections that
    the evidence is about (-1: none); ``suppressor`` is the proposal (RPN NMS)
    or detection (class NMS) that removed it, -1 if none.
    """

    stage: Stage
    summary: str
    evidence: list[str] = field(default_factory=list)
    anchor: int = -1
    candidate: int = -1
    proposal: int = -1
    detection: int = -1
    suppressor: int = -1
    best_anchor_iou: float = 0.0

    @property
    def missed(self) -> bool:
        return self.stage is not Stage.DETECTED


def _iou1(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``float32[N]``: IoU of one box with ``boxes`` (``[N, 4]``)."""
    if len(boxes) == 0:
        return np.zeros(0, np.float32)
    iou: np.ndarray = box_iou(np.asarray(box, np.float64).reshape(1, 4), boxes)[0]
    return iou


def _name(trace: DetectionTrace, c: int) -> str:
    if c == 0:
        return "background"
    return trace.class_names[c] if 0 <= c < len(trace.class_names) else f"class {c}"


def _anchor_text(trace: DetectionTrace, a: int) -> str:
    level = trace.level_of_anchor(a)
    row, col = trace.anchor_cell(a)
    try:
        size = level.sizes[int(trace.anchor_scale_index[a])]
        ratio = level.aspect_ratios[int(trace.anchor_ratio_index[a])]
    except IndexError:
        return f"anchor #{a} (cell row {row} col {col})"
    return f"anchor #{a} (cell row {row} col {col}, {size:g} px, h/w {ratio:g})"


def _top_probs(trace: DetectionTrace, p: int, n: int = 3) -> str:
    probs = trace.class_probs[p]
    order = np.argsort(-probs, kind="stable")[:n]
    return ", ".join(f"{_name(trace, int(c))} {float(probs[c]):.2f}" for c in order)


def _rank(values: np.ndarray, v: float) -> int:
    """1-based rank of ``v`` among ``values`` (largest first)."""
    return int((values > v).sum()) + 1


def class_index(trace: DetectionTrace, label: str) -> int:
    """The model's class index of ``label`` (-1 when the model lacks it)."""
    try:
        return trace.class_names.index(label, 1)
    except ValueError:
        return -1


def explain_object(trace: DetectionTrace, result: PostprocessResult, box: np.ndarray | tuple[float, ...],
                   label: str, score_thresh: float, nms_thresh: float | None = None,
                   detections_per_img: int | None = None) -> Explanation:
    """Where annotated ``box`` (``float[4]``) of class ``label`` was lost (module docstring).

    ``score_thresh`` / ``nms_thresh`` / ``detections_per_img``: those ``result`` was made with.
    """
    gt = np.asarray(box, np.float64).reshape(4)
    c = class_index(trace, label)
    if c < 0:
        return Explanation(Stage.UNKNOWN_CLASS, f"the model has no class {label!r}: it cannot detect it",
                           [f"its classes: {', '.join(trace.class_names[1:])}"])
    detected = _detection_of(result, gt, c, label)
    if detected is not None:
        return detected
    anchors = _anchor_evidence(trace, gt)
    q_iou = _iou1(gt, trace.pre_nms_boxes)
    covering_q = np.nonzero(q_iou >= MATCH_IOU)[0]
    p_iou = _iou1(gt, trace.proposals)
    covering_p = np.nonzero(p_iou >= MATCH_IOU)[0]
    if len(covering_q) == 0 and len(covering_p) == 0:
        return _anchor_loss(trace, anchors)
    if len(covering_p) == 0:
        return _rpn_nms_loss(trace, anchors, q_iou, covering_q, p_iou)
    nms_thresh = trace.nms_thresh if nms_thresh is None else nms_thresh
    cap = trace.detections_per_img if detections_per_img is None else detections_per_img
    return _roi_loss(trace, result, gt, c, p_iou, covering_p, anchors, score_thresh, nms_thresh, cap)


@dataclass
class _AnchorEvidence:
    """The anchors' view of one object, the first line of every miss's evidence."""

    ious: np.ndarray  # float32[A]: IoU of each anchor with the object
    best: int  # the anchor of highest IoU (-1: the trace has no anchors)
    best_iou: float
    line: str


def _anchor_evidence(trace: DetectionTrace, gt: np.ndarray) -> _AnchorEvidence:
    """How well the anchors of ``trace`` cover object ``gt`` (``float64[4]``)."""
    ious = _iou1(gt, trace.anchors)
    best = int(np.argmax(ious)) if len(ious) else -1
    best_iou = float(ious[best]) if best >= 0 else 0.0
    line = (f"best anchor: {_anchor_text(trace, best)}, IoU {best_iou:.2f}"
            if best >= 0 else "the trace has no anchors")
    return _AnchorEvidence(ious, best, best_iou, line)


def _detection_of(result: PostprocessResult, gt: np.ndarray, c: int, label: str) -> Explanation | None:
    """``DETECTED`` with the best detection of class ``c`` covering ``gt``; None when none does."""
    same = np.nonzero(result.labels == c)[0]
    det_iou = _iou1(gt, result.boxes[same])
    if not len(det_iou) or det_iou.max() < MATCH_IOU:
        return None
    d = int(same[int(np.argmax(det_iou))])
    return Explanation(Stage.DETECTED, f"detected: detection {d}, {label} {float(result.scores[d]):.2f}, "
                       f"IoU {float(det_iou.max()):.2f}", detection=d, proposal=int(result.proposal_index[d]))


def _anchor_loss(trace: DetectionTrace, anchors: _AnchorEvidence) -> Explanation:
    """No RPN candidate or proposal covers the object: no anchor does (``NO_ANCHOR``), or
    those that do scored too low to become candidates (``LOW_OBJECTNESS``)."""
    if anchors.best_iou < MATCH_IOU:
        return Explanation(
            Stage.NO_ANCHOR,
            f"no anchor covers it: the best anchor reaches IoU {anchors.best_iou:.2f} (< {MATCH_IOU}), and no "
            "RPN candidate was regressed onto it",
            [anchors.line, f"training calls an anchor positive at IoU >= {RPN_POSITIVE_IOU} (or the best one "
             "for a box): anchor sizes / ratios / stride do not fit this object"],
            anchor=anchors.best, best_anchor_iou=anchors.best_iou)
    good = np.nonzero(anchors.ious >= MATCH_IOU)[0]
    obj = trace.objectness()
    g = int(good[int(np.argmax(obj[good]))])
    kept = len(trace.pre_nms_scores)
    return Explanation(
        Stage.LOW_OBJECTNESS,
        f"low objectness: {len(good)} anchor(s) cover it (IoU >= {MATCH_IOU}), the best of them scores "
        f"{float(obj[g]):.3f}, rank {_rank(obj, float(obj[g]))} of {len(obj)}; none became a candidate",
        [anchors.line, f"most confident covering anchor: {_anchor_text(trace, g)}, "
         f"IoU {float(anchors.ious[g]):.2f}, objectness {float(obj[g]):.3f}",
         f"the RPN keeps its top {kept} candidates (pre-NMS top-k per level)"],
        anchor=g, best_anchor_iou=anchors.best_iou)


def _rpn_nms_loss(trace: DetectionTrace, anchors: _AnchorEvidence, q_iou: np.ndarray, covering_q: np.ndarray,
                  p_iou: np.ndarray) -> Explanation:
    """Candidates cover the object (``covering_q``: indices into the pre-NMS candidates) but no
    proposal does: the best of them was suppressed by the RPN's NMS, or ranked past its top-N.
    ``q_iou`` / ``p_iou``: ``float32[Q]`` / ``float32[P]`` IoU of each candidate / proposal with it."""
    q = int(covering_q[int(np.argmax(trace.pre_nms_scores[covering_q]))])
    q_score = float(trace.pre_nms_scores[q])
    cand_anchor = int(trace.pre_nms_anchor_index[q]) if len(trace.pre_nms_anchor_index) > q else anchors.best
    over = _iou1(trace.pre_nms_boxes[q], trace.proposals)
    stronger = np.nonzero((trace.proposal_scores >= q_score) & (over > trace.rpn_nms_thresh))[0]
    if len(stronger):
        s = int(stronger[int(np.argmax(over[stronger]))])
        return Explanation(
            Stage.RPN_NMS,
            f"RPN NMS: candidate (objectness {q_score:.3f}, IoU {float(q_iou[q]):.2f} with it) was suppressed "
            f"by proposal {s} (objectness {float(trace.proposal_scores[s]):.3f}), which overlaps it at "
            f"IoU {float(over[s]):.2f} > {trace.rpn_nms_thresh:g}",
            [anchors.line, f"proposal {s} itself covers the object at IoU {float(p_iou[s]):.2f}"],
            anchor=cand_anchor, candidate=q, suppressor=s, best_anchor_iou=anchors.best_iou)
    return Explanation(
        Stage.RPN_NMS,
        f"RPN top-N: candidate (objectness {q_score:.3f}, IoU {float(q_iou[q]):.2f} with it) survived NMS "
        f"but ranked past the {len(trace.proposals)} proposals kept",
        [anchors.line], anchor=cand_anchor, candidate=q, best_anchor_iou=anchors.best_iou)


def _roi_loss(trace: DetectionTrace, result: PostprocessResult, gt: np.ndarray, c: int, p_iou: np.ndarray,
              covering_p: np.ndarray, anchors: _AnchorEvidence, score_thresh: float, nms_thresh: float,
              cap: int) -> Explanation:
    """Proposals cover the object (``covering_p``, ``S`` of them): one of them scored and well
    placed was lost after the head (:func:`_post_nms_loss`), the scored ones' refined boxes
    drifted off it (``BOX_DRIFT``), or the head did not score class ``c`` (:func:`_head_loss`)."""
    label = _name(trace, c)
    probs = trace.class_probs[covering_p]  # [S, C]
    refined = trace.refined_boxes[covering_p, c]  # [S, 4]
    r_iou = np.array([_iou1(gt, r[None])[0] for r in refined], np.float32)
    scored = probs[:, c] > score_thresh
    good_box = r_iou >= MATCH_IOU
    both = np.nonzero(scored & good_box)[0]
    if len(both):
        k = int(both[int(np.argmax(probs[both, c]))])
        p = int(covering_p[k])
        return _post_nms_loss(trace, result, gt, c, p, float(probs[k, c]), refined[k], float(r_iou[k]),
                              nms_thresh, cap, anchors.line, anchors.best_iou)
    if scored.any():
        k = int(np.nonzero(scored)[0][int(np.argmax(probs[scored, c]))])
        p = int(covering_p[k])
        return Explanation(
            Stage.BOX_DRIFT,
            f"refined box drifted: proposal {p} covers it (IoU {float(p_iou[p]):.2f}) and scores {label} "
            f"{float(probs[k, c]):.2f}, but its refined {label} box has IoU {float(r_iou[k]):.2f} < {MATCH_IOU}",
            [anchors.line, f"refined box {np.round(refined[k], 1).tolist()}"],
            anchor=int(trace.proposal_anchor_index[p]), proposal=p, best_anchor_iou=anchors.best_iou)
    return _head_loss(trace, c, int(covering_p[int(np.argmax(probs[:, c]))]), p_iou, anchors, score_thresh)


def _head_loss(trace: DetectionTrace, c: int, p: int, p_iou: np.ndarray, anchors: _AnchorEvidence,
               score_thresh: float) -> Explanation:
    """The RoI head's verdict on proposal ``p`` (the covering one most confident in class ``c``):
    background, another class, or ``c`` with a probability not above ``score_thresh``."""
    label = _name(trace, c)
    prob = float(trace.class_probs[p, c])
    top = int(np.argmax(trace.class_probs[p]))
    evidence = [anchors.line, f"proposal {p}: IoU {float(p_iou[p]):.2f}, objectness "
                f"{float(trace.proposal_scores[p]):.3f}; class probabilities: {_top_probs(trace, p)}"]
    common: dict[str, Any] = {"anchor": int(trace.proposal_anchor_index[p]), "proposal": p,
                              "best_anchor_iou": anchors.best_iou}
    if top == 0:
        return Explanation(
            Stage.ROI_BACKGROUND,
            f"RoI head called it background: best covering proposal {p} has background "
            f"{float(trace.class_probs[p, 0]):.2f}, {label} {prob:.2f}",
            evidence, **common)
    if top != c:
        return Explanation(Stage.ROI_WRONG_CLASS,
                           f"RoI head called it {_name(trace, top)} ({float(trace.class_probs[p, top]):.2f}) rather "
                           f"than {label} ({prob:.2f}) on proposal {p}", evidence, **common)
    return Explanation(Stage.BELOW_SCORE,
                       f"score under the threshold: {label} {prob:.2f} <= {score_thresh:.2f} "
                       f"on proposal {p}", evidence, **common)


def _post_nms_loss(trace: DetectionTrace, result: PostprocessResult, gt: np.ndarray, c: int, p: int,
                   score: float, refined: np.ndarray, r_iou: float, nms_thresh: float, cap: int,
                   anchor_line: str, best_a_iou: float) -> Explanation:
    """A scored, well-placed box of class ``c`` from proposal ``p`` that is not a detection."""
    label = _name(trace, c)
    common: dict[str, Any] = {"anchor": int(trace.proposal_anchor_index[p]), "proposal": p,
                              "best_anchor_iou": best_a_iou}
    box_line = f"proposal {p}'s {label} box: score {score:.2f}, IoU {r_iou:.2f} with the object"
    same = np.nonzero(result.labels == c)[0]
    over = _iou1(refined, result.boxes[same])
    hit = np.nonzero((over > nms_thresh) & (result.scores[same] >= score))[0]
    if len(hit):
        d = int(same[hit[int(np.argmax(over[hit]))]])
        other = float(_iou1(gt, result.boxes[d:d + 1])[0])
        return Explanation(
            Stage.CLASS_NMS,
            f"class NMS: its box ({label} {score:.2f}) was suppressed by detection {d} ({label} "
            f"{float(result.scores[d]):.2f}), which overlaps it at IoU {float(over[hit].max()):.2f} > {nms_thresh:g} "
            f"but covers the object only at IoU {other:.2f}",
            [anchor_line, box_line], suppressor=d, **common)
    sy, sx = trace.scale
    w, h = (refined[2] - refined[0]) * sx, (refined[3] - refined[1]) * sy
    if min(w, h) < trace.min_size:
        return Explanation(Stage.TOO_SMALL, f"box too small: {w:.2f} x {h:.2f} resized pixels", [anchor_line, box_line],
                           **common)
    if len(result.scores) >= cap:
        return Explanation(Stage.OVER_CAP,
                           f"detections-per-image cap: {cap} detections already score above {score:.2f}",
                           [anchor_line, box_line], **common)
    return Explanation(Stage.CLASS_NMS, "class NMS: removed by a box past the cap", [anchor_line, box_line], **common)


def explain_false_positive(trace: DetectionTrace, result: PostprocessResult, d: int,
                           annotations: list[tuple[np.ndarray, str]]) -> Explanation:
    """Why detection ``d`` exists although no annotation of its class covers it:
    its proposal, objectness, class probabilities and what it overlaps."""
    p = int(result.proposal_index[d])
    c = int(result.labels[d])
    label = _name(trace, c)
    evidence = [f"proposal {p}: objectness {float(trace.proposal_scores[p]):.3f} (rank "
                f"{_rank(trace.proposal_scores, float(trace.proposal_scores[p]))} of {len(trace.proposal_scores)}); "
                f"class probabilities: {_top_probs(trace, p)}"]
    boxes = np.array([b for b, _ in annotations], np.float64).reshape(-1, 4)
    ious = _iou1(result.boxes[d], boxes)
    if len(ious) and ious.max() >= MATCH_IOU:
        j = int(np.argmax(ious))
        summary = (f"false positive: {label} {float(result.scores[d]):.2f} on an object annotated as "
                   f"{annotations[j][1]} (IoU {float(ious[j]):.2f}): the RoI head chose the wrong class")
    elif len(ious) and ious.max() > 0:
        j = int(np.argmax(ious))
        summary = (f"false positive: {label} {float(result.scores[d]):.2f} overlaps annotation {j} "
                   f"({annotations[j][1]}) only at IoU {float(ious[j]):.2f}: a poorly placed or duplicate box")
    else:
        summary = f"false positive: {label} {float(result.scores[d]):.2f} where nothing is annotated"
    return Explanation(Stage.DETECTED, summary, evidence, anchor=int(trace.proposal_anchor_index[p]), proposal=p,
                       detection=d)


def false_positives(result: PostprocessResult, annotations: list[tuple[np.ndarray, str]],
                    class_names: list[str]) -> list[int]:
    """Detections with no annotation of their class at IoU >= 0.5."""
    out = []
    for d in range(len(result.scores)):
        name = class_names[int(result.labels[d])] if int(result.labels[d]) < len(class_names) else ""
        boxes = np.array([b for b, lab in annotations if lab == name], np.float64).reshape(-1, 4)
        ious = _iou1(result.boxes[d], boxes)
        if not len(ious) or ious.max() < MATCH_IOU:
            out.append(d)
    return out


__all__ = ["Explanation", "MATCH_IOU", "Stage", "class_index", "explain_false_positive", "explain_object",
           "false_positives"]
