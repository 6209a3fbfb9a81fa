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

#: Colours of the diagnostic overlays (anchor labels, the stepper's lineage, selection):
#: saturated primaries, kept for them alone (``overlay_style.OverlayStyle`` uses these).
OVERLAY_RGB: dict[str, tuple[int, int, int]] = {
    "positive": (40, 220, 60), "negative": (230, 40, 40), "ignored": (170, 170, 170),
    "boundary": (80, 140, 255), "anchor": (255, 255, 0), "proposal": (0, 200, 255),
    "refined": (255, 80, 255), "selection": (255, 255, 255),
}
#: Anchors drawn by scale (small, medium, large, ...): cool colours, apart from the classes'.
ANCHOR_SCALE_RGB: tuple[tuple[int, int, int], ...] = ((30, 110, 200), (0, 150, 150), (130, 90, 230))

#: Class colours: 12 warm and earthy tones, each at CIELAB distance >= 35 from every
#: overlay colour above, the anchor scales and the objectness colormap (viridis spans
#: purple, blue, teal, green and yellow), and >= 25 from each other; ordered so that
#: the first classes differ most (farthest-first). Class 13 reuses class 1's colour.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (245, 130, 48),   # orange
    (220, 190, 255),  # lavender
    (219, 219, 141),  # khaki
    (101, 69, 34),    # dark brown
    (179, 68, 108),   # plum
    (128, 128, 0),    # olive
    (249, 133, 121),  # salmon
    (255, 187, 120),  # apricot
    (136, 45, 23),    # rust
    (170, 110, 40),   # brown
    (246, 166, 0),    # amber
    (230, 143, 172),  # pink
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
    """RGB of a 1-based class index (0 = background, grey). Deterministic, cycles after 12."""
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


def cielab(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``uint8[..., 3]`` -> CIELAB ``float[..., 3]`` (D65): distances there match what eyes see."""
    c = np.asarray(rgb, np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    f = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(f > 0.008856, np.cbrt(f), 7.787 * f + 16.0 / 116.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)


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
