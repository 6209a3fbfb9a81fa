"""Annotation boxes on the canvas: geometry of editing, and the layer that draws them.

The pure part (:class:`Handle`, :func:`handle_points`, :func:`hit_test`,
:func:`apply_drag`) decides what a press at a point grabs and what box a drag
produces; the canvas turns mouse events into these calls. :class:`AnnotationLayer`
draws every annotation (class colour, label tag), the hovered one, the
selected one with its 8 handles, and live previews of a drag or of a box
being drawn. It never changes annotations: edits leave the canvas as signals.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from detector_app.domain.annotations import Annotation
from detector_app.domain.boxes import Box
from detector_app.qt.colors import class_color, class_index_of
from detector_app.qt.layer_base import OverlayItem, draw_tag
from detector_app.qt.overlay_style import DEFAULT_STYLE, cosmetic_pen


class Handle(enum.Enum):
    """What a press grabs: the whole box or one of its 8 handles."""

    MOVE = "move"
    TOP_LEFT = "tl"
    TOP = "t"
    TOP_RIGHT = "tr"
    RIGHT = "r"
    BOTTOM_RIGHT = "br"
    BOTTOM = "b"
    BOTTOM_LEFT = "bl"
    LEFT = "l"


RESIZE_HANDLES = tuple(h for h in Handle if h is not Handle.MOVE)

#: Which box edges a handle moves: (moves x1, moves y1, moves x2, moves y2).
_EDGES: dict[Handle, tuple[bool, bool, bool, bool]] = {
    Handle.MOVE: (True, True, True, True),
    Handle.TOP_LEFT: (True, True, False, False),
    Handle.TOP: (False, True, False, False),
    Handle.TOP_RIGHT: (False, True, True, False),
    Handle.RIGHT: (False, False, True, False),
    Handle.BOTTOM_RIGHT: (False, False, True, True),
    Handle.BOTTOM: (False, False, False, True),
    Handle.BOTTOM_LEFT: (True, False, False, True),
    Handle.LEFT: (True, False, False, False),
}

#: Mouse cursor for each handle.
CURSORS: dict[Handle, Qt.CursorShape] = {
    Handle.MOVE: Qt.CursorShape.SizeAllCursor,
    Handle.TOP_LEFT: Qt.CursorShape.SizeFDiagCursor,
    Handle.BOTTOM_RIGHT: Qt.CursorShape.SizeFDiagCursor,
    Handle.TOP_RIGHT: Qt.CursorShape.SizeBDiagCursor,
    Handle.BOTTOM_LEFT: Qt.CursorShape.SizeBDiagCursor,
    Handle.TOP: Qt.CursorShape.SizeVerCursor,
    Handle.BOTTOM: Qt.CursorShape.SizeVerCursor,
    Handle.LEFT: Qt.CursorShape.SizeHorCursor,
    Handle.RIGHT: Qt.CursorShape.SizeHorCursor,
}


def handle_points(box: Box) -> dict[Handle, tuple[float, float]]:
    """Where the 8 resize handles of ``box`` sit (image pixels)."""
    cx, cy = box.center
    return {
        Handle.TOP_LEFT: (box.x1, box.y1),
        Handle.TOP: (cx, box.y1),
        Handle.TOP_RIGHT: (box.x2, box.y1),
        Handle.RIGHT: (box.x2, cy),
        Handle.BOTTOM_RIGHT: (box.x2, box.y2),
        Handle.BOTTOM: (cx, box.y2),
        Handle.BOTTOM_LEFT: (box.x1, box.y2),
        Handle.LEFT: (box.x1, cy),
    }


def hit_test(
    boxes: Sequence[tuple[str, Box]], selected: str | None, x: float, y: float, tolerance: float
) -> tuple[str, Handle] | None:
    """What a press at ``(x, y)`` grabs, ``tolerance`` in image pixels.

    The selected box's handles win; then the smallest box containing the
    point (or whose outline is within ``tolerance``) is grabbed to move.
    """
    by_id = dict(boxes)
    if selected is not None and selected in by_id:
        best: tuple[float, Handle] | None = None
        for handle, (hx, hy) in handle_points(by_id[selected]).items():
            d = max(abs(x - hx), abs(y - hy))
            if d <= tolerance and (best is None or d < best[0]):
                best = (d, handle)
        if best is not None:
            return selected, best[1]
    hits = [
        (b.area, i, ident)
        for i, (ident, b) in enumerate(boxes)
        if b.x1 - tolerance <= x <= b.x2 + tolerance and b.y1 - tolerance <= y <= b.y2 + tolerance
    ]
    if not hits:
        return None
    # The selected box keeps priority among overlapping boxes, so a drag inside it moves it.
    for _, _, ident in hits:
        if ident == selected:
            return ident, Handle.MOVE
    return min(hits)[2], Handle.MOVE


def apply_drag(
    box: Box,
    handle: Handle,
    dx: float,
    dy: float,
    bounds: tuple[float, float] | None = None,
    min_size: float = 1.0,
) -> Box:
    """The box after dragging ``handle`` by ``(dx, dy)`` image pixels.

    A move keeps the size and stays inside ``bounds = (width, height)``; a
    resize may cross over (the box flips, as in every editor), is clipped to
    the bounds and never gets smaller than ``min_size``.
    """
    mx1, my1, mx2, my2 = _EDGES[handle]
    x1, y1, x2, y2 = box.to_tuple()
    if handle is Handle.MOVE:
        if bounds is not None:
            w, h = bounds
            dx = min(max(dx, -x1), w - x2) if box.width <= w else -x1
            dy = min(max(dy, -y1), h - y2) if box.height <= h else -y1
        return box.translated(dx, dy)
    x1, x2 = x1 + dx * mx1, x2 + dx * mx2
    y1, y2 = y1 + dy * my1, y2 + dy * my2
    x1, x2 = min(x1, x2), max(x1, x2)
    y1, y2 = min(y1, y2), max(y1, y2)
    if bounds is not None:
        w, h = bounds
        x1, x2 = min(max(x1, 0.0), w), min(max(x2, 0.0), w)
        y1, y2 = min(max(y1, 0.0), h), min(max(y2, 0.0), h)
    if x2 - x1 < min_size:
        x1, x2 = _grow(x1, x2, min_size, mx1 and not mx2, None if bounds is None else bounds[0])
    if y2 - y1 < min_size:
        y1, y2 = _grow(y1, y2, min_size, my1 and not my2, None if bounds is None else bounds[1])
    return Box(x1, y1, x2, y2)


def _grow(lo: float, hi: float, size: float, moving_lo: bool, limit: float | None) -> tuple[float, float]:
    """Widen ``[lo, hi]`` to ``size`` on the dragged side, staying within ``[0, limit]``."""
    if moving_lo:
        lo = hi - size
    else:
        hi = lo + size
    if limit is not None:
        if hi > limit:
            hi, lo = limit, limit - size
        if lo < 0:
            lo, hi = 0.0, size
    return lo, hi


@dataclass(frozen=True)
class AnnotationView:
    """What the layer draws for one annotation."""

    id: str
    box: Box
    label: str
    color: QColor
    tag: str


def views_of(annotations: Sequence[Annotation], names: list[str]) -> list[AnnotationView]:
    """Annotation -> :class:`AnnotationView` (colour by class index in ``names``)."""
    out = []
    for ann in annotations:  # the class only: a score is the model's, shown on its (dashed) suggestions
        out.append(AnnotationView(ann.id, ann.box, ann.label, class_color(class_index_of(ann.label, names)),
                                  ann.label))
    return out


class AnnotationLayer(OverlayItem):
    """Draws annotations, hover and selection feedback, and drag previews."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self._views: list[AnnotationView] = []
        self._selected: str | None = None
        self._hovered: str | None = None
        self._preview: tuple[str, Box] | None = None  # live move/resize of one annotation
        self._drawing: Box | None = None  # the new box being drawn
        self._margin_px = 26.0  # tags above boxes, handles
        self.setZValue(10)


    # -- content ------------------------------------------------------------
    def set_views(self, views: Sequence[AnnotationView]) -> None:
        self._views = list(views)
        ids = {v.id for v in self._views}
        if self._selected not in ids:
            self._selected = None
        if self._hovered not in ids:
            self._hovered = None
        if self._preview is not None and self._preview[0] not in ids:
            self._preview = None
        self._refresh_extent()

    def views(self) -> list[AnnotationView]:
        return list(self._views)

    def boxes(self) -> list[tuple[str, Box]]:
        """``[(id, box)]`` as shown now (drag previews excluded)."""
        return [(v.id, v.box) for v in self._views]

    def box_of(self, ident: str) -> Box | None:
        for v in self._views:
            if v.id == ident:
                return v.box
        return None

    @property
    def selected(self) -> str | None:
        return self._selected

    @property
    def hovered(self) -> str | None:
        return self._hovered

    @property
    def preview(self) -> tuple[str, Box] | None:
        return self._preview

    @property
    def drawing(self) -> Box | None:
        return self._drawing

    def set_selected(self, ident: str | None) -> None:
        self._selected = ident if ident is None or self.box_of(ident) is not None else None
        self.update()

    def set_hovered(self, ident: str | None) -> None:
        if ident != self._hovered:
            self._hovered = ident
            self.update()

    def set_preview(self, ident: str | None, box: Box | None = None) -> None:
        self._preview = None if ident is None or box is None else (ident, box)
        self._refresh_extent()

    def set_drawing(self, box: Box | None) -> None:
        self._drawing = box
        self._refresh_extent()

    def _refresh_extent(self) -> None:
        boxes = [v.box for v in self._views]
        if self._preview is not None:
            boxes.append(self._preview[1])
        if self._drawing is not None:
            boxes.append(self._drawing)
        extent = QRectF()
        for b in boxes:
            r = QRectF(b.x1, b.y1, b.width, b.height)
            extent = r if extent.isNull() else extent.united(r)
        self._set_extent(extent)

    # -- painting -----------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        style = DEFAULT_STYLE
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        placed: list[QRectF] = []
        for v in self._views:
            box = self._preview[1] if self._preview is not None and self._preview[0] == v.id else v.box
            rect = QRectF(box.x1, box.y1, box.width, box.height)
            hovered = v.id == self._hovered
            if hovered or v.id == self._selected:
                fill = QColor(v.color)
                fill.setAlpha(45)
                painter.fillRect(rect, fill)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(cosmetic_pen(v.color, style.bold + (1 if hovered else 0)))
            painter.drawRect(rect)
            draw_tag(painter, rect.topLeft(), v.tag, v.color, style.tag_font_px, inside=self._inside, avoid=placed)
        selected = self._selected_box()
        if selected is not None:
            rect = QRectF(selected.x1, selected.y1, selected.width, selected.height)
            painter.setPen(cosmetic_pen(style.selection_color, 1, Qt.PenStyle.DashLine))
            painter.drawRect(rect)
            self._paint_handles(painter, selected)
        if self._drawing is not None:
            b = self._drawing
            painter.setPen(cosmetic_pen(QColor(0, 0, 0), 3))
            painter.drawRect(QRectF(b.x1, b.y1, b.width, b.height))
            painter.setPen(cosmetic_pen(style.draw_color, 1, Qt.PenStyle.DashLine))
            painter.drawRect(QRectF(b.x1, b.y1, b.width, b.height))

    def _selected_box(self) -> Box | None:
        if self._selected is None:
            return None
        if self._preview is not None and self._preview[0] == self._selected:
            return self._preview[1]
        return self.box_of(self._selected)

    def _paint_handles(self, painter: QPainter, box: Box) -> None:
        t = painter.worldTransform()
        half = DEFAULT_STYLE.handle_px / 2
        painter.save()
        painter.resetTransform()
        painter.setPen(cosmetic_pen(QColor(0, 0, 0), 1))
        painter.setBrush(QBrush(QColor(255, 255, 255)))
        for hx, hy in handle_points(box).values():
            p = t.map(QPointF(hx, hy))
            painter.drawRect(QRectF(p.x() - half, p.y() - half, 2 * half, 2 * half))
        painter.restore()
