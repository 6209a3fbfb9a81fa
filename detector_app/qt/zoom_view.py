"""``ZoomView``: a view of an :class:`OverlayScene` that zooms and pans.

Scene coordinates are original-image pixels; ``zoom`` is view pixels per image pixel,
clamped to [0.01, 64]. The view fits the whole image to the window and keeps fitting on
resize until it is zoomed by hand (``set_zoom``, the wheel, 1:1, a box). The wheel zooms
around the cursor; ``pan_by`` scrolls (the scroll bars are hidden but hold the position).
Below 2x the image is drawn smoothed, above it with crisp pixels for precise boxes.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QResizeEvent, QTransform, QWheelEvent
from PySide6.QtWidgets import QGraphicsView, QWidget

from detector_app.domain.boxes import Box
from detector_app.qt.overlay_scene import OverlayScene
from detector_app.qt.overlay_style import DEFAULT_STYLE, OverlayStyle

MIN_ZOOM, MAX_ZOOM = 0.01, 64.0


class ZoomView(QGraphicsView):
    """See the module docstring; ``overlays`` is the scene it shows (it owns it)."""

    def __init__(self, parent: QWidget | None = None, style: OverlayStyle = DEFAULT_STYLE) -> None:
        super().__init__(parent)
        self._overlays = OverlayScene(self, style)
        self.setScene(self._overlays)
        self._fit = True
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(QColor(40, 40, 44))
        # Pan by dragging, as image viewers do; the (hidden) scroll bars still hold the position.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    @property
    def overlays(self) -> OverlayScene:
        return self._overlays

    @property
    def zoom(self) -> float:
        """View pixels per image pixel."""
        return float(self.transform().m11())

    def zoom_fit(self) -> None:
        """Fit the whole image in the window (and keep fitting on resize)."""
        if self._overlays.image_size is None:
            return
        w, h = self._overlays.image_size
        self.fitInView(QRectF(0, 0, w, h), Qt.AspectRatioMode.KeepAspectRatio)
        self._fit = True
        self._zoom_changed()

    def zoom_actual(self) -> None:
        """1 image pixel = 1 device pixel (HiDPI aware)."""
        s = 1.0 / max(self.devicePixelRatioF(), 1e-6)
        self.set_zoom(s)

    def zoom_to_box(self, box: Box, margin: float = 0.25) -> None:
        """Fit ``box`` with ``margin`` of its size (at least 8 image pixels) around it."""
        mx, my = max(box.width * margin, 8.0), max(box.height * margin, 8.0)
        self.fitInView(QRectF(box.x1 - mx, box.y1 - my, box.width + 2 * mx, box.height + 2 * my),
                       Qt.AspectRatioMode.KeepAspectRatio)
        f = min(max(self.zoom, MIN_ZOOM), MAX_ZOOM)
        self.set_zoom(f)  # clamped, not fitting on resize any more
        self.centerOn(QPointF((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2))

    def set_zoom(self, factor: float) -> None:
        """View pixels per image pixel, clamped to [0.01, 64]."""
        f = min(max(float(factor), MIN_ZOOM), MAX_ZOOM)
        self.setTransform(QTransform.fromScale(f, f))
        self._fit = False
        self._zoom_changed()

    def _zoom_changed(self) -> None:
        self._overlays.set_pixel_size(1.0 / max(self.zoom, 1e-9))
        smooth = self.zoom < 2.0  # zoomed in: show crisp pixels for precise boxes
        mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
        self._overlays.image_item.setTransformationMode(mode)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)

    def pan_by(self, delta: QPointF) -> None:
        """Move the image by ``delta`` view pixels (a drag of the mouse)."""
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))

    def scene_point(self, event: QMouseEvent | QWheelEvent) -> QPointF:
        """Image coordinates of the event, sub-pixel (``mapToScene`` rounds to view pixels)."""
        inverse, _ok = self.viewportTransform().inverted()
        return inverse.map(event.position())

    def image_to_view(self, x: float, y: float) -> QPointF:
        """Image pixel -> viewport coordinates (for tests and tooltips)."""
        return QPointF(self.mapFromScene(QPointF(x, y)))

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            event.ignore()
            return
        pos = event.position()
        anchor = self.mapToScene(pos.toPoint())
        self.set_zoom(self.zoom * (1.25 ** steps))
        # Keep the image point under the cursor where it was.
        drift = QPointF(self.mapFromScene(anchor)) - pos
        self.pan_by(-drift)
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self._fit:
            self.zoom_fit()


__all__ = ["MAX_ZOOM", "MIN_ZOOM", "ZoomView"]
