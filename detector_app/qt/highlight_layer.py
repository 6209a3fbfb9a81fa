"""``HighlightLayer``: one proposal explained on the canvas: its source anchor, the
proposal, the refined box, and arrows between them (drawn in device space, so they keep
their size at any zoom). Scene coordinates are original-image pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from detector_app.qt.layer_base import OverlayItem, draw_tag
from detector_app.qt.overlay_style import DEFAULT_STYLE, cosmetic_pen


class HighlightLayer(OverlayItem):
    """One proposal explained: its source anchor, the proposal, the refined
    box, and arrows anchor -> proposal -> refined box (centre to centre, plus
    thin corner-to-corner lines showing the regression)."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self._anchor: QRectF | None = None
        self._proposal: QRectF | None = None
        self._refined: QRectF | None = None
        self._refined_color = DEFAULT_STYLE.refined_color
        self._labels: tuple[str, str, str] = ("anchor", "proposal", "refined")
        self._margin_px = 24.0


    def set_boxes(
        self,
        anchor: np.ndarray | None,
        proposal: np.ndarray | None,
        refined: np.ndarray | None = None,
        refined_color: QColor | None = None,
        labels: tuple[str, str, str] = ("anchor", "proposal", "refined"),
    ) -> None:
        """Each box ``float[4]`` or ``None``; all ``None`` hides the layer's content."""

        def rect(b: np.ndarray | None) -> QRectF | None:
            if b is None:
                return None
            x1, y1, x2, y2 = (float(v) for v in b)
            return QRectF(x1, y1, x2 - x1, y2 - y1)

        self._anchor, self._proposal, self._refined = rect(anchor), rect(proposal), rect(refined)
        self._refined_color = QColor(refined_color) if refined_color is not None else DEFAULT_STYLE.refined_color
        self._labels = labels
        rects = [r for r in (self._anchor, self._proposal, self._refined) if r is not None]
        extent = QRectF()
        for r in rects:
            extent = r if extent.isNull() else extent.united(r)
        self._set_extent(extent)

    def clear(self) -> None:
        self.set_boxes(None, None, None)

    @property
    def shown(self) -> tuple[bool, bool, bool]:
        return (self._anchor is not None, self._proposal is not None, self._refined is not None)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        style = DEFAULT_STYLE
        t = painter.worldTransform()
        boxes = [
            (self._anchor, style.anchor_color, Qt.PenStyle.DashLine, self._labels[0]),
            (self._proposal, style.proposal_color, Qt.PenStyle.SolidLine, self._labels[1]),
            (self._refined, self._refined_color, Qt.PenStyle.SolidLine, self._labels[2]),
        ]
        device = [(t.mapRect(r) if r is not None else None, c, s, lab) for r, c, s, lab in boxes]
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        # Corner-to-corner regression lines, then centre arrows.
        chain = [(r, c) for r, c, _, _ in device if r is not None]
        for (ra, ca), (rb, _) in zip(chain, chain[1:]):
            painter.setPen(cosmetic_pen(ca, 0, Qt.PenStyle.DotLine))
            for pa, pb in zip(_corners(ra), _corners(rb)):
                painter.drawLine(pa, pb)
        for r, color, pen_style, _ in device:
            if r is not None:
                painter.setPen(cosmetic_pen(QColor(0, 0, 0), 4, pen_style))
                painter.drawRect(r)
                painter.setPen(cosmetic_pen(color, 2, pen_style))
                painter.drawRect(r)
        for (ra, ca), (rb, _) in zip(chain, chain[1:]):
            _arrow(painter, ra.center(), rb.center(), ca)
        painter.restore()
        # Tags where they do not collide: anchor below-left, proposal above-left,
        # refined box below-right (it often sits on a detection whose tag is above-left).
        places: tuple[tuple[Callable[[QRectF], QPointF], bool, bool], ...] = (
            (QRectF.bottomLeft, False, False),
            (QRectF.topLeft, True, False),
            (QRectF.bottomRight, False, True),
        )
        for (r, color, _, label), (corner, above, right) in zip(boxes, places):
            if r is not None and label:
                draw_tag(painter, corner(r), label, color, style.tag_font_px, above=above, align_right=right,
                         inside=self._inside)


def _corners(r: QRectF) -> list[QPointF]:
    return [r.topLeft(), r.topRight(), r.bottomRight(), r.bottomLeft()]


def _arrow(painter: QPainter, a: QPointF, b: QPointF, color: QColor, head: float = 9.0) -> None:
    """A line ``a -> b`` with a filled head of ``head`` device pixels (device space)."""
    line = QLineF(a, b)
    painter.setPen(cosmetic_pen(color, 2))
    painter.drawLine(line)
    if line.length() < 1.0:
        return
    angle = math.atan2(b.y() - a.y(), b.x() - a.x())
    left = QPointF(b.x() - head * math.cos(angle - 0.45), b.y() - head * math.sin(angle - 0.45))
    right = QPointF(b.x() - head * math.cos(angle + 0.45), b.y() - head * math.sin(angle + 0.45))
    painter.setBrush(QBrush(color))
    painter.drawPolygon(QPolygonF([b, left, right]))
    painter.setBrush(Qt.BrushStyle.NoBrush)


__all__ = ["HighlightLayer"]
