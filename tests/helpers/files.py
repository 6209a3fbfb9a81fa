"""Files the tests read: images, videos, LabelMe JSON, and the project store's
rows as they are on disk.

Pixel arrays follow OpenCV where a function writes through it (``uint8[H, W, 3]``
BGR); :func:`png_bytes` takes RGB, as the app's readers return it.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def write_bgr(path: Path, bgr: np.ndarray) -> Path:
    """Write ``bgr`` (``uint8[H, W, 3]`` or ``uint8[H, W]``) with OpenCV, in the format
    the suffix names; parent folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), bgr)
    return path


def write_png(path: Path, width: int = 60, height: int = 40, value: int = 0) -> Path:
    """A ``width x height`` PNG of grey ``value`` with a blue top-left quarter, so
    orientation and channel order show."""
    img = np.full((height, width, 3), value, np.uint8)
    img[: height // 2, : width // 2] = (255, 0, 0)
    return write_bgr(path, img)


def noise_pngs(root: Path, n: int, width: int, height: int, seed: int = 0) -> Path:
    """``img0.png`` .. ``img{n-1}.png`` of seeded random pixels in ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_bgr(root / f"img{i}.png", rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    return root


def write_images(root: Path, n: int = 3, size: tuple[int, int] = (300, 200)) -> Path:
    """``img0.png`` .. ``img{n-1}.png`` of ``size`` (width, height) in ``root``: image
    ``i`` grey ``30 + 40 i`` with a filled rectangle; returns ``root``. The default size is
    the fake trace's image (``traces.make_fake_trace``)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((size[1], size[0], 3), 30 + 40 * i, np.uint8)
        cv2.rectangle(img, (20, 20), (size[0] // 2, size[1] // 2), (200, 60, 60), -1)
        write_bgr(root / f"img{i}.png", img)
    return root


def png_chunk(tag: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, tag, data, CRC."""
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def grey_png(path: Path, width: int, height: int) -> Path:
    """A valid 8-bit grey PNG of ``width x height``, value 128, encoded by hand (fast for
    any size, no OpenCV); parent folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 1))
                     + png_chunk(b"IEND", b""))
    return path


def png_bytes(rgb: np.ndarray) -> bytes:
    """``rgb`` (``uint8[H, W, 3]``) encoded as a PNG file's bytes."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def grey_frame(i: int, size: tuple[int, int]) -> np.ndarray:
    """Frame ``i`` of :func:`write_video`'s default clip: grey ``(20 i) % 256`` (its index,
    readable back from any pixel away from the text) with its number written bottom left."""
    width, height = size
    f = np.full((height, width, 3), (i * 20) % 256, np.uint8)
    cv2.putText(f, str(i), (4, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return f


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48), fourcc: str = "MJPG",
                fps: float = 10.0, frame: Callable[[int], np.ndarray] | None = None) -> Path:
    """A video of ``frames`` frames of ``size`` (width, height): ``frame(i)`` (BGR
    ``uint8[H, W, 3]``), by default :func:`grey_frame`; parent folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(grey_frame(i, size) if frame is None else frame(i))
    writer.release()
    return path


def labelme_json(image_path: str, width: int, height: int, shapes: Any) -> str:
    """A LabelMe file: ``shapes`` a list of ``(label, [[x, y], [x, y]])`` rectangles, or any
    JSON value (to make a malformed file)."""
    if isinstance(shapes, list):
        shapes = [{"label": label, "points": points, "shape_type": "rectangle", "flags": {}}
                  for label, points in shapes]
    return json.dumps({"version": "5.2.1", "flags": {}, "imagePath": image_path, "imageData": None,
                       "imageWidth": width, "imageHeight": height, "shapes": shapes})


def stored_records(root: Path) -> dict[str, dict[str, Any]]:
    """The project store's records read straight from its SQLite file through a second
    connection, as another process (or the app after a crash) would read them."""
    from detector_app.app.store import DB_NAME, STORE_DIR

    db = sqlite3.connect(str(root / STORE_DIR / DB_NAME))
    try:
        return {k: json.loads(v) for k, v in db.execute("SELECT key, data FROM records")}
    finally:
        db.close()
