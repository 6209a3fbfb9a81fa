"""Fixtures for the data-layer app tests: small project folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_png(path: Path, width: int = 60, height: int = 40, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((height, width, 3), value, np.uint8)
    img[: height // 2, : width // 2] = (255, 0, 0)
    assert cv2.imwrite(str(path), img)
    return path


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48), fourcc: str = "MJPG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, size)
    assert w.isOpened()
    for i in range(frames):
        f = np.full((size[1], size[0], 3), (i * 20) % 256, np.uint8)
        cv2.putText(f, str(i), (4, size[1] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        w.write(f)
    w.release()
    return path


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """Three 60x40 PNGs (one in a subfolder) and a 12-frame MJPG video."""
    root = tmp_path / "project"
    write_png(root / "img1.png")
    write_png(root / "img2.png", 80, 30)
    write_png(root / "sub" / "img10.png")
    write_video(root / "clip.avi")
    return root
