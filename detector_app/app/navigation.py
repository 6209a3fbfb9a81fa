"""The open project and the item shown in it: reading an item's pixels (an image, or a
frame of a video), the review order and filter A / D follow, the items that cannot be read.

No trace and no selection here: :class:`~detector_app.app.session.Session` decides
what showing an item means for those.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from detector_app.app.events import Event, EventBus
from detector_app.app.project import Project
from detector_app.app.ranking import Ranked, class_counts, rank_items
from detector_app.app.store import ProjectStore
from detector_app.app.undo import UndoStack
from detector_app.domain.annotations import ImageRecord, ItemState
from detector_app.domain.errors import UserError
from detector_app.media.images import ImageTooLarge, read_preview
from detector_app.media.video import VideoReader


@dataclass(frozen=True)
class OpenProject:
    """A project the session has open, with its undo stack and each item's position."""

    project: Project
    undo_stack: UndoStack
    index_of: dict[str, int]  # item path -> index

    @property
    def store(self) -> ProjectStore:
        return self.project.store


class Shown(enum.Enum):
    """What :meth:`Navigator.load` made of an item."""

    ITEM = "item"  # its pixels and record are current
    UNREADABLE = "unreadable"  # current as a placeholder: nothing to edit or detect
    BAD_FRAME = "bad frame"  # a video frame that cannot be read: the last good frame stays


class Navigator:
    """See the module docstring. ``record`` is the live store record of what is shown, or a
    transient one for a video frame without annotations (it joins the store on its first edit)."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.opened: OpenProject | None = None
        self.index: int | None = None  # current item
        self.frame: int | None = None  # current frame of a video item
        self.video: VideoReader | None = None
        self.image: np.ndarray | None = None  # uint8[H, W, 3]
        self.record: ImageRecord | None = None
        self.playing = False  # the current frame was asked for by a playing video
        self.order: list[int] | None = None  # review order of the items (None: folder order)
        self.state_filter: ItemState | None = None
        self.unreadable: dict[int, str] = {}  # items whose pixels could not be read: why

    # -- the project ---------------------------------------------------------------------
    def attach(self, opened: OpenProject) -> None:
        self.opened = opened
        self.order = None
        self.unreadable = {}

    def detach(self) -> OpenProject | None:
        """Forget the project and the item shown; returns the project (for its owner to close)."""
        opened, self.opened = self.opened, None
        self._close_video()
        self.index = self.frame = None
        self.image = self.record = None
        return opened

    @property
    def store(self) -> ProjectStore | None:
        return None if self.opened is None else self.opened.store

    @property
    def items(self) -> list[str]:
        """Project files (POSIX paths relative to the root), images and videos."""
        return [] if self.opened is None else self.opened.store.files

    @property
    def key(self) -> str | None:
        """Record key of what is shown: ``path`` or ``path#frame``."""
        return None if self.record is None else self.record.key

    def is_video(self, index: int | None = None) -> bool:
        index = self.index if index is None else index
        return index is not None and self.opened is not None and self.opened.store.is_video(self.items[index])

    def item_state(self, index: int) -> ItemState:
        """Review state of an item (a video: see ``Project.item_state``)."""
        if self.opened is None:
            raise UserError("no project is open")
        project = self.opened.project
        return project.item_state(project.items[index])

    def frame_states(self) -> dict[int, ItemState]:
        """Review state of each frame of the current video that has a record (annotated,
        verified), by frame index; empty for an image."""
        store = self.store
        if store is None or self.video is None or self.record is None:
            return {}
        path = self.record.path
        return {f: store.record(f"{path}#{f}").state for f in store.frames_of(path)}

    # -- showing an item -------------------------------------------------------------------
    def load(self, index: int, frame: int | None, playing: bool) -> Shown | None:
        """Make item ``index`` current (``frame`` of a video, default 0); ``None`` when there
        is no such item. Reports unreadable pixels (``ERROR``, ``ITEM_STATE``)."""
        opened = self.opened
        if opened is None or not 0 <= index < len(self.items):
            return None
        project, store = opened.project, opened.store
        item, path = project.items[index], self.items[index]
        try:
            if project.is_video(item):
                video = self.video
                if self.index != index or video is None:
                    self._close_video()
                    video = self.video = project.open_video(item)
                frame = 0 if frame is None else min(max(int(frame), 0), video.frame_count - 1)
                rgb, key = video.read(frame), f"{path}#{frame}"
            else:
                rgb, key, frame = project.read_image(item), path, None
        except UserError as exc:
            if self.video is not None and self.index == index:  # a bad frame: stay on the last good one
                self._bus.error(str(exc))
                self._bus.notify(Event.CURRENT)  # (the video bar learns the corrected frame count and pauses)
                return Shown.BAD_FRAME
            self._show_unreadable(project, index, exc)
            return Shown.UNREADABLE
        if self.unreadable.pop(index, None) is not None:  # readable again (the file was replaced)
            self._bus.item_state(index)
        if frame is None:
            self._close_video()
        self.index, self.frame, self.image = index, frame, rgb
        h, w = rgb.shape[:2]
        if frame is None or store.has(key):
            store.set_size(key, w, h)
            self.record = store.record(key)
        else:  # unannotated frames stay out of the store until edited
            self.record = ImageRecord(path=path, width=w, height=h, frame_index=frame)
        self.playing = playing
        return Shown.ITEM

    def _show_unreadable(self, project: Project, index: int, exc: UserError) -> None:
        """An item whose pixels cannot be read: current (so A / D go past it), shown as a grey
        placeholder. An image over the pixel limit is shown downscaled instead (still not editable)."""
        self._close_video()
        self.index, self.frame = index, None
        self.image = np.full((48, 64, 3), 64, np.uint8)
        message = str(exc)
        if isinstance(exc, ImageTooLarge):
            try:
                self.image, factor = read_preview(project.path_of(project.items[index]))
                message += f" (shown downscaled 1/{factor}, not editable)"
            except UserError:
                pass
        self._bus.error(message)
        self.unreadable[index] = message
        self._bus.item_state(index)  # the file list marks it
        self.record = None

    def _close_video(self) -> None:
        if self.video is not None:
            self.video.close()
        self.video = None

    def ensure_stored(self) -> ImageRecord | None:
        """The current record, in the store: a video frame's record joins it on its first edit."""
        store, rec = self.store, self.record
        if store is None or rec is None:
            return None
        if not store.has(rec.key):
            store.set_size(rec.key, rec.width or 1, rec.height or 1)
            self.record = store.record(rec.key)
        return self.record

    def reread_record(self) -> None:
        """Take the current record from the store again (edits made without events: an import)."""
        store, rec = self.store, self.record
        if store is not None and rec is not None and store.has(rec.key):
            self.record = store.record(rec.key)

    # -- review order -----------------------------------------------------------------------
    def next_index(self, delta: int) -> int | None:
        """The previous / next item among those passing ``state_filter`` (A / D), in the review
        order; ``None`` (and a status line) at either end."""
        order = self.visible_indices()
        cur = self.index
        if cur is None:
            later = order
        elif cur in order:
            pos = order.index(cur)
            later = order[pos + 1:] if delta > 0 else order[:pos][::-1]
        elif delta > 0:
            later = [i for i in order if i > cur]
        else:
            later = [i for i in reversed(order) if i < cur]
        if not later:
            self._bus.status("no next item" if delta > 0 else "no previous item")
            return None
        return later[0]

    def visible_indices(self) -> list[int]:
        f = self.state_filter
        order = self.order if self.order is not None else range(len(self.items))
        return [i for i in order if f is None or self.item_state(i) is f]

    def rank_useful(self, summaries: dict[str, dict[str, object]]) -> list[Ranked]:
        """The items in "most useful first" order with their reasons (``app.ranking``), scored
        from the stored traces' ``summaries``."""
        if self.opened is None:
            return []
        project = self.opened.project
        return rank_items(list(self.items), [self.item_state(i) for i in range(len(project.items))],
                          [project.is_video(it) for it in project.items], summaries,
                          class_counts(self.opened.store.records()))
