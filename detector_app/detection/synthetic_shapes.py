"""Drawing the synthetic shapes: classes, masks, backgrounds, textures, visibility.

Seven shapes (``SHAPES``): the five classes of the bundled model (``CLASS_NAMES``)
and two it never saw (``NEW_SHAPES``). Every object is rendered as a binary mask
``bool[H, W]``; where later (occluding) objects cover it, it is hidden, and its box
is the tight axis-aligned box of the *visible* mask in the project's convention
(pixel ``i`` spans ``[i, i + 1)``, so a mask covering columns ``a..b`` gives
``x1 = a, x2 = b + 1``). Objects that are mostly hidden are dropped.

Everything random is drawn from the ``numpy.random.Generator`` passed in, in a
fixed order: the same generator state gives the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from detector_app.domain.errors import UserError

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "bar", "star")
#: Shapes the bundled model was never trained on, for new-class experiments
#: (``classes=`` of :func:`generate_image` / :func:`write_dataset`, ``synth --classes``).
NEW_SHAPES: tuple[str, ...] = ("cross", "hexagon")
#: Every shape the generator draws; ``SynthObject.class_index`` indexes this tuple
#: (its first five entries are ``CLASS_NAMES``).
SHAPES: tuple[str, ...] = CLASS_NAMES + NEW_SHAPES
#: Background kinds, in the order the generator draws them.
BACKGROUNDS: tuple[str, ...] = ("flat", "gradient", "noise", "stripes", "clutter")
#: Object fill kinds, in the order the generator draws them.
FILLS: tuple[str, ...] = ("flat", "gradient", "stripes", "speckle")

#: Objects whose visible area is below this fraction of their full area are dropped.
MIN_VISIBLE_FRACTION = 0.35
#: Objects whose visible box is smaller than this (pixels, either side) are dropped.
MIN_VISIBLE_SIDE = 4


class SynthError(UserError, ValueError):
    """Bad arguments for the synthetic generator."""


@dataclass
class SynthObject:
    """One rendered object: class index (0-based into ``SHAPES``), its
    visible mask ``bool[H, W]`` and visible box ``(x1, y1, x2, y2)``; ``fill``
    is one of ``FILLS`` ("" for the video's flat-coloured shapes)."""

    class_index: int
    box: tuple[float, float, float, float]
    mask: np.ndarray = field(repr=False)
    area: int = 0
    fill: str = ""




# ---------------------------------------------------------------- shapes
def _polygon_mask(h: int, w: int, pts: np.ndarray) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    # 4 fractional bits keep sub-pixel vertex positions, no anti-aliasing.
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _rotate(pts: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return pts @ np.array([[c, s], [-s, c]])


def shape_mask(rng: np.random.Generator, cls: int, h: int, w: int, size: float, cx: float, cy: float,
               wide: bool = False) -> np.ndarray:
    """Full (unoccluded) mask ``bool[h, w]`` of one shape whose extent is ~``size`` px.

    ``wide``: the ``wide`` style's proportions (:mod:`synthetic_wide`): bars from 1:8 to
    3:5 at any angle, stars with inner radius 0.28-0.62 of the outer, triangles further
    from equilateral. ``False`` keeps the first generator's draws, byte for byte.
    """
    name = SHAPES[cls]
    if name == "circle":
        t = np.linspace(0, 2 * math.pi, 96, endpoint=False)
        r = size / 2
        pts = np.stack([np.cos(t), np.sin(t)], 1) * r
    elif name == "square":
        a = size / 2 / math.sqrt(2)  # rotated square fits in ~size
        a = a * rng.uniform(1.0, math.sqrt(2))
        pts = _rotate(np.array([[-a, -a], [a, -a], [a, a], [-a, a]]), rng.uniform(0, math.pi / 2))
    elif name == "triangle":
        r = size / 2
        ang = np.array([0.0, 2 * math.pi / 3, 4 * math.pi / 3]) + rng.normal(0, 0.22 if wide else 0.12, 3)
        pts = _rotate(np.stack([np.cos(ang), np.sin(ang)], 1) * r, rng.uniform(0, 2 * math.pi))
    elif name == "bar":
        long_side = size
        short = long_side * (rng.uniform(0.12, 0.6) if wide else rng.uniform(0.25, 0.5))
        hw, hh = (long_side / 2, short / 2) if rng.random() < 0.5 else (short / 2, long_side / 2)
        pts = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
        if wide:
            pts = _rotate(pts, rng.uniform(0, math.pi))
    elif name == "star":
        r_out = size / 2
        r_in = r_out * (rng.uniform(0.28, 0.62) if wide else rng.uniform(0.38, 0.5))
        k = np.arange(10)
        rad = np.where(k % 2 == 0, r_out, r_in)
        ang = k * math.pi / 5 + rng.uniform(0, 2 * math.pi)
        pts = np.stack([np.cos(ang) * rad, np.sin(ang) * rad], 1)
    elif name == "cross":  # a plus sign: two bars of one width, rotated
        arm = size / 2
        q = arm * rng.uniform(0.22, 0.36)  # half the width of a bar
        outline = [[-q, -arm], [q, -arm], [q, -q], [arm, -q], [arm, q], [q, q], [q, arm], [-q, arm],
                   [-q, q], [-arm, q], [-arm, -q], [-q, -q]]
        pts = _rotate(np.array(outline), rng.uniform(0, math.pi / 2))
    elif name == "hexagon":
        ang = np.arange(6) * math.pi / 3 + rng.uniform(0, math.pi / 3)
        pts = np.stack([np.cos(ang), np.sin(ang)], 1) * (size / 2)
    else:  # pragma: no cover - SHAPES is fixed
        raise AssertionError(name)
    return _polygon_mask(h, w, pts + np.array([cx, cy]))


# ---------------------------------------------------------------- textures
def random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, 3).astype(np.float32)


def random_background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, str]:
    """A random background ``float32[h, w, 3]`` in 0..255 and its kind (``BACKGROUNDS``)."""
    kind = int(rng.integers(0, len(BACKGROUNDS)))
    c1, c2 = random_colour(rng), random_colour(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # flat
        img = np.broadcast_to(c1, (h, w, 3)).copy()
    elif kind == 1:  # linear gradient
        ang = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(ang) + yy * math.sin(ang))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    elif kind == 2:  # smooth noise blobs
        small = rng.uniform(0, 1, (max(2, h // 64), max(2, w // 64), 3)).astype(np.float32)
        t = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        img = c1 * (1 - t) + c2 * t
    elif kind == 3:  # stripes
        period = rng.uniform(8, 48)
        ang = rng.uniform(0, math.pi)
        t = (xx * math.cos(ang) + yy * math.sin(ang)) / period
        t = (np.sin(t * 2 * math.pi) > 0).astype(np.float32)
        c2 = c1 + np.clip(c2 - c1, -70, 70)  # keep stripes low-contrast
        img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    else:  # flat + clutter lines
        img = np.broadcast_to(c1, (h, w, 3)).copy()
        for _ in range(int(rng.integers(5, 25))):
            p1 = tuple(int(v) for v in rng.integers(0, [w, h]))
            p2 = tuple(int(v) for v in rng.integers(0, [w, h]))
            col = tuple(float(v) for v in random_colour(rng))
            cv2.line(img, p1, p2, col, int(rng.integers(1, 4)), lineType=cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.float32), BACKGROUNDS[kind]


def random_texture(rng: np.random.Generator, h: int, w: int, avoid: np.ndarray) -> tuple[np.ndarray, str]:
    """A fill ``float32[h, w, 3]`` whose mean colour differs from ``avoid``, and its kind (``FILLS``)."""
    for _ in range(20):
        c1 = random_colour(rng)
        if float(np.abs(c1 - avoid).sum()) > 120:
            break
    kind = int(rng.integers(0, len(FILLS)))
    if kind == 0:
        return np.broadcast_to(c1, (h, w, 3)).astype(np.float32), FILLS[kind]
    c2 = np.clip(c1 + rng.uniform(-60, 60, 3), 0, 255).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 1:  # gradient
        ang = rng.uniform(0, 2 * math.pi)
        t = xx * math.cos(ang) + yy * math.sin(ang)
        t = ((t - t.min()) / max(float(t.max() - t.min()), 1e-6))[..., None]
    elif kind == 2:  # stripes
        period = rng.uniform(4, 20)
        t = ((xx + yy * rng.uniform(-1, 1)) // period % 2)[..., None]
    else:  # speckle
        t = rng.uniform(0, 1, (h, w, 1)).astype(np.float32)
    return c1 * (1 - t) + c2 * t, FILLS[kind]


def paint_texture(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray,
                  box: tuple[float, float, float, float]) -> str:
    """Fill ``mask`` (bool[H, W], tight box ``box``) of ``img`` float32[H, W, 3] in place with
    a random texture whose colour differs from what lies under the box; returns its kind."""
    x1, y1, x2, y2 = (int(v) for v in box)
    region, sub = img[y1:y2, x1:x2], mask[y1:y2, x1:x2]
    tex, fill = random_texture(rng, y2 - y1, x2 - x1, region.reshape(-1, 3).mean(axis=0))
    region[sub] = tex[sub]
    return fill


# ---------------------------------------------------------------- images
def visible_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if len(xs) == 0:
        return None
    return (float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1))


def visible_objects(layers: Sequence[tuple[int, np.ndarray, str]], h: int, w: int) -> list[SynthObject]:
    """The visible part of each drawn shape, in drawing order. ``layers``: ``(index into
    SHAPES, full mask bool[h, w], fill)`` from back to front; each is hidden where a later
    one covers it. Mostly hidden (``MIN_VISIBLE_FRACTION``) or tiny (``MIN_VISIBLE_SIDE``)
    objects are dropped."""
    objects: list[SynthObject] = []
    covered = np.zeros((h, w), bool)
    for cls, mask, fill in reversed(layers):
        visible = mask & ~covered
        covered |= mask
        area = int(visible.sum())
        box = visible_box(visible)
        if box is None or area < MIN_VISIBLE_FRACTION * int(mask.sum()):
            continue
        if box[2] - box[0] < MIN_VISIBLE_SIDE or box[3] - box[1] < MIN_VISIBLE_SIDE:
            continue
        objects.append(SynthObject(cls, box, visible, area, fill))
    objects.reverse()
    return objects


__all__ = [
    "BACKGROUNDS", "CLASS_NAMES", "FILLS", "MIN_VISIBLE_FRACTION", "MIN_VISIBLE_SIDE", "NEW_SHAPES", "SHAPES",
    "SynthError", "SynthObject", "paint_texture", "random_background", "random_colour", "random_texture",
    "shape_mask", "visible_box", "visible_objects",
]
