"""What every overlay layer shares: ``OverlayItem`` (one ``QGraphicsItem`` with a cached
bounding rectangle grown by a margin in device pixels) and ``draw_tag`` (a text tag drawn
in device space, so it keeps its size at any zoom).

Scene coordinates are original-image pixels; boxes are ``float[N, 4]`` ``x1, y1, x2, y2``.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

from detector_app.qt.colors import readable_text_color


def rects_from_boxes(boxes: np.ndarray) -> list[QRectF]:
    """``float[N, 4]`` boxes -> ``list[QRectF]`` (built once, drawn many times)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return [QRectF(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in b.tolist()]


def draw_tag(
    painter: QPainter, anchor: QPointF, text: str, color: QColor, font_px: int,
    above: bool = True, align_right: bool = False, inside: QRectF | None = None, hollow: bool = False,
    avoid: list[QRectF] | None = None,
) -> QRectF:
    """A filled label tag at scene point ``anchor``, sized in device pixels;
    ``hollow``: dark with text and border in ``color`` (the model's suggestions,
    apart from a person's solid tags).

    ``anchor`` is the tag's lower-left corner (``above``) or upper-left corner;
    with ``align_right`` it is the right-hand corner instead. ``inside`` (scene
    units, e.g. the image): the tag slides back into it when it would stick
    out. ``avoid`` (device rects of the tags drawn before it, in this paint): the tag
    steps down below any it would cover (up to 4 tag heights; beyond that overlapping
    is the lesser evil), then joins the list. Returns the tag rect in device space."""
    device_pt = painter.worldTransform().map(anchor)
    area = painter.worldTransform().mapRect(inside) if inside is not None else None
    painter.save()
    painter.resetTransform()
    font = QFont(painter.font())
    font.setPixelSize(font_px)
    painter.setFont(font)
    metrics = QFontMetricsF(font)
    w = metrics.horizontalAdvance(text) + 6
    h = metrics.height() + 2
    top = device_pt.y() - h if above else device_pt.y()
    if above and top < 0:  # no room above (box at the top of the view): tuck it inside
        top = device_pt.y()
    left = device_pt.x() - w if align_right else device_pt.x()
    if area is not None:  # keep the whole tag readable when its box leaves the image
        left = min(max(left, area.left()), max(area.right() - w, area.left()))
        top = min(max(top, area.top()), max(area.bottom() - h, area.top()))
    rect = QRectF(left, top, w, h)
    if avoid is not None:
        for _ in range(4):
            hit = next((r for r in avoid if r.intersects(rect)), None)
            if hit is None:
                break
            rect.moveTop(hit.bottom() + 1)
        avoid.append(rect)
    painter.setPen(QPen(color, 1) if hollow else Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(QColor(0, 0, 0, 170) if hollow else color))
    painter.drawRect(rect)
    painter.setPen(color if hollow else readable_text_color(color))
    painter.drawText(rect.adjusted(3, 0, -3, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
    painter.restore()
    return rect


class OverlayItem(QGraphicsItem):
    """Base: cached bounding rect grown by a margin given in device pixels."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self._extent = QRectF()  # union of the shapes, scene units
        self._margin_px = 3.0
        self._pixel = 1.0  # scene units per device pixel (the canvas updates it on zoom)
        self._bounds = QRectF()
        self._inside: QRectF | None = None  # where tags stay (the image), for layers that draw them
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)

    def set_tag_area(self, rect: QRectF | None) -> None:
        """Scene rect the layer's tags are kept inside (the image), or ``None``."""
        self._inside = QRectF(rect) if rect is not None else None
        self.update()

    def set_pixel_size(self, scene_units_per_pixel: float) -> None:
        """Tell the layer how big one device pixel is (for its margins)."""
        if scene_units_per_pixel > 0 and not math.isclose(scene_units_per_pixel, self._pixel):
            self._pixel = float(scene_units_per_pixel)
            self._update_bounds()

    def _set_extent(self, extent: QRectF) -> None:
        self._extent = QRectF(extent)
        self._update_bounds()

    def _update_bounds(self) -> None:
        m = self._margin_px * self._pixel
        new = self._extent.adjusted(-m, -m, m, m) if not self._extent.isNull() else QRectF()
        if new != self._bounds:
            self.prepareGeometryChange()
            self._bounds = new
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._bounds



__all__ = ["OverlayItem", "draw_tag", "rects_from_boxes"]
