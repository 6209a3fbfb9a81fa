"""ImageCanvas driven like a user would: real widget, offscreen, simulated mouse and keys."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from detector_app.domain.annotations import Annotation
from detector_app.domain.boxes import Box
from detector_app.qt.canvas import ImageCanvas
from detector_app.qt.colors import class_rgb

NAMES = ["cat", "dog"]


@pytest.fixture
def canvas(qtbot, rgb_image):
    view = ImageCanvas()
    qtbot.addWidget(view)
    view.resize(640, 460)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(rgb_image)
    return view


def _at(view: ImageCanvas, x: float, y: float) -> QPoint:
    return view.image_to_view(x, y).toPoint()


def _zoom2(view: ImageCanvas) -> None:
    """Zoom 2 with image pixel (0, 0) on a whole view pixel, so view <-> image is exact."""
    view.set_zoom(2.0)
    view.centerOn(150, 100)
    p = view.image_to_view(0, 0)
    assert p.x() == int(p.x()) and p.y() == int(p.y())


def _drag(qtbot, view, start: QPoint, end: QPoint, button=Qt.MouseButton.LeftButton, steps: int = 4) -> None:
    vp = view.viewport()
    qtbot.mousePress(vp, button, pos=start)
    for i in range(1, steps + 1):
        qtbot.mouseMove(vp, start + (end - start) * (i / steps))
    qtbot.mouseRelease(vp, button, pos=end)


def test_set_image_fits_and_rejects_bad_input(canvas):
    assert canvas.overlays.image_size == (300, 200)
    vp = canvas.viewport().rect()
    assert canvas.zoom == pytest.approx(min(vp.width() / 300, vp.height() / 200), rel=0.02)
    with pytest.raises(ValueError, match="uint8"):
        canvas.set_image(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        canvas.set_image(np.zeros((10, 10, 3), np.float32))
    canvas.zoom_actual()
    assert canvas.zoom == pytest.approx(1.0 / canvas.devicePixelRatioF())


def test_layer_toggles_hide_and_show(canvas, fake_trace):
    canvas.set_trace(fake_trace)
    for name in ("anchors", "grid", "anchor_labels", "proposals", "detections", "annotations"):
        for visible in (True, False, True):
            canvas.set_layer_visible(name, visible)
            assert canvas.layer_visible(name) is visible
            if name != "grid":
                assert canvas.layer(name).isVisible() is visible
    with pytest.raises(ValueError, match="unknown canvas layer"):
        canvas.set_layer_visible("nope", True)


def test_hovering_a_cell_shows_its_k_anchors(qtbot, canvas, fake_trace):
    canvas.set_trace(fake_trace)
    canvas.set_layer_visible("anchors", True)
    _zoom2(canvas)
    with qtbot.waitSignal(canvas.cellHovered) as sig:
        qtbot.mouseMove(canvas.viewport(), _at(canvas, 130.5, 70.5))
    cell = fake_trace.cell_at(0, 130.5, 70.5)
    assert sig.args == [0, *cell] == [0, 2, 4]
    expected = fake_trace.anchors_at_cell(0, *cell)
    assert canvas.shown_anchor_indices().tolist() == expected.tolist()
    assert canvas.layer("anchors").rect_count == 6
    canvas.set_anchor_filter({1}, None)
    assert canvas.shown_anchor_indices().tolist() == expected[fake_trace.anchor_scale_index[expected] == 1].tolist()
    canvas.set_anchor_filter(None, None)
    # Another cell: the layer follows the cursor.
    qtbot.mouseMove(canvas.viewport(), _at(canvas, 10.5, 10.5))
    assert canvas.shown_anchor_indices().tolist() == fake_trace.anchors_at_cell(0, 0, 0).tolist()


def test_clicking_pins_the_cell(qtbot, canvas, fake_trace):
    canvas.set_trace(fake_trace)
    canvas.set_layer_visible("anchors", True)
    canvas.set_layer_visible("detections", False)
    _zoom2(canvas)
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=_at(canvas, 130.5, 70.5))
    pinned = canvas.shown_anchor_indices().tolist()
    qtbot.mouseMove(canvas.viewport(), _at(canvas, 10.5, 10.5))
    assert canvas.shown_anchor_indices().tolist() == pinned == fake_trace.anchors_at_cell(0, 2, 4).tolist()
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)  # unpin
    qtbot.mouseMove(canvas.viewport(), _at(canvas, 12.5, 12.5))
    assert canvas.shown_anchor_indices().tolist() == fake_trace.anchors_at_cell(0, 0, 0).tolist()


def test_anchor_filter_reduces_grid_counts(canvas, fake_trace):
    canvas.set_trace(fake_trace)
    canvas.set_layer_visible("anchors", True)
    canvas.set_anchor_mode("grid")
    counts = {}
    for scales, ratios in [(None, None), ({0}, None), (None, {1}), ({0}, {0, 2}), (set(), None)]:
        canvas.set_anchor_filter(scales, ratios)
        shown = canvas.shown_anchor_indices()
        assert canvas.layer("anchors").rect_count == len(shown)
        if scales:
            assert set(fake_trace.anchor_scale_index[shown].tolist()) <= scales
        counts[(str(scales), str(ratios))] = len(shown)
    assert list(counts.values()) == [420, 210, 140, 140, 0]
    with pytest.raises(ValueError):
        canvas.set_anchor_mode("everything")


def test_proposals_top_n_by_objectness(canvas, fake_trace):
    canvas.set_trace(fake_trace)
    canvas.set_layer_visible("proposals", True)
    canvas.set_proposal_top_n(3)
    assert canvas.shown_proposal_indices().tolist() == [0, 1, 2]
    assert canvas.layer("proposals").rect_count == 3
    canvas.set_proposal_top_n(1000)
    assert canvas.layer("proposals").rect_count == 6
    # Coloured by score: the best and worst proposal land in different colour batches.
    pens = [pen.color().getRgb() for pen, _ in canvas.layer("proposals").batches()]
    assert len(set(pens)) >= 2


def test_anchor_labels_layer(canvas, fake_trace):
    canvas.set_trace(fake_trace)
    labels = np.zeros(fake_trace.num_anchors, np.int8)
    labels[[5, 77]] = 1
    labels[100:110] = -1
    canvas.set_anchor_labels(labels)
    canvas.set_layer_visible("anchor_labels", True)
    batches = canvas.layer("anchor_labels").batches()
    # ignored, negatives (408 thinned to the style cap of 400), positives (all)
    assert [len(b) for _, b in batches] == [10, 400, 2]
    np.testing.assert_array_equal(batches[2][1], fake_trace.anchors[[5, 77]])
    # dotted, so a positive anchor never reads as a box of a green class (boxes are solid / dashed)
    assert {pen.style() for pen, _ in batches} == {Qt.PenStyle.DotLine}
    with pytest.raises(ValueError, match="anchor labels have 3 entries"):
        canvas.set_anchor_labels(np.zeros(3, np.int8))


def test_detections_layer_and_click(qtbot, canvas, fake_trace, fake_result):
    canvas.set_trace(fake_trace)
    canvas.set_detections(fake_result, fake_trace.class_names)
    assert canvas.layer("detections").rect_count == 2
    assert canvas.layer("detections").tags == ["cat 0.90", "dog 0.80"]
    _zoom2(canvas)
    with qtbot.waitSignal(canvas.detectionClicked) as sig:
        qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=_at(canvas, 220, 100))
    assert sig.args == [1]
    # What the user sees: the cat box's left edge in the cat colour.
    shot = canvas.viewport().grab().toImage()
    p = _at(canvas, 40, 120)
    dpr = shot.devicePixelRatio()
    colors = {shot.pixelColor(round((p.x() + dx) * dpr), round(p.y() * dpr)).getRgb()[:3] for dx in (-1, 0, 1)}
    assert class_rgb(1) in colors


def test_clicking_a_proposal(qtbot, canvas, fake_trace):
    canvas.set_trace(fake_trace)
    canvas.set_layer_visible("detections", False)
    canvas.set_layer_visible("proposals", True)
    _zoom2(canvas)
    x1, y1, x2, y2 = fake_trace.proposals[4]
    with qtbot.waitSignal(canvas.proposalClicked) as sig:
        qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=_at(canvas, x1 + 1, (y1 + y2) / 2))
    assert sig.args == [4]


def test_highlight_proposal_draws_anchor_proposal_refined(canvas, fake_trace, fake_result):
    canvas.set_trace(fake_trace)
    canvas.set_detections(fake_result, fake_trace.class_names)
    canvas.highlight_proposal(3)
    assert canvas.layer("highlight").shown == (True, True, True)
    assert canvas.overlays.highlighted_class(3) == 1  # cat: the class of detection 0 that suppressed it
    a = fake_trace.anchors[fake_trace.proposal_anchor_index[3]]
    assert canvas.layer("highlight").boundingRect().contains(QPointF(a[0], a[1]))
    canvas.highlight_proposal(None)
    assert canvas.layer("highlight").shown == (False, False, False)


def test_drawing_a_box_at_zoom_2_emits_image_coordinates(qtbot, canvas):
    _zoom2(canvas)
    canvas.set_draw_mode(True)
    with qtbot.waitSignal(canvas.annotationDrawn) as sig:
        _drag(qtbot, canvas, _at(canvas, 20, 30), _at(canvas, 80, 90))
    box = sig.args[0]
    assert isinstance(box, Box)
    assert box.to_tuple() == pytest.approx((20, 30, 80, 90), abs=0.5)
    # Dragging out of the image clips to it; a click without a drag draws nothing.
    with qtbot.waitSignal(canvas.annotationDrawn) as sig:
        _drag(qtbot, canvas, _at(canvas, 250, 150), _at(canvas, 320, 230))
    assert sig.args[0].to_tuple() == pytest.approx((250, 150, 300, 200), abs=0.5)
    with qtbot.assertNotEmitted(canvas.annotationDrawn):
        qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=_at(canvas, 40, 40))
    assert canvas.overlays.annotations.drawing is None


def test_moving_a_box_emits_one_edit_and_does_not_mutate(qtbot, canvas):
    ann = Annotation(Box(40, 40, 100, 100), "cat")
    canvas.set_annotations([ann], NAMES)
    _zoom2(canvas)
    edits = []
    canvas.annotationEdited.connect(lambda i, b: edits.append((i, b)))
    with qtbot.waitSignal(canvas.annotationSelected) as sel:
        _drag(qtbot, canvas, _at(canvas, 60, 60), _at(canvas, 70, 65), steps=5)
    assert sel.args == [ann.id]
    assert len(edits) == 1
    assert edits[0][0] == ann.id and edits[0][1].to_tuple() == pytest.approx((50, 45, 110, 105), abs=0.5)
    layer = canvas.overlays.annotations
    assert layer.box_of(ann.id) == ann.box and layer.preview is None  # the canvas only asked


def test_resizing_with_a_handle(qtbot, canvas):
    ann = Annotation(Box(40, 40, 100, 100), "dog")
    canvas.set_annotations([ann], NAMES)
    canvas.select_annotation(ann.id)
    _zoom2(canvas)
    with qtbot.waitSignal(canvas.annotationEdited) as sig:
        _drag(qtbot, canvas, _at(canvas, 100, 100), _at(canvas, 115, 110))
    assert sig.args[1].to_tuple() == pytest.approx((40, 40, 115, 110), abs=0.5)
    with qtbot.waitSignal(canvas.annotationEdited) as sig:
        _drag(qtbot, canvas, _at(canvas, 70, 40), _at(canvas, 75, 20))  # top handle: only y1 moves
    assert sig.args[1].to_tuple() == pytest.approx((40, 20, 100, 100), abs=0.5)


def test_owner_applies_the_edit_synchronously(qtbot, canvas):
    ann = Annotation(Box(40, 40, 100, 100), "cat")
    canvas.set_annotations([ann], NAMES)
    _zoom2(canvas)
    state = {"anns": [ann]}

    def apply(ident, box):  # what the main window does, through its undo stack
        state["anns"] = [a.with_box(box) if a.id == ident else a for a in state["anns"]]
        canvas.set_annotations(state["anns"], NAMES)

    canvas.annotationEdited.connect(apply)
    _drag(qtbot, canvas, _at(canvas, 60, 60), _at(canvas, 80, 60))
    assert canvas.overlays.annotations.box_of(ann.id).to_tuple() == pytest.approx((60, 40, 120, 100), abs=0.5)
    assert canvas.selected_annotation == ann.id


def test_keys_delete_escape_draw_mode_and_nudge(qtbot, canvas):
    ann = Annotation(Box(40, 40, 100, 100), "cat")
    canvas.set_annotations([ann], NAMES)
    canvas.select_annotation(ann.id)
    canvas.setFocus()
    with qtbot.waitSignal(canvas.annotationDeleteRequested) as sig:
        qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    assert sig.args == [ann.id]
    with qtbot.waitSignal(canvas.annotationEdited) as sig:
        qtbot.keyClick(canvas, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert sig.args[1].to_tuple() == (50, 40, 110, 100)
    with qtbot.waitSignal(canvas.annotationSelected) as sig:
        qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert sig.args == [None] and canvas.selected_annotation is None
    with qtbot.assertNotEmitted(canvas.annotationDeleteRequested):
        qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    with qtbot.waitSignal(canvas.drawModeChanged) as sig:
        qtbot.keyClick(canvas, Qt.Key.Key_W)
    assert sig.args == [True] and canvas.draw_mode
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert not canvas.draw_mode


def test_wheel_zooms_around_the_cursor(qtbot, canvas):
    _zoom2(canvas)
    pos = _at(canvas, 100, 80)
    before = canvas.mapToScene(pos)
    event = QWheelEvent(QPointF(pos), QPointF(canvas.viewport().mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.zoom == pytest.approx(2.5)
    after = canvas.mapToScene(pos)
    assert abs(after.x() - before.x()) < 1.0 and abs(after.y() - before.y()) < 1.0


def test_middle_drag_pans(qtbot, canvas):
    canvas.set_zoom(4.0)
    canvas.centerOn(150, 100)
    before = canvas.mapToScene(QPoint(100, 100))
    _drag(qtbot, canvas, QPoint(300, 200), QPoint(200, 150), button=Qt.MouseButton.MiddleButton)
    after = canvas.mapToScene(QPoint(100, 100))
    assert after.x() - before.x() == pytest.approx(25, abs=1) and after.y() - before.y() == pytest.approx(12.5, abs=1)


def test_mouse_position_signal_in_image_pixels(qtbot, canvas):
    _zoom2(canvas)
    with qtbot.waitSignal(canvas.imageMouseMoved) as sig:
        qtbot.mouseMove(canvas.viewport(), _at(canvas, 33, 44))
    assert sig.args == pytest.approx([33, 44], abs=0.5)


def test_escape_cancels_a_drag_and_other_buttons_do_not_end_it(qtbot, canvas):
    ann = Annotation(Box(40, 40, 100, 100), "cat")
    canvas.set_annotations([ann], NAMES)
    _zoom2(canvas)
    vp = canvas.viewport()
    edits = []
    canvas.annotationEdited.connect(lambda i, b: edits.append(b))
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=_at(canvas, 60, 60))
    qtbot.mouseMove(vp, _at(canvas, 65, 60))
    qtbot.mousePress(vp, Qt.MouseButton.RightButton, pos=_at(canvas, 65, 60))  # ignored mid-drag
    qtbot.mouseRelease(vp, Qt.MouseButton.RightButton, pos=_at(canvas, 65, 60))
    qtbot.mouseMove(vp, _at(canvas, 70, 62))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=_at(canvas, 70, 62))
    assert [b.to_tuple() for b in edits] == [pytest.approx((50, 42, 110, 102), abs=0.5)]
    # Esc in the middle of drawing: nothing is drawn.
    canvas.set_draw_mode(True)
    canvas.setFocus()
    with qtbot.assertNotEmitted(canvas.annotationDrawn):
        qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=_at(canvas, 150, 120))
        qtbot.mouseMove(vp, _at(canvas, 200, 170))
        qtbot.keyClick(canvas, Qt.Key.Key_Escape)
        qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=_at(canvas, 200, 170))
    assert canvas.overlays.annotations.drawing is None and canvas.draw_mode


def test_right_drag_pans_and_space_does_not_turn_a_left_drag_into_a_pan(qtbot, canvas):
    canvas.set_zoom(4.0)
    canvas.centerOn(150, 100)
    canvas.setFocus()
    before = canvas.mapToScene(QPoint(100, 100))
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    _drag(qtbot, canvas, QPoint(300, 200), QPoint(260, 200))  # left drag: no pan, held Space or not
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.mapToScene(QPoint(100, 100)).x() == pytest.approx(before.x(), abs=0.01)
    vp = canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.RightButton, pos=QPoint(300, 200))
    qtbot.mouseMove(vp, QPoint(260, 200))
    qtbot.mouseRelease(vp, Qt.MouseButton.RightButton, pos=QPoint(260, 200))
    assert canvas.mapToScene(QPoint(100, 100)).x() - before.x() == pytest.approx(10, abs=1)
