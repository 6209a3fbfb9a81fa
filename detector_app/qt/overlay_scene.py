"""``OverlayScene``: the image item and the overlay layers, kept in step with
what the canvas was given (trace, detections, annotations, layer options).

Scene coordinates are original-image pixels. Every ``set_*`` call rebuilds
only the layers it affects; layers are single items (see ``layers.py``).
The ``shown_*`` queries say exactly what is drawn, which the tests and the
click picking use.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem, QGraphicsScene

from detector_app.domain.annotations import Annotation
from detector_app.domain.trace import DetectionTrace, PostprocessResult
from detector_app.qt import overlay_data as od
from detector_app.qt.box_items import AnnotationLayer, views_of
from detector_app.qt.colors import bin_colors, class_color, score_bins
from detector_app.qt.layers import GridLayer, HighlightLayer, LabelledRectLayer, OverlayItem, RectLayer
from detector_app.qt.overlay_style import DEFAULT_STYLE, OverlayStyle, cosmetic_pen

LAYER_NAMES = ("anchors", "grid", "anchor_labels", "proposals", "detections", "annotations")
DEFAULT_VISIBLE = {"anchors": False, "grid": False, "anchor_labels": False,
                   "proposals": False, "detections": True, "annotations": True}


class OverlayScene(QGraphicsScene):
    """Image + layers. The view (``ImageCanvas``) owns input and zoom."""

    def __init__(self, parent: QObject | None = None, style: OverlayStyle = DEFAULT_STYLE) -> None:
        super().__init__(parent)
        self.overlay_style = style
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self.addItem(self.image_item)
        self.layers: dict[str, OverlayItem] = {
            "grid": GridLayer(), "anchor_labels": RectLayer(), "anchors": RectLayer(),
            "proposals": RectLayer(), "detections": LabelledRectLayer(), "annotations": AnnotationLayer(),
        }
        for z, name in enumerate(("grid", "anchor_labels", "anchors", "proposals", "detections"), start=1):
            self.layers[name].setZValue(z)
        # Big, rarely changing layers are cached as device pixmaps: hovering an
        # annotation then does not repaint 20,000 anchors.
        for name in ("grid", "anchors", "anchor_labels", "proposals"):
            self.layers[name].setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.highlight = HighlightLayer()
        self.highlight.setZValue(8)
        self.visible = dict(DEFAULT_VISIBLE)
        for name, item in self.layers.items():
            self.addItem(item)
            item.setVisible(self.visible[name])
        self.addItem(self.highlight)

        self.image_size: tuple[int, int] | None = None  # (W, H)
        self.trace: DetectionTrace | None = None
        self.result: PostprocessResult | None = None
        self.class_names: list[str] = []
        self.anchor_mode = "cell"
        self.scales: set[int] | None = None
        self.ratios: set[int] | None = None
        self.levels: set[int] | None = None
        self.hover_cells: list[tuple[int, int, int]] = []
        self.pinned: tuple[float, float] | None = None
        self.top_n = 100
        self.labels: np.ndarray | None = None
        self.highlighted: int | None = None
        self.selected_detection: int | None = None
        self.accepted: np.ndarray | None = None  # bool[D]: detections already annotations (not drawn)
        self.shown_anchors = np.zeros(0, np.int64)
        self.shown_proposals = np.zeros(0, np.int64)

    @property
    def annotations(self) -> AnnotationLayer:
        return self.layers["annotations"]  # type: ignore[return-value]

    # -- content --------------------------------------------------------------
    def set_pixmap(self, pixmap: QPixmap) -> bool:
        """Show an image; returns whether its size changed."""
        self.image_item.setPixmap(pixmap)
        size = (pixmap.width(), pixmap.height())
        changed = size != self.image_size
        self.image_size = size
        w, h = size
        self.highlight.set_tag_area(QRectF(0, 0, w, h))
        pad = 0.05 * max(w, h)
        self.setSceneRect(QRectF(-pad, -pad, w + 2 * pad, h + 2 * pad))
        return changed

    def set_trace(self, trace: DetectionTrace | None) -> None:
        self.trace = trace
        if trace is None or self.labels is None or len(self.labels) != trace.num_anchors:
            self.labels = None
        if trace is None or self.highlighted is None or self.highlighted >= trace.num_proposals:
            self.highlighted = None
        self.hover_cells = []
        self.rebuild_grid()
        self.rebuild_anchors()
        self.rebuild_anchor_labels()
        self.rebuild_proposals()
        self.rebuild_highlight()

    def set_detections(self, result: PostprocessResult | None, class_names: list[str],
                       accepted: np.ndarray | None = None) -> None:
        self.result = result
        self.class_names = list(class_names)
        self.selected_detection = None
        self.accepted = accepted
        self.rebuild_detections()
        self.rebuild_highlight()

    def set_accepted_detections(self, accepted: np.ndarray | None) -> None:
        """``bool[D]``: detections that are already annotations: only the annotation is drawn
        (and picked), so accepting or deleting one visibly changes what is on screen."""
        self.accepted = accepted
        if self.selected_detection is not None and self._is_accepted(self.selected_detection):
            self.selected_detection = None
        self.rebuild_detections()

    def _is_accepted(self, d: int) -> bool:
        a = self.accepted
        return a is not None and 0 <= d < len(a) and bool(a[d])

    def suggestion_indices(self) -> np.ndarray:
        """``int64[S]``: the detections drawn as suggestions (not yet annotations)."""
        if self.result is None:
            return np.zeros(0, np.int64)
        n = len(self.result.boxes)
        keep = np.ones(n, bool) if self.accepted is None or len(self.accepted) != n else ~self.accepted
        return np.flatnonzero(keep)

    def set_annotations(self, annotations: list[Annotation], label_map_names: list[str]) -> None:
        self.annotations.set_views(views_of(annotations, list(label_map_names)))

    def set_layer_visible(self, name: str, visible: bool) -> None:
        if name not in self.layers:
            raise ValueError(f"unknown canvas layer {name!r}; layers: {', '.join(LAYER_NAMES)}")
        self.visible[name] = bool(visible)
        self.layers[name].setVisible(bool(visible))
        if name in ("anchors", "grid"):
            self.rebuild_grid()  # the grid layer also carries the anchors' cell

    def set_anchor_filter(self, scales: set[int] | None, ratios: set[int] | None) -> None:
        self.scales = None if scales is None else {int(s) for s in scales}
        self.ratios = None if ratios is None else {int(r) for r in ratios}
        self.rebuild_anchors()

    def set_anchor_levels(self, levels: set[int] | None) -> None:
        self.levels = None if levels is None else {int(v) for v in levels}
        self.hover_cells = []
        self.rebuild_grid()
        self.rebuild_anchors()

    def set_anchor_mode(self, mode: str) -> None:
        if mode not in ("cell", "grid"):
            raise ValueError(f"anchor mode must be 'cell' or 'grid', got {mode!r}")
        self.anchor_mode = mode
        self.rebuild_grid()
        self.rebuild_anchors()

    def pin_cell(self, point: tuple[float, float] | None) -> None:
        self.pinned = None if point is None else (float(point[0]), float(point[1]))
        self.rebuild_grid()
        self.rebuild_anchors()

    def set_proposal_top_n(self, n: int) -> None:
        self.top_n = max(0, int(n))
        self.rebuild_proposals()

    def set_anchor_labels(self, labels: np.ndarray | None) -> None:
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if self.trace is not None and len(labels) != self.trace.num_anchors:
                raise ValueError(
                    f"anchor labels have {len(labels)} entries but the trace has {self.trace.num_anchors} anchors"
                )
        self.labels = labels
        self.rebuild_anchor_labels()

    def highlight_proposal(self, index: int | None) -> None:
        self.highlighted = None if index is None else int(index)
        self.rebuild_highlight()

    def select_detection(self, index: int | None) -> None:
        self.selected_detection = index
        self.rebuild_detections()

    def set_hover_point(self, x: float, y: float) -> bool:
        """The cursor is at image point ``(x, y)``; returns whether its cells changed."""
        cells = [] if self.trace is None else od.cells_at_point(self.trace, x, y, self.shown_levels())
        return self._set_hover_cells(cells)

    def clear_hover(self) -> bool:
        return self._set_hover_cells([])

    def _set_hover_cells(self, cells: list[tuple[int, int, int]]) -> bool:
        if cells == self.hover_cells:
            return False
        self.hover_cells = cells
        if self.pinned is None and self.anchor_mode == "cell":
            self.rebuild_anchors()
            self.rebuild_grid()
        return True

    def set_pixel_size(self, scene_units_per_pixel: float) -> None:
        for item in (*self.layers.values(), self.highlight):
            item.set_pixel_size(scene_units_per_pixel)

    # -- picking ------------------------------------------------------------
    def pick_detection(self, x: float, y: float, tolerance: float) -> int | None:
        shown = self.suggestion_indices()
        if not self.visible["detections"] or self.result is None or len(shown) == 0:
            return None
        hit = od.pick_box(self.result.boxes[shown], x, y, tolerance)
        return None if hit is None else int(shown[hit])

    def pick_proposal(self, x: float, y: float, tolerance: float) -> int | None:
        if not self.visible["proposals"] or self.trace is None or len(self.shown_proposals) == 0:
            return None
        k = od.pick_box(self.trace.proposals[self.shown_proposals], x, y, tolerance)
        return None if k is None else int(self.shown_proposals[k])

    # -- rebuilding layers ------------------------------------------------------
    def shown_levels(self) -> list[int]:
        if self.trace is None:
            return []
        return [i for i in range(len(self.trace.levels)) if self.levels is None or i in self.levels]

    def active_cells(self) -> list[tuple[int, int, int]]:
        """Cells whose anchors show in cell mode: the pinned ones, else the hovered ones."""
        if self.trace is None:
            return []
        if self.pinned is not None:
            return od.cells_at_point(self.trace, *self.pinned, self.shown_levels())
        return self.hover_cells

    def rebuild_grid(self) -> None:
        layer: GridLayer = self.layers["grid"]  # type: ignore[assignment]
        levels = self.shown_levels()
        if self.trace is None or not levels:
            layer.set_grid(np.zeros(0), np.zeros(0))
            layer.set_cell(None)
            return
        xs, ys = od.grid_lines(self.trace, levels[0])
        layer.set_grid(xs, ys, cosmetic_pen(self.overlay_style.grid_color, 0))
        cells = [c for c in self.active_cells() if c[0] == levels[0]] if self.anchor_mode == "cell" else []
        layer.set_cell(od.cell_rect(self.trace, *cells[0]) if cells else None)
        # The grid layer also carries the anchors' cell when only the anchors are on.
        layer.set_lines_visible(self.visible["grid"])
        layer.setVisible(self.visible["grid"] or (self.visible["anchors"] and self.anchor_mode == "cell"))

    def rebuild_anchors(self) -> None:
        layer: RectLayer = self.layers["anchors"]  # type: ignore[assignment]
        trace = self.trace
        if trace is None or trace.num_anchors == 0:
            self.shown_anchors = np.zeros(0, np.int64)
            layer.clear()
            return
        if self.anchor_mode == "grid":
            limit = self.overlay_style.max_grid_anchors
            idx = od.grid_anchors(trace, self.shown_levels(), self.scales, self.ratios, limit)
            width = self.overlay_style.thin
        else:
            cells = od.anchors_of_cells(trace, self.active_cells())
            idx = od.filter_anchors(trace, cells, self.scales, self.ratios)
            width = self.overlay_style.bold
        self.shown_anchors = idx
        scale_idx = trace.anchor_scale_index[idx].astype(np.int64)
        n_scales = int(scale_idx.max()) + 1 if len(idx) else 0
        pens = [cosmetic_pen(self.overlay_style.anchor_scale_color(s), width) for s in range(n_scales)]
        layer.set_boxes(trace.anchors[idx], scale_idx, pens)

    def rebuild_anchor_labels(self) -> None:
        layer: RectLayer = self.layers["anchor_labels"]  # type: ignore[assignment]
        if self.trace is None or self.labels is None:
            layer.clear()
            return
        s = self.overlay_style
        pos, neg, ign, crossing = od.thin_labels(self.labels, s.max_negative_labels, s.max_ignored_labels)
        a = self.trace.anchors
        # dotted: an anchor label never looks like a box of a class that shares its colour
        # (positive green vs a green class; boxes are solid or dashed)
        dot = Qt.PenStyle.DotLine
        layer.set_batches([
            (cosmetic_pen(s.boundary_color, s.thin, dot), a[crossing]),
            (cosmetic_pen(s.ignored_color, s.thin, dot), a[ign]),
            (cosmetic_pen(s.negative_color, s.thin, dot), a[neg]),
            (cosmetic_pen(s.positive_color, s.bold, dot), a[pos]),
        ])

    def rebuild_proposals(self) -> None:
        layer: RectLayer = self.layers["proposals"]  # type: ignore[assignment]
        trace = self.trace
        if trace is None or trace.num_proposals == 0:
            self.shown_proposals = np.zeros(0, np.int64)
            layer.clear()
            return
        idx = od.top_proposals(trace.proposal_scores, self.top_n)
        self.shown_proposals = idx
        n_bins = self.overlay_style.proposal_bins
        bins = score_bins(trace.proposal_scores[idx], n_bins)
        pens = [cosmetic_pen(c, self.overlay_style.thin) for c in bin_colors(n_bins)]
        layer.set_boxes(trace.proposals[idx], bins, pens)

    def rebuild_detections(self) -> None:
        """The model's suggestions: thin dashed boxes in the class colour with hollow
        "class score" tags (a person's annotations are solid with the class only)."""
        layer: LabelledRectLayer = self.layers["detections"]  # type: ignore[assignment]
        r = self.result
        shown = self.suggestion_indices()
        if r is None or len(shown) == 0:
            layer.clear()
            layer.set_tags([])
            layer.set_emphasis(None)
            return
        labels = r.labels.astype(np.int64)
        classes = sorted(set(labels[shown].tolist()))
        layer.set_batches([(cosmetic_pen(class_color(c), self.overlay_style.suggestion, Qt.PenStyle.DashLine),
                            r.boxes[shown][labels[shown] == c]) for c in classes])
        tags = []
        for i in shown.tolist():
            lab = int(labels[i])
            name = self.class_names[lab] if 0 <= lab < len(self.class_names) else str(lab)
            tags.append((float(r.boxes[i][0]), float(r.boxes[i][1]), f"{name} {float(r.scores[i]):.2f}",
                         class_color(lab)))
        layer.set_tags(tags)
        d = self.selected_detection
        layer.set_emphasis(r.boxes[d] if d is not None and 0 <= d < len(r.boxes) and not self._is_accepted(d)
                           else None)

    def highlighted_class(self, p: int) -> int | None:
        """Class whose refined box the highlight shows: the class of the detection
        the proposal became (or was suppressed by), else its most probable class."""
        trace = self.trace
        if trace is None or trace.class_probs.ndim != 2 or trace.class_probs.shape[1] < 2:
            return None
        r = self.result
        if r is not None and p < len(r.fate_detection) and 0 <= r.fate_detection[p] < len(r.labels):
            return int(r.labels[r.fate_detection[p]])
        return int(np.argmax(trace.class_probs[p, 1:])) + 1

    def rebuild_highlight(self) -> None:
        trace, p = self.trace, self.highlighted
        if trace is None or p is None or not 0 <= p < trace.num_proposals:
            self.highlight.clear()
            return
        a = int(trace.proposal_anchor_index[p])
        anchor = trace.anchors[a] if 0 <= a < trace.num_anchors else None
        c = self.highlighted_class(p)
        refined, color, label = None, None, ""
        if c is not None:
            refined = trace.refined_boxes[p, c]
            color = class_color(c)
            name = trace.class_names[c] if c < len(trace.class_names) else str(c)
            label = f"refined: {name} {trace.class_probs[p, c]:.2f}"
        score = float(trace.proposal_scores[p]) if p < len(trace.proposal_scores) else float("nan")
        self.highlight.set_boxes(anchor, trace.proposals[p], refined, color,
                                 (f"anchor #{a}", f"proposal {p} ({score:.2f})", label))
        self.highlight.setVisible(True)


__all__ = ["DEFAULT_VISIBLE", "LAYER_NAMES", "OverlayScene"]
