"""``ZoomView`` alone (no editing): fitting and when it stops, clamping, zooming to a box,
panning, and crisp pixels when zoomed in."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QPixmap

from detector_app.domain.boxes import Box
from detector_app.qt.zoom_view import MAX_ZOOM, MIN_ZOOM, ZoomView


@pytest.fixture
def view(qtbot) -> ZoomView:
    v = ZoomView()
    qtbot.addWidget(v)
    v.resize(400, 300)
    v.show()
    qtbot.waitExposed(v)
    pixmap = QPixmap(300, 200)
    pixmap.fill(Qt.GlobalColor.darkGray)
    v.overlays.set_pixmap(pixmap)
    v.zoom_fit()
    return v


def test_fit_follows_resizes_until_zoomed_by_hand(qtbot, view):
    fitted = view.zoom
    view.resize(800, 600)
    qtbot.waitUntil(lambda: view.zoom > 1.5 * fitted)  # still fitting: the image grew with the window
    view.set_zoom(1.0)
    view.resize(400, 300)
    qtbot.wait(50)
    assert view.zoom == pytest.approx(1.0)  # zoomed by hand: a resize keeps the zoom


def test_zoom_is_clamped_and_crisp_when_zoomed_in(view):
    view.set_zoom(1000.0)
    assert view.zoom == pytest.approx(MAX_ZOOM)
    assert view.overlays.image_item.transformationMode() == Qt.TransformationMode.FastTransformation
    view.set_zoom(0.0)
    assert view.zoom == pytest.approx(MIN_ZOOM)
    assert view.overlays.image_item.transformationMode() == Qt.TransformationMode.SmoothTransformation


def test_zoom_to_a_box_centres_it_with_a_margin(view):
    box = Box(100.0, 60.0, 140.0, 80.0)
    view.zoom_to_box(box, margin=0.25)
    vp = view.viewport().rect()
    # 40 x 20 px plus 10 px each side across (8 px minimum margin down): 60 x 36 image pixels fill the view
    assert view.zoom == pytest.approx(min(vp.width() / 60, vp.height() / 36), rel=0.02)
    centre = view.mapToScene(vp.center())
    assert centre.x() == pytest.approx(120, abs=1) and centre.y() == pytest.approx(70, abs=1)
    view.zoom_to_box(Box(10.0, 10.0, 10.5, 10.5))
    assert view.zoom == pytest.approx(min(vp.width(), vp.height()) / 16.5, rel=0.02)  # at least 8 px around a tiny box


def test_pan_moves_the_image_with_the_mouse(view):
    view.set_zoom(4.0)
    view.centerOn(150, 100)
    before = view.mapToScene(QPoint(100, 100))
    view.pan_by(QPointF(40, -20))  # the image follows the mouse: what was left of the point comes under it
    after = view.mapToScene(QPoint(100, 100))
    assert after.x() - before.x() == pytest.approx(-10, abs=0.5) and after.y() - before.y() == pytest.approx(5, abs=0.5)
