"""Listing a project folder's media files, and record keys (no decoding, no store)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from detector_app.media.images import IMAGE_EXTENSIONS
from detector_app.media.video import VIDEO_EXTENSIONS


def _natural_key(path: str) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path)]


def scan_media(root: Path) -> list[str]:
    """Image and video files under ``root`` (recursive, hidden entries skipped),
    as POSIX paths relative to ``root`` in natural order. Decodes nothing."""
    exts = set(IMAGE_EXTENSIONS) | set(VIDEO_EXTENSIONS)
    found: list[str] = []
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), f"{prefix}{name}/"))
                elif os.path.splitext(name)[1].lower() in exts and entry.is_file():
                    found.append(prefix + name)
            except OSError:
                continue
    found.sort(key=_natural_key)
    return found


def split_key(key: str) -> tuple[str, int | None]:
    """``"clip.mp4#12"`` -> ``("clip.mp4", 12)``; an image key -> ``(path, None)``."""
    path, sep, frame = key.rpartition("#")
    if sep and frame.isdigit() and os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS:
        return path, int(frame)
    return key, None


def display_key(key: str) -> str:
    """A record key as people read it, with frames counted from 1 as the video bar
    counts them: ``"clip.mp4#42"`` -> ``"clip.mp4, frame 43"``; an image key as it is.
    (Keys, and exports, keep the 0-based frame index.)"""
    path, frame = split_key(key)
    return key if frame is None else f"{path}, frame {frame + 1}"


__all__ = ["display_key", "scan_media", "split_key"]
