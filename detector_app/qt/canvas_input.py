"""``CanvasInput``: the canvas's mouse and keys turned into intents.

It changes no annotation: it emits what the person asked for (``annotationDrawn``,
``annotationEdited`` once at the end of a drag, ``annotationDeleteRequested``,
``annotationSelected``, a click on a detection or a proposal) and shows the gesture
in progress on the annotation layer (the box being drawn, the box being dragged).

Mouse: middle/right drag pans; a left press on an annotation selects and drags it
(its handles resize); in draw mode a left drag draws a new box; elsewhere a click picks
a detection, else a proposal, else pins (or unpins) the anchors' cell. Keys: W draw
mode, Del/Backspace delete, Esc cancels a drag / leaves draw mode / deselects / unpins,
arrows nudge the selected box (Shift: 10 px).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent

from detector_app.domain.boxes import Box, BoxError
from detector_app.qt.box_items import CURSORS, Handle, apply_drag, hit_test
from detector_app.qt.overlay_style import OverlayStyle
from detector_app.qt.zoom_view import ZoomView

#: A press that moves less than this (view pixels) is a click, and a smaller box is no box.
DRAG_THRESHOLD_PX = 3.0


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


class CanvasInput(QObject):
    """The gestures on ``view`` (see the module docstring). Each handler returns whether it
    used the event; the view passes the others on to ``QGraphicsView``."""

    annotationDrawn = Signal(object)  # Box
    annotationEdited = Signal(str, object)  # id, Box (once, at the end of a drag)
    annotationDeleteRequested = Signal(str)
    annotationSelected = Signal(object)  # str | None
    proposalClicked = Signal(int)
    detectionClicked = Signal(int)
    cellHovered = Signal(int, int, int)  # level, row, col (first shown level)
    imageMouseMoved = Signal(float, float)
    drawModeChanged = Signal(bool)  # only when changed from the keyboard (W / Esc)

    def __init__(self, view: ZoomView, style: OverlayStyle) -> None:
        super().__init__(view)
        self._view = view
        self._overlays = view.overlays
        self._style = style
        self._draw_mode = False
        self._drag: _Drag | None = None

    @property
    def draw_mode(self) -> bool:
        return self._draw_mode

    def set_draw_mode(self, on: bool) -> None:
        """In draw mode a left drag draws a new box (emits nothing; see ``drawModeChanged``)."""
        self._draw_mode = bool(on)
        self._update_cursor()

    def drop_stale_edit(self) -> None:
        """Annotations were replaced: a drag of one that is gone ends, without an edit."""
        drag, layer = self._drag, self._overlays.annotations
        if drag is not None and drag.kind == "edit" and (drag.ident is None or layer.box_of(drag.ident) is None):
            self._drag = None
            layer.set_preview(None)

    # -- mouse ----------------------------------------------------------------
    def _clamp(self, p: QPointF) -> tuple[float, float]:
        w, h = self._overlays.image_size or (0, 0)
        return min(max(p.x(), 0.0), float(w)), min(max(p.y(), 0.0), float(h))

    def _tolerance(self) -> float:
        return self._style.handle_grab_px / max(self._view.zoom, 1e-9)

    def _hit(self, p: QPointF) -> tuple[str, Handle] | None:
        """The annotation (and which of its handles) under image point ``p``, if shown."""
        if not self._overlays.visible["annotations"]:
            return None
        layer = self._overlays.annotations
        return hit_test(layer.boxes(), layer.selected, p.x(), p.y(), self._tolerance())

    def press(self, event: QMouseEvent) -> bool:
        button = event.button()
        if self._drag is not None:  # a second button during a drag: ignore it
            return True
        if button in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._drag = _Drag("pan", button, event.position())
            self._view.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return True
        if button != Qt.MouseButton.LeftButton or self._overlays.image_size is None:
            return False
        p = self._view.scene_point(event)
        if self._draw_mode:
            self._drag = _Drag("draw", button, event.position(), self._clamp(p))
            return True
        layer = self._overlays.annotations
        hit = self._hit(p)
        if hit is not None:
            ident, handle = hit
            if ident != layer.selected:
                layer.set_selected(ident)
                self.annotationSelected.emit(ident)
            self._drag = _Drag("edit", button, event.position(), (p.x(), p.y()), ident, handle, layer.box_of(ident))
            return True
        if layer.selected is not None:
            layer.set_selected(None)
            self.annotationSelected.emit(None)
        self._drag = _Drag("click", button, event.position())
        self._click_overlays(p.x(), p.y())
        return True

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

    def move(self, event: QMouseEvent) -> None:
        p = self._view.scene_point(event)
        if self._overlays.image_size is not None:
            self.imageMouseMoved.emit(float(p.x()), float(p.y()))
        drag = self._drag
        if drag is None:
            self._hover(p)
        elif drag.kind == "pan":
            delta = event.position() - drag.screen
            drag.screen = event.position()
            self._view.pan_by(delta)
        elif drag.kind == "draw":
            x, y = self._clamp(p)
            try:
                box: Box | None = Box.from_points(drag.start[0], drag.start[1], x, y)
            except BoxError:
                box = None
            self._overlays.annotations.set_drawing(box)
        elif drag.kind == "edit" and drag.ident is not None and drag.box is not None:
            moved = (event.position() - drag.screen).manhattanLength() >= DRAG_THRESHOLD_PX
            drag.moved = drag.moved or moved
            if drag.moved:
                dx, dy = p.x() - drag.start[0], p.y() - drag.start[1]
                box = apply_drag(drag.box, drag.handle, dx, dy, self._overlays.image_size, min_size=1.0)
                self._overlays.annotations.set_preview(drag.ident, box)

    def release(self, event: QMouseEvent) -> bool:
        drag = self._drag
        if drag is None:
            return False
        if event.button() != drag.button:
            return True
        self._drag = None
        layer = self._overlays.annotations
        if drag.kind == "draw":
            box = layer.drawing
            layer.set_drawing(None)
            if box is not None and min(box.width, box.height) * self._view.zoom >= DRAG_THRESHOLD_PX:
                self.annotationDrawn.emit(box)
        elif drag.kind == "edit" and drag.moved:
            preview = layer.preview
            layer.set_preview(None)  # back to the annotation as given until the owner updates it
            if preview is not None and preview[1] != drag.box:
                self.annotationEdited.emit(drag.ident, preview[1])
        self._update_cursor()
        return True

    def _hover(self, p: QPointF) -> None:
        hit = self._hit(p)
        self._overlays.annotations.set_hovered(hit[0] if hit else None)
        self._update_cursor(hit)
        if self._overlays.set_hover_point(p.x(), p.y()) and self._overlays.hover_cells:
            self.cellHovered.emit(*self._overlays.hover_cells[0])

    def _update_cursor(self, hit: tuple[str, Handle] | None = None) -> None:
        if self._draw_mode:
            shape = Qt.CursorShape.CrossCursor
        elif hit is not None:
            shape = CURSORS[hit[1]]
        else:
            shape = Qt.CursorShape.ArrowCursor
        self._view.viewport().setCursor(shape)

    def leave(self) -> None:
        self._overlays.annotations.set_hovered(None)
        self._overlays.clear_hover()

    # -- keys -----------------------------------------------------------------
    def key(self, event: QKeyEvent) -> bool:
        key = event.key()
        layer = self._overlays.annotations
        if key == Qt.Key.Key_W:
            self.set_draw_mode(not self._draw_mode)
            self.drawModeChanged.emit(self._draw_mode)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and layer.selected is not None:
            self.annotationDeleteRequested.emit(layer.selected)
        elif key == Qt.Key.Key_Escape:
            self._escape()
        elif key in _NUDGE and layer.selected is not None and self._drag is None:
            step = 10.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1.0
            dx, dy = _NUDGE[key]
            box = layer.box_of(layer.selected)
            if box is not None:
                moved = apply_drag(box, Handle.MOVE, dx * step, dy * step, self._overlays.image_size)
                if moved != box:
                    self.annotationEdited.emit(layer.selected, moved)
        else:
            return False
        return True

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


__all__ = ["DRAG_THRESHOLD_PX", "CanvasInput"]
