"""``OverlayScene``: the image item and the overlay layers, kept in step with
what the canvas was given (trace, detections, annotations, layer options).

Scene coordinates are original-image pixels. Every ``set_*`` call rebuilds
only the layers it affects; layers are single items (see ``layers.py``) and
``layer_fill`` builds their pens and boxes.
The ``shown_*`` queries say exactly what is drawn, which the tests and the
click picking use.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QRectF
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem, QGraphicsScene

from detector_app.domain.annotations import Annotation
from detector_app.domain.trace import DetectionTrace, PostprocessResult
from detector_app.qt import overlay_data as od
from detector_app.qt.box_items import AnnotationLayer, views_of
from detector_app.qt.highlight_layer import HighlightLayer
from detector_app.qt.layer_fill import fill_anchor_labels, fill_anchors, fill_detections, fill_highlight, fill_proposals
from detector_app.qt.layers import GridLayer, LabelledRectLayer, OverlayItem, RectLayer
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
        for layer in (self.highlight, self.layers["detections"], self.annotations):
            layer.set_tag_area(QRectF(0, 0, w, h))
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
        fill_anchors(layer, trace, idx, width, self.overlay_style)

    def rebuild_anchor_labels(self) -> None:
        layer: RectLayer = self.layers["anchor_labels"]  # type: ignore[assignment]
        if self.trace is None or self.labels is None:
            layer.clear()
            return
        fill_anchor_labels(layer, self.trace.anchors, self.labels, self.overlay_style)

    def rebuild_proposals(self) -> None:
        layer: RectLayer = self.layers["proposals"]  # type: ignore[assignment]
        trace = self.trace
        if trace is None or trace.num_proposals == 0:
            self.shown_proposals = np.zeros(0, np.int64)
            layer.clear()
            return
        self.shown_proposals = od.top_proposals(trace.proposal_scores, self.top_n)
        fill_proposals(layer, trace, self.shown_proposals, self.overlay_style)

    def rebuild_detections(self) -> None:
        """The model's suggestions (detections not accepted yet), the selected one emphasised."""
        layer: LabelledRectLayer = self.layers["detections"]  # type: ignore[assignment]
        r, d = self.result, self.selected_detection
        emphasis = r is not None and d is not None and 0 <= d < len(r.boxes) and not self._is_accepted(d)
        fill_detections(layer, r, self.suggestion_indices(), self.class_names, d if emphasis else None,
                        self.overlay_style)

    def highlighted_class(self, p: int) -> int | None:
        """Class whose refined box the highlight shows (``overlay_data.highlighted_class``)."""
        return None if self.trace is None else od.highlighted_class(self.trace, self.result, p)

    def rebuild_highlight(self) -> None:
        trace, p = self.trace, self.highlighted
        if trace is None or p is None or not 0 <= p < trace.num_proposals:
            self.highlight.clear()
            return
        fill_highlight(self.highlight, trace, p, self.highlighted_class(p))
        self.highlight.setVisible(True)


__all__ = ["DEFAULT_VISIBLE", "LAYER_NAMES", "OverlayScene"]
