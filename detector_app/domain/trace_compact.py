"""A trace in fewer bytes, for traces kept on disk by Detect all.

Two arrays are most of a stored trace (512 px image, one stride-8 level: 36,864
anchors): the anchors (about 20 % of the compressed bytes) and the RPN's box deltas
(about 60 %). Neither needs storing whole:

* the anchors follow from the trace's feature levels and sizes. ``grid_anchors``
  recomputes them with torchvision's ``AnchorGenerator`` arithmetic, step by step in
  float32, then maps them to the original image as the tracer does; ``compact`` drops
  them only where the recomputed ones are bitwise equal, so a model with another
  anchor rule keeps its own;
* the deltas are read for the anchors that became candidates (pre-NMS boxes and
  proposals: the stepper shows how each was regressed). ``compact`` keeps those rows
  and writes NaN in the others: "not kept", never a plausible number.

``expand(compact(t))`` equals ``t`` in every array but ``rpn_deltas`` of anchors
that never became a candidate.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from detector_app.domain.anchor_targets import resize_boxes
from detector_app.domain.trace import DetectionTrace, FeatureLevel


def _cell_anchors(level: FeatureLevel) -> np.ndarray:
    """``float32[k, 4]``: ``AnchorGenerator.generate_anchors`` (ratio-major, scale-minor)."""
    scales = np.asarray(level.sizes, np.float32)
    ratios = np.asarray(level.aspect_ratios, np.float32)
    h_ratios = np.sqrt(ratios)
    w_ratios = np.float32(1) / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    base = np.stack([-ws, -hs, ws, hs], axis=1) / np.float32(2)
    rounded: np.ndarray = np.round(base)  # half to even, as torch.round
    return rounded


def grid_anchors(levels: list[FeatureLevel], image_size: tuple[int, int],
                 resized_size: tuple[int, int]) -> np.ndarray:
    """``float32[A, 4]``: every level's anchors (``AnchorGenerator.grid_anchors``) in the
    original image's pixels (torchvision's ``resize_boxes`` from ``resized_size`` back to
    ``image_size``, both ``(H, W)``), in the order a trace keeps them."""
    per_level = []
    for lv in levels:
        gh, gw = lv.grid_size
        sx = (np.arange(gw, dtype=np.int64) * int(lv.stride[1])).astype(np.float32)
        sy = (np.arange(gh, dtype=np.int64) * int(lv.stride[0])).astype(np.float32)
        shift_y, shift_x = np.meshgrid(sy, sx, indexing="ij")
        shifts = np.stack([shift_x.reshape(-1), shift_y.reshape(-1)] * 2, axis=1)
        per_level.append((shifts[:, None, :] + _cell_anchors(lv)[None, :, :]).reshape(-1, 4))
    if not per_level:
        return np.zeros((0, 4), np.float32)
    return resize_boxes(np.concatenate(per_level), resized_size, image_size)


def _candidate_anchors(trace: DetectionTrace) -> np.ndarray:
    """``int64[K]``: the anchors a pre-NMS box or a proposal came from."""
    idx = np.concatenate([np.asarray(trace.pre_nms_anchor_index, np.int64).reshape(-1),
                          np.asarray(trace.proposal_anchor_index, np.int64).reshape(-1)])
    return np.unique(idx[(idx >= 0) & (idx < len(trace.rpn_deltas))])


def compact(trace: DetectionTrace) -> DetectionTrace:
    """A copy without recomputable anchors and with deltas for candidate anchors only."""
    anchors = np.asarray(trace.anchors)
    regenerable = anchors.size > 0 and np.array_equal(
        grid_anchors(trace.levels, trace.image_size, trace.resized_size), anchors)
    deltas = np.asarray(trace.rpn_deltas, np.float32)
    kept = np.full_like(deltas, np.nan)
    rows = _candidate_anchors(trace)
    kept[rows] = deltas[rows]
    return replace(trace, anchors=np.zeros((0, 4), np.float32) if regenerable else anchors, rpn_deltas=kept)


def expand(trace: DetectionTrace) -> DetectionTrace:
    """The anchors ``compact`` dropped, recomputed (a trace with its anchors is returned as is)."""
    if np.asarray(trace.anchors).size or not len(trace.anchor_level):
        return trace
    return replace(trace, anchors=grid_anchors(trace.levels, trace.image_size, trace.resized_size))


__all__ = ["compact", "expand", "grid_anchors"]
