"""A synthetic video: shapes moving across a fixed background, with per-frame ground truth.

Shapes of the five ``CLASS_NAMES`` classes, flat-coloured, move in straight lines,
leave the frame and are replaced by new ones entering from a border (at least 4
on screen, sometimes up to 6). Each frame gets mild Gaussian noise. The ground
truth is a COCO file beside the video, one image entry per frame with its
``frame_index``; boxes are the visible masks' (``synthetic_shapes``).

Determinism: the scene (background, shapes, their paths) draws from
``default_rng([seed, 1_000_000])``, each shape's rotation and colour from its own
seed, and frame ``f``'s noise from ``default_rng([seed, 2_000_000, f])``, so the same
arguments give the same bytes.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detector_app.detection.synthetic_coco import atomic_write_bytes, coco_annotation, coco_categories
from detector_app.detection.synthetic_shapes import (
    CLASS_NAMES,
    SynthError,
    SynthObject,
    random_background,
    shape_mask,
    visible_objects,
)
from detector_app.domain.progress import ProgressFn, check_cancel, report

#: Shapes on screen: at least this many, and up to ``_MOST_SHAPES`` when new ones happen to enter.
_FEWEST_SHAPES = 4
_MOST_SHAPES = 6


@dataclass
class _Mover:
    """One shape in flight: class (index into ``CLASS_NAMES``), size (px), centre and
    velocity (px per frame)."""

    cls: int
    size: float
    x: float
    y: float
    vx: float
    vy: float
    seed: int  # fixes the shape's random rotation / colour for every frame


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
    bg, _ = random_background(rng, height, width)
    movers = [_spawn(rng, width, height, entering=False) for _ in range(_FEWEST_SHAPES)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_video = path.with_name(path.stem + ".tmp" + path.suffix)
    writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise SynthError(f"OpenCV cannot write video {path}")
    coco: dict[str, Any] = {"info": {"description": f"synthetic video, seed {seed}", "video": path.name, "fps": fps},
                            "images": [], "annotations": [], "categories": coco_categories()}
    try:
        for f in range(n_frames):
            check_cancel(cancel)
            frame, objects = _render_frame(bg, movers, np.random.default_rng([int(seed), 2_000_000, f]))
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            _add_frame(coco, f, path.name, objects, width, height)
            movers = _step(movers, rng, width, height)
            report(progress, f + 1, n_frames, "video")
    finally:
        writer.release()
    os.replace(tmp_video, path)
    json_path = path.with_suffix(".json")
    atomic_write_bytes(json_path, json.dumps(coco, indent=1).encode("utf-8"))
    return json_path


def _spawn(rng: np.random.Generator, width: int, height: int, entering: bool) -> _Mover:
    """A new shape of 24..150 px moving at 2..8 px per frame: ``entering`` just outside one
    border heading into the frame, else anywhere in it in any direction."""
    size = float(math.exp(rng.uniform(math.log(24), math.log(150))))
    speed = rng.uniform(2, 8)
    if entering:  # start just outside one border, head inwards
        side = int(rng.integers(0, 4))
        # both lists are built whole (every draw made), whichever side is picked
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


def _render_frame(bg: np.ndarray, movers: list[_Mover],
                  noise_rng: np.random.Generator) -> tuple[np.ndarray, list[SynthObject]]:
    """One frame ``uint8[H, W, 3]`` (RGB) of ``movers`` drawn in order over ``bg``
    (``float32[H, W, 3]``), with its visible objects (drawing order)."""
    height, width = bg.shape[:2]
    img = bg.copy()
    layers: list[tuple[int, np.ndarray, str]] = []
    for m in movers:
        # each mover keeps its own rotation: sample its mask with its own rng
        mask = shape_mask(np.random.default_rng(m.seed), m.cls, height, width, m.size, m.x, m.y)
        if mask.any():
            layers.append((m.cls, mask, ""))
            img[mask] = np.random.default_rng(m.seed + 1).integers(0, 256, 3).astype(np.float32)
    frame = img + noise_rng.normal(0, 3.0, img.shape).astype(np.float32)
    return np.clip(np.round(frame), 0, 255).astype(np.uint8), visible_objects(layers, height, width)


def _add_frame(coco: dict[str, Any], f: int, video_name: str, objects: list[SynthObject],
               width: int, height: int) -> None:
    """Add frame ``f`` (image id ``f + 1``) and its objects to the COCO ground truth."""
    coco["images"].append({"id": f + 1, "file_name": video_name, "frame_index": f,
                           "width": width, "height": height})
    for obj in objects:
        ann_id = len(coco["annotations"]) + 1
        coco["annotations"].append(coco_annotation(ann_id, f + 1, obj, obj.class_index + 1))


def _step(movers: list[_Mover], rng: np.random.Generator, width: int, height: int) -> list[_Mover]:
    """The shapes one frame later: moved, those wholly gone dropped, new ones entering
    to keep at least ``_FEWEST_SHAPES`` (and, now and then, up to ``_MOST_SHAPES``)."""
    for m in movers:
        m.x += m.vx
        m.y += m.vy
    alive = [m for m in movers if -m.size < m.x < width + m.size and -m.size < m.y < height + m.size]
    while len(alive) < _FEWEST_SHAPES or (len(alive) < _MOST_SHAPES and rng.random() < 0.05):
        alive.append(_spawn(rng, width, height, entering=True))
    return alive


__all__ = ["write_video"]
