"""Overlay layers and the numpy decisions behind them (what is drawn, how many)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsScene, QStyleOptionGraphicsItem
from torchvision.models.detection._utils import BoxCoder

from detector_app.qt import overlay_data as od
from detector_app.qt.colors import PALETTE, class_color, class_index_of, class_rgb, colormap_rgb, score_bins
from detector_app.qt.layers import GridLayer, HighlightLayer, LabelledRectLayer, RectLayer
from detector_app.qt.overlay_style import cosmetic_pen


def anchor_index(row: int, col: int, a: int) -> int:
    """The fake trace's layout: 10 columns, 6 anchors per cell."""
    return (row * 10 + col) * 6 + a


class CountingPainter(QPainter):
    """A painter that counts what ``paint()`` asks of it."""

    def __init__(self, device: QImage) -> None:
        super().__init__(device)
        self.rects = 0
        self.calls = 0
        self.lines = 0

    def drawRects(self, rects, *args):  # noqa: N802 (Qt API)
        self.calls += 1
        self.rects += len(rects)
        return super().drawRects(rects, *args)

    def drawLines(self, lines, *args):  # noqa: N802 (Qt API)
        self.lines += len(lines)
        return super().drawLines(lines, *args)


def _paint(item, exposed: QRectF | None = None, size=(320, 220)) -> CountingPainter:
    img = QImage(*size, QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(0)
    painter = CountingPainter(img)
    option = QStyleOptionGraphicsItem()
    if exposed is not None:
        option.exposedRect = exposed
    item.paint(painter, option, None)
    painter.end()
    return painter


def _render(scene: QGraphicsScene, size=(300, 200)) -> np.ndarray:
    img = QImage(*size, QImage.Format.Format_RGB32)
    img.fill(QColor(0, 0, 0))
    p = QPainter(img)
    scene.render(p, QRectF(0, 0, *size), QRectF(0, 0, *size))
    p.end()
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(size[1], size[0], 4)
    return arr[..., [2, 1, 0]].copy()  # BGRA -> RGB


def _random_boxes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 250, (n, 2))
    wh = rng.uniform(2, 50, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def test_rect_layer_issues_one_draw_call_per_pen_with_every_rect(qapp):
    layer = RectLayer()
    boxes = _random_boxes(1000)
    groups = np.arange(1000) % 3
    pens = [cosmetic_pen(QColor(c)) for c in ("red", "green", "blue")]
    layer.set_boxes(boxes, groups, pens)
    painter = _paint(layer)
    assert painter.calls == 3
    assert painter.rects == 1000 == layer.rect_count == layer.painted_rects
    assert [len(b) for _, b in layer.batches()] == [334, 333, 333]
    # The cached bounding rect holds every box.
    br = layer.boundingRect()
    assert br.left() <= boxes[:, 0].min() and br.right() >= boxes[:, 2].max()


def test_rect_layer_culls_to_the_exposed_rect_when_zoomed_in(qapp):
    layer = RectLayer()
    boxes = np.array([[0, 0, 10, 10], [100, 100, 110, 110], [200, 150, 220, 170], [5, 5, 8, 8]], float)
    layer.set_boxes(boxes, np.zeros(4, int), [cosmetic_pen(QColor("red"))])
    painter = _paint(layer, exposed=QRectF(0, 0, 20, 20))
    assert painter.rects == 2  # boxes 0 and 3 only
    painter = _paint(layer, exposed=QRectF(-5, -5, 300, 300))
    assert painter.rects == 4


def test_rect_layer_pixels_land_on_the_box_outline(qapp):
    scene = QGraphicsScene()
    layer = RectLayer()
    layer.set_batches([(cosmetic_pen(QColor(255, 0, 0), 0), np.array([[20, 30, 120, 90]], float))])
    scene.addItem(layer)
    rgb = _render(scene)
    assert tuple(rgb[30, 70]) == (255, 0, 0)  # top edge
    assert tuple(rgb[60, 20]) == (255, 0, 0)  # left edge
    assert tuple(rgb[60, 70]) == (0, 0, 0)  # inside stays empty (outline only)
    assert tuple(rgb[10, 10]) == (0, 0, 0)
    layer.setVisible(False)
    assert _render(scene).max() == 0


def test_empty_layer_paints_nothing(qapp):
    layer = RectLayer()
    layer.set_batches([(cosmetic_pen(QColor("red")), np.zeros((0, 4)))])
    assert _paint(layer).rects == 0
    assert layer.boundingRect().isEmpty()


@pytest.mark.parametrize("hollow", [True, False])
def test_labelled_layer_draws_tags(qapp, hollow):
    """The detections layer's tags are hollow (dark, class-coloured text and border: the
    model's suggestions); filled tags (a person's annotations) are the class colour."""
    layer = LabelledRectLayer(hollow_tags=hollow)
    layer.set_batches([(cosmetic_pen(class_color(1), 2), np.array([[10, 40, 60, 90]], float))])
    layer.set_tags([(10, 40, "cat 0.90", class_color(1))])
    scene = QGraphicsScene()
    scene.addItem(layer)
    rgb = _render(scene)
    assert layer.tags == ["cat 0.90"]
    tag_area = rgb[25:39, 11:40]  # the tag just above the box
    coloured = (np.abs(tag_area.astype(int) - np.array(class_rgb(1))).sum(axis=2) < 10).mean()
    dark = (tag_area.astype(int).sum(axis=2) < 60).mean()
    r, g, b = (tag_area[..., i].astype(int) for i in range(3))
    reddish = ((r > 100) & (r > g + 50) & (r > b + 30)).mean()  # the class colour's hue: border, (antialiased) text
    if hollow:
        assert dark > 0.5 and 0.08 < reddish < 0.5, (dark, reddish)
    else:
        assert coloured > 0.3 and dark < 0.2, (dark, coloured)


def test_grid_layer_lines_and_cell(qapp):
    grid = GridLayer()
    grid.set_grid(np.array([0, 32, 64, 96.0]), np.array([0, 32, 64.0]))
    painter = _paint(grid)
    assert painter.lines == 4 + 3 == grid.line_count
    grid.set_lines_visible(False)
    assert _paint(grid).lines == 0
    grid.set_cell((32, 0, 64, 32))
    assert grid.boundingRect().contains(QRectF(32, 0, 32, 32))


def test_highlight_layer_shows_three_boxes(qapp):
    hl = HighlightLayer()
    hl.set_boxes(np.array([10, 10, 50, 50.]), np.array([20, 15, 80, 70.]), np.array([22, 18, 78, 66.]), class_color(1))
    assert hl.shown == (True, True, True)
    scene = QGraphicsScene()
    scene.addItem(hl)
    rgb = _render(scene)
    assert rgb[5:100, 5:100].max() > 0
    hl.clear()
    assert hl.shown == (False, False, False) and hl.boundingRect().isEmpty()


# -- overlay_data -----------------------------------------------------------
def test_anchors_of_the_cell_under_a_point(fake_trace):
    # Original (130, 70) -> resized (65, 35) -> nearest anchor centre (64, 32): col 4, row 2 at stride 16.
    cells = od.cells_at_point(fake_trace, 130.0, 70.0)
    assert cells == [(0, 2, 4)]
    idx = od.anchors_of_cells(fake_trace, cells)
    assert idx.tolist() == list(range(anchor_index(2, 4, 0), anchor_index(2, 4, 0) + 6))
    # Those anchors are centred on the cell's centre: (col * 16, row * 16) resized, torchvision's layout.
    centres = (fake_trace.anchors[idx, :2] + fake_trace.anchors[idx, 2:]) / 2
    np.testing.assert_allclose(centres, np.tile([[4 * 16 * 2, 2 * 16 * 2]], (6, 1)), atol=1.0)
    assert od.cells_at_point(fake_trace, -5, 10) == []


def test_filter_by_scale_and_ratio(fake_trace):
    idx = od.anchors_of_cells(fake_trace, [(0, 2, 4)])
    assert len(od.filter_anchors(fake_trace, idx, {0}, None)) == 3
    assert len(od.filter_anchors(fake_trace, idx, None, {1})) == 2
    one = od.filter_anchors(fake_trace, idx, {1}, {2})
    assert len(one) == 1 and one[0] == anchor_index(2, 4, 2 * 2 + 1)
    assert len(od.filter_anchors(fake_trace, idx, set(), None)) == 0


def test_grid_anchors_thin_to_a_regular_pattern(fake_trace):
    assert len(od.grid_anchors(fake_trace, max_count=10_000)) == 420
    assert len(od.grid_anchors(fake_trace, scales={0}, max_count=10_000)) == 210
    thin = od.grid_anchors(fake_trace, max_count=120)
    assert 0 < len(thin) <= 120
    rows_cols = {fake_trace.anchor_cell(i) for i in thin}
    assert all(r % 2 == 0 and c % 2 == 0 for r, c in rows_cols)  # every 2nd row/col: 4*5 cells * 6
    assert len(thin) == 4 * 5 * 6


def test_thin_labels_keeps_positives_and_caps_the_rest():
    labels = np.full(1000, 0, np.int8)
    labels[:7] = 1
    labels[7:307] = -1
    labels[307:320] = -2  # crosses the image boundary (paper rule)
    pos, neg, ign, crossing = od.thin_labels(labels, max_negative=50, max_ignored=20)
    assert pos.tolist() == list(range(7))
    assert len(neg) == 50 and np.all(labels[neg] == 0)
    assert len(ign) == 20 and np.all(labels[ign] == -1)
    assert crossing.tolist() == list(range(307, 320))
    again = od.thin_labels(labels, 50, 20)
    assert np.array_equal(again[1], neg)  # deterministic


def test_top_proposals_and_pick_box():
    scores = np.array([0.2, 0.9, 0.5, 0.9])
    assert od.top_proposals(scores, 3).tolist() == [1, 3, 2]
    boxes = np.array([[0, 0, 100, 100], [40, 40, 60, 60], [200, 200, 210, 210]], float)
    assert od.pick_box(boxes, 50, 50, 2) == 1  # smallest containing box
    assert od.pick_box(boxes, 99, 10, 2) == 0  # near the big box's edge
    assert od.pick_box(boxes, 150, 150, 2) is None


def test_decode_delta_matches_torchvision_box_coder(fake_trace):
    coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
    a = fake_trace.anchors[:50].astype(np.float64)
    d = fake_trace.rpn_deltas[:50].astype(np.float64)
    ref = coder.decode_single(torch.from_numpy(d), torch.from_numpy(a)).numpy()
    ours = np.stack([od.decode_delta(a[i], d[i]) for i in range(50)])
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)


def test_grid_lines_and_cell_rect(fake_trace):
    # stride 16 resized = 32 original; cells centred on their anchors' centre (i * 32): boundaries at
    # (i - 0.5) * 32, clipped to the image
    xs, ys = od.grid_lines(fake_trace, 0)
    assert xs.tolist() == [0, 16, 48, 80, 112, 144, 176, 208, 240, 272, 300]
    assert ys.tolist() == [0, 16, 48, 80, 112, 144, 176, 200]
    assert od.cell_rect(fake_trace, 0, 2, 3) == (80.0, 48.0, 112.0, 80.0)
    anchor = fake_trace.anchors_at_cell(0, 2, 3)[0]
    a = fake_trace.anchors[anchor]
    assert ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2) == pytest.approx((96.0, 64.0), abs=1.0)  # the rect's centre


def test_colours_are_deterministic_by_class_index():
    assert class_rgb(1) == class_rgb(len(PALETTE) + 1) != class_rgb(2)
    assert class_rgb(0) == (128, 128, 128)
    assert class_index_of("dog", ["cat", "dog"]) == 2
    assert class_index_of("zebra", ["cat"]) == class_index_of("zebra", ["cat"])
    cm = colormap_rgb(np.array([0.0, 1.0, 2.0]))
    assert tuple(cm[0]) == (68, 1, 84) and tuple(cm[1]) == (253, 231, 37) == tuple(cm[2])
    assert score_bins(np.array([0.0, 0.49, 0.5, 1.0]), 4).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("n", [0, 1, 5000])
def test_rect_layer_count_scales(qapp, n):
    layer = RectLayer()
    layer.set_boxes(_random_boxes(n, seed=n), np.zeros(n, int), [cosmetic_pen(QColor("red"))])
    assert _paint(layer).rects == n


def test_fake_trace_anchor_layout_is_torchvisions(fake_trace):
    """The fixture's anchors (hence every cell/anchor test here) follow
    torchvision's AnchorGenerator order and geometry."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList

    gen = AnchorGenerator(sizes=((32.0, 64.0),), aspect_ratios=((0.5, 1.0, 2.0),))
    images = ImageList(torch.zeros(1, 3, 112, 160), [(100, 150)])
    feature = torch.zeros(1, 8, 7, 10)  # stride 16 on the padded 112 x 160 batch
    anchors = gen(images, [feature])[0].numpy()
    np.testing.assert_allclose(fake_trace.anchors * 0.5, anchors, atol=1e-4)  # trace: original pixels


def test_tags_stay_inside_the_image_when_their_box_leaves_it(qapp):
    from PySide6.QtCore import QPointF, QRectF
    from PySide6.QtGui import QColor, QImage, QPainter

    from detector_app.qt.layers import draw_tag

    img = QImage(400, 300, QImage.Format.Format_RGB32)
    img.fill(0)
    painter = QPainter(img)
    painter.translate(50, 40)
    painter.scale(2, 2)  # the image (0, 0, 100, 80) lands on device (50, 40) - (250, 200)
    image = QRectF(0, 0, 100, 80)
    try:
        left = draw_tag(painter, QPointF(-20, 30), "anchor #1751", QColor("yellow"), 12, above=False, inside=image)
        below = draw_tag(painter, QPointF(90, 80), "refined", QColor("red"), 12, above=False, align_right=True,
                         inside=image)
        free = draw_tag(painter, QPointF(-20, 30), "anchor #1751", QColor("yellow"), 12, above=False)
        inner = draw_tag(painter, QPointF(30, 30), "here", QColor("yellow"), 12, above=True, inside=image)
    finally:
        painter.end()
    device = QRectF(50, 40, 200, 160)
    for rect in (left, below):
        assert device.contains(rect), rect
    assert (left.left(), left.top()) == (50, 100)  # slid sideways only
    assert below.bottom() == 200 and below.right() == 230  # slid up only
    assert free.left() == 10  # without an area it stays at its corner
    assert (inner.left(), inner.bottom()) == (110, 100)  # a tag with room stays at its corner


def test_tags_step_down_instead_of_covering_each_other(qapp):
    """Two detections of one object (a 0.73 over a 0.97): the second tag goes below the first."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor, QImage, QPainter

    from detector_app.qt.layers import draw_tag

    img = QImage(300, 200, QImage.Format.Format_RGB32)
    img.fill(0)
    painter = QPainter(img)
    placed: list[QRectF] = []
    try:
        first = draw_tag(painter, QPointF(20, 50), "cat 0.97", QColor("orange"), 12, avoid=placed)
        second = draw_tag(painter, QPointF(24, 52), "dog 0.73", QColor("pink"), 12, avoid=placed)
        apart = draw_tag(painter, QPointF(200, 150), "bar 0.60", QColor("olive"), 12, avoid=placed)
    finally:
        painter.end()
    assert not first.intersects(second) and second.top() == first.bottom() + 1
    assert (apart.left(), apart.bottom()) == (200, 150)  # a tag with room keeps its corner
    assert placed == [first, second, apart]
