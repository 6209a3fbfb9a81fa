"""Shapes drawn by code the bundled model's generator does not share: a held-out judge.

``detector_app.detection.synthetic`` draws its five classes one way (unsmoothed
polygon masks, its own backgrounds and textures). A model trained on it can
learn that code's habits as much as the shapes. This module draws the same five
classes independently, so that a score on it says how the model generalises:

- OpenCV's anti-aliased primitives (``cv2.circle``, ``cv2.fillPoly`` with
  ``LINE_AA``) instead of hard masks; objects never overlap (no occlusion rule
  to share);
- its own parametrisations: squares and bars from ``cv2.boxPoints`` at any angle,
  bars 1:2.5 to 1:7, triangles of any shape with every angle >= 30 degrees
  (not jittered equilateral ones), stars with 0.35-0.55 inner radius;
- its own looks: soft drop shadows, two-tone fills blended by a random linear
  ramp, backgrounds made of random Gaussian blobs, paper grain or a photo-like
  vignette, then a Gaussian blur, noise and a JPEG encode.

Ground truth: each object is also rasterised alone without anti-aliasing; its box
is that mask's tight box (pixel ``i`` spans ``[i, i + 1)``). Anti-aliased edges add
at most a pixel of soft border, which IoU 0.5 (AP50) does not notice and IoU 0.95 does.

Used by ``bench_generalisation.py``; tested in tests/test_foreign_shapes.py.

    python benchmarks/foreign_shapes.py OUT_DIR [--images 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("circle", "square", "triangle", "bar", "star")


def _outline(rng: np.random.Generator, name: str, cx: float, cy: float, size: float) -> np.ndarray | None:
    """The polygon ``float[K, 2]`` of one shape about ``size`` px across (None: a circle)."""
    angle = float(rng.uniform(0, 180))
    if name == "circle":
        return None
    if name == "square":
        side = size / math.sqrt(2) * float(rng.uniform(0.9, 1.0))
        return cv2.boxPoints(((cx, cy), (side, side), angle))
    if name == "bar":
        long_side = size
        return cv2.boxPoints(((cx, cy), (long_side, long_side / float(rng.uniform(2.5, 7.0))), angle))
    if name == "triangle":
        while True:  # any triangle whose angles are all >= 30 degrees
            a = rng.uniform(0, 2 * math.pi, 3)
            pts = np.stack([np.cos(a), np.sin(a)], 1) * size / 2
            sides = [pts[(i + 1) % 3] - pts[i] for i in range(3)]
            angles = [math.degrees(math.acos(float(np.clip(
                np.dot(-sides[i - 1], sides[i]) / (np.linalg.norm(sides[i - 1]) * np.linalg.norm(sides[i]) + 1e-9),
                -1, 1)))) for i in range(3)]
            if min(angles) >= 30:
                return pts + np.array([cx, cy])
    inner = float(rng.uniform(0.35, 0.55))  # star
    k = np.arange(10)
    rad = np.where(k % 2 == 0, 1.0, inner) * size / 2
    ang = k * math.pi / 5 + math.radians(angle)
    return np.stack([cx + np.cos(ang) * rad, cy + np.sin(ang) * rad], 1)


def _draw(canvas: np.ndarray, outline: np.ndarray | None, cx: float, cy: float, size: float,
          colour: tuple[float, float, float], aa: bool) -> None:
    line = cv2.LINE_AA if aa else cv2.LINE_8
    if outline is None:
        cv2.circle(canvas, (int(round(cx * 16)), int(round(cy * 16))), int(round(size / 2 * 16)), colour, -1,
                   line, shift=4)
    else:
        cv2.fillPoly(canvas, [np.round(outline * 16).astype(np.int32)], colour, line, shift=4)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = int(rng.integers(0, 3))
    base = rng.uniform(0, 255, 3)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    if kind == 0:  # random Gaussian blobs of colour
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        for _ in range(int(rng.integers(3, 9))):
            bx, by, s = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(30, 200)
            weight = np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / (2 * s * s))[..., None]
            img = img * (1 - weight) + rng.uniform(0, 255, 3).astype(np.float32) * weight
    elif kind == 1:  # paper grain
        grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.2)
        img += grain[..., None] * float(rng.uniform(8, 30))
    else:  # vignette: bright centre, dark corners
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.sqrt(((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2)
        img *= (1.1 - float(rng.uniform(0.4, 1.0)) * r)[..., None]
    return np.clip(img, 0, 255)


def _far_colour(rng: np.random.Generator, near: np.ndarray) -> np.ndarray:
    for _ in range(30):
        c = rng.uniform(0, 255, 3)
        if float(np.abs(c - near).sum()) > 150:
            return c
    return 255 - near


def foreign_image(seed: int, index: int, size: int = 512) -> tuple[np.ndarray, list[tuple[int, list[float]]]]:
    """Image ``index`` of ``seed``: RGB ``uint8[size, size, 3]`` and ``(class index, [x1, y1, x2, y2])``."""
    rng = np.random.default_rng([7919, seed, index])
    img = _background(rng, size, size)
    placed: list[list[float]] = []
    objects: list[tuple[int, list[float]]] = []
    for _ in range(int(rng.integers(1, 10))):
        cls = int(rng.integers(0, len(CLASSES)))
        obj = float(math.exp(rng.uniform(math.log(20), math.log(200)))) * size / 512
        cx, cy = (float(v) for v in rng.uniform(obj / 2 + 2, size - obj / 2 - 2, 2))
        outline = _outline(rng, CLASSES[cls], cx, cy, obj)
        mask = np.zeros((size, size), np.uint8)
        _draw(mask, outline, cx, cy, obj, (1, 1, 1), aa=False)
        ys, xs = np.nonzero(mask)
        if len(xs) < 16:
            continue
        box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
        if any(box[0] < p[2] + 4 and p[0] < box[2] + 4 and box[1] < p[3] + 4 and p[1] < box[3] + 4 for p in placed):
            continue  # never overlapping: no occlusion rule to agree on
        x1, y1, x2, y2 = (int(v) for v in box)
        local = img[max(0, y1 - 2):y2 + 2, max(0, x1 - 2):x2 + 2].reshape(-1, 3).mean(axis=0)
        if rng.random() < 0.5:  # a soft drop shadow, offset down-right
            shadow = np.zeros((size, size), np.float32)
            off = obj * 0.06
            _draw(shadow, None if outline is None else outline + off, cx + off, cy + off, obj, (1.0, 1.0, 1.0), True)
            shadow = cv2.GaussianBlur(shadow, (0, 0), max(1.0, obj * 0.04))[..., None] * 0.5
            img = img * (1 - shadow)
        layer = np.zeros((size, size), np.float32)
        _draw(layer, outline, cx, cy, obj, (1.0, 1.0, 1.0), aa=True)
        c1 = _far_colour(rng, local)
        c2 = np.clip(c1 + rng.uniform(-70, 70, 3), 0, 255)
        theta = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        ramp = np.clip(((xx - cx) * math.cos(theta) + (yy - cy) * math.sin(theta)) / obj + 0.5, 0, 1)[..., None]
        fill = c1 * (1 - ramp) + c2 * ramp
        img = img * (1 - layer[..., None]) + fill * layer[..., None]
        placed.append(box)
        objects.append((cls, box))
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 1.5)))
    img = img + rng.normal(0, float(rng.uniform(0, 8)), img.shape)
    out = np.clip(np.round(img), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), objects


def write_foreign(out: Path, images: int, seed: int = 0, size: int = 512) -> Path:
    """A COCO dataset (``out/images/*.png``, ``out/annotations.json``; categories in
    ``CLASSES`` order, ids 1-5, as the bundled model's). Returns the JSON path."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    coco: dict[str, list[dict[str, object]]] = {
        "images": [], "annotations": [],
        "categories": [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASSES)]}
    for i in range(images):
        rgb, objects = foreign_image(seed, i, size)
        name = f"images/{i:06d}.png"
        cv2.imwrite(str(out / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        coco["images"].append({"id": i + 1, "file_name": name, "width": size, "height": size})
        for cls, (x1, y1, x2, y2) in objects:
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": i + 1,
                                        "category_id": cls + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                        "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    path = out / "annotations.json"
    path.write_text(json.dumps(coco), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(write_foreign(args.out, args.images, args.seed))


if __name__ == "__main__":
    main()
