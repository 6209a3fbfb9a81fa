"""Which file names are images and which are videos: the one list every layer uses
(scanning a project, finding a dataset's images, the open dialogs)."""

from __future__ import annotations

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


def name_filter(title: str, extensions: tuple[str, ...]) -> str:
    """A file dialog filter: ``"Images (*.jpg *.jpeg ...)"``."""
    return f"{title} ({' '.join('*' + e for e in extensions)})"


__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "name_filter"]
