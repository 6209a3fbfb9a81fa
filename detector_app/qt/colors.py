"""Colours used by every view: a deterministic class palette and a score colormap.

Class colours are keyed by the **1-based class index** (the model's label id,
``LabelMap.id_of(name)``); index 0 is the background. The same index always
gives the same colour in the canvas, the legend, the stepper and the lists.

The score colormap maps a value in ``[0, 1]`` (objectness, class score) to a
perceptually ordered colour (viridis' control points, linearly interpolated).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

#: 20 distinct, saturated colours (Kelly / tab20-like), readable on photos.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),    # red
    (60, 180, 75),    # green
    (255, 225, 25),   # yellow
    (0, 130, 200),    # blue
    (245, 130, 48),   # orange
    (145, 30, 180),   # purple
    (70, 240, 240),   # cyan
    (240, 50, 230),   # magenta
    (210, 245, 60),   # lime
    (250, 190, 212),  # pink
    (0, 128, 128),    # teal
    (220, 190, 255),  # lavender
    (170, 110, 40),   # brown
    (255, 250, 200),  # beige
    (128, 0, 0),      # maroon
    (170, 255, 195),  # mint
    (128, 128, 0),    # olive
    (255, 215, 180),  # apricot
    (0, 0, 128),      # navy
    (255, 255, 255),  # white
)
BACKGROUND_RGB: tuple[int, int, int] = (128, 128, 128)

#: viridis control points, value 0 -> dark purple, 1 -> yellow.
_VIRIDIS = np.array(
    [
        (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
        (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37),
    ],
    dtype=np.float64,
)


def class_rgb(index: int) -> tuple[int, int, int]:
    """RGB of a 1-based class index (0 = background, grey). Deterministic, cycles after 20."""
    index = int(index)
    if index <= 0:
        return BACKGROUND_RGB
    return PALETTE[(index - 1) % len(PALETTE)]


def class_color(index: int, alpha: int = 255) -> QColor:
    """:func:`class_rgb` as a ``QColor``."""
    r, g, b = class_rgb(index)
    return QColor(r, g, b, alpha)


def class_index_of(name: str, names: list[str]) -> int:
    """1-based index of ``name`` in a background-free list of class names.

    Unknown names get a stable index past the list (so they still get a colour,
    and the same one every time) from a hash of the name.
    """
    try:
        return names.index(name) + 1
    except ValueError:
        return len(names) + 1 + (sum(name.encode("utf-8")) % len(PALETTE))


def colormap_rgb(values: np.ndarray) -> np.ndarray:
    """``float[N]`` in ``[0, 1]`` (clipped) -> ``uint8[N, 3]`` viridis colours."""
    v = np.clip(np.asarray(values, np.float64).reshape(-1), 0.0, 1.0)
    pos = v * (len(_VIRIDIS) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(_VIRIDIS) - 1)
    t = (pos - lo)[:, None]
    rgb = _VIRIDIS[lo] * (1.0 - t) + _VIRIDIS[hi] * t
    return np.round(rgb).astype(np.uint8)


def colormap_color(value: float, alpha: int = 255) -> QColor:
    """One colormap colour as a ``QColor``."""
    r, g, b = (int(c) for c in colormap_rgb(np.array([value]))[0])
    return QColor(r, g, b, alpha)


def score_bins(values: np.ndarray, num_bins: int) -> np.ndarray:
    """``float[N]`` in ``[0, 1]`` -> ``int64[N]`` bin in ``0 .. num_bins - 1``."""
    v = np.clip(np.asarray(values, np.float64).reshape(-1), 0.0, 1.0)
    return np.minimum((v * num_bins).astype(np.int64), num_bins - 1)


def bin_colors(num_bins: int, alpha: int = 255) -> list[QColor]:
    """The colour of each score bin (the colormap at the bin centre)."""
    centres = (np.arange(num_bins) + 0.5) / num_bins
    return [QColor(int(r), int(g), int(b), alpha) for r, g, b in colormap_rgb(centres)]


def readable_text_color(background: QColor) -> QColor:
    """Black or white, whichever reads better on ``background``."""
    luma = 0.299 * background.red() + 0.587 * background.green() + 0.114 * background.blue()
    return QColor(0, 0, 0) if luma > 150 else QColor(255, 255, 255)
