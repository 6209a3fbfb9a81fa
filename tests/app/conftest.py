"""Fixtures for the data-layer app tests: small project folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.files import write_png, write_video


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """Three 60x40 PNGs (one in a subfolder) and a 12-frame MJPG video."""
    root = tmp_path / "project"
    write_png(root / "img1.png")
    write_png(root / "img2.png", 80, 30)
    write_png(root / "sub" / "img10.png")
    write_video(root / "clip.avi")
    return root
