"""torchvision's proposal filter and detection post-processing for one image, keeping
what they discard.

:func:`filter_proposals` is ``RegionProposalNetwork.filter_proposals`` and
:func:`postprocess_detections` ``RoIHeads.postprocess_detections``, step for step with
torchvision's own operations (``box_ops``), so their results are bitwise the same; they
also return the pre-NMS candidates, every per-proposal tensor and the index of the
anchor / proposal each surviving row came from. :func:`compute_fates` says what
became of every proposal. Used by ``detection.tracing``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import boxes as box_ops

from detector_app.domain.trace import assign_fates


def to_numpy(t: Tensor, dtype: Any = np.float32) -> np.ndarray:
    """``t`` as a numpy array of ``dtype`` on the CPU (no copy where it already is one)."""
    return t.detach().cpu().numpy().astype(dtype, copy=False)


def filter_proposals(
    rpn: Any, proposals: Tensor, objectness: Tensor, image_shape: tuple[int, int], num_per_level: list[int]
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``RegionProposalNetwork.filter_proposals`` for one image, tracking anchor indices.

    Args: proposals ``float[A, 4]`` (decoded), objectness ``float[A]`` logits.
    Returns ``(pre_boxes[Q, 4], pre_scores[Q], pre_anchor[Q], boxes[P, 4], scores[P], anchor[P])``,
    pre-NMS boxes clipped; everything in resized pixels.
    """
    device = proposals.device
    levels = torch.cat([torch.full((n,), i, dtype=torch.int64, device=device) for i, n in enumerate(num_per_level)])
    top_idx = rpn._get_top_n_idx(objectness.reshape(1, -1), num_per_level)[0]  # [Q] anchor indices
    scores = torch.sigmoid(objectness[top_idx])
    lvl = levels[top_idx]
    boxes = box_ops.clip_boxes_to_image(proposals[top_idx], image_shape)
    pre_boxes, pre_scores = boxes, scores

    idx = torch.arange(top_idx.numel(), device=device)
    keep = box_ops.remove_small_boxes(boxes, rpn.min_size)
    boxes, scores, lvl, idx = boxes[keep], scores[keep], lvl[keep], idx[keep]
    keep = torch.where(scores >= rpn.score_thresh)[0]
    boxes, scores, lvl, idx = boxes[keep], scores[keep], lvl[keep], idx[keep]
    keep = box_ops.batched_nms(boxes, scores, lvl, rpn.nms_thresh)
    keep = keep[: rpn.post_nms_top_n()]
    return pre_boxes, pre_scores, top_idx, boxes[keep], scores[keep], top_idx[idx[keep]]


def compute_fates(
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    prop: Tensor,
    passed_size: Tensor,
    nms_keep: Tensor,
    cap: int,
    nms_thresh: float,
    num_proposals: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each proposal's fate from the RoI head's post-processing: finds each suppressed
    box's suppressor, then applies ``domain.trace.assign_fates`` (the rule
    ``DetectionTrace.postprocess`` uses too).

    Args:
        boxes ``float[N, 4]``, scores ``float[N]``, labels ``int64[N]``, prop ``int64[N]``:
            the flattened (proposal, class) candidates that passed the score
            threshold, in torchvision's order.
        passed_size: ``int64[N2]`` indices into ``boxes`` that are big enough.
        nms_keep: ``int64[K]`` indices into ``boxes[passed_size]`` kept by NMS, best first.

    Returns ``(fate int8[P], fate_detection int64[P])``. A suppressed box's
    suppressor is the best kept box of its class whose IoU with it exceeds
    ``nms_thresh`` (what greedy NMS does), found with torchvision's float32 IoU,
    the arithmetic its NMS decided with.
    """
    boxes, scores, labels = boxes.detach().cpu(), scores.detach().cpu(), labels.cpu()
    big, keep = passed_size.cpu(), passed_size.cpu()[nms_keep.cpu()]  # keep: into boxes, best first
    suppressed_by = torch.full((boxes.shape[0],), -1, dtype=torch.int64)
    alive = torch.zeros(boxes.shape[0], dtype=torch.bool)
    alive[big] = True
    alive[keep] = False
    sup = torch.nonzero(alive).flatten()  # big enough, not kept: suppressed by NMS
    if sup.numel() and keep.numel():
        sup_labels, kept_labels = labels[sup], labels[keep]
        for c in torch.unique(sup_labels):  # per class: NMS never crosses classes
            si = torch.nonzero(sup_labels == c).flatten()
            ki = torch.nonzero(kept_labels == c).flatten()
            if ki.numel() == 0:
                continue
            # torchvision's own float32 IoU, as its NMS decided with
            iou = box_ops.box_iou(boxes[sup[si]], boxes[keep[ki]])  # [S_c, K_c]
            hit = (iou > nms_thresh) & (scores[keep[ki]][None, :] >= scores[sup[si]][:, None])
            has = hit.any(1)
            suppressed_by[sup[si[has]]] = keep[ki[hit.int().argmax(1)[has]]]  # first kept (best) suppressor
    return assign_fates(to_numpy(prop, np.int64), to_numpy(scores), to_numpy(big, np.int64), to_numpy(keep, np.int64),
                        to_numpy(suppressed_by, np.int64), cap, num_proposals)


def postprocess_detections(
    roi_heads: Any, class_logits: Tensor, box_regression: Tensor, proposals: Tensor, image_shape: tuple[int, int]
) -> dict[str, Tensor]:
    """``RoIHeads.postprocess_detections`` for one image, keeping every per-proposal tensor.

    Shapes: class_logits ``[P, C]``, box_regression ``[P, C*4]``, proposals ``[P, 4]``.
    """
    num_classes = class_logits.shape[-1]
    pred_boxes = roi_heads.box_coder.decode(box_regression, [proposals])  # [P, C, 4]
    pred_scores = torch.softmax(class_logits, -1)  # [P, C]
    boxes_all = box_ops.clip_boxes_to_image(pred_boxes, image_shape)
    labels = torch.arange(num_classes, device=class_logits.device).view(1, -1).expand_as(pred_scores)
    boxes = boxes_all[:, 1:].reshape(-1, 4)
    scores = pred_scores[:, 1:].reshape(-1)
    labels = labels[:, 1:].reshape(-1)
    flat = torch.arange(scores.numel(), device=scores.device)

    inds = torch.where(scores > roi_heads.score_thresh)[0]
    boxes, scores, labels, flat = boxes[inds], scores[inds], labels[inds], flat[inds]
    big = box_ops.remove_small_boxes(boxes, min_size=1e-2)
    nms_keep = box_ops.batched_nms(boxes[big], scores[big], labels[big], roi_heads.nms_thresh)
    final = big[nms_keep[: roi_heads.detections_per_img]]
    return {
        "class_probs": pred_scores, "refined_boxes": boxes_all,
        "cand_boxes": boxes, "cand_scores": scores, "cand_labels": labels,
        "cand_prop": flat // max(num_classes - 1, 1), "inds": inds, "big": big, "nms_keep": nms_keep,
        "boxes": boxes[final], "scores": scores[final], "labels": labels[final],
        "proposal_index": flat[final] // max(num_classes - 1, 1),
    }


__all__ = ["compute_fates", "filter_proposals", "postprocess_detections", "to_numpy"]
