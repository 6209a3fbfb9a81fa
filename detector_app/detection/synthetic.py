"""Synthetic shapes: a deterministic COCO dataset (and video) generator.

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

Only numpy and OpenCV are used (no torch).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detector_app.domain.errors import UserError
from detector_app.domain.progress import ProgressFn, check_cancel, report

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


# ---------------------------------------------------------------- shapes
def _polygon_mask(h: int, w: int, pts: np.ndarray) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    # 4 fractional bits keep sub-pixel vertex positions, no anti-aliasing.
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _rotate(pts: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return pts @ np.array([[c, s], [-s, c]])


def _shape_mask(rng: np.random.Generator, cls: int, h: int, w: int, size: float, cx: float, cy: float) -> np.ndarray:
    """Full (unoccluded) mask ``bool[h, w]`` of one shape whose extent is ~``size`` px."""
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
        ang = np.array([0.0, 2 * math.pi / 3, 4 * math.pi / 3]) + rng.normal(0, 0.12, 3)
        pts = _rotate(np.stack([np.cos(ang), np.sin(ang)], 1) * r, rng.uniform(0, 2 * math.pi))
    elif name == "bar":
        long_side = size
        short = long_side * rng.uniform(0.25, 0.5)
        hw, hh = (long_side / 2, short / 2) if rng.random() < 0.5 else (short / 2, long_side / 2)
        pts = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
    elif name == "star":
        r_out = size / 2
        r_in = r_out * rng.uniform(0.38, 0.5)
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
def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, 3).astype(np.float32)


def _background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, str]:
    """A random background ``float32[h, w, 3]`` in 0..255 and its kind (``BACKGROUNDS``)."""
    kind = int(rng.integers(0, len(BACKGROUNDS)))
    c1, c2 = _random_colour(rng), _random_colour(rng)
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
            col = tuple(float(v) for v in _random_colour(rng))
            cv2.line(img, p1, p2, col, int(rng.integers(1, 4)), lineType=cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.float32), BACKGROUNDS[kind]


def _texture(rng: np.random.Generator, h: int, w: int, avoid: np.ndarray) -> tuple[np.ndarray, str]:
    """A fill ``float32[h, w, 3]`` whose mean colour differs from ``avoid``, and its kind (``FILLS``)."""
    for _ in range(20):
        c1 = _random_colour(rng)
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


# ---------------------------------------------------------------- images
def _visible_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if len(xs) == 0:
        return None
    return (float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1))


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
        img, bg_kind = _background(rng, h, w)
    else:
        img, bg_kind = background.astype(np.float32).copy(), ""
    masks: list[np.ndarray] = []
    classes: list[int] = []
    fills: list[str] = []
    for cls, size, cx, cy in shapes:
        mask = _shape_mask(rng, cls, h, w, size, cx, cy)
        if not mask.any():
            continue
        box = _visible_box(mask)
        assert box is not None
        x1, y1, x2, y2 = (int(v) for v in box)
        avoid = img[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0)
        tex, fill = _texture(rng, y2 - y1, x2 - x1, avoid)
        region = img[y1:y2, x1:x2]
        sub = mask[y1:y2, x1:x2]
        region[sub] = tex[sub]
        if rng.random() < 0.3:  # outline in another colour, drawn inside the mask
            edge = sub & ~cv2.erode(sub.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            region[edge] = _random_colour(rng)
        masks.append(mask)
        classes.append(cls)
        fills.append(fill)
    objects: list[SynthObject] = []
    covered = np.zeros((h, w), bool)
    for mask, cls, fill in reversed(list(zip(masks, classes, fills))):
        visible = mask & ~covered
        covered |= mask
        area = int(visible.sum())
        box = _visible_box(visible)
        if box is None or area < MIN_VISIBLE_FRACTION * int(mask.sum()):
            continue
        if box[2] - box[0] < MIN_VISIBLE_SIDE or box[3] - box[1] < MIN_VISIBLE_SIDE:
            continue
        objects.append(SynthObject(cls, box, visible, area, fill))
    objects.reverse()
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


def generate_image(seed: int, index: int, size: int = 512,
                   min_obj: float | None = None, max_obj: float | None = None,
                   max_objects: int = 12, classes: Sequence[str] = CLASS_NAMES) -> SynthImage:
    """Image ``index`` of the dataset with ``seed`` (deterministic).

    Object sizes are log-uniform in ``[min_obj, max_obj]`` (default 16 .. size/2 px);
    classes are uniform over ``classes`` (names from ``SHAPES``).
    """
    rng = np.random.default_rng([int(seed), int(index)])
    lo = 16.0 * size / 512 if min_obj is None else min_obj
    hi = size / 2.0 if max_obj is None else max_obj
    n = int(rng.integers(1, max_objects + 1))
    shapes = _sample_shapes(rng, size, size, n, lo, hi, shape_indices(classes))
    return compose(rng, size, size, shapes)


# ---------------------------------------------------------------- writing
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; data files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _encode(rgb: np.ndarray, ext: str) -> bytes:
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:  # pragma: no cover
        raise SynthError(f"OpenCV could not encode a {ext} image")
    return buf.tobytes()


def coco_categories(classes: Sequence[str] = CLASS_NAMES) -> list[dict[str, Any]]:
    return [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(classes)]


def _coco_ann(ann_id: int, image_id: int, obj: SynthObject, category_id: int) -> dict[str, Any]:
    x1, y1, x2, y2 = obj.box
    return {
        "id": ann_id, "image_id": image_id, "category_id": category_id,
        "bbox": [x1, y1, x2 - x1, y2 - y1], "area": float((x2 - x1) * (y2 - y1)),
        "iscrowd": 0,
    }


def write_dataset(out: str | Path, images: int, seed: int, size: int = 512, fmt: str = "jpg",
                  progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                  classes: Sequence[str] = CLASS_NAMES) -> Path:
    """Write ``images`` synthetic images to ``out/images/`` and ``out/annotations.json``
    (COCO; image, annotation and category ids from 1, categories in the order of
    ``classes``). Returns the JSON path."""
    if images < 1:
        raise SynthError(f"--images must be >= 1, got {images}")
    if size < 64:
        raise SynthError(f"--size must be >= 64 pixels, got {size}")
    if fmt not in ("jpg", "png"):
        raise SynthError(f"image format must be jpg or png, got {fmt!r}")
    category = {shape: i + 1 for i, shape in zip(range(len(classes)), shape_indices(classes))}
    out = Path(out)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    coco: dict[str, Any] = {
        "info": {"description": f"detector_app synthetic shapes, seed {seed}", "version": "1"},
        "images": [], "annotations": [], "categories": coco_categories(classes),
    }
    ann_id = 1
    for i in range(images):
        check_cancel(cancel)
        sample = generate_image(seed, i, size, classes=classes)
        name = f"{i:06d}.{fmt}"
        _atomic_write_bytes(img_dir / name, _encode(sample.image, "." + fmt))
        coco["images"].append({"id": i + 1, "file_name": f"images/{name}", "width": size, "height": size})
        for obj in sample.objects:
            coco["annotations"].append(_coco_ann(ann_id, i + 1, obj, category[obj.class_index]))
            ann_id += 1
        report(progress, i + 1, images, "generating")
    path = out / "annotations.json"
    _atomic_write_bytes(path, json.dumps(coco, indent=1).encode("utf-8"))
    return path


# ---------------------------------------------------------------- video
@dataclass
class _Mover:
    cls: int
    size: float
    x: float
    y: float
    vx: float
    vy: float
    seed: int  # fixes the shape's random rotation / texture for every frame


def write_video(path: str | Path, seed: int, seconds: float = 4.0, fps: int = 15,
                width: int = 512, height: int = 384,
                progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> Path:
    """A short mp4v video of shapes moving across a fixed background, entering and
    leaving the frame; ground truth per frame beside it as ``<name>.json`` (COCO,
    one image entry per frame with ``frame_index``). Returns the JSON path."""
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".avi"):
        raise SynthError(f"--video {path}: give a .mp4 (or .avi) file name")
    n_frames = max(1, int(round(seconds * fps)))
    rng = np.random.default_rng([int(seed), 1_000_000])
    bg, _ = _background(rng, height, width)
    movers: list[_Mover] = []

    def spawn(entering: bool) -> _Mover:
        size = float(math.exp(rng.uniform(math.log(24), math.log(150))))
        speed = rng.uniform(2, 8)
        if entering:  # start just outside one border, head inwards
            side = int(rng.integers(0, 4))
            x = [-size / 2, width + size / 2, rng.uniform(0, width), rng.uniform(0, width)][side]
            y = [rng.uniform(0, height), rng.uniform(0, height), -size / 2, height + size / 2][side]
            tx, ty = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
            d = math.hypot(tx - x, ty - y) or 1.0
            vx, vy = (tx - x) / d * speed, (ty - y) / d * speed
        else:
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            a = rng.uniform(0, 2 * math.pi)
            vx, vy = math.cos(a) * speed, math.sin(a) * speed
        return _Mover(int(rng.integers(0, len(CLASS_NAMES))), size, x, y, vx, vy, int(rng.integers(0, 2**31)))

    movers = [spawn(False) for _ in range(4)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_video = path.with_name(path.stem + ".tmp" + path.suffix)
    writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise SynthError(f"OpenCV cannot write video {path}")
    coco: dict[str, Any] = {"info": {"description": f"synthetic video, seed {seed}", "video": path.name, "fps": fps},
                            "images": [], "annotations": [], "categories": coco_categories()}
    ann_id = 1
    try:
        for f in range(n_frames):
            check_cancel(cancel)
            frame_rng = np.random.default_rng([int(seed), 2_000_000, f])
            # each mover keeps its own rotation: sample its mask with its own rng
            img = bg.copy()
            objs_masks: list[tuple[int, np.ndarray]] = []
            for m in movers:
                mrng = np.random.default_rng(m.seed)
                mask = _shape_mask(mrng, m.cls, height, width, m.size, m.x, m.y)
                if mask.any():
                    objs_masks.append((m.cls, mask))
                    colour = np.random.default_rng(m.seed + 1).integers(0, 256, 3).astype(np.float32)
                    img[mask] = colour
            covered = np.zeros((height, width), bool)
            frame_objs: list[SynthObject] = []
            for cls, mask in reversed(objs_masks):
                visible = mask & ~covered
                covered |= mask
                box = _visible_box(visible)
                area = int(visible.sum())
                if box is None or area < MIN_VISIBLE_FRACTION * int(mask.sum()):
                    continue
                if box[2] - box[0] < MIN_VISIBLE_SIDE or box[3] - box[1] < MIN_VISIBLE_SIDE:
                    continue
                frame_objs.append(SynthObject(cls, box, visible, area))
            frame = img + frame_rng.normal(0, 3.0, img.shape).astype(np.float32)
            frame = np.clip(np.round(frame), 0, 255).astype(np.uint8)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            coco["images"].append({"id": f + 1, "file_name": path.name, "frame_index": f,
                                   "width": width, "height": height})
            for obj in reversed(frame_objs):
                coco["annotations"].append(_coco_ann(ann_id, f + 1, obj, obj.class_index + 1))
                ann_id += 1
            for m in movers:
                m.x += m.vx
                m.y += m.vy
            alive = [m for m in movers if -m.size < m.x < width + m.size and -m.size < m.y < height + m.size]
            while len(alive) < 4 or (len(alive) < 6 and rng.random() < 0.05):
                alive.append(spawn(True))
            movers = alive
            report(progress, f + 1, n_frames, "video")
    finally:
        writer.release()
    os.replace(tmp_video, path)
    json_path = path.with_suffix(".json")
    _atomic_write_bytes(json_path, json.dumps(coco, indent=1).encode("utf-8"))
    return json_path
