"""What the overlay layers draw: the pens (colour, width, dash), boxes and tags of the
anchors, anchor labels, proposals and detections layers, and the proposal highlight.

``OverlayScene`` decides *which* anchors, proposals and detections show (with
``overlay_data``); these functions turn that choice into one layer's content.
Boxes are ``float[N, 4]`` ``x1, y1, x2, y2`` in original-image pixels; selections are
``int64[M]`` indices into the trace's (or the result's) arrays.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from detector_app.domain.trace import DetectionTrace, PostprocessResult
from detector_app.qt import overlay_data as od
from detector_app.qt.colors import bin_colors, class_color, score_bins
from detector_app.qt.highlight_layer import HighlightLayer
from detector_app.qt.layers import LabelledRectLayer, RectLayer
from detector_app.qt.overlay_style import OverlayStyle, cosmetic_pen


def fill_anchors(layer: RectLayer, trace: DetectionTrace, shown: np.ndarray, width: float,
                 style: OverlayStyle) -> None:
    """The anchors ``shown``, ``width`` device pixels wide, coloured by scale index."""
    scale_idx = trace.anchor_scale_index[shown].astype(np.int64)
    n_scales = int(scale_idx.max()) + 1 if len(shown) else 0
    pens = [cosmetic_pen(style.anchor_scale_color(s), width) for s in range(n_scales)]
    layer.set_boxes(trace.anchors[shown], scale_idx, pens)


def fill_anchor_labels(layer: RectLayer, anchors: np.ndarray, labels: np.ndarray, style: OverlayStyle) -> None:
    """``anchors`` (``float[A, 4]``) by their training label (``int8[A]``): every positive,
    bold; negatives, ignored and boundary-crossing ones thinned to the style's caps."""
    pos, neg, ign, crossing = od.thin_labels(labels, style.max_negative_labels, style.max_ignored_labels)
    # dotted: an anchor label never looks like a box of a class that shares its colour
    # (positive green vs a green class; boxes are solid or dashed)
    dot = Qt.PenStyle.DotLine
    layer.set_batches([
        (cosmetic_pen(style.boundary_color, style.thin, dot), anchors[crossing]),
        (cosmetic_pen(style.ignored_color, style.thin, dot), anchors[ign]),
        (cosmetic_pen(style.negative_color, style.thin, dot), anchors[neg]),
        (cosmetic_pen(style.positive_color, style.bold, dot), anchors[pos]),
    ])


def fill_proposals(layer: RectLayer, trace: DetectionTrace, shown: np.ndarray, style: OverlayStyle) -> None:
    """The proposals ``shown``, coloured by objectness in ``style.proposal_bins`` bins."""
    n_bins = style.proposal_bins
    bins = score_bins(trace.proposal_scores[shown], n_bins)
    pens = [cosmetic_pen(c, style.thin) for c in bin_colors(n_bins)]
    layer.set_boxes(trace.proposals[shown], bins, pens)


def fill_detections(layer: LabelledRectLayer, result: PostprocessResult | None, shown: np.ndarray,
                    class_names: list[str], emphasised: int | None, style: OverlayStyle) -> None:
    """The model's suggestions ``shown``: thin dashed boxes in the class colour with hollow
    "class score" tags (a person's annotations are solid with the class only); detection
    ``emphasised`` drawn again on top."""
    if result is None or len(shown) == 0:
        layer.clear()
        layer.set_tags([])
        layer.set_emphasis(None)
        return
    labels = result.labels.astype(np.int64)
    classes = sorted(set(labels[shown].tolist()))
    layer.set_batches([(cosmetic_pen(class_color(c), style.suggestion, Qt.PenStyle.DashLine),
                        result.boxes[shown][labels[shown] == c]) for c in classes])
    tags = []
    for i in shown.tolist():
        lab = int(labels[i])
        name = class_names[lab] if 0 <= lab < len(class_names) else str(lab)
        tags.append((float(result.boxes[i][0]), float(result.boxes[i][1]), f"{name} {float(result.scores[i]):.2f}",
                     class_color(lab)))
    layer.set_tags(tags)
    layer.set_emphasis(result.boxes[emphasised] if emphasised is not None else None)


def fill_highlight(layer: HighlightLayer, trace: DetectionTrace, p: int, refined_class: int | None) -> None:
    """Proposal ``p`` explained: its source anchor, the proposal, and its box refined for
    ``refined_class`` (none when ``None``), each tagged."""
    a = int(trace.proposal_anchor_index[p])
    anchor = trace.anchors[a] if 0 <= a < trace.num_anchors else None
    c = refined_class
    refined, color, label = None, None, ""
    if c is not None:
        refined = trace.refined_boxes[p, c]
        color = class_color(c)
        name = trace.class_names[c] if c < len(trace.class_names) else str(c)
        label = f"refined: {name} {trace.class_probs[p, c]:.2f}"
    score = float(trace.proposal_scores[p]) if p < len(trace.proposal_scores) else float("nan")
    layer.set_boxes(anchor, trace.proposals[p], refined, color, (f"anchor #{a}", f"proposal {p} ({score:.2f})", label))


__all__ = ["fill_anchor_labels", "fill_anchors", "fill_detections", "fill_highlight", "fill_proposals"]
