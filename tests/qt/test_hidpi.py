"""HiDPI: at a device pixel ratio of 2 (``QT_SCALE_FACTOR=2``, in a fresh
process since the ratio is fixed when the QApplication starts), zoom 1:1 maps
one image pixel to one device pixel, boxes stay thin cosmetic lines, and
mouse positions still come back in image pixels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import json
import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from detector_app.domain.annotations import Annotation
from detector_app.domain.boxes import Box
from detector_app.qt.app import make_application
from detector_app.qt.canvas import ImageCanvas

app = make_application()
c = ImageCanvas()
c.resize(400, 300)
c.show()
app.processEvents()
img = np.zeros((200, 300, 3), np.uint8)
img[:, 100] = 255  # one white image column at x = 100
c.set_image(img)
c.zoom_actual()
c.centerOn(100, 100)
app.processEvents()
shot = c.viewport().grab().toImage()
dpr = shot.devicePixelRatio()
y = int(c.image_to_view(100.5, 50).y() * dpr)
white = [x for x in range(shot.width()) if shot.pixelColor(x, y).red() > 128]

c.set_annotations([Annotation(Box(130, 40, 180, 160), "cat", id="a")], ["cat"])
app.processEvents()
shot = c.viewport().grab().toImage()
edge = c.image_to_view(130, 100)
row = int(edge.y() * dpr)
x0 = int(edge.x() * dpr)
line = [x for x in range(x0 - 6, x0 + 7) if shot.pixelColor(x, row).getRgb()[:3] != (0, 0, 0)]

got = []
c.imageMouseMoved.connect(lambda x, y: got.append((x, y)))
QTest.mouseMove(c.viewport(), c.image_to_view(150.0, 120.0).toPoint())
app.processEvents()
print(json.dumps({"dpr": c.devicePixelRatioF(), "zoom": c.zoom, "white": white, "line": line,
                  "mouse": got[-1] if got else None}))
"""


def run_probe(scale: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR=scale)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=root, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("scale", ["1", "2"])
def test_one_to_one_zoom_and_thin_boxes_at_any_device_pixel_ratio(scale):
    r = run_probe(scale)
    dpr = float(scale)
    assert r["dpr"] == pytest.approx(dpr)
    assert r["zoom"] == pytest.approx(1.0 / dpr)  # 1:1 in *device* pixels
    assert len(r["white"]) == 1  # one image column is one device column: no blur, no doubling
    assert 1 <= len(r["line"]) <= 3  # the 2-device-pixel box outline (plus antialiasing at most)
    assert r["mouse"] == pytest.approx([150.0, 120.0], abs=1.0 / dpr + 0.01)
