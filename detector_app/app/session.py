"""``Session``: the GUI's state in plain Python (no Qt), tested without a window.

It holds the open project (a :class:`ProjectStore`, which autosaves), the
current item (an image, or a frame of a video), its pixels and
:class:`DetectionTrace`, the live post-processing under the score / NMS
thresholds, the overlay toggles, the selection and the label in use. Edits
(``add_box``, ``move_box``, ...) are undo commands pushed on the data layer's
:class:`UndoStack`. The window subscribes to events and forwards user input;
it decides nothing.

Events (``session.subscribe(name, fn)``; arguments in brackets):
    items []                  the item list changed (a project was opened)
    item_state [index]        one item's review state changed
    current []                another item / frame is current (image and record changed)
    trace []                  ``trace`` and ``result`` changed (trace may be None)
    result []                 ``result`` changed (thresholds moved)
    annotations []            the current record's annotations changed
    selection []              selected annotation / detection changed
    labels []                 the label list or the current label changed
    overlays []               an overlay toggle changed
    anchor_labels []          ``anchor_labels`` changed
    history []                the undo stack changed (``undo_text`` / ``redo_text``)
    detect [key, rgb, group]  run the detector (the window hands it to the worker)
    status [message]          a line for the status bar
    error [message]           a problem for the status bar and the log
    save_error [message]      saving failed (called from the autosave thread!)

Store edits made on another thread (the dataset import runs on a job thread:
:meth:`Session.import_job`) send no events; :meth:`Session.import_finished`
then records them as one undo step and :meth:`Session.reload` re-emits what
the views show.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detector_app.app.dataset_io import ImportResult, find_dataset, import_annotations
from detector_app.app.project import Project, open_project
from detector_app.app.store import ProjectStore, StoreEvent, split_key
from detector_app.app.trace_store import TraceStore

if TYPE_CHECKING:
    from detector_app.app.ranking import Ranked
from detector_app.app.session_edits import EditingMixin
from detector_app.app.undo import RecordState, UndoStack, import_batch, record_states
from detector_app.domain.annotations import ImageRecord, ItemState
from detector_app.domain.errors import UserError
from detector_app.domain.labels import LabelMap, label_names
from detector_app.domain.progress import ProgressFn
from detector_app.domain.trace import DetectionTrace, PostprocessResult
from detector_app.media.images import ImageTooLarge, read_preview
from detector_app.media.video import VideoReader

#: Overlay layers (the canvas's layer names) and whether they start visible.
OVERLAYS: dict[str, bool] = {
    "detections": True, "annotations": True, "proposals": False,
    "anchors": False, "grid": False, "anchor_labels": False,
}
TRACE_CACHE = 16
#: Worker group of the detections navigation asks for (the newest pending one wins).
VIEW_GROUP = "view"


class Session(EditingMixin):
    """See the module docstring; the edits are in :class:`EditingMixin`."""

    def __init__(self, score_thresh: float = 0.5, nms_thresh: float = 0.5, detect_on_open: bool = True) -> None:
        self._listeners: dict[str, list[Callable[..., None]]] = {}
        self.project: Project | None = None
        self.store: ProjectStore | None = None
        self.undo_stack: UndoStack | None = None
        self.index: int | None = None  # current item
        self.frame: int | None = None  # current frame of a video item
        self.video: VideoReader | None = None
        self.image: np.ndarray | None = None  # uint8[H, W, 3]
        self.record: ImageRecord | None = None  # live store record (or a transient one for a frame)
        self.trace: DetectionTrace | None = None
        self.trace_key: str | None = None  # the record the trace is of (an earlier frame while playing)
        self._playing = False
        self._anchor_note_key: str | None = None  # the image the "no boxes: all negative" note was shown for
        self.result: PostprocessResult | None = None
        self.score_thresh = float(score_thresh)
        self.nms_thresh = float(nms_thresh)
        self.detect_on_open = detect_on_open
        self.overlays: dict[str, bool] = dict(OVERLAYS)
        self.anchor_labels: np.ndarray | None = None
        self.selected_annotation: str | None = None
        self.selected_detection: int | None = None
        self.model_classes: list[str] = []  # background first
        self.labels = LabelMap()  # model classes (in model order), then project-only labels
        self.current_label: str | None = None
        self.state_filter: ItemState | None = None
        self._traces: OrderedDict[str, DetectionTrace] = OrderedDict()
        self.order: list[int] | None = None  # review order of the items (None: folder order)
        self.unreadable: dict[int, str] = {}  # items whose pixels could not be read: why
        self._model_id: str | None = None  # the model in use, as trace_store.model_id names it
        self.trace_store: TraceStore | None = None  # this project's stored traces of that model (detect all)
        self._index_of: dict[str, int] = {}
        self._thread = threading.get_ident()  # the thread whose store edits become events
        self._import_before: dict[str, RecordState] | None = None

    # -- events ---------------------------------------------------------------
    def subscribe(self, event: str, fn: Callable[..., None]) -> None:
        self._listeners.setdefault(event, []).append(fn)

    def emit(self, event: str, *args: Any) -> None:
        for fn in list(self._listeners.get(event, ())):
            fn(*args)

    def _status(self, message: str) -> None:
        self.emit("status", message)

    def _error(self, message: str) -> None:
        self.emit("error", message)

    # -- the project ------------------------------------------------------------
    @property
    def items(self) -> list[str]:
        """Project files (POSIX paths relative to the root), images and videos."""
        return [] if self.store is None else self.store.files

    @property
    def key(self) -> str | None:
        """Record key of what is shown: ``path`` or ``path#frame``."""
        return None if self.record is None else self.record.key

    @property
    def unsaved_edits(self) -> int:
        """Edits not on disk yet (a read-only project: all of them; before closing,
        offer to export them elsewhere when this is not 0)."""
        return 0 if self.store is None else self.store.seq - self.store.saved_seq

    def save_now(self) -> int:
        """Write pending edits now; returns how many are still not on disk
        (0: everything saved; more when the project is read-only, the disk is
        full or the store is gone - the edits stay in memory)."""
        if self.store is None:
            return 0
        try:
            self.store.flush()
        except UserError:
            pass  # the autosaver has already reported it; the count says enough
        return self.unsaved_edits

    @property
    def can_undo(self) -> bool:
        return self.undo_stack is not None and self.undo_stack.can_undo

    @property
    def can_redo(self) -> bool:
        return self.undo_stack is not None and self.undo_stack.can_redo

    @property
    def undo_text(self) -> str:
        return "" if self.undo_stack is None else self.undo_stack.undo_text

    @property
    def redo_text(self) -> str:
        return "" if self.undo_stack is None else self.undo_stack.redo_text

    def open_paths(self, paths: Sequence[str | Path]) -> None:
        """Open a folder, image files or a video; shows the first item not yet
        verified. Raises a ``UserError`` (bad path, project locked by another instance)."""
        project = open_project(paths)
        if not project.items:
            project.close()
            raise UserError(f"{project.root}: no images or videos in this folder")
        self.close()
        self.project, self.store = project, project.store
        self._open_trace_store()
        self.undo_stack = UndoStack(project.store, lambda _stack: self.emit("history"))
        self.emit("history")  # the previous project's undo steps are gone: menus must not offer them
        project.store.subscribe(self._store_changed)
        project.store.on_save_error(lambda exc: self.emit("save_error", str(exc)))
        self._index_of = {path: i for i, path in enumerate(project.store.files)}
        self.order = None
        self.unreadable = {}
        self._traces.clear()
        self._rebuild_labels()
        self.emit("items")
        self._status(f"opened {project.root} ({len(project.items)} items)"
                     + (f"; read-only ({project.store.read_only_reason}): edits stay in memory, "
                        "export them to keep them" if project.read_only else ""))
        first = project.initial_index
        if len(paths) == 1 and Path(paths[0]).is_file():
            first = self._index_of[Path(paths[0]).resolve().relative_to(project.root).as_posix()]
        self.go_to(first)

    def close(self) -> None:
        """Close the project (flushes the store; a save error is reported)."""
        project, self.project, self.store = self.project, None, None
        self.trace_store = None
        if project is not None:
            try:
                project.close()
            except UserError as exc:
                self._error(str(exc))
        if self.video is not None:
            self.video.close()
        self.undo_stack = self.video = None
        self.index = self.frame = None
        self.image = self.record = self.trace = self.trace_key = self.result = None
        self.anchor_labels = None
        self.selected_annotation = self.selected_detection = None

    def item_name(self, index: int) -> str:
        return self.items[index]

    def is_video(self, index: int | None = None) -> bool:
        index = self.index if index is None else index
        return index is not None and self.store is not None and self.store.is_video(self.items[index])

    def item_state(self, index: int) -> ItemState:
        """Review state of an item (a video: see ``Project.item_state``)."""
        return self.project.item_state(self.project.items[index])  # type: ignore[union-attr]

    def frame_states(self) -> dict[int, ItemState]:
        """Review state of each frame of the current video that has a record (annotated,
        verified), by frame index; empty for an image."""
        if self.store is None or self.video is None or self.record is None:
            return {}
        path = self.record.path
        return {f: self.store.record(f"{path}#{f}").state for f in self.store.frames_of(path)}

    def _store_changed(self, event: StoreEvent) -> None:
        if threading.get_ident() != self._thread:
            return  # a job thread's edit (an import): :meth:`reload` shows it afterwards
        if event.kind == "labels":
            self._rebuild_labels()
            return
        if event.key is None or self.store is None:
            return
        if event.key == self.key and event.kind == "annotations":
            self.emit("annotations")
            self._update_anchor_labels()
        if event.kind in ("annotations", "state"):
            index = self._index_of.get(split_key(event.key)[0])
            if index is not None:
                self.emit("item_state", index)

    def reload(self) -> None:
        """Re-emit what the views show after store edits made without events (an
        import on a job thread): the label list, every item's state, the current
        record's annotations (a selected box that is gone is unselected)."""
        if self.store is None:
            return
        self._rebuild_labels()
        if self.record is not None and self.store.has(self.record.key):
            self.record = self.store.record(self.record.key)
        for i in range(len(self.items)):
            self.emit("item_state", i)
        if self.selected_annotation is not None and self._annotation(self.selected_annotation) is None:
            self.selected_annotation = None
            self.emit("selection")
        self.emit("annotations")
        self._update_anchor_labels()

    # -- importing a dataset ------------------------------------------------------
    def suggested_dataset(self) -> Path | None:
        """A dataset file or folder next to the open project's images (see
        :func:`~detector_app.app.dataset_io.find_dataset`), or ``None``."""
        return None if self.store is None else find_dataset(self.store.root)

    def import_suggestion(self) -> str | None:
        """One line pointing at File > Import annotations when the open project has
        no annotations yet and a dataset lies next to its images; else ``None``."""
        if self.store is None or any(r.annotations for r in self.store.records()):
            return None
        found = self.suggested_dataset()
        if found is None:
            return None
        return f"{found} looks like annotations of these images: File > Import annotations\u2026 brings its boxes in"

    def import_job(self, path: str | Path, fmt: str | None = None, mode: str = "replace",
                   images: str | Path | None = None) -> Callable[[ProgressFn, threading.Event], ImportResult]:
        """The import of dataset ``path`` into the open project as a job
        ``fn(progress, cancel)`` for a job thread (all or nothing, see
        :func:`~detector_app.app.dataset_io.import_annotations`; ``images``: a COCO
        file's images folder). Call :meth:`import_finished` on this thread when it has ended."""
        store = self.store
        if store is None:
            raise UserError("open a project first")
        self._import_before = record_states(store)  # for the undo step
        return lambda progress, cancel: import_annotations(store, path, fmt, mode, progress, cancel, images)

    def import_finished(self, result: ImportResult | None) -> None:
        """After the import job (``result`` ``None``: it failed or was cancelled and
        changed nothing): everything it changed becomes ONE undo step
        ("import annotations"), then the views are refreshed (:meth:`reload`)."""
        before, self._import_before = self._import_before, None
        if result is not None and before is not None and self.store is not None and self.undo_stack is not None:
            batch = import_batch(before, self.store)
            if batch is not None:
                self.undo_stack.push_done(batch)
        self.reload()
        if result is not None:
            self._status(result.summary())

    # -- navigation -------------------------------------------------------------
    def go_to(self, index: int, frame: int | None = None, group: str | None = None) -> None:
        """Make item ``index`` current (``frame`` of a video, default 0): read the
        pixels, show a cached trace or ask for detection (in ``group``)."""
        if self.store is None or not 0 <= index < len(self.items):
            return
        item, path = self.project.items[index], self.items[index]  # type: ignore[union-attr]
        try:
            if self.project.is_video(item):  # type: ignore[union-attr]
                if self.index != index or self.video is None:
                    if self.video is not None:
                        self.video.close()
                    self.video = None
                    self.video = self.project.open_video(item)  # type: ignore[union-attr]
                frame = 0 if frame is None else min(max(int(frame), 0), self.video.frame_count - 1)
                rgb, key = self.video.read(frame), f"{path}#{frame}"
            else:
                rgb, key, frame = self.project.read_image(item), path, None  # type: ignore[union-attr]
        except UserError as exc:
            if self.video is not None and self.index == index:  # a bad frame: stay on the last good one
                self._error(str(exc))
                self.emit("current")  # (the video bar learns the corrected frame count and pauses)
            else:
                self._show_unreadable(index, exc)
            return
        if self.unreadable.pop(index, None) is not None:  # readable again (the file was replaced)
            self.emit("item_state", index)
        if frame is None and self.video is not None:
            self.video.close()
            self.video = None
        self.index, self.frame, self.image = index, frame, rgb
        h, w = rgb.shape[:2]
        if frame is None or self.store.has(key):
            self.store.set_size(key, w, h)
            self.record = self.store.record(key)
        else:  # unannotated frames stay out of the store until edited
            self.record = ImageRecord(path=path, width=w, height=h, frame_index=frame)
        self.selected_annotation = self.selected_detection = None
        self._playing = group == "video"
        cached = self._trace_of(key)
        if cached is not None or not (self._playing and self.trace_key and self.trace_key.startswith(f"{path}#")):
            self.trace, self.trace_key = cached, key if cached is not None else None
            self._refresh_result()
        # else: while a video plays, the latest frame's detections stay up until this frame's arrive
        for event in ("current", "annotations", "selection", "trace"):
            self.emit(event)
        self._update_anchor_labels()
        if cached is None and self.detect_on_open:
            # "view": moving on replaces the previous item's request that has not started
            self.request_detection(group or VIEW_GROUP)

    def _show_unreadable(self, index: int, exc: UserError) -> None:
        """An item whose pixels cannot be read: current (so A / D go past it),
        shown as a grey placeholder, with nothing to edit or detect. An image
        over the pixel limit is shown downscaled instead (still not editable)."""
        if self.video is not None:
            self.video.close()
        self.video = None
        self.index, self.frame = index, None
        self.image = np.full((48, 64, 3), 64, np.uint8)
        message = str(exc)
        if isinstance(exc, ImageTooLarge):
            try:
                self.image, factor = read_preview(self.project.path_of(self.project.items[index]))  # type: ignore[union-attr]
                message += f" (shown downscaled 1/{factor}, not editable)"
            except UserError:
                pass
        self._error(message)
        self.unreadable[index] = message
        self.emit("item_state", index)  # the file list marks it
        self.record = self.trace = self.trace_key = self.result = None
        self.selected_annotation = self.selected_detection = None
        for event in ("current", "annotations", "selection", "trace"):
            self.emit(event)
        self._update_anchor_labels()

    def go_frame(self, frame: int, playing: bool = False) -> None:
        """Another frame of the current video; while ``playing`` detection is
        requested in the ``video`` group (the worker keeps only the newest)."""
        if self.is_video():
            self.go_to(self.index, frame, group="video" if playing else None)  # type: ignore[arg-type]

    def stop_playing(self) -> None:
        """Playback paused or reached the end (the owner has just cancelled the
        ``video`` group's requests, this frame's among them): the frame on screen
        gets its own detections, from the cache or from a new request outside
        that group; an earlier frame's detections come off the screen meanwhile."""
        if not self._playing:
            return
        self._playing = False
        if self.record is None or self.trace_key == self.key:
            return
        cached = self._trace_of(self.key)  # type: ignore[arg-type]
        self.trace, self.trace_key = cached, (self.key if cached is not None else None)
        self._refresh_result()
        self.emit("trace")
        self._update_anchor_labels()
        if cached is None and self.detect_on_open:
            self.request_detection()

    def step(self, delta: int) -> None:
        """Previous / next item among those passing ``state_filter`` (A / D), in the
        review order (folder order, or "most useful first")."""
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
            self._status("no next item" if delta > 0 else "no previous item")
            return
        self.go_to(later[0])

    def visible_indices(self) -> list[int]:
        f = self.state_filter
        order = self.order if self.order is not None else range(len(self.items))
        return [i for i in order if f is None or self.item_state(i) is f]

    def rank_useful(self) -> list[Ranked]:
        """The items in "most useful first" order with their reasons (``app.ranking``)."""
        from detector_app.app.ranking import class_counts, rank_items

        if self.store is None or self.project is None:
            return []
        summaries = self.trace_store.summaries() if self.trace_store is not None else {}
        items = self.project.items
        return rank_items(list(self.items), [self.item_state(i) for i in range(len(items))],
                          [self.project.is_video(it) for it in items], summaries, class_counts(self.store.records()))

    def set_order(self, order: list[int] | None) -> None:
        """The review order A / D follow (None: folder order)."""
        self.order = None if order is None else list(order)

    def set_state_filter(self, state: ItemState | None) -> None:
        self.state_filter = state

    # -- detection ----------------------------------------------------------------
    def request_detection(self, group: str | None = None) -> None:
        """Ask (via the ``detect`` event) for a trace of the current pixels."""
        if self.record is not None and self.image is not None:
            self.emit("detect", self.record.key, self.image, group)

    def on_trace(self, key: str, trace: DetectionTrace) -> None:
        """A trace arrived from the worker (for ``key``, maybe no longer current)."""
        self._remember(key, trace)
        if trace.class_names != self.model_classes:
            self.set_model_classes(trace.class_names)
        stale_ok = self._playing and self.frame is not None and key.startswith(f"{self.record.path}#")  # type: ignore[union-attr]
        if key != self.key and not stale_ok:
            return
        self.trace, self.trace_key = trace, key
        self.selected_detection = None
        self._refresh_result()
        self.emit("trace")
        self._update_anchor_labels()
        rec = self.record
        if rec is not None and rec.frame_index is None:
            self.project.mark_detected(rec)  # type: ignore[union-attr]  # not an edit: no undo step

    def _trace_of(self, key: str) -> DetectionTrace | None:
        """The trace of ``key`` in memory, else stored on disk by Detect all (then kept in memory)."""
        trace = self._traces.get(key)
        if trace is None and self.trace_store is not None:
            trace = self.trace_store.get(key)
            if trace is not None:
                self._remember(key, trace)
        return trace

    def _remember(self, key: str, trace: DetectionTrace) -> None:
        """Keep ``trace`` in memory as the most recent; the oldest beyond ``TRACE_CACHE`` go."""
        self._traces[key] = trace
        self._traces.move_to_end(key)
        while len(self._traces) > TRACE_CACHE:
            self._traces.popitem(last=False)

    def set_model_id(self, model_id: str | None) -> None:
        """The model in use changed (``trace_store.model_id``): its stored traces are used."""
        self._model_id = model_id
        self._open_trace_store()

    def _open_trace_store(self) -> None:
        store = self.store
        self.trace_store = (TraceStore(store.store_dir, self._model_id)
                            if store is not None and self._model_id else None)

    def on_stored_trace(self, key: str) -> None:
        """Detect all stored the trace of image ``key``: the item counts as detected, and
        the current image shows it if it had none."""
        if self.store is None or self.project is None:
            return
        rec = self.store.record(key)
        if rec.frame_index is None:
            self.project.mark_detected(rec)
        if key == self.key and self.trace is None:
            trace = self._trace_of(key)
            if trace is not None:
                self.on_trace(key, trace)

    def cached_traces(self) -> dict[str, DetectionTrace]:
        """The traces computed with the model in use (a copy: safe to hand to a job thread)."""
        return dict(self._traces)

    def forget_traces(self) -> None:
        """Drop cached traces (the model changed); the current one comes from the stored
        traces of the new model, else is re-requested."""
        self._traces.clear()
        if self.record is not None:
            self.trace = self.trace_key = None
            stored = self._trace_of(self.record.key)
            if stored is not None:
                self.on_trace(self.record.key, stored)
                return
            self._refresh_result()
            self.emit("trace")
            self._update_anchor_labels()
            self.request_detection()

    def set_thresholds(self, score_thresh: float | None = None, nms_thresh: float | None = None) -> None:
        """Re-derive detections from the trace (no network) under new thresholds."""
        if score_thresh is not None:
            self.score_thresh = float(score_thresh)
        if nms_thresh is not None:
            self.nms_thresh = float(nms_thresh)
        self._refresh_result()
        if self.selected_detection is not None:
            self.selected_detection = None
            self.emit("selection")
        self.emit("result")

    def _refresh_result(self) -> None:
        t = self.trace
        self.result = None if t is None else t.postprocess(self.score_thresh, self.nms_thresh)

    def set_model_classes(self, class_names: Sequence[str]) -> None:
        """The model's classes (background first) lead the label list."""
        self.model_classes = list(class_names)
        self._rebuild_labels()

    def _rebuild_labels(self) -> None:
        names = label_names(self.model_classes)
        store = self.store
        if store is not None:
            have = store.label_map.names
            if names and have != names and set(have) <= set(names):
                # The project's label map fixes the exported class ids. While every label it has is a
                # class of this model, it takes the model's classes in the model's order (ids = model
                # class ids, unused classes included), whatever order the boxes came in; once a label
                # of its own is there, it is never reordered again, so ids stay stable across exports.
                store.set_labels(names)  # notifies "labels": this method runs again, with nothing to change
                return
            names += [n for n in have if n not in names]
        self.labels = LabelMap(names)
        if self.current_label not in self.labels:
            self.current_label = names[0] if names else None
        self.emit("labels")

    # -- overlays ---------------------------------------------------------------
    def set_overlay(self, name: str, visible: bool) -> None:
        if name not in self.overlays:
            raise KeyError(f"unknown overlay {name!r}; known: {', '.join(self.overlays)}")
        if self.overlays[name] != bool(visible):
            self.overlays[name] = bool(visible)
            self.emit("overlays")
            self._update_anchor_labels()

    def _update_anchor_labels(self) -> None:
        labels = None
        if self.overlays["anchor_labels"] and self.trace is not None and self.record is not None:
            from detector_app.app.jobs import anchor_labels

            labels = anchor_labels(self.trace, self.record.annotations)
            if not self.record.annotations and self._anchor_note_key != self.key:  # once per image
                self._anchor_note_key = self.key
                self._status("anchor labels: this image has no boxes of yours, so every anchor is negative "
                             "(red); draw or accept boxes to see which anchors training would make positive")
        if labels is not None or self.anchor_labels is not None:
            self.anchor_labels = labels
            self.emit("anchor_labels")
