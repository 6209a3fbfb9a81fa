"""``ImageCanvas``: the image, the detector's internals drawn over it, and box editing.

Scene coordinates are original-image pixels (pixel ``i`` spans ``[i, i+1)``),
so every overlay is drawn straight from a :class:`DetectionTrace` /
:class:`PostprocessResult` / annotation list without conversion.

The canvas is a *view*: it shows what it is given and turns mouse/keyboard
input into intents (``annotationDrawn``, ``annotationEdited`` once at the end
of a drag, ``annotationDeleteRequested``, ...). It never changes annotations;
the owner applies an intent (through the undo stack) and calls
``set_annotations`` again.

Mouse: wheel zooms around the cursor; middle/right drag pans;
left press on an annotation selects and drags it (handles resize); with draw
mode on (W) a left drag draws a new box. Keys: W draw mode, Del/Backspace
delete, Esc cancel/deselect, arrows nudge the selected box (Shift: 10 px),
F fit to window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QWidget

from detector_app.domain.annotations import Annotation
from detector_app.domain.boxes import Box, BoxError
from detector_app.domain.trace import DetectionTrace, PostprocessResult
from detector_app.qt.box_items import CURSORS, Handle, apply_drag, hit_test
from detector_app.qt.layers import OverlayItem
from detector_app.qt.overlay_scene import LAYER_NAMES, OverlayScene
from detector_app.qt.overlay_style import DEFAULT_STYLE, OverlayStyle

_MIN_ZOOM, _MAX_ZOOM = 0.01, 64.0
_DRAG_THRESHOLD_PX = 3.0


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    """``uint8[H, W, 3]`` RGB -> an owning ``QImage`` (RGB888)."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        raise ValueError(f"set_image needs a uint8[H, W, 3] RGB array, got {type(rgb).__name__} {shape}")
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ImageCanvas(QGraphicsView):
    """Image + overlay layers + annotation editing. See the module docstring."""

    annotationDrawn = Signal(object)  # Box
    annotationEdited = Signal(str, object)  # id, Box (once, at the end of a drag)
    annotationDeleteRequested = Signal(str)
    annotationSelected = Signal(object)  # str | None
    proposalClicked = Signal(int)
    detectionClicked = Signal(int)
    cellHovered = Signal(int, int, int)  # level, row, col (first shown level)
    imageMouseMoved = Signal(float, float)
    drawModeChanged = Signal(bool)  # only when changed from the keyboard (W / Esc)

    def __init__(self, parent: QWidget | None = None, style: OverlayStyle = DEFAULT_STYLE) -> None:
        super().__init__(parent)
        self._style = style
        self._overlays = OverlayScene(self, style)
        self.setScene(self._overlays)
        self._draw_mode = False
        self._drag: _Drag | None = None
        self._fit = True
        self._placeholder = "No images open: File > Open folder (Ctrl+O)"
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(QColor(40, 40, 44))
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(200, 150)
        # Pan by dragging, as image viewers do; the (hidden) scroll bars still hold the position.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    # -- content ------------------------------------------------------------
    def set_placeholder(self, text: str) -> None:
        """What the canvas says while it has no image (e.g. why a project did not open)."""
        self._placeholder = text
        self.viewport().update()

    @property
    def placeholder(self) -> str:
        return self._placeholder

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:  # noqa: N802 (Qt API)
        super().drawForeground(painter, rect)
        if self._overlays.image_size is not None or not self._placeholder:
            return
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(210, 210, 215))
        area = self.viewport().rect().adjusted(24, 24, -24, -24)
        painter.drawText(area, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self._placeholder)
        painter.restore()

    def set_image(self, rgb: np.ndarray) -> None:
        """Show ``uint8[H, W, 3]`` RGB; fits to the window when the size changes."""
        if self._overlays.set_pixmap(QPixmap.fromImage(qimage_from_rgb(rgb))):
            self.zoom_fit()

    def set_trace(self, trace: DetectionTrace | None) -> None:
        """Show (or clear) one forward pass: grid, anchors, proposals, highlight.
        Anchor labels are kept only if they still match the number of anchors."""
        self._overlays.set_trace(trace)

    def set_detections(self, result: PostprocessResult | None, class_names: list[str],
                       accepted: np.ndarray | None = None) -> None:
        """Final detections (``class_names`` background first, as the trace's);
        ``accepted`` (``bool[D]``) marks those already annotations: not drawn."""
        self._overlays.set_detections(result, class_names, accepted)

    def set_accepted_detections(self, accepted: np.ndarray | None) -> None:
        self._overlays.set_accepted_detections(accepted)

    def set_annotations(self, annotations: list[Annotation], label_map_names: list[str]) -> None:
        """Annotations to draw and edit; colours by class index in ``label_map_names``."""
        layer = self._overlays.annotations
        self._overlays.set_annotations(annotations, label_map_names)
        drag = self._drag
        if drag is not None and drag.kind == "edit" and (drag.ident is None or layer.box_of(drag.ident) is None):
            self._drag = None
            layer.set_preview(None)

    # -- layer options ------------------------------------------------------
    def set_layer_visible(self, name: str, visible: bool) -> None:
        """Show or hide one of ``LAYER_NAMES``."""
        self._overlays.set_layer_visible(name, visible)

    def layer_visible(self, name: str) -> bool:
        return self._overlays.visible[name]

    def layer(self, name: str) -> OverlayItem:
        """The layer item (``LAYER_NAMES`` or ``"highlight"``), for inspection."""
        return self._overlays.highlight if name == "highlight" else self._overlays.layers[name]

    def set_anchor_filter(self, scales: set[int] | None, ratios: set[int] | None) -> None:
        """Show only anchors of these scale / ratio indices (``None`` = all)."""
        self._overlays.set_anchor_filter(scales, ratios)

    def set_anchor_levels(self, levels: set[int] | None) -> None:
        """Feature levels (FPN) whose anchors and grid show (``None`` = all)."""
        self._overlays.set_anchor_levels(levels)

    def set_anchor_mode(self, mode: str) -> None:
        """``"cell"``: the k anchors of the hovered (or pinned) cell; ``"grid"``: all, thinned."""
        self._overlays.set_anchor_mode(mode)

    def pin_cell(self, point: tuple[float, float] | None) -> None:
        """Pin the anchors to the cell under image point ``(x, y)`` (``None`` unpins)."""
        self._overlays.pin_cell(point)

    def set_proposal_top_n(self, n: int) -> None:
        """How many proposals (best objectness first) the proposals layer draws."""
        self._overlays.set_proposal_top_n(n)

    def set_anchor_labels(self, labels: np.ndarray | None) -> None:
        """``int8[A]`` from ``label_anchors``: 1 positive, 0 negative, -1 ignored."""
        self._overlays.set_anchor_labels(labels)

    def highlight_proposal(self, index: int | None) -> None:
        """Draw proposal ``index`` with its source anchor and refined box (``None`` clears)."""
        self._overlays.highlight_proposal(index)

    def select_annotation(self, ident: str | None) -> None:
        """Select an annotation from outside (emits nothing)."""
        self._overlays.annotations.set_selected(ident)

    def select_detection(self, index: int | None) -> None:
        """Emphasise one detection from outside (emits nothing)."""
        self._overlays.select_detection(index)

    def set_draw_mode(self, on: bool) -> None:
        """In draw mode a left drag draws a new box (emits nothing; see ``drawModeChanged``)."""
        self._draw_mode = bool(on)
        self._update_cursor(None)

    # -- state for the owner and for tests -----------------------------------
    @property
    def overlays(self) -> OverlayScene:
        return self._overlays

    @property
    def draw_mode(self) -> bool:
        return self._draw_mode

    @property
    def selected_annotation(self) -> str | None:
        return self._overlays.annotations.selected

    @property
    def zoom(self) -> float:
        """View pixels per image pixel."""
        return float(self.transform().m11())

    def shown_anchor_indices(self) -> np.ndarray:
        """``int64[M]``: anchors the anchors layer draws now."""
        return self._overlays.shown_anchors.copy()

    def shown_proposal_indices(self) -> np.ndarray:
        """``int64[N]``: proposals the proposals layer draws now (best first)."""
        return self._overlays.shown_proposals.copy()

    def hovered_cells(self) -> list[tuple[int, int, int]]:
        return list(self._overlays.hover_cells)

    def image_to_view(self, x: float, y: float) -> QPointF:
        """Image pixel -> viewport coordinates (for tests and tooltips)."""
        return QPointF(self.mapFromScene(QPointF(x, y)))

    # -- zoom ---------------------------------------------------------------
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

    def zoom_to_selection(self, margin: float = 0.25) -> bool:
        """Fit the selected annotation (else the selected detection) with ``margin``
        of its size around it; ``False`` when nothing is selected."""
        ov = self._overlays
        box = ov.annotations.box_of(ov.annotations.selected) if ov.annotations.selected is not None else None
        if box is None and ov.result is not None and ov.selected_detection is not None \
                and 0 <= ov.selected_detection < len(ov.result.boxes):
            box = Box.from_array(ov.result.boxes[ov.selected_detection])
        if box is None:
            return False
        mx, my = max(box.width * margin, 8.0), max(box.height * margin, 8.0)
        self.fitInView(QRectF(box.x1 - mx, box.y1 - my, box.width + 2 * mx, box.height + 2 * my),
                       Qt.AspectRatioMode.KeepAspectRatio)
        f = min(max(self.zoom, _MIN_ZOOM), _MAX_ZOOM)
        self.set_zoom(f)  # clamped, not fitting on resize any more
        self.centerOn(QPointF((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2))
        return True

    def set_zoom(self, factor: float) -> None:
        """View pixels per image pixel, clamped to [0.01, 64]."""
        f = min(max(float(factor), _MIN_ZOOM), _MAX_ZOOM)
        self.setTransform(QTransform.fromScale(f, f))
        self._fit = False
        self._zoom_changed()

    def _zoom_changed(self) -> None:
        self._overlays.set_pixel_size(1.0 / max(self.zoom, 1e-9))
        smooth = self.zoom < 2.0  # zoomed in: show crisp pixels for precise boxes
        mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
        self._overlays.image_item.setTransformationMode(mode)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)

    # -- mouse ----------------------------------------------------------------
    def _scene_point(self, event: QMouseEvent | QWheelEvent) -> QPointF:
        """Image coordinates of the event, sub-pixel (``mapToScene`` rounds to view pixels)."""
        inverse, _ok = self.viewportTransform().inverted()
        return inverse.map(event.position())

    def _clamp(self, p: QPointF) -> tuple[float, float]:
        w, h = self._overlays.image_size or (0, 0)
        return min(max(p.x(), 0.0), float(w)), min(max(p.y(), 0.0), float(h))

    def _tolerance(self) -> float:
        return self._style.handle_grab_px / max(self.zoom, 1e-9)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        button = event.button()
        if self._drag is not None:  # a second button during a drag: ignore it
            event.accept()
            return
        if button in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._drag = _Drag("pan", button, event.position())
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if button != Qt.MouseButton.LeftButton or self._overlays.image_size is None:
            super().mousePressEvent(event)
            return
        p = self._scene_point(event)
        x, y = self._clamp(p)
        if self._draw_mode:
            self._drag = _Drag("draw", button, event.position(), (x, y))
            event.accept()
            return
        layer = self._overlays.annotations
        hit = None
        if self._overlays.visible["annotations"]:
            hit = hit_test(layer.boxes(), layer.selected, p.x(), p.y(), self._tolerance())
        if hit is not None:
            ident, handle = hit
            if ident != layer.selected:
                layer.set_selected(ident)
                self.annotationSelected.emit(ident)
            self._drag = _Drag("edit", button, event.position(), (p.x(), p.y()), ident, handle, layer.box_of(ident))
            event.accept()
            return
        if layer.selected is not None:
            layer.set_selected(None)
            self.annotationSelected.emit(None)
        self._drag = _Drag("click", button, event.position())
        self._click_overlays(p.x(), p.y())
        event.accept()

    def _click_overlays(self, x: float, y: float) -> None:
        ov = self._overlays
        tol = self._tolerance()
        d = ov.pick_detection(x, y, tol)
        if d is not None:
            ov.select_detection(d)
            self.detectionClicked.emit(d)
            return
        p = ov.pick_proposal(x, y, tol)
        if p is not None:
            self.proposalClicked.emit(p)
            return
        if ov.visible["anchors"] and ov.anchor_mode == "cell" and ov.trace is not None:
            ov.pin_cell(None if ov.pinned is not None else (x, y))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        p = self._scene_point(event)
        if self._overlays.image_size is not None:
            self.imageMouseMoved.emit(float(p.x()), float(p.y()))
        drag = self._drag
        if drag is None:
            self._hover(p)
        elif drag.kind == "pan":
            delta = event.position() - drag.screen
            drag.screen = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
        elif drag.kind == "draw":
            x, y = self._clamp(p)
            try:
                box: Box | None = Box.from_points(drag.start[0], drag.start[1], x, y)
            except BoxError:
                box = None
            self._overlays.annotations.set_drawing(box)
        elif drag.kind == "edit" and drag.ident is not None and drag.box is not None:
            moved = (event.position() - drag.screen).manhattanLength() >= _DRAG_THRESHOLD_PX
            drag.moved = drag.moved or moved
            if drag.moved:
                dx, dy = p.x() - drag.start[0], p.y() - drag.start[1]
                box = apply_drag(drag.box, drag.handle, dx, dy, self._overlays.image_size, min_size=1.0)
                self._overlays.annotations.set_preview(drag.ident, box)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        drag = self._drag
        if drag is None or event.button() != drag.button:
            event.accept() if drag is not None else super().mouseReleaseEvent(event)
            return
        self._drag = None
        layer = self._overlays.annotations
        if drag.kind == "draw":
            box = layer.drawing
            layer.set_drawing(None)
            big = box is not None and min(box.width, box.height) * self.zoom >= _DRAG_THRESHOLD_PX
            if big:
                self.annotationDrawn.emit(box)
        elif drag.kind == "edit" and drag.moved:
            preview = layer.preview
            layer.set_preview(None)  # back to the annotation as given until the owner updates it
            if preview is not None and preview[1] != drag.box:
                self.annotationEdited.emit(drag.ident, preview[1])
        self._update_cursor(self._scene_point(event))
        event.accept()

    def _hover(self, p: QPointF) -> None:
        layer = self._overlays.annotations
        hit = None
        if self._overlays.visible["annotations"]:
            hit = hit_test(layer.boxes(), layer.selected, p.x(), p.y(), self._tolerance())
        layer.set_hovered(hit[0] if hit else None)
        self._update_cursor(p, hit)
        if self._overlays.set_hover_point(p.x(), p.y()) and self._overlays.hover_cells:
            self.cellHovered.emit(*self._overlays.hover_cells[0])

    def _update_cursor(self, p: QPointF | None, hit: tuple[str, Handle] | None = None) -> None:
        if self._draw_mode:
            shape = Qt.CursorShape.CrossCursor
        elif hit is not None:
            shape = CURSORS[hit[1]]
        else:
            shape = Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(shape)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        self._overlays.annotations.set_hovered(None)
        self._overlays.clear_hover()
        super().leaveEvent(event)

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
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(drift.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(drift.y()))
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self._fit:
            self.zoom_fit()

    # -- keys -----------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        key = event.key()
        layer = self._overlays.annotations
        if key == Qt.Key.Key_W:
            self.set_draw_mode(not self._draw_mode)
            self.drawModeChanged.emit(self._draw_mode)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and layer.selected is not None:
            self.annotationDeleteRequested.emit(layer.selected)
        elif key == Qt.Key.Key_Escape:
            self._escape()
        elif key == Qt.Key.Key_F:
            self.zoom_fit()
        elif key in _NUDGE and layer.selected is not None and self._drag is None:
            step = 10.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1.0
            dx, dy = _NUDGE[key]
            box = layer.box_of(layer.selected)
            if box is not None:
                moved = apply_drag(box, Handle.MOVE, dx * step, dy * step, self._overlays.image_size)
                if moved != box:
                    self.annotationEdited.emit(layer.selected, moved)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def _escape(self) -> None:
        layer = self._overlays.annotations
        if self._drag is not None:
            self._drag = None
            layer.set_drawing(None)
            layer.set_preview(None)
        elif self._draw_mode:
            self.set_draw_mode(False)
            self.drawModeChanged.emit(False)
        elif layer.selected is not None:
            layer.set_selected(None)
            self.annotationSelected.emit(None)
        elif self._overlays.pinned is not None:
            self._overlays.pin_cell(None)


@dataclass
class _Drag:
    """A mouse drag in progress: ``pan``, ``draw`` (a new box), ``edit`` (moving or resizing
    annotation ``ident`` by ``handle`` from ``box``) or ``click``. ``screen``: where it is in
    view pixels (a pan: the last position; otherwise where it began), ``start``: where it
    began on the image."""

    kind: str
    button: Qt.MouseButton
    screen: QPointF
    start: tuple[float, float] = (0.0, 0.0)
    ident: str | None = None
    handle: Handle = Handle.MOVE
    box: Box | None = None
    moved: bool = False


#: Arrow keys (``QKeyEvent.key()`` codes) and the direction they nudge the selected box.
_NUDGE: dict[int, tuple[float, float]] = {
    Qt.Key.Key_Left.value: (-1.0, 0.0), Qt.Key.Key_Right.value: (1.0, 0.0),
    Qt.Key.Key_Up.value: (0.0, -1.0), Qt.Key.Key_Down.value: (0.0, 1.0),
}

__all__ = ["LAYER_NAMES", "ImageCanvas", "qimage_from_rgb"]
