"""``Session``: the GUI's state in plain Python (no Qt), tested without a window.

A facade over parts with one job each:

* :class:`~detector_app.app.navigation.Navigator`: the open project, the item shown
  (an image, or a frame of a video) and its pixels, the review order;
* :class:`~detector_app.app.trace_view.TraceView`: the trace shown, its post-processing
  under the score / NMS thresholds, the traces remembered;
* :class:`~detector_app.app.overlays.Overlays`: the overlay toggles and the anchor labels;
* :class:`~detector_app.app.label_choice.LabelChoice`: the label list and the label in use;
* :class:`~detector_app.app.editor.Editor`: the selection, the edits (undo commands), undo;
* :class:`~detector_app.app.project_import.PendingImport`: a dataset import as one undo step;
* :class:`~detector_app.app.class_manager.ClassManager` (``session.classes``): rename,
  merge, delete and reorder classes, classes files;
* :class:`~detector_app.app.box_flags.BoxFlags` (``session.box_flags``): hidden and locked boxes;
* :class:`~detector_app.app.keyframes.Keyframes` (``session.keyframes``): a clip's interpolation
  and track relabels.

The session sequences them (showing an item resets the selection, picks its trace,
relabels the anchors, asks for detection) and reports through typed events
(:class:`~detector_app.app.events.Event`, ``session.subscribe(Event.X, fn)``); the
window subscribes and forwards user input, it decides nothing.

Store edits made on another thread (the dataset import runs on a job thread:
:meth:`Session.import_job`) send no events; :meth:`Session.import_finished`
then records them as one undo step and :meth:`Session.reload` re-emits what
the views show.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from detector_app.app.box_flags import BoxFlags
from detector_app.app.class_manager import ClassManager
from detector_app.app.dataset_io import ImportResult, find_dataset
from detector_app.app.editor import Editor
from detector_app.app.events import Event, EventBus
from detector_app.app.keyframes import Keyframes
from detector_app.app.label_choice import LabelChoice
from detector_app.app.navigation import Navigator, OpenProject, Shown
from detector_app.app.overlays import OVERLAYS, Overlays
from detector_app.app.project import Project, open_project
from detector_app.app.project_import import ImportJob, PendingImport, import_suggestion
from detector_app.app.ranking import Ranked
from detector_app.app.store import ProjectStore, StoreEvent, split_key
from detector_app.app.trace_view import TraceView
from detector_app.app.undo import UndoStack
from detector_app.domain.annotations import ImageRecord, ItemState
from detector_app.domain.boxes import Box
from detector_app.domain.errors import UserError
from detector_app.domain.labels import LabelMap
from detector_app.domain.trace import DISPLAY_SCORE_THRESH, DetectionTrace, PostprocessResult
from detector_app.media.video import VideoReader

__all__ = ["OVERLAYS", "VIEW_GROUP", "Event", "Session"]

#: Worker group of the detections navigation asks for (the newest pending one wins).
VIEW_GROUP = "view"


class Session:
    """See the module docstring. The parts are public for reading (``nav``, ``view``,
    ``overlay``, ``label_choice``, ``editor``); change state through the methods here."""

    def __init__(self, score_thresh: float = DISPLAY_SCORE_THRESH, nms_thresh: float = 0.5,
                 detect_on_open: bool = True) -> None:
        self.events = EventBus()
        self.subscribe = self.events.subscribe
        self.unsubscribe = self.events.unsubscribe
        self.nav = Navigator(self.events)
        self.view = TraceView(score_thresh, nms_thresh, detect_on_open)
        self.overlay = Overlays(self.events)
        self.label_choice = LabelChoice(self.events)
        self.box_flags = BoxFlags(self.events)
        self.keyframes = Keyframes(self.events, self.nav)
        self.editor = Editor(self.events, self.nav, self.view, self.label_choice, self._show_record,
                             self.box_flags, self.keyframes.relabel_track)
        self._import = PendingImport()
        self.classes = ClassManager(self.events, self.nav, self.label_choice)
        self._thread = threading.get_ident()  # the thread whose store edits become events

    # -- what the views read -----------------------------------------------------------
    @property
    def project(self) -> Project | None:
        return None if self.nav.opened is None else self.nav.opened.project

    @property
    def store(self) -> ProjectStore | None:
        return self.nav.store

    def require_store(self) -> ProjectStore:
        """The open project's store; a ``UserError`` when no project is open."""
        if self.store is None:
            raise UserError("open a project first")
        return self.store

    @property
    def items(self) -> list[str]:
        """Project files (POSIX paths relative to the root), images and videos."""
        return self.nav.items

    @property
    def key(self) -> str | None:
        """Record key of what is shown: ``path`` or ``path#frame``."""
        return self.nav.key

    @property
    def index(self) -> int | None:
        return self.nav.index

    @property
    def frame(self) -> int | None:
        return self.nav.frame

    @property
    def video(self) -> VideoReader | None:
        return self.nav.video

    @property
    def image(self) -> np.ndarray | None:
        """``uint8[H, W, 3]`` RGB of what is shown."""
        return self.nav.image

    @property
    def record(self) -> ImageRecord | None:
        """The live store record shown (a transient one for a video frame without boxes)."""
        return self.nav.record

    @property
    def unreadable(self) -> dict[int, str]:
        """Items whose pixels could not be read: why."""
        return self.nav.unreadable

    @property
    def trace(self) -> DetectionTrace | None:
        return self.view.trace

    @property
    def trace_key(self) -> str | None:
        """The record the trace is of (an earlier frame while a video plays)."""
        return self.view.trace_key

    @property
    def result(self) -> PostprocessResult | None:
        return self.view.result

    @property
    def score_thresh(self) -> float:
        return self.view.score_thresh

    @property
    def nms_thresh(self) -> float:
        return self.view.nms_thresh

    @property
    def class_agnostic(self) -> bool:
        """Whether NMS runs across classes (one box per object)."""
        return self.view.class_agnostic

    @property
    def detect_on_open(self) -> bool:
        """Whether showing an item without a trace asks the detector for one."""
        return self.view.detect_on_open

    @detect_on_open.setter
    def detect_on_open(self, on: bool) -> None:
        self.view.detect_on_open = bool(on)

    @property
    def overlays(self) -> dict[str, bool]:
        return self.overlay.visible

    @property
    def anchor_labels(self) -> np.ndarray | None:
        return self.overlay.anchor_labels

    @property
    def labels(self) -> LabelMap:
        return self.label_choice.labels

    @property
    def current_label(self) -> str | None:
        return self.label_choice.current

    @property
    def selected_annotation(self) -> str | None:
        return self.editor.selected_annotation

    @property
    def selected_detection(self) -> int | None:
        return self.editor.selected_detection

    @property
    def undo_stack(self) -> UndoStack | None:
        return None if self.nav.opened is None else self.nav.opened.undo_stack

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

    def item_name(self, index: int) -> str:
        return self.items[index]

    def is_video(self, index: int | None = None) -> bool:
        return self.nav.is_video(index)

    def item_state(self, index: int) -> ItemState:
        """Review state of an item (a video: see ``Project.item_state``)."""
        return self.nav.item_state(index)

    def frame_states(self) -> dict[int, ItemState]:
        """Review state of each frame of the current video with a record, by frame index."""
        return self.nav.frame_states()

    def accepted_detections(self) -> np.ndarray | None:
        """``bool[D]``: the detections shown that are annotations already (``Editor``)."""
        return self.editor.accepted_detections()

    # -- the project ------------------------------------------------------------------
    @property
    def unsaved_edits(self) -> int:
        """Edits not on disk yet (a read-only project: all of them; before closing,
        offer to export them elsewhere when this is not 0)."""
        store = self.store
        return 0 if store is None else store.seq - store.saved_seq

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

    def open_paths(self, paths: Sequence[str | Path]) -> None:
        """Open a folder, image files or a video; shows the first item not yet
        verified. Raises a ``UserError`` (bad path, project locked by another instance)."""
        project = open_project(paths)
        if not project.items:
            project.close()
            raise UserError(f"{project.root}: no images or videos in this folder")
        self.close()
        store = project.store
        undo_stack = UndoStack(store, lambda _stack: self.events.notify(Event.HISTORY))
        opened = OpenProject(project, undo_stack, {path: i for i, path in enumerate(store.files)})
        self.nav.attach(opened)
        self.view.cache.open(store.store_dir)
        self.events.notify(Event.HISTORY)  # the previous project's undo steps are gone: menus must not offer them
        store.subscribe(self._store_changed)
        store.on_save_error(lambda exc: self.events.save_error(str(exc)))
        self.view.set_aliases(store.aliases)
        self.label_choice.rebuild(store)
        self.events.notify(Event.ITEMS)
        self.events.status(f"opened {project.root} ({len(project.items)} items)"
                           + (f"; read-only ({store.read_only_reason}): edits stay in memory, "
                              "export them to keep them" if project.read_only else ""))
        first = project.initial_index
        if len(paths) == 1 and Path(paths[0]).is_file():
            first = opened.index_of[Path(paths[0]).resolve().relative_to(project.root).as_posix()]
        self.go_to(first)

    def close(self) -> None:
        """Close the project (flushes the store; a save error is reported)."""
        opened = self.nav.detach()
        self.view.cache.open(None)
        self.view.show(None, None)
        self.view.set_aliases({})
        self.overlay.clear()
        self.editor.clear_selection()
        self.box_flags.clear()
        if opened is not None:
            try:
                opened.project.close()
            except UserError as exc:
                self.events.error(str(exc))

    def _store_changed(self, event: StoreEvent) -> None:
        if threading.get_ident() != self._thread:
            return  # a job thread's edit (an import): :meth:`reload` shows it afterwards
        if event.kind == "labels":
            self.label_choice.rebuild(self.store)
            if self.store is not None and self.view.set_aliases(self.store.aliases):
                self.editor.selected_detection = None
                self.events.notify(Event.TRACE)
            return
        opened = self.nav.opened
        if event.key is None or opened is None:
            return
        if event.key == self.key and event.kind == "annotations":
            self.events.notify(Event.ANNOTATIONS)
            self._update_anchor_labels()
        if event.kind in ("annotations", "state"):
            index = opened.index_of.get(split_key(event.key)[0])
            if index is not None:
                self.events.item_state(index)

    def reload(self) -> None:
        """Re-emit what the views show after store edits made without events (an
        import on a job thread): the label list, every item's state, the current
        record's annotations (a selected box that is gone is unselected)."""
        if self.store is None:
            return
        self.label_choice.rebuild(self.store)
        self.nav.reread_record()
        for i in range(len(self.items)):
            self.events.item_state(i)
        self.editor.drop_vanished_selection()
        self.events.notify(Event.ANNOTATIONS)
        self._update_anchor_labels()

    # -- importing a dataset ------------------------------------------------------------
    def suggested_dataset(self) -> Path | None:
        """A dataset file or folder next to the open project's images (see
        :func:`~detector_app.app.dataset_io.find_dataset`), or ``None``."""
        return None if self.store is None else find_dataset(self.store.root)

    def import_suggestion(self) -> str | None:
        """A line pointing at File > Import annotations when one would help, else ``None``."""
        return None if self.store is None else import_suggestion(self.store)

    def import_job(self, path: str | Path, fmt: str | None = None, mode: str = "replace",
                   images: str | Path | None = None) -> ImportJob:
        """The import of dataset ``path`` into the open project as a job ``fn(progress, cancel)``
        for a job thread (``images``: a COCO file's images folder). Call :meth:`import_finished`
        on this thread when it has ended."""
        return self._import.job(self.require_store(), path, fmt, mode, images)

    def import_finished(self, result: ImportResult | None) -> None:
        """After the import job (``result`` ``None``: it failed or was cancelled and
        changed nothing): everything it changed becomes ONE undo step
        ("import annotations"), then the views are refreshed (:meth:`reload`)."""
        self._import.finish(result, self.store, self.undo_stack)
        self.reload()
        if result is not None:
            self.events.status(result.summary())

    # -- navigation ---------------------------------------------------------------------
    def go_to(self, index: int, frame: int | None = None, group: str | None = None) -> None:
        """Make item ``index`` current (``frame`` of a video, default 0): read the
        pixels, show a cached trace or ask for detection (in ``group``)."""
        shown = self.nav.load(index, frame, playing=group == "video")
        if shown is None or shown is Shown.BAD_FRAME:
            return
        self.editor.clear_selection()
        rec = self.nav.record
        cached = None
        if shown is Shown.UNREADABLE or rec is None:
            self.view.show(None, None)
        else:
            cached = self.view.show_cached(rec.key, rec.path, self.nav.playing)
        self.events.notify(Event.CURRENT, Event.ANNOTATIONS, Event.SELECTION, Event.TRACE)
        self._update_anchor_labels()
        if shown is Shown.ITEM and cached is None and self.detect_on_open:
            # "view": moving on replaces the previous item's request that has not started
            self.request_detection(group or VIEW_GROUP)

    def _show_record(self, key: str) -> None:
        """Show the item (frame) of record ``key``, if it is one of the project's."""
        path, frame = split_key(key)
        opened = self.nav.opened
        if opened is not None and path in opened.index_of:
            self.go_to(opened.index_of[path], frame)

    def go_frame(self, frame: int, playing: bool = False) -> None:
        """Another frame of the current video; while ``playing`` detection is
        requested in the ``video`` group (the worker keeps only the newest)."""
        if self.nav.index is not None and self.is_video():
            self.go_to(self.nav.index, frame, group="video" if playing else None)

    def stop_playing(self) -> None:
        """Playback paused or reached the end (the owner has just cancelled the
        ``video`` group's requests, this frame's among them): the frame on screen
        gets its own detections, from the cache or from a new request outside
        that group; an earlier frame's detections come off the screen meanwhile."""
        if not self.nav.playing:
            return
        self.nav.playing = False
        key = self.key
        if key is None or self.trace_key == key:
            return
        cached = self.view.cache.get(key)
        self.view.show(cached, key)
        self.events.notify(Event.TRACE)
        self._update_anchor_labels()
        if cached is None and self.detect_on_open:
            self.request_detection()

    def step(self, delta: int) -> None:
        """Previous / next item among those passing the state filter (A / D), in the
        review order (folder order, or "most useful first")."""
        target = self.nav.next_index(delta)
        if target is not None:
            self.go_to(target)

    def visible_indices(self) -> list[int]:
        return self.nav.visible_indices()

    def rank_useful(self) -> list[Ranked]:
        """The items in "most useful first" order with their reasons (``app.ranking``)."""
        stored = self.view.cache.store
        return self.nav.rank_useful(stored.summaries() if stored is not None else {})

    def set_order(self, order: list[int] | None) -> None:
        """The review order A / D follow (None: folder order)."""
        self.nav.order = None if order is None else list(order)

    def set_state_filter(self, state: ItemState | None) -> None:
        self.nav.state_filter = state

    # -- detection ------------------------------------------------------------------------
    def request_detection(self, group: str | None = None) -> None:
        """Ask (via the ``DETECT`` event) for a trace of the current pixels."""
        if self.record is not None and self.image is not None:
            self.events.detect(self.record.key, self.image, group)

    def on_trace(self, key: str, trace: DetectionTrace) -> None:
        """A trace arrived from the worker (for ``key``, maybe no longer current)."""
        if trace.class_names != self.label_choice.model_classes:
            self.set_model_classes(trace.class_names)
        rec = self.record
        playing = rec.path if rec is not None and self.nav.playing and self.frame is not None else None
        if not self.view.arrived(key, trace, self.key, playing):
            return
        self.editor.selected_detection = None
        self.events.notify(Event.TRACE)
        self._update_anchor_labels()
        project = self.project
        if rec is not None and rec.frame_index is None and project is not None:
            project.mark_detected(rec)  # not an edit: no undo step

    def set_model_id(self, model_id: str | None) -> None:
        """The model in use changed (``trace_store.model_id``): its stored traces are used."""
        self.view.cache.set_model_id(model_id)

    def on_stored_trace(self, key: str) -> None:
        """Detect all stored the trace of image ``key``: the item counts as detected, and
        the current image shows it if it had none."""
        store, project = self.store, self.project
        if store is None or project is None:
            return
        rec = store.record(key)
        if rec.frame_index is None:
            project.mark_detected(rec)
        if key == self.key and self.trace is None:
            trace = self.view.cache.get(key)
            if trace is not None:
                self.on_trace(key, trace)

    def cached_traces(self) -> dict[str, DetectionTrace]:
        """The traces computed with the model in use (a copy: safe to hand to a job thread)."""
        return self.view.cache.snapshot()

    def forget_traces(self) -> None:
        """Drop cached traces (the model changed); the current one comes from the stored
        traces of the new model, else is re-requested."""
        self.view.cache.clear()
        key = self.key
        if key is None:
            return
        self.view.show(None, None)
        stored = self.view.cache.get(key)
        if stored is not None:
            self.on_trace(key, stored)
            return
        self.events.notify(Event.TRACE)
        self._update_anchor_labels()
        self.request_detection()

    def set_thresholds(self, score_thresh: float | None = None, nms_thresh: float | None = None,
                       class_agnostic: bool | None = None) -> None:
        """Re-derive detections from the trace (no network) under new thresholds; with
        ``class_agnostic`` NMS runs across classes."""
        self.view.set_thresholds(score_thresh, nms_thresh, class_agnostic)
        if self.selected_detection is not None:
            self.editor.selected_detection = None
            self.events.notify(Event.SELECTION)
        self.events.notify(Event.RESULT)

    def set_model_classes(self, class_names: Sequence[str]) -> None:
        """The model's classes (background first) lead the label list."""
        self.label_choice.set_model_classes(class_names, self.store)

    # -- overlays -------------------------------------------------------------------------
    def set_overlay(self, name: str, visible: bool) -> None:
        if self.overlay.set(name, visible):
            self._update_anchor_labels()

    def restore_overlays(self, saved: Mapping[str, object]) -> None:
        """Overlay toggles saved in the settings (names no longer known are skipped)."""
        for name, on in saved.items():
            if name in self.overlays:
                self.set_overlay(name, bool(on))

    def _update_anchor_labels(self) -> None:
        self.overlay.update_anchor_labels(self.trace, self.record)

    # -- selection, labels and edits (see ``Editor``) --------------------------------------
    def select_annotation(self, ident: str | None) -> None:
        self.editor.select_annotation(ident)

    def select_detection(self, index: int | None) -> None:
        self.editor.select_detection(index)

    def choose_label(self, name: str) -> None:
        """Use ``name`` for new boxes and relabel the selected annotation."""
        self.editor.choose_label(name)

    def choose_label_number(self, number: int) -> bool:
        """Number key 1-9: the label at that position."""
        name = self.label_choice.at(number)
        if name is not None:
            self.editor.choose_label(name)
        return name is not None

    def add_box(self, box: Box) -> str | None:
        return self.editor.add_box(box)

    def interpolate(self) -> int:
        """Video: fill the frames between each object's keyframes (``app.video_tracks``)."""
        return self.keyframes.interpolate()

    def move_box(self, ident: str, box: Box) -> None:
        self.editor.move_box(ident, box)

    def delete_annotation(self, ident: str | None = None) -> None:
        self.editor.delete_annotation(ident)

    def accept_detection(self, d: int | None = None) -> str | None:
        return self.editor.accept_detection(d)

    def accept_all(self) -> int:
        return self.editor.accept_all()

    def copy_from_previous(self) -> int:
        return self.editor.copy_from_previous()

    def previous_record(self) -> ImageRecord | None:
        return self.editor.previous_record()

    def toggle_verified(self) -> None:
        self.editor.toggle_verified()

    def verify_and_next(self) -> None:
        """Mark the current item (frame) verified and go to the next ("Verified, next")."""
        self.editor.mark_verified()
        video, frame = self.video, self.frame
        if video is not None and frame is not None and frame + 1 < video.frame_count:
            self.go_frame(frame + 1)
        else:
            self.step(+1)

    def undo(self) -> None:
        self.editor.undo()

    def redo(self) -> None:
        self.editor.redo()
