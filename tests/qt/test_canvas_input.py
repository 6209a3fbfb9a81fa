"""``CanvasInput`` on a bare ``ZoomView``: its handlers say which events they used, and a
gesture becomes one intent (the canvas tests drive it through ``ImageCanvas``)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QMouseEvent, QPixmap

from detector_app.qt.canvas_input import CanvasInput
from detector_app.qt.overlay_style import DEFAULT_STYLE
from detector_app.qt.zoom_view import ZoomView


def _mouse(kind: QEvent.Type, view: ZoomView, x: float, y: float,
           button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> QMouseEvent:
    pos = view.image_to_view(x, y)
    held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    return QMouseEvent(kind, pos, view.viewport().mapToGlobal(pos), button, held, Qt.KeyboardModifier.NoModifier)


@pytest.fixture
def view(qtbot) -> ZoomView:
    v = ZoomView()
    qtbot.addWidget(v)
    v.resize(400, 300)
    pixmap = QPixmap(300, 200)
    pixmap.fill(Qt.GlobalColor.darkGray)
    v.overlays.set_pixmap(pixmap)
    v.set_zoom(1.0)
    return v


def test_a_draw_gesture_is_one_box_and_other_presses_are_passed_on(qtbot, view):
    gestures = CanvasInput(view, DEFAULT_STYLE)
    drawn = []
    gestures.annotationDrawn.connect(drawn.append)
    assert not gestures.release(_mouse(QEvent.Type.MouseButtonRelease, view, 5, 5))  # no gesture: not used
    assert not gestures.press(_mouse(QEvent.Type.MouseButtonPress, view, 5, 5, Qt.MouseButton.BackButton))
    gestures.set_draw_mode(True)
    assert gestures.press(_mouse(QEvent.Type.MouseButtonPress, view, 20, 30))
    gestures.move(_mouse(QEvent.Type.MouseMove, view, 60, 70))
    assert gestures.press(_mouse(QEvent.Type.MouseButtonPress, view, 60, 70, Qt.MouseButton.RightButton))  # ignored
    assert gestures.release(_mouse(QEvent.Type.MouseButtonRelease, view, 60, 70))
    assert len(drawn) == 1
    assert (drawn[0].x1, drawn[0].y1) == pytest.approx((20, 30), abs=1)
    assert (drawn[0].x2, drawn[0].y2) == pytest.approx((60, 70), abs=1)
    assert view.overlays.annotations.drawing is None
