"""``trace``: one Faster R-CNN forward pass that keeps every intermediate.

The pass calls torchvision's own modules in the order of
``GeneralizedRCNN.forward`` -> ``RegionProposalNetwork.forward`` (and its
``filter_proposals``) -> ``RoIHeads.forward`` + ``postprocess_detections`` ->
``GeneralizedRCNNTransform.postprocess``; nothing they compute is reimplemented.
What torchvision throws away on the way is kept, together with the index of
the anchor / proposal each surviving row came from:

* objectness logits ``[A]`` and regression deltas ``[A, 4]`` of every anchor;
* the pre-NMS top-k candidates per level ``[Q]`` (clipped) and the post-NMS
  proposals ``[P]`` with their objectness probability and anchor index;
* per proposal the softmax class probabilities ``[P, C]`` and the clipped,
  class-specific refined boxes ``[P, C, 4]``;
* the detections ``[D]`` with the proposal each came from, and every
  proposal's :class:`~detector_app.domain.trace.Fate`.

All boxes are mapped back to **original-image pixels** with the per-axis
ratio torchvision's ``resize_boxes`` uses; anchor *sizes* in ``FeatureLevel``
stay in resized-image pixels (the units the anchor generator is configured in).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.models.detection.faster_rcnn import FasterRCNN
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import boxes as box_ops

from detector_app.domain.errors import MediaError, UserError
from detector_app.domain.trace import DetectionTrace, Fate, FeatureLevel

__all__ = ["OVERSIZE_FACTOR", "check_fits_model", "trace", "image_to_tensor", "model_input", "compute_fates"]


#: An image whose long side exceeds this many times the model's ``max_size`` is first
#: downscaled to that size (area interpolation, in uint8): the model's own transform
#: shrinks it below ``max_size`` anyway, but would first make a float32 copy and a
#: normalised copy of the full image (a 9999 x 9999 photo peaked at 4.5 GB).
OVERSIZE_FACTOR = 2.0


def model_input(image: np.ndarray, model: torch.nn.Module, where: str = "") -> np.ndarray:
    """``uint8[H', W', 3]``: ``image`` itself, or, when its long side is over
    :data:`OVERSIZE_FACTOR` x the model's ``transform.max_size``, a copy downscaled
    to that long side (``cv2.INTER_AREA``). Boxes found on it map back to ``image``
    by ``H / H'``, ``W / W'`` (:func:`trace` and ``detect_images`` do so).

    Raises :class:`MediaError` (``where``, e.g. the file, first) for an image so thin
    that the model's own resize would leave its short side under one pixel (10000 x 1:
    torchvision's interpolation raised a RuntimeError)."""
    transform = getattr(model, "transform", None)
    max_size = getattr(transform, "max_size", None)
    h, w = image.shape[:2]
    fed = image
    if isinstance(max_size, (int, float)) and max(h, w) > OVERSIZE_FACTOR * max_size:
        import cv2

        f = OVERSIZE_FACTOR * float(max_size) / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        fed = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    check_fits_model(fed.shape[0], fed.shape[1], model, where, (w, h))
    return fed


def check_fits_model(height: int, width: int, model: torch.nn.Module, where: str = "",
                     shown: tuple[int, int] | None = None) -> None:
    """Raise :class:`MediaError` (``where`` first; ``shown``: the ``(w, h)`` to name, default
    this one) when the model's resize (``GeneralizedRCNNTransform`` at inference) would
    leave the short side of a ``height x width`` image under one pixel (10000 x 1:
    torchvision's interpolation raised a RuntimeError)."""
    transform = getattr(model, "transform", None)
    max_size = getattr(transform, "max_size", None)
    min_size = getattr(transform, "min_size", None)
    min_size = min_size[-1] if isinstance(min_size, (tuple, list)) and min_size else min_size
    if not (isinstance(max_size, (int, float)) and isinstance(min_size, (int, float))):
        return
    scale = min(float(min_size) / min(height, width), float(max_size) / max(height, width))
    if math.floor(min(height, width) * scale) < 1:
        w, h = shown or (width, height)
        raise MediaError(f"{where}image is {w}x{h} pixels, too thin for the model: scaled to at most "
                         f"{max_size:g} pixels on its long side, its short side would be under one pixel")


def image_to_tensor(image: np.ndarray | Tensor, device: torch.device | None = None) -> Tensor:
    """``uint8[H, W, 3]`` RGB numpy (or ``float[3, H, W]`` in 0..1) -> ``float32[3, H, W]`` on ``device``.

    Same values as ``torchvision.transforms.functional.to_tensor``.
    """
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise UserError(f"expected an RGB image of shape (H, W, 3), got {image.shape}")
        if image.dtype != np.uint8:
            raise UserError(f"expected a uint8 RGB image, got dtype {image.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(image))
        if device is not None:
            t = t.to(device)
        return t.permute(2, 0, 1).contiguous().float().div_(255.0)
    if isinstance(image, Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise UserError(f"expected an image tensor of shape (3, H, W), got {tuple(image.shape)}")
        if not image.is_floating_point():
            raise UserError(f"expected a float image tensor in 0..1, got {image.dtype}")
        return image.to(device) if device is not None else image
    raise UserError(f"expected a numpy image or a tensor, got {type(image).__name__}")


class _Timer:
    """Wall-clock stage timer; synchronises CUDA so GPU time lands in its stage."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.times: dict[str, float] = {}
        self.start = self.last = self._now()

    def _now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def lap(self, name: str) -> None:
        now = self._now()
        self.times[name] = (now - self.last) * 1000.0
        self.last = now

    def finish(self) -> dict[str, float]:
        self.times["total"] = (self._now() - self.start) * 1000.0
        return self.times


def _np(t: Tensor, dtype: Any = np.float32) -> np.ndarray:
    return t.detach().cpu().numpy().astype(dtype, copy=False)


def _levels(model: FasterRCNN, names: list[str], feats: list[Tensor], padded: tuple[int, int]) -> list[FeatureLevel]:
    """One ``FeatureLevel`` per feature map; strides as ``AnchorGenerator.forward`` computes them."""
    gen = model.rpn.anchor_generator
    out: list[FeatureLevel] = []
    offset = 0
    for i, f in enumerate(feats):
        h, w = int(f.shape[-2]), int(f.shape[-1])
        sizes = tuple(float(s) for s in gen.sizes[i])
        ratios = tuple(float(r) for r in gen.aspect_ratios[i])
        lv = FeatureLevel(
            name=names[i] if i < len(names) else str(i),
            grid_size=(h, w),
            stride=(float(padded[0] // h), float(padded[1] // w)),
            offset=offset,
            sizes=sizes,
            aspect_ratios=ratios,
        )
        offset += lv.num_anchors
        out.append(lv)
    return out


def _anchor_meta(levels: list[FeatureLevel]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-anchor level, scale index and ratio index (torchvision's cell-anchor
    order is ``a = ratio_index * len(sizes) + scale_index``)."""
    lvl, sc, ra = [], [], []
    for i, lv in enumerate(levels):
        n_cells = lv.grid_size[0] * lv.grid_size[1]
        k = lv.num_anchors_per_cell
        a = np.tile(np.arange(k), n_cells)
        lvl.append(np.full(n_cells * k, i, np.int16))
        sc.append((a % len(lv.sizes)).astype(np.int8))
        ra.append((a // len(lv.sizes)).astype(np.int8))
    if not levels:
        return np.zeros(0, np.int16), np.zeros(0, np.int8), np.zeros(0, np.int8)
    return np.concatenate(lvl), np.concatenate(sc), np.concatenate(ra)


def _filter_proposals(
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
    """Each proposal's fate from the RoI head's post-processing (vectorised).

    Args:
        boxes ``float[N, 4]``, scores ``float[N]``, labels ``int64[N]``, prop ``int64[N]``:
            the flattened (proposal, class) candidates that passed the score
            threshold, in torchvision's order.
        passed_size: ``int64[N2]`` indices into ``boxes`` that are big enough.
        nms_keep: ``int64[K]`` indices into ``boxes[passed_size]`` kept by NMS, best first.

    Returns ``(fate int8[P], fate_detection int64[P])``. Precedence when a
    proposal has several class boxes, as ``DetectionTrace.postprocess``:
    DETECTED (lowest detection index) > SUPPRESSED (by the suppressor of its
    best-scoring suppressed box) > OVER_CAP > TOO_SMALL > BELOW_SCORE.
    A suppressed box's suppressor is the best kept box of its class whose
    IoU with it exceeds ``nms_thresh`` (exactly what greedy NMS does).
    """
    fate = torch.full((num_proposals,), int(Fate.BELOW_SCORE), dtype=torch.int64)
    fate_det = torch.full((num_proposals,), -1, dtype=torch.int64)
    boxes, scores, labels, prop = boxes.cpu(), scores.cpu(), labels.cpu(), prop.cpu()
    passed_size, nms_keep = passed_size.cpu(), nms_keep.cpu()
    n = boxes.shape[0]
    small = torch.ones(n, dtype=torch.bool)
    small[passed_size] = False
    fate[prop[small]] = int(Fate.TOO_SMALL)

    kept_local = passed_size[nms_keep]  # [K] into boxes, best first
    over = kept_local[cap:]
    fate[prop[over]] = int(Fate.OVER_CAP)

    alive = torch.zeros(n, dtype=torch.bool)
    alive[passed_size] = True
    alive[kept_local] = False
    sup = torch.nonzero(alive).flatten()  # suppressed candidates
    if sup.numel() and kept_local.numel():
        first = torch.full((sup.numel(),), -1, dtype=torch.int64)  # position in kept_local, -1 none
        sup_labels, kept_labels = labels[sup], labels[kept_local]
        for c in torch.unique(sup_labels):  # per class: NMS never crosses classes
            si = torch.nonzero(sup_labels == c).flatten()
            ki = torch.nonzero(kept_labels == c).flatten()
            if ki.numel() == 0:
                continue
            iou = box_ops.box_iou(boxes[sup[si]], boxes[kept_local[ki]])  # [S_c, K_c]
            hit = (iou > nms_thresh) & (scores[kept_local[ki]][None, :] >= scores[sup[si]][:, None])
            has = hit.any(1)
            first[si[has]] = ki[hit.int().argmax(1)[has]]  # first kept (best) suppressor
        det = torch.where((first >= 0) & (first < cap), first, torch.full_like(first, -1))
        # best-scoring suppressed box per proposal decides the suppressor
        order = torch.argsort(scores[sup], stable=True)
        p_sorted = prop[sup][order]
        fate[p_sorted] = int(Fate.SUPPRESSED)
        last = torch.zeros(num_proposals, dtype=torch.int64)
        last.scatter_reduce_(0, p_sorted, torch.arange(order.numel()), "amax", include_self=False)
        touched = torch.unique(p_sorted)
        fate_det[touched] = det[order][last[touched]]
    final = kept_local[:cap]
    if final.numel():
        p_final = prop[final]
        fate[p_final] = int(Fate.DETECTED)
        first_det = torch.full((num_proposals,), final.numel(), dtype=torch.int64)
        first_det.scatter_reduce_(0, p_final, torch.arange(final.numel()), "amin", include_self=True)
        fate_det[p_final] = first_det[p_final]
    return fate.numpy().astype(np.int8), fate_det.numpy()


def _postprocess_detections(
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


def _model_device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def trace(
    model: FasterRCNN,
    image: np.ndarray | Tensor,
    *,
    device: torch.device | str | None = None,
    class_names: list[str] | None = None,
) -> DetectionTrace:
    """Run ``model`` on one image and keep everything (see the module docstring).

    Args:
        model: a torchvision ``FasterRCNN`` (any of ``builders.BUILDERS``).
            Run in eval mode (restored afterwards); moved to ``device`` if given.
        image: ``uint8[H, W, 3]`` RGB numpy, or ``float[3, H, W]`` tensor in 0..1.
        device: where to run; default: where the model's weights are.
        class_names: ``C`` names, background first; default from
            ``model.class_names`` if set, else ``"background", "class 1", ...``.

    Returns a :class:`DetectionTrace` whose detections equal ``model([image])``.
    """
    dev = torch.device(device) if device is not None else _model_device(model)
    if _model_device(model) != dev:
        model.to(dev)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return _trace(model, image, dev, class_names)
    finally:
        if was_training:
            model.train()


def _trace(
    model: FasterRCNN, image: np.ndarray | Tensor, dev: torch.device, class_names: list[str] | None
) -> DetectionTrace:
    timer = _Timer(dev)
    if isinstance(image, np.ndarray) and image.ndim == 3:
        original = (int(image.shape[0]), int(image.shape[1]))  # boxes map back to this, also when downscaled
        tensor = image_to_tensor(model_input(image, model), dev)
    else:
        tensor = image_to_tensor(image, dev)
        original = (int(tensor.shape[-2]), int(tensor.shape[-1]))
    images, _ = model.transform([tensor])
    resized = (int(images.image_sizes[0][0]), int(images.image_sizes[0][1]))
    padded = (int(images.tensors.shape[-2]), int(images.tensors.shape[-1]))
    timer.lap("transform")

    features = model.backbone(images.tensors)
    if isinstance(features, Tensor):
        features = OrderedDict([("0", features)])
    timer.lap("backbone")

    rpn = model.rpn
    feats = list(features.values())
    obj_levels, delta_levels = rpn.head(feats)
    anchors = rpn.anchor_generator(images, feats)[0]  # [A, 4] resized px
    num_per_level = [int(o[0].numel()) for o in obj_levels]
    objectness, deltas = concat_box_prediction_layers(obj_levels, delta_levels)  # [A, 1], [A, 4]
    objectness = objectness.reshape(-1)
    decoded = rpn.box_coder.decode(deltas, [anchors]).view(-1, 4)
    pre_boxes, pre_scores, pre_anchor, props, prop_scores, prop_anchor = _filter_proposals(
        rpn, decoded, objectness, resized, num_per_level
    )
    timer.lap("rpn")

    rh = model.roi_heads
    box_features = rh.box_roi_pool(features, [props], images.image_sizes)
    box_features = rh.box_head(box_features)
    class_logits, box_regression = rh.box_predictor(box_features)
    timer.lap("roi_heads")

    post = _postprocess_detections(rh, class_logits, box_regression, props, resized)
    num_p, num_c = post["class_probs"].shape
    fate, fate_det = compute_fates(
        post["cand_boxes"], post["cand_scores"], post["cand_labels"], post["cand_prop"], post["big"],
        post["nms_keep"], int(rh.detections_per_img), float(rh.nms_thresh), num_p,
    )

    def back(b: Tensor) -> np.ndarray:
        return _np(resize_boxes(b.reshape(-1, 4), list(resized), list(original)))

    levels = _levels(model, [str(k) for k in features], feats, padded)
    level_idx, scale_idx, ratio_idx = _anchor_meta(levels)
    names = class_names or list(getattr(model, "class_names", None) or [])
    if len(names) != num_c:
        names = ["background", *(f"class {i}" for i in range(1, num_c))]
    out = DetectionTrace(
        image_size=original,
        resized_size=resized,
        class_names=list(names),
        levels=levels,
        anchors=back(anchors),
        anchor_level=level_idx,
        anchor_scale_index=scale_idx,
        anchor_ratio_index=ratio_idx,
        objectness_logits=_np(objectness),
        rpn_deltas=_np(deltas),
        pre_nms_boxes=back(pre_boxes),
        pre_nms_scores=_np(pre_scores),
        pre_nms_anchor_index=_np(pre_anchor, np.int64),
        proposals=back(props),
        proposal_scores=_np(prop_scores),
        proposal_anchor_index=_np(prop_anchor, np.int64),
        class_probs=_np(post["class_probs"]),
        refined_boxes=back(post["refined_boxes"]).reshape(num_p, num_c, 4),
        detection_boxes=back(post["boxes"]),
        detection_labels=_np(post["labels"], np.int64),
        detection_scores=_np(post["scores"]),
        detection_proposal_index=_np(post["proposal_index"], np.int64),
        proposal_fate=fate,
        proposal_fate_detection=fate_det,
        score_thresh=float(rh.score_thresh),
        nms_thresh=float(rh.nms_thresh),
        detections_per_img=int(rh.detections_per_img),
        min_size=1e-2,
        rpn_nms_thresh=float(rpn.nms_thresh),
        rpn_ignore_cross_boundary=bool(getattr(rpn, "ignore_cross_boundary", False)),
    )
    timer.lap("postprocess")
    out.timings_ms = timer.finish()
    return out
