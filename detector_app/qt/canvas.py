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

Zoom and pan are ``zoom_view.ZoomView``'s (the canvas is one); the gestures and keys
that edit are ``canvas_input.CanvasInput``'s, whose signals the canvas passes on.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import QWidget

from detector_app.domain.annotations import Annotation
from detector_app.domain.boxes import Box
from detector_app.domain.trace import DetectionTrace, PostprocessResult
from detector_app.qt.canvas_input import CanvasInput
from detector_app.qt.layer_base import OverlayItem
from detector_app.qt.overlay_scene import LAYER_NAMES
from detector_app.qt.overlay_style import DEFAULT_STYLE, OverlayStyle
from detector_app.qt.zoom_view import ZoomView


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    """``uint8[H, W, 3]`` RGB -> an owning ``QImage`` (RGB888)."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        raise ValueError(f"set_image needs a uint8[H, W, 3] RGB array, got {type(rgb).__name__} {shape}")
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


#: The signals of ``CanvasInput`` the canvas emits as its own (same names and arguments).
_INPUT_SIGNALS = ("annotationDrawn", "annotationEdited", "annotationDeleteRequested", "annotationSelected",
                  "proposalClicked", "detectionClicked", "cellHovered", "imageMouseMoved", "drawModeChanged")


class ImageCanvas(ZoomView):
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
        super().__init__(parent, style)
        self._input = CanvasInput(self, style)
        for name in _INPUT_SIGNALS:  # the intents are the input's, passed on as the canvas's own
            getattr(self._input, name).connect(getattr(self, name))
        self._placeholder = "No images open: File > Open folder (Ctrl+O)"
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(200, 150)

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
        self._overlays.set_annotations(annotations, label_map_names)
        self._input.drop_stale_edit()

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
        self._input.set_draw_mode(on)

    # -- state for the owner and for tests -----------------------------------
    @property
    def draw_mode(self) -> bool:
        return self._input.draw_mode

    @property
    def selected_annotation(self) -> str | None:
        return self._overlays.annotations.selected

    def shown_anchor_indices(self) -> np.ndarray:
        """``int64[M]``: anchors the anchors layer draws now."""
        return self._overlays.shown_anchors.copy()

    def shown_proposal_indices(self) -> np.ndarray:
        """``int64[N]``: proposals the proposals layer draws now (best first)."""
        return self._overlays.shown_proposals.copy()

    def hovered_cells(self) -> list[tuple[int, int, int]]:
        return list(self._overlays.hover_cells)

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
        self.zoom_to_box(box, margin)
        return True

    # -- input: passed to CanvasInput, the rest to QGraphicsView ----------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._input.press(event):
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        self._input.move(event)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._input.release(event):
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        self._input.leave()
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key.Key_F:
            self.zoom_fit()
        elif not self._input.key(event):
            super().keyPressEvent(event)
            return
        event.accept()


__all__ = ["LAYER_NAMES", "ImageCanvas", "qimage_from_rgb"]
