"""The ``wide`` style of the synthetic generator: what the first style never showed.

The first style (``v1``) draws its shapes at a few proportions over five kinds of
background, with mild noise and blur. A model trained on it alone scores well
on its own holdout and clearly less on shapes drawn by other code. ``wide``
keeps the five classes and their ground-truth rules (boxes of the visible
masks) and widens everything around them:

- backgrounds: the five first-style kinds, plus fine (per-pixel) noise, several
  octaves of noise, checkerboards and grids, and woven sinusoid textures;
- clutter that is not an object: blobs, elongated ellipses, arcs, scribbles and
  straight lines too thin to be bars, some behind the shapes and some in front of them (occluders that
  hide parts of objects and count in their visibility);
- shapes: every shape at any rotation, bars from 1:8 to 3:5, stars with
  inner radius 0.28-0.62 of the outer, triangles further from equilateral
  (``shape_mask(wide=True)``);
- the camera: Gaussian or motion blur, sensor noise (Gaussian, signal-dependent
  shot noise, salt and pepper), brightness/contrast/gamma changes, and JPEG
  artefacts from a re-encode at quality 15-90.

Deterministic as the first style: everything comes from the generator passed in.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from detector_app.detection.synthetic_shapes import (
    BACKGROUNDS,
    SynthObject,
    paint_texture,
    random_background,
    random_colour,
    shape_mask,
    visible_box,
    visible_objects,
)

#: Background kinds the wide style adds to ``BACKGROUNDS``.
WIDE_BACKGROUNDS: tuple[str, ...] = BACKGROUNDS + ("fine_noise", "octaves", "checker", "grid", "weave")
#: Clutter kinds (never objects).
CLUTTER: tuple[str, ...] = ("blob", "ellipse", "arc", "scribble", "line")
#: A mask layer's class index for clutter drawn in front of the objects (hides them, is never an object).
OCCLUDER = -1


def wide_background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, str]:
    """A background ``float32[h, w, 3]`` in 0..255 and its kind (``WIDE_BACKGROUNDS``)."""
    kind = int(rng.integers(0, len(WIDE_BACKGROUNDS)))
    if kind < len(BACKGROUNDS):
        return random_background(rng, h, w)
    c1, c2 = random_colour(rng), random_colour(rng)
    name = WIDE_BACKGROUNDS[kind]
    if name == "fine_noise":
        t = rng.uniform(0, 1, (h, w, 1)).astype(np.float32) * rng.uniform(0.2, 1.0)
    elif name == "octaves":
        t = np.zeros((h, w, 1), np.float32)
        for octave in range(int(rng.integers(3, 6))):
            cells = 2 ** (octave + 2)
            small = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
            layer = np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
            t[..., 0] += layer * np.float32(1.6 ** -octave)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    else:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ang = rng.uniform(0, math.pi)
        u = xx * math.cos(ang) + yy * math.sin(ang)
        v = -xx * math.sin(ang) + yy * math.cos(ang)
        period = rng.uniform(6, 40)
        if name == "checker":
            t = ((np.floor(u / period) + np.floor(v / period)) % 2)[..., None]
        elif name == "grid":
            line = rng.uniform(1, 4)
            t = (((u % period) < line) | ((v % period) < line)).astype(np.float32)[..., None]
        else:  # weave: two crossing sinusoids
            weave = 0.5 + 0.25 * np.sin(u / period * 2 * math.pi) + 0.25 * np.sin(v / (period * 0.7) * 2 * math.pi)
            t = weave[..., None]
        c2 = c1 + np.clip(c2 - c1, -90, 90)
    img = c1 * (1 - t) + c2 * t
    return np.clip(img, 0, 255).astype(np.float32), name


def clutter_mask(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """The mask ``bool[h, w]`` of one piece of clutter about ``scale`` px across."""
    kind = CLUTTER[int(rng.integers(0, len(CLUTTER)))]
    mask = np.zeros((h, w), np.uint8)
    cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
    if kind == "blob":  # a smooth, elongated irregular outline (never round, never spiky)
        ang = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        wobble = 1 + rng.uniform(0, 0.3) * np.sin(2 * ang + rng.uniform(0, 6.3)) \
            + rng.uniform(0, 0.2) * np.sin(3 * ang + rng.uniform(0, 6.3))
        pts = np.stack([np.cos(ang) * wobble, np.sin(ang) * wobble * rng.uniform(0.35, 0.75)], 1) * scale / 2
        turn = rng.uniform(0, math.pi)
        pts = pts @ np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
        cv2.fillPoly(mask, [np.round(pts + np.array([cx, cy])).astype(np.int32)], 1)
    elif kind == "ellipse":  # clearly elongated, so never a circle
        axes = (max(1, int(scale / 2)), max(1, int(scale / 2 * rng.uniform(0.1, 0.45))))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif kind == "arc":
        r = max(2, int(scale / 2))
        start = float(rng.uniform(0, 360))
        cv2.ellipse(mask, (int(cx), int(cy)), (r, r), 0, start, start + float(rng.uniform(60, 250)), 1,
                    int(rng.integers(2, 7)))
    elif kind == "scribble":
        n = int(rng.integers(3, 8))
        pts = np.cumsum(rng.normal(0, scale / 3, (n, 2)), 0) + np.array([cx, cy])
        cv2.polylines(mask, [np.round(pts).astype(np.int32)], False, 1, int(rng.integers(1, 5)))
    else:  # a straight line, at most 4 px thick: thinner for its length than the thinnest bar (1:8)
        theta = float(rng.uniform(0, math.pi))
        dx, dy = math.cos(theta) * scale, math.sin(theta) * scale
        cv2.line(mask, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), 1, int(rng.integers(1, 5)))
    return mask.astype(bool)


def _paint(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray) -> str:
    """Fill ``mask`` of ``img`` (in place) with a random texture; returns its kind ("" for an empty mask)."""
    box = visible_box(mask)
    return "" if box is None else paint_texture(rng, img, mask, box)


def camera(rng: np.random.Generator, img: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Blur, exposure, sensor noise and JPEG artefacts on ``img`` float32[h, w, 3].

    Returns the image ``uint8[h, w, 3]``, the Gaussian noise sigma and the blur size (0: none).
    """
    blur = int(rng.choice([0, 0, 3, 5, 7, 9]))
    if blur and rng.random() < 0.35:  # motion blur: a line kernel at a random angle
        kernel = np.zeros((blur, blur), np.float32)
        kernel[blur // 2, :] = 1.0
        rot = cv2.getRotationMatrix2D((blur / 2 - 0.5, blur / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
        tilted = np.asarray(cv2.warpAffine(kernel, rot, (blur, blur)), np.float32)
        img = cv2.filter2D(img, -1, tilted / max(float(tilted.sum()), 1e-6))
    elif blur:
        img = cv2.GaussianBlur(img, (blur, blur), 0)
    gain, bias = float(rng.uniform(0.6, 1.3)), float(rng.uniform(-40, 40))
    img = np.clip(img * gain + bias, 0, 255)
    if rng.random() < 0.3:
        img = 255.0 * (img / 255.0) ** float(rng.uniform(0.6, 1.6))
    sigma = float(rng.choice([0.0, 3.0, 6.0, 10.0, 16.0]))
    if sigma:
        img = img + rng.normal(0, sigma, img.shape).astype(np.float32)
    if rng.random() < 0.3:  # shot noise: variance grows with the signal
        img = img + rng.normal(0, 1, img.shape).astype(np.float32) * np.sqrt(np.clip(img, 0, 255)) * 0.8
    out = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if rng.random() < 0.15:  # salt and pepper
        hit = rng.random(out.shape[:2]) < rng.uniform(0.002, 0.02)
        out[hit] = rng.choice([0, 255], size=(int(hit.sum()), 1)).astype(np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 91))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out, sigma, blur


WideImage = tuple[np.ndarray, list[SynthObject], str, float, int]


def compose_wide(rng: np.random.Generator, h: int, w: int, shapes: list[tuple[int, float, float, float]]) -> WideImage:
    """Draw ``shapes`` ``(class_index, size, cx, cy)`` in the wide style (later on top).

    Returns the RGB image ``uint8[h, w, 3]``, the visible objects (occluders count),
    the background kind, the noise sigma and the blur size.
    """
    img, bg_kind = wide_background(rng, h, w)
    side = float(min(h, w))
    for _ in range(int(rng.integers(0, 9))):  # clutter behind the objects
        _paint(rng, img, clutter_mask(rng, h, w, side * float(rng.uniform(0.04, 0.3))))
    layers: list[tuple[int, np.ndarray, str]] = []
    for cls, size, cx, cy in shapes:
        mask = shape_mask(rng, cls, h, w, size, cx, cy, wide=True)
        if not mask.any():
            continue
        fill = _paint(rng, img, mask)
        if rng.random() < 0.3:  # outline in another colour, inside the mask
            edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            img[edge] = random_colour(rng)
        layers.append((cls, mask, fill))
    for _ in range(int(rng.choice([0, 0, 0, 1, 2, 3]))):  # occluders in front
        mask = clutter_mask(rng, h, w, side * float(rng.uniform(0.05, 0.25)))
        _paint(rng, img, mask)
        layers.append((OCCLUDER, mask, ""))
    objects = [o for o in visible_objects(layers, h, w) if o.class_index != OCCLUDER]
    out, sigma, blur = camera(rng, img)
    return out, objects, bg_kind, sigma, blur


__all__ = ["CLUTTER", "OCCLUDER", "WIDE_BACKGROUNDS", "camera", "clutter_mask", "compose_wide", "wide_background"]
