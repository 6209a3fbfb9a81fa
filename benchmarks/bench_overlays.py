"""Overlay drawing speed: one ``RectLayer`` item vs one ``QGraphicsRectItem`` per box.

Renders a scene holding N anchor-like boxes (sizes 16-256 px, 4 colours, on a
1024 x 768 image) into a 1024 x 768 QImage with QPainter, several times, and
prints the median time per full redraw plus the time to build the scene.
Also the layer's redraw when zoomed in 4x (only 1/16 of it exposed: culling),
and a full repaint of a real ``ImageCanvas`` viewport (about 1024 x 768) showing
the boxes in its proposals layer, at fit zoom, with the layer's cache invalidated.

    python benchmarks/bench_overlays.py [--quick] [--json OUT] [--repeats 7] [--sizes 1000 10000 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Row, add_common_args, finish  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QRectF  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication, QGraphicsRectItem, QGraphicsScene  # noqa: E402

from detector_app.qt.canvas import ImageCanvas  # noqa: E402
from detector_app.qt.layers import RectLayer  # noqa: E402
from detector_app.qt.overlay_style import cosmetic_pen  # noqa: E402

W, H = 1024, 768
COLORS = [QColor(0, 130, 200), QColor(245, 130, 48), QColor(70, 240, 240), QColor(240, 50, 230)]


def make_boxes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = rng.uniform(16, 256, n)
    ratio = rng.choice([0.5, 1.0, 2.0], n)
    w, h = size / np.sqrt(ratio), size * np.sqrt(ratio)
    cx, cy = rng.uniform(0, W, n), rng.uniform(0, H, n)
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, rng.integers(0, len(COLORS), n)


def layer_scene(boxes: np.ndarray, groups: np.ndarray) -> QGraphicsScene:
    scene = QGraphicsScene(0, 0, W, H)
    layer = RectLayer()
    layer.set_boxes(boxes, groups, [cosmetic_pen(c, 0) for c in COLORS])
    scene.addItem(layer)
    return scene


def items_scene(boxes: np.ndarray, groups: np.ndarray) -> QGraphicsScene:
    scene = QGraphicsScene(0, 0, W, H)
    pens = [cosmetic_pen(c, 0) for c in COLORS]
    for (x1, y1, x2, y2), g in zip(boxes.tolist(), groups.tolist()):
        item = QGraphicsRectItem(x1, y1, x2 - x1, y2 - y1)
        item.setPen(pens[g])
        scene.addItem(item)
    return scene


def render_ms(scene: QGraphicsScene, repeats: int, source: QRectF | None = None) -> float:
    image = QImage(W, H, QImage.Format.Format_ARGB32_Premultiplied)
    source = source or QRectF(0, 0, W, H)
    times = []
    for _ in range(repeats):
        image.fill(0)
        painter = QPainter(image)
        t0 = time.perf_counter()
        scene.render(painter, QRectF(0, 0, W, H), source)
        painter.end()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def canvas_ms(boxes: np.ndarray, groups: np.ndarray, repeats: int) -> float:
    view = ImageCanvas()
    view.resize(W + 2, H + 2)
    view.show()
    view.set_image(np.full((H, W, 3), 90, np.uint8))
    layer = view.layer("proposals")
    layer.set_boxes(boxes, groups, [cosmetic_pen(c, 0) for c in COLORS])  # type: ignore[attr-defined]
    view.set_layer_visible("proposals", True)
    QApplication.processEvents()
    times = []
    for _ in range(repeats):
        layer.update()  # drop its cached pixmap: a full redraw of the layer
        t0 = time.perf_counter()
        view.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1000)
    view.close()
    view.deleteLater()
    return statistics.median(times)


TARGET_MS = 50.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--repeats", type=int, default=None, help="renders per measurement (default 7)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="box counts (default 1000 10000 20000)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    sizes = args.sizes or ([1000, 5000] if args.quick else [1000, 10000, 20000])
    app = QApplication.instance() or QApplication([])  # noqa: F841 (keeps Qt alive)
    rows: list[Row] = []
    for n in sizes:
        boxes, groups = make_boxes(n)
        t0 = time.perf_counter()
        ls = layer_scene(boxes, groups)
        layer_build = (time.perf_counter() - t0) * 1000
        layer_ms = render_ms(ls, repeats)
        zoom_ms = render_ms(ls, repeats, QRectF(W * 3 / 8, H * 3 / 8, W / 4, H / 4))
        t0 = time.perf_counter()
        its = items_scene(boxes, groups)
        items_build = (time.perf_counter() - t0) * 1000
        items_ms = render_ms(its, repeats)
        view_ms = canvas_ms(boxes, groups, repeats)
        target = n == 20000
        rows.append(Row("gui", f"redraw {n} boxes: overlay layer (one item)", f"{layer_ms:.1f} ms",
                        f"< {TARGET_MS:.0f} ms" if target else "", (layer_ms < TARGET_MS) if target else None,
                        f"{W}x{H} render, median of {repeats}; layer built in {layer_build:.0f} ms; "
                        f"4x zoom (1/16 exposed) {zoom_ms:.1f} ms; real canvas viewport repaint {view_ms:.1f} ms"))
        rows.append(Row("gui", f"redraw {n} boxes: one QGraphicsRectItem per box", f"{items_ms:.1f} ms",
                        note=f"{items_ms / layer_ms:.1f}x the layer's time; scene built in {items_build:.0f} ms"))
        its.clear()
    finish("bench_overlays", rows, args)


if __name__ == "__main__":
    main()
