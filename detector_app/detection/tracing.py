"""``trace``: one Faster R-CNN forward pass that keeps every intermediate.

The pass calls torchvision's own modules in the order of
``GeneralizedRCNN.forward`` -> ``RegionProposalNetwork.forward`` (and its
``filter_proposals``) -> ``RoIHeads.forward`` + ``postprocess_detections`` ->
``GeneralizedRCNNTransform.postprocess``; nothing they compute is reimplemented:
the two steps whose discarded rows are kept (``filter_proposals`` and
``postprocess_detections``) are run step for step with torchvision's own
operations (``detection.trace_filters``).
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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.models.detection.faster_rcnn import FasterRCNN
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.transform import resize_boxes

from detector_app.detection.trace_filters import (
    compute_fates,
    filter_proposals,
    postprocess_detections,
    to_numpy,
)
from detector_app.domain.errors import MediaError, UserError
from detector_app.domain.trace import DetectionTrace, FeatureLevel

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
    """The stages of ``GeneralizedRCNN.forward`` in its order, each timed."""
    timer = _Timer(dev)
    tensor, original = _input_tensor(model, image, dev)
    images, _ = model.transform([tensor])
    resized = (int(images.image_sizes[0][0]), int(images.image_sizes[0][1]))
    padded = (int(images.tensors.shape[-2]), int(images.tensors.shape[-1]))
    timer.lap("transform")

    features = model.backbone(images.tensors)
    if isinstance(features, Tensor):
        features = OrderedDict([("0", features)])
    timer.lap("backbone")

    rpn_out = _run_rpn(model.rpn, images, list(features.values()), resized)
    timer.lap("rpn")

    rh = model.roi_heads
    box_features = rh.box_roi_pool(features, [rpn_out.proposals], images.image_sizes)
    box_features = rh.box_head(box_features)
    class_logits, box_regression = rh.box_predictor(box_features)
    timer.lap("roi_heads")

    post = postprocess_detections(rh, class_logits, box_regression, rpn_out.proposals, resized)
    levels = _levels(model, [str(k) for k in features], list(features.values()), padded)
    out = _build_trace(model, rpn_out, post, levels, original, resized, class_names)
    timer.lap("postprocess")
    out.timings_ms = timer.finish()
    return out


def _input_tensor(model: FasterRCNN, image: np.ndarray | Tensor,
                  dev: torch.device) -> tuple[Tensor, tuple[int, int]]:
    """``(float32[3, H', W'] on dev, (H, W))``: the image as the model's input (an oversized
    numpy image downscaled, :func:`model_input`) and the size boxes map back to."""
    if isinstance(image, np.ndarray) and image.ndim == 3:
        original = (int(image.shape[0]), int(image.shape[1]))  # boxes map back to this, also when downscaled
        return image_to_tensor(model_input(image, model), dev), original
    tensor = image_to_tensor(image, dev)
    return tensor, (int(tensor.shape[-2]), int(tensor.shape[-1]))


@dataclass
class _RpnOutput:
    """What the RPN computed for one image, in resized-image pixels: every anchor's box
    ``[A, 4]``, objectness logit ``[A]`` and regression deltas ``[A, 4]``; the pre-NMS
    candidates ``[Q]`` (clipped) and the proposals ``[P]``, each with its objectness
    probability and anchor index."""

    anchors: Tensor
    objectness: Tensor
    deltas: Tensor
    pre_boxes: Tensor
    pre_scores: Tensor
    pre_anchor: Tensor
    proposals: Tensor
    proposal_scores: Tensor
    proposal_anchor: Tensor


def _run_rpn(rpn: Any, images: Any, feats: list[Tensor], resized: tuple[int, int]) -> _RpnOutput:
    """``RegionProposalNetwork.forward`` for one image (``images``: the transform's
    ``ImageList``), keeping what it discards."""
    obj_levels, delta_levels = rpn.head(feats)
    anchors = rpn.anchor_generator(images, feats)[0]  # [A, 4] resized px
    num_per_level = [int(o[0].numel()) for o in obj_levels]
    objectness, deltas = concat_box_prediction_layers(obj_levels, delta_levels)  # [A, 1], [A, 4]
    objectness = objectness.reshape(-1)
    decoded = rpn.box_coder.decode(deltas, [anchors]).view(-1, 4)
    return _RpnOutput(anchors, objectness, deltas,
                      *filter_proposals(rpn, decoded, objectness, resized, num_per_level))


def _build_trace(model: FasterRCNN, rpn_out: _RpnOutput, post: dict[str, Tensor], levels: list[FeatureLevel],
                 original: tuple[int, int], resized: tuple[int, int],
                 class_names: list[str] | None) -> DetectionTrace:
    """The :class:`DetectionTrace` of one pass: every box mapped back to the ``original``
    image's pixels, each proposal's fate decided (:func:`compute_fates`)."""
    rh, rpn = model.roi_heads, model.rpn
    num_p, num_c = post["class_probs"].shape
    fate, fate_det = compute_fates(
        post["cand_boxes"], post["cand_scores"], post["cand_labels"], post["cand_prop"], post["big"],
        post["nms_keep"], int(rh.detections_per_img), float(rh.nms_thresh), num_p,
    )

    def back(b: Tensor) -> np.ndarray:
        return to_numpy(resize_boxes(b.reshape(-1, 4), list(resized), list(original)))

    level_idx, scale_idx, ratio_idx = _anchor_meta(levels)
    names = class_names or list(getattr(model, "class_names", None) or [])
    if len(names) != num_c:
        names = ["background", *(f"class {i}" for i in range(1, num_c))]
    return DetectionTrace(
        image_size=original,
        resized_size=resized,
        class_names=list(names),
        levels=levels,
        anchors=back(rpn_out.anchors),
        anchor_level=level_idx,
        anchor_scale_index=scale_idx,
        anchor_ratio_index=ratio_idx,
        objectness_logits=to_numpy(rpn_out.objectness),
        rpn_deltas=to_numpy(rpn_out.deltas),
        pre_nms_boxes=back(rpn_out.pre_boxes),
        pre_nms_scores=to_numpy(rpn_out.pre_scores),
        pre_nms_anchor_index=to_numpy(rpn_out.pre_anchor, np.int64),
        proposals=back(rpn_out.proposals),
        proposal_scores=to_numpy(rpn_out.proposal_scores),
        proposal_anchor_index=to_numpy(rpn_out.proposal_anchor, np.int64),
        class_probs=to_numpy(post["class_probs"]),
        refined_boxes=back(post["refined_boxes"]).reshape(num_p, num_c, 4),
        detection_boxes=back(post["boxes"]),
        detection_labels=to_numpy(post["labels"], np.int64),
        detection_scores=to_numpy(post["scores"]),
        detection_proposal_index=to_numpy(post["proposal_index"], np.int64),
        proposal_fate=fate,
        proposal_fate_detection=fate_det,
        score_thresh=float(rh.score_thresh),
        nms_thresh=float(rh.nms_thresh),
        detections_per_img=int(rh.detections_per_img),
        min_size=1e-2,
        rpn_nms_thresh=float(rpn.nms_thresh),
        rpn_ignore_cross_boundary=bool(getattr(rpn, "ignore_cross_boundary", False)),
    )
