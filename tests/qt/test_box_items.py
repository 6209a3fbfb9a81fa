"""Box editing geometry and the annotation layer."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsScene

from detector_app.domain.annotations import Annotation, AnnotationSource
from detector_app.domain.boxes import Box
from detector_app.qt.box_items import AnnotationLayer, Handle, apply_drag, handle_points, hit_test, views_of
from detector_app.qt.colors import class_rgb

B = Box(10, 20, 50, 80)


@pytest.mark.parametrize(
    ("handle", "dx", "dy", "expected"),
    [
        (Handle.MOVE, 5, -3, (15, 17, 55, 77)),
        (Handle.TOP_LEFT, 4, 6, (14, 26, 50, 80)),
        (Handle.TOP, 4, 6, (10, 26, 50, 80)),
        (Handle.TOP_RIGHT, 4, 6, (10, 26, 54, 80)),
        (Handle.RIGHT, 4, 6, (10, 20, 54, 80)),
        (Handle.BOTTOM_RIGHT, -4, -6, (10, 20, 46, 74)),
        (Handle.BOTTOM, 4, 6, (10, 20, 50, 86)),
        (Handle.BOTTOM_LEFT, -4, 6, (6, 20, 50, 86)),
        (Handle.LEFT, -4, 6, (6, 20, 50, 80)),
        # Dragging the right edge past the left one flips the box.
        (Handle.RIGHT, -60, 0, (-10, 20, 10, 80)),
    ],
)
def test_apply_drag(handle, dx, dy, expected):
    assert apply_drag(B, handle, dx, dy).to_tuple() == pytest.approx(expected)


def test_apply_drag_respects_bounds_and_min_size():
    bounds = (100, 100)
    assert apply_drag(B, Handle.MOVE, 500, -500, bounds).to_tuple() == (60, 0, 100, 60)  # slides to the corner
    assert apply_drag(B, Handle.TOP_LEFT, -50, -50, bounds).to_tuple() == (0, 0, 50, 80)  # clipped
    tiny = apply_drag(B, Handle.RIGHT, -40, 0, bounds, min_size=2.0)  # right edge onto the left edge
    assert tiny.to_tuple() == (10, 20, 12, 80)


def test_handle_points_and_hit_test():
    pts = handle_points(B)
    assert pts[Handle.TOP] == (30, 20) and pts[Handle.BOTTOM_LEFT] == (10, 80)
    small = Box(20, 30, 30, 40)  # inside B
    boxes = [("big", B), ("small", small)]
    assert hit_test(boxes, None, 25, 35, 2) == ("small", Handle.MOVE)  # smallest wins
    assert hit_test(boxes, "big", 25, 35, 2) == ("big", Handle.MOVE)  # ...unless the big one is selected
    assert hit_test(boxes, "big", 51, 81, 2) == ("big", Handle.BOTTOM_RIGHT)
    assert hit_test(boxes, None, 51, 81, 2) == ("big", Handle.MOVE)  # handles need a selection
    assert hit_test(boxes, "big", 300, 300, 2) is None


def test_views_of_tags_and_colours():
    anns = [
        Annotation(B, "dog"),
        Annotation(B, "cat", AnnotationSource.MODEL, score=0.875),
        Annotation(B, "cat", AnnotationSource.MODEL_CORRECTED, score=0.5),
    ]
    views = views_of(anns, ["cat", "dog"])
    assert [v.tag for v in views] == ["dog", "cat", "cat"]  # the class only: scores belong to suggestions
    assert views[0].color.getRgb()[:3] == class_rgb(2) and views[1].color.getRgb()[:3] == class_rgb(1)


def _render(scene: QGraphicsScene, size=(120, 120)) -> np.ndarray:
    img = QImage(*size, QImage.Format.Format_RGB32)
    img.fill(QColor(0, 0, 0))
    p = QPainter(img)
    scene.render(p, QRectF(0, 0, *size), QRectF(0, 0, *size))
    p.end()
    return np.frombuffer(img.constBits(), np.uint8).reshape(size[1], size[0], 4)[..., [2, 1, 0]].copy()


def test_annotation_layer_draws_boxes_handles_and_previews(qapp):
    layer = AnnotationLayer()
    ann = Annotation(B, "cat")
    layer.set_views(views_of([ann], ["cat"]))
    scene = QGraphicsScene()
    scene.addItem(layer)
    rgb = _render(scene)
    assert tuple(rgb[50, 10]) == class_rgb(1)  # left edge in the class colour
    assert tuple(rgb[50, 100]) == (0, 0, 0)
    assert not (rgb[16:24, 46:54] == 255).all(axis=2).any()  # no handles before selection
    layer.set_selected(ann.id)
    rgb = _render(scene)
    assert (rgb[17:24, 47:54] == 255).all(axis=2).any()  # white handle at the top-right corner
    layer.set_preview(ann.id, Box(60, 20, 100, 80))
    rgb = _render(scene)
    assert tuple(rgb[35, 60]) == class_rgb(1) and tuple(rgb[35, 10]) == (0, 0, 0)  # drawn at the preview
    layer.set_preview(None)
    layer.set_views([])  # the annotation went away: selection goes with it
    assert layer.selected is None and _render(scene).max() == 0
