"""A project as the GUI sees it: the list of items (image files and videos)
over a :class:`ProjectStore`, pixel reading, and per-item review state.

``open_project(paths)`` opens a folder (everything in it), or a set of image /
video files (the project is their common folder, limited to those files).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detector_app.app.autosave import DEFAULT_INTERVAL
from detector_app.app.store import ProjectStore
from detector_app.domain.annotations import ImageRecord, ItemState
from detector_app.domain.errors import StoreError
from detector_app.media.images import IMAGE_EXTENSIONS, read_image
from detector_app.media.video import VIDEO_EXTENSIONS, VideoReader

#: Order of "how far" review got, for a video's state.
_RANK = {ItemState.NOT_SEEN: 0, ItemState.DETECTED: 1, ItemState.EDITED: 2, ItemState.VERIFIED: 3}


class Project:
    """Items of one project folder and their store. ``items`` holds one record per
    file: the live store record of an image, a placeholder (``frame_index``
    None, never stored) for a video."""

    def __init__(self, root: str | Path, files: Sequence[str] | None = None, *,
                 autosave_interval: float | None = DEFAULT_INTERVAL, read_only: bool = False) -> None:
        self.store = ProjectStore(root, files=files, autosave_interval=autosave_interval, read_only=read_only)
        self.root = self.store.root
        self.items: list[ImageRecord] = []
        for path in self.store.files:
            if self.store.is_video(path):
                self.items.append(ImageRecord(path=path))
            else:
                self.items.append(self.store.record(path))

    # -- what the file list shows ---------------------------------------------
    @property
    def label_names(self) -> list[str]:
        return list(self.store.label_map.names)

    @property
    def read_only(self) -> bool:
        return self.store.read_only

    @property
    def initial_index(self) -> int:
        """The first item not yet verified (0 when all are)."""
        for i, item in enumerate(self.items):
            if self.item_state(item) is not ItemState.VERIFIED:
                return i
        return 0

    def is_video(self, item: ImageRecord) -> bool:
        return self.store.is_video(item.path)

    def item_state(self, item: ImageRecord) -> ItemState:
        """An image's state. A video's is the most advanced state of its stored frames but
        never "verified": verifying some frames does not review the clip (the video bar's
        ticks show each frame's state), so a clip with work on it reads "edited"."""
        if not self.is_video(item):
            return self.store.record(item.key).state
        states = [self.store.frame_record(item.path, f).state for f in self.store.frames_of(item.path)]
        best = max(states, key=_RANK.__getitem__, default=ItemState.NOT_SEEN)
        return ItemState.EDITED if best is ItemState.VERIFIED else best

    # -- pixels -----------------------------------------------------------------
    def path_of(self, item: ImageRecord) -> Path:
        return self.root / item.path

    def read_image(self, item: ImageRecord) -> np.ndarray:
        """``uint8[H, W, 3]`` RGB of an image item (``MediaError`` naming the file)."""
        return read_image(self.path_of(item))

    def open_video(self, item: ImageRecord) -> VideoReader:
        return VideoReader(self.path_of(item))

    # -- records ----------------------------------------------------------------
    def record_for(self, item: ImageRecord, frame: int | None = None,
                   width: int | None = None, height: int | None = None) -> ImageRecord:
        """The live record of an image item or of ``frame`` of a video item,
        with its size set (from the pixels just read)."""
        key = item.path if frame is None or not self.is_video(item) else f"{item.path}#{int(frame)}"
        rec = self.store.record(key)
        if width is not None and height is not None and (rec.width, rec.height) != (width, height):
            self.store.set_size(key, int(width), int(height))
        return rec

    def mark_detected(self, record: ImageRecord) -> None:
        """A not-seen item the model has now run on becomes ``detected``."""
        if record.state is ItemState.NOT_SEEN:
            self.store.set_state(record.key, ItemState.DETECTED)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_project(paths: Sequence[str | Path], *, autosave_interval: float | None = DEFAULT_INTERVAL,
                 read_only: bool = False) -> Project:
    """Open a folder, or image/video files (their common folder, only those files).

    Raises :class:`StoreError` naming the path when nothing can be opened.
    """
    given = [Path(p) for p in paths]
    if not given:
        raise StoreError("nothing to open: give a folder, images or a video")
    for p in given:
        if not p.exists():
            raise StoreError(f"{p}: no such file or folder")
    if len(given) == 1 and given[0].is_dir():
        return Project(given[0], autosave_interval=autosave_interval, read_only=read_only)
    if any(p.is_dir() for p in given):
        raise StoreError("open one folder, or several files, not both")
    media = set(IMAGE_EXTENSIONS) | set(VIDEO_EXTENSIONS)
    for p in given:
        if p.suffix.lower() not in media:
            raise StoreError(f"{p}: not an image or video file ({p.suffix or 'no extension'})")
    resolved = [p.resolve() for p in given]
    root = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    files = sorted({p.relative_to(root).as_posix() for p in resolved})
    return Project(root, files=files, autosave_interval=autosave_interval, read_only=read_only)


__all__ = ["Project", "open_project"]
