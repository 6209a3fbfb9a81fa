"""Class colours never clash with the overlays' colours (CIELAB distance), nor each other."""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtGui import QColor

from detector_app.qt.colors import ANCHOR_SCALE_RGB, PALETTE, cielab, class_rgb, colormap_rgb
from detector_app.qt.overlay_style import DEFAULT_STYLE

OVERLAY_MIN = 35.0  # CIELAB delta E 1976: ~2.3 is just noticeable; 35 is another colour name
CLASS_MIN = 25.0


def _overlay_colours() -> np.ndarray:
    style = [getattr(DEFAULT_STYLE, f.name) for f in dataclasses.fields(DEFAULT_STYLE)]
    rgb = [c.getRgb()[:3] for c in style if isinstance(c, QColor)]
    rgb += [DEFAULT_STYLE.anchor_scale_color(i).getRgb()[:3] for i in range(len(ANCHOR_SCALE_RGB))]
    objectness = colormap_rgb(np.linspace(0.0, 1.0, 101))
    return np.vstack([np.array(rgb, np.float64), objectness.astype(np.float64)])


def test_cielab_of_known_colours() -> None:
    assert np.allclose(cielab(np.array([255, 255, 255])), [100, 0, 0], atol=0.1)
    assert np.allclose(cielab(np.array([255, 0, 0])), [53.24, 80.09, 67.20], atol=0.1)


def test_no_class_colour_is_near_an_overlay_colour() -> None:
    classes, overlays = cielab(np.array(PALETTE)), cielab(_overlay_colours())
    dist = np.sqrt(((classes[:, None] - overlays[None]) ** 2).sum(-1))
    assert dist.min() >= OVERLAY_MIN, f"class {int(dist.min(axis=1).argmin()) + 1} is near an overlay colour"


def test_class_colours_differ_from_each_other_and_cycle() -> None:
    lab = cielab(np.array(PALETTE))
    dist = np.sqrt(((lab[:, None] - lab[None]) ** 2).sum(-1)) + np.eye(len(PALETTE)) * 1e9
    assert dist.min() >= CLASS_MIN
    assert class_rgb(1) == PALETTE[0] and class_rgb(len(PALETTE) + 1) == PALETTE[0]
