"""Synthetic shapes: a deterministic COCO dataset generator.

Five classes, in this order (COCO category ids 1..5): ``circle``, ``square``,
``triangle``, ``bar`` (a rectangle with aspect ratio between 1:4 and 1:2, either
orientation) and ``star`` (five-pointed). Objects are ~16 to ~256 px on a
512 x 512 image, 1 to 12 per image, drawn over varied backgrounds (flat,
gradient, noise, stripes, clutter lines) with varied colours and textures,
later objects partly hiding earlier ones, then image noise and blur.

Ground truth is exact: every object is rendered as a binary mask, the masks of
later (occluding) objects are subtracted, and the box is the tight
axis-aligned box of the *visible* mask in the project's convention
(pixel ``i`` spans ``[i, i + 1)``, so a mask covering columns ``a..b`` gives
``x1 = a, x2 = b + 1``). Objects that are mostly hidden are dropped.

Determinism: image ``i`` of seed ``s`` uses ``numpy.random.default_rng([s, i])``
and OpenCV's deterministic drawing/encoding, so the same seed gives the same
bytes on every run.

Only numpy and OpenCV are used (no torch). Pieces: ``synthetic_shapes`` (masks,
backgrounds, textures, visibility), ``synthetic_coco`` (the files), ``synthetic_video``
(a clip of moving shapes, :func:`write_video`, re-exported here).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detector_app.detection.synthetic_coco import atomic_write_bytes, coco_annotation, coco_categories
from detector_app.detection.synthetic_shapes import (
    BACKGROUNDS,
    CLASS_NAMES,
    FILLS,
    MIN_VISIBLE_FRACTION,
    MIN_VISIBLE_SIDE,
    NEW_SHAPES,
    SHAPES,
    SynthError,
    SynthObject,
    paint_texture,
    random_background,
    random_colour,
    shape_mask,
    visible_box,
    visible_objects,
)
from detector_app.detection.synthetic_video import write_video
from detector_app.detection.synthetic_wide import compose_wide
from detector_app.domain.progress import ProgressFn, check_cancel, report


@dataclass
class SynthImage:
    """An image ``uint8[H, W, 3]`` (RGB) and its visible objects, with how it was
    made: ``background`` (one of ``BACKGROUNDS``, "" when given by the caller),
    Gaussian ``noise_sigma`` and ``blur`` kernel size (0: none)."""

    image: np.ndarray
    objects: list[SynthObject]
    background: str = ""
    noise_sigma: float = 0.0
    blur: int = 0



def _sample_shapes(rng: np.random.Generator, h: int, w: int, n: int, min_size: float, max_size: float,
                   classes: tuple[int, ...] = tuple(range(len(CLASS_NAMES)))) -> list[tuple[int, float, float, float]]:
    """``n`` shapes ``(index into SHAPES, size, cx, cy)``, classes uniform over ``classes``."""
    out = []
    for _ in range(n):
        # one draw per shape, as for the five classes alone: their datasets keep their bytes
        cls = classes[int(rng.integers(0, len(classes)))]
        size = float(math.exp(rng.uniform(math.log(min_size), math.log(max_size))))
        cx = float(rng.uniform(size * 0.25, w - size * 0.25))
        cy = float(rng.uniform(size * 0.25, h - size * 0.25))
        out.append((cls, size, cx, cy))
    return out


def compose(rng: np.random.Generator, h: int, w: int,
            shapes: list[tuple[int, float, float, float]],
            background: np.ndarray | None = None,
            noise: bool = True) -> SynthImage:
    """Draw ``shapes`` ``(class_index, size, cx, cy)`` in order (later on top).

    Returns the RGB image ``uint8[h, w, 3]`` and the visible objects (mostly
    hidden ones dropped), boxes from the visible masks.
    """
    if background is None:
        img, bg_kind = random_background(rng, h, w)
    else:
        img, bg_kind = background.astype(np.float32).copy(), ""
    layers: list[tuple[int, np.ndarray, str]] = []  # (index into SHAPES, full mask, fill), back to front
    for cls, size, cx, cy in shapes:
        mask = shape_mask(rng, cls, h, w, size, cx, cy)
        if not mask.any():
            continue
        box = visible_box(mask)
        assert box is not None
        fill = paint_texture(rng, img, mask, box)
        if rng.random() < 0.3:  # outline in another colour, drawn inside the mask
            x1, y1, x2, y2 = (int(v) for v in box)
            region, sub = img[y1:y2, x1:x2], mask[y1:y2, x1:x2]
            edge = sub & ~cv2.erode(sub.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            region[edge] = random_colour(rng)
        layers.append((cls, mask, fill))
    objects = visible_objects(layers, h, w)
    sigma, k = 0.0, 0
    if noise:
        sigma = float(rng.choice([0.0, 2.0, 5.0, 9.0]))
        if sigma > 0:
            img = img + rng.normal(0, sigma, img.shape).astype(np.float32)
        k = int(rng.choice([0, 0, 3, 5]))
        if k:
            img = cv2.GaussianBlur(img, (k, k), 0)
    return SynthImage(np.clip(np.round(img), 0, 255).astype(np.uint8), objects, bg_kind, sigma, k)


def shape_indices(classes: Sequence[str]) -> tuple[int, ...]:
    """The ``SHAPES`` indices of ``classes`` (names, in the dataset's order)."""
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise SynthError(f"classes must be distinct names among {', '.join(SHAPES)}; "
                         f"got {', '.join(classes) or 'none'}")
    return tuple(SHAPES.index(c) for c in classes)


#: Generator styles: ``v1`` (the first; the stride-8 ``small`` model's data),
#: ``wide`` (more backgrounds, clutter, rotations, proportions and camera effects:
#: :mod:`synthetic_wide`) and ``mixed`` (even images ``v1``, odd ones ``wide``).
#: A dataset's style is in its ``info.version``.
STYLES: tuple[str, ...] = ("v1", "wide", "mixed")


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise SynthError(f"unknown style {style!r}; use one of {', '.join(STYLES)}")


def generate_image(seed: int, index: int, size: int = 512,
                   min_obj: float | None = None, max_obj: float | None = None,
                   max_objects: int = 12, classes: Sequence[str] = CLASS_NAMES, style: str = "v1") -> SynthImage:
    """Image ``index`` of the dataset with ``seed`` (deterministic) in ``style`` (``STYLES``).

    Object sizes are log-uniform in ``[min_obj, max_obj]`` (default 16 .. size/2 px);
    classes are uniform over ``classes`` (names from ``SHAPES``).
    """
    _check_style(style)
    rng = np.random.default_rng([int(seed), int(index)])
    lo = 16.0 * size / 512 if min_obj is None else min_obj
    hi = size / 2.0 if max_obj is None else max_obj
    n = int(rng.integers(1, max_objects + 1))
    shapes = _sample_shapes(rng, size, size, n, lo, hi, shape_indices(classes))
    if style == "wide" or (style == "mixed" and index % 2 == 1):
        return SynthImage(*compose_wide(rng, size, size, shapes))
    return compose(rng, size, size, shapes)



# ---------------------------------------------------------------- writing
def _encode(rgb: np.ndarray, ext: str) -> bytes:
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:  # pragma: no cover
        raise SynthError(f"OpenCV could not encode a {ext} image")
    return buf.tobytes()



def write_dataset(out: str | Path, images: int, seed: int, size: int = 512, fmt: str = "jpg",
                  progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                  classes: Sequence[str] = CLASS_NAMES, style: str = "v1") -> Path:
    """Write ``images`` synthetic images of ``style`` to ``out/images/`` and ``out/annotations.json``
    (COCO; image, annotation and category ids from 1, categories in the order of
    ``classes``). Returns the JSON path."""
    if images < 1:
        raise SynthError(f"--images must be >= 1, got {images}")
    if size < 64:
        raise SynthError(f"--size must be >= 64 pixels, got {size}")
    if fmt not in ("jpg", "png"):
        raise SynthError(f"image format must be jpg or png, got {fmt!r}")
    _check_style(style)
    category = {shape: i + 1 for i, shape in zip(range(len(classes)), shape_indices(classes))}
    out = Path(out)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    coco: dict[str, Any] = {
        "info": {"description": f"detector_app synthetic shapes, seed {seed}",
                 "version": "1" if style == "v1" else style},
        "images": [], "annotations": [], "categories": coco_categories(classes),
    }
    ann_id = 1
    for i in range(images):
        check_cancel(cancel)
        sample = generate_image(seed, i, size, classes=classes, style=style)
        name = f"{i:06d}.{fmt}"
        atomic_write_bytes(img_dir / name, _encode(sample.image, "." + fmt))
        coco["images"].append({"id": i + 1, "file_name": f"images/{name}", "width": size, "height": size})
        for obj in sample.objects:
            coco["annotations"].append(coco_annotation(ann_id, i + 1, obj, category[obj.class_index]))
            ann_id += 1
        report(progress, i + 1, images, "generating")
    path = out / "annotations.json"
    atomic_write_bytes(path, json.dumps(coco, indent=1).encode("utf-8"))
    return path


__all__ = [
    "BACKGROUNDS", "CLASS_NAMES", "FILLS", "MIN_VISIBLE_FRACTION", "MIN_VISIBLE_SIDE", "NEW_SHAPES", "SHAPES",
    "STYLES", "SynthError", "SynthImage", "SynthObject", "coco_categories", "compose", "generate_image",
    "shape_indices", "write_dataset", "write_video",
]
