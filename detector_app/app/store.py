"""The project store: a folder of images/videos plus ``<folder>/.detector_app/``.

Storage: SQLite (``project.sqlite``) in WAL mode with ``synchronous=FULL``:
one row per :class:`ImageRecord` (its JSON, never image bytes) and a ``meta``
table (labels, schema version, edit sequence number). Each flush is one
transaction, so a crash (even ``kill -9``) at any moment leaves the last
committed state, complete and readable.

Edits apply to the in-memory records at once and reach the disk within
``autosave_interval`` seconds (default 0.25 s) from a background thread
(:class:`detector_app.app.autosave.Autosaver`); :meth:`ProjectStore.flush`
writes synchronously. ``saved_seq`` / ``seq`` count committed / made edits.

A lock file keeps a second instance out (:class:`StoreError`, stale locks of
dead processes are taken over). A read-only folder opens with
``read_only = True``: edits stay in memory, and :meth:`flush` raises a
:class:`StoreError` saying so.

Records are *live* objects: read them freely, change them only through the
store's methods (or the undo commands in :mod:`detector_app.app.undo`).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from detector_app.app.autosave import DEFAULT_INTERVAL, Autosaver
from detector_app.app.lockfile import ProjectLock
from detector_app.app.scan import scan_media, split_key
from detector_app.app.store_file import DB_NAME, STORE_DIR, open_storage, write_changes
from detector_app.domain.annotations import Annotation, ImageRecord, ItemState
from detector_app.domain.errors import MediaError, StoreError
from detector_app.domain.labels import LabelMap
from detector_app.media.imagesize import image_size
from detector_app.media.video import VIDEO_EXTENSIONS


@dataclass(frozen=True)
class StoreEvent:
    """What changed: ``kind`` is ``annotations``, ``state``, ``size`` or ``labels``;
    ``key`` the record (``None`` for labels)."""

    kind: str
    key: str | None


Listener = Callable[[StoreEvent], None]

#: Stores still open, flushed at interpreter exit (the autosave thread is a daemon).
_OPEN_STORES: weakref.WeakSet[ProjectStore] = weakref.WeakSet()


@atexit.register
def _flush_open_stores() -> None:
    for store in list(_OPEN_STORES):
        try:
            store.close()
        except Exception:  # noqa: BLE001 - at interpreter exit: one store's failure must not skip the others
            pass


def _aliases(value: object) -> dict[str, str]:
    """A checked alias mapping (model class name -> project label)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("class aliases must map names to names")
    return {k: LabelMap([v]).names[0] for k, v in value.items() if k != v}


class ProjectStore:
    """Annotations of one project folder, saved as they are made. See the module docstring."""

    def __init__(
        self,
        root: str | Path,
        *,
        files: Iterable[str] | None = None,
        autosave_interval: float | None = DEFAULT_INTERVAL,
        require_writable: bool = False,
        read_only: bool = False,
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise StoreError(f"{root}: not a folder")
        self.store_dir = self.root / STORE_DIR
        self.db_path = self.store_dir / DB_NAME
        self.label_map = LabelMap()
        self.aliases: dict[str, str] = {}  # a model's class name -> the project's name for it (renamed)
        self.user_order = False  # a person ordered the labels (Classes dialog, a classes file): keep that order
        self.read_only = False
        self.read_only_reason = ""
        self.seq = 0  # edits made
        self.saved_seq = 0  # edits committed to disk
        self._lock = threading.RLock()
        self._db_lock = threading.Lock()
        self._records: dict[str, ImageRecord] = {}
        self._dirty: set[str] = set()
        self._labels_dirty = False
        self._listeners: list[Listener] = []
        self._error_listeners: list[Callable[[Exception], None]] = []
        self._db: sqlite3.Connection | None = None
        self._autosaver: Autosaver | None = None
        self._closed = False
        self._lock_file: ProjectLock | None = None  # held while open read-write

        self.files: list[str] = list(files) if files is not None else scan_media(self.root)
        self._file_set = set(self.files)
        self._open_storage(require_writable, read_only)
        if not self.read_only and autosave_interval is not None:
            self._autosaver = Autosaver(self._autosave_flush, autosave_interval, self._report_error)
        _OPEN_STORES.add(self)

    # -- opening ----------------------------------------------------------------
    def _open_storage(self, require_writable: bool, force_read_only: bool) -> None:
        opened = open_storage(self.root, self.db_path, require_writable, force_read_only)
        self.read_only, self.read_only_reason = opened.read_only, opened.read_only_reason
        self._db, self._lock_file = opened.db, opened.lock
        try:
            self._apply_meta(opened.meta)
        except StoreError:
            opened.close()
            raise
        self._records = opened.records

    def _apply_meta(self, meta: dict[str, str]) -> None:
        """Labels, aliases, label order and the edit count from the ``meta`` table."""
        try:
            self.label_map = LabelMap(json.loads(meta.get("labels", "[]")))
            self.aliases = _aliases(json.loads(meta.get("aliases", "{}")))
            self.user_order = meta.get("label_order") == "user"
            self.seq = self.saved_seq = int(meta.get("seq", 0))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"{self.db_path}: damaged project metadata ({exc})") from None

    @classmethod
    def open(cls, root: str | Path, **kwargs: object) -> ProjectStore:
        """Open (creating if needed) the store of a project folder."""
        return cls(root, **kwargs)  # type: ignore[arg-type]

    # -- events -----------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(StoreEvent)`` after every edit (in the editing thread)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def on_save_error(self, fn: Callable[[Exception], None]) -> None:
        """Call ``fn(exc)`` (from the autosave thread) when saving fails."""
        self._error_listeners.append(fn)

    def _report_error(self, exc: Exception) -> None:
        for fn in list(self._error_listeners):
            fn(exc)

    def _emit(self, kind: str, key: str | None) -> None:
        event = StoreEvent(kind, key)
        for fn in list(self._listeners):
            fn(event)

    # -- records ----------------------------------------------------------------
    def is_video(self, path: str) -> bool:
        return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS

    def has(self, key: str) -> bool:
        with self._lock:
            return key in self._records

    def record(self, key: str) -> ImageRecord:
        """The live record of ``key`` (an image path or ``video#frame``), created empty if new.

        Raises :class:`StoreError` for a key that is neither a project file
        nor an existing record.
        """
        with self._lock:
            rec = self._records.get(key)
            if rec is not None:
                return rec
            path, frame = split_key(key)
            if path not in self._file_set and not (self.root / path).is_file():
                raise StoreError(f"{key}: not a file of the project {self.root}")
            if frame is None and self.is_video(path):
                raise StoreError(f"{key}: a video has records per frame; use {key}#<frame>")
            rec = ImageRecord(path=path, frame_index=frame)
            self._records[key] = rec
            return rec

    def frame_record(self, video: str, frame: int) -> ImageRecord:
        """The live record of frame ``frame`` of ``video``."""
        return self.record(f"{video}#{int(frame)}")

    def records(self, keys: Iterable[str] | None = None) -> list[ImageRecord]:
        """Records that exist (edited, detected or sized), in file order; or those of ``keys``."""
        with self._lock:
            if keys is not None:
                return [self.record(k) for k in keys]
            order = {p: i for i, p in enumerate(self.files)}
            return sorted(self._records.values(),
                          key=lambda r: (order.get(r.path, len(order)), r.path, r.frame_index or 0))

    def frames_of(self, video: str) -> list[int]:
        """Frame indices of ``video`` that have records, sorted."""
        with self._lock:
            return sorted(r.frame_index for r in self._records.values()
                          if r.path == video and r.frame_index is not None)

    def ensure_size(self, key: str) -> tuple[int, int] | None:
        """Fill in a record's image size from the file header (``None`` if unreadable)."""
        rec = self.record(key)
        if rec.width is not None and rec.height is not None:
            return rec.width, rec.height
        if rec.frame_index is not None:
            return None  # video frames get their size when the frame is read
        try:
            w, h = image_size(self.root / rec.path)
        except MediaError:
            return None
        self.set_size(key, w, h)
        return w, h

    # -- edits (each is on disk within the autosave interval) ------------------
    def _mark(self, key: str | None) -> None:
        """Count an edit and mark it for saving; call with ``_lock`` held, in the
        same critical section as the change (so a snapshot never splits them)."""
        self.seq += 1
        if key is None:
            self._labels_dirty = True
        else:
            self._dirty.add(key)

    def _notify(self, *events: tuple[str, str | None]) -> None:
        """After the change (outside ``_lock``): wake the autosaver, tell listeners."""
        if self._autosaver is not None:
            self._autosaver.touch()
        for kind, key in events:
            self._emit(kind, key)

    def _check_label(self, label: str) -> bool:
        """Add a new label (``_lock`` held); ``True`` if it was new."""
        if label in self.label_map:
            return False
        self.label_map.add(label)
        self._labels_dirty = True
        return True

    def add_annotation(self, key: str, ann: Annotation, index: int | None = None) -> Annotation:
        """Add ``ann`` (its box clipped to the image) at ``index`` (default: last).

        Returns the annotation as stored. Raises :class:`BoxError` if the box lies
        outside the image, :class:`StoreError` if its id is already used.
        """
        with self._lock:
            rec = self.record(key)
            box = rec.validated_box(ann.box)
            if box != ann.box:
                ann = dataclasses.replace(ann, box=box)
            if any(a.id == ann.id for a in rec.annotations):
                raise StoreError(f"{key}: annotation id {ann.id} already exists")
            pos = len(rec.annotations) if index is None else max(0, min(int(index), len(rec.annotations)))
            rec.annotations.insert(pos, ann)
            new_label = self._check_label(ann.label)
            self._mark(key)
        self._notify(("annotations", key), *([("labels", None)] if new_label else []))
        return ann

    def remove_annotation(self, key: str, annotation_id: str) -> tuple[int, Annotation]:
        """Remove an annotation; returns ``(index, annotation)`` for undo. ``KeyError`` if absent."""
        with self._lock:
            rec = self.record(key)
            i = rec.find(annotation_id)
            ann = rec.annotations.pop(i)
            self._mark(key)
        self._notify(("annotations", key))
        return i, ann

    def replace_annotation(self, key: str, ann: Annotation) -> Annotation:
        """Replace the annotation with ``ann.id`` (box clipped); returns the old one."""
        with self._lock:
            rec = self.record(key)
            i = rec.find(ann.id)
            box = rec.validated_box(ann.box)
            if box != ann.box:
                ann = dataclasses.replace(ann, box=box)
            old = rec.annotations[i]
            rec.annotations[i] = ann
            new_label = self._check_label(ann.label)
            self._mark(key)
        self._notify(("annotations", key), *([("labels", None)] if new_label else []))
        return old

    def set_annotations(self, key: str, annotations: list[Annotation]) -> list[Annotation]:
        """Replace all annotations of a record; returns the old list."""
        with self._lock:
            rec = self.record(key)
            ids = [a.id for a in annotations]
            if len(set(ids)) != len(ids):
                raise StoreError(f"{key}: duplicate annotation ids")
            new = []
            for a in annotations:
                box = rec.validated_box(a.box)
                new.append(a if box == a.box else dataclasses.replace(a, box=box))
            old = rec.annotations
            rec.annotations = new
            new_label = any([self._check_label(a.label) for a in new])
            self._mark(key)
        self._notify(("annotations", key), *([("labels", None)] if new_label else []))
        return old

    def set_state(self, key: str, state: ItemState) -> ItemState:
        """Set a record's review state; returns the old one."""
        with self._lock:
            rec = self.record(key)
            old = rec.state
            rec.state = ItemState(state)
            if old is not rec.state:
                self._mark(key)
        if old is not rec.state:
            self._notify(("state", key))
        return old

    def set_size(self, key: str, width: int, height: int) -> None:
        """Record the image size (pixels) of a record."""
        if int(width) <= 0 or int(height) <= 0:
            raise StoreError(f"{key}: image size must be positive, got {width}x{height}")
        with self._lock:
            rec = self.record(key)
            if (rec.width, rec.height) == (int(width), int(height)):
                return
            rec.width, rec.height = int(width), int(height)
            self._mark(key)
        self._notify(("size", key))

    def add_label(self, name: str) -> int:
        """Add a class name (if new); returns its 1-based id."""
        with self._lock:
            new = name.strip() not in self.label_map
            class_id = self.label_map.add(name)
            if new:
                self._mark(None)
        if new:
            self._notify(("labels", None))
        return class_id

    def set_labels(self, names: list[str]) -> None:
        """Replace the ordered label list (labels in use are kept, appended)."""
        with self._lock:
            used = [a.label for r in self._records.values() for a in r.annotations]
            lm = LabelMap(list(names))
            for label in used:
                lm.add(label)
            self.label_map = lm
            self._mark(None)
        self._notify(("labels", None))

    def relabel(self, old: str, new: str, ids: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
        """Give the boxes labelled ``old`` (every one, or only ``ids``: record key ->
        annotation ids) the label ``new``; returns the ids changed, per record (for undo).
        ``new`` joins the labels if it is new; ``old`` stays until :meth:`set_labels`."""
        new = LabelMap([new]).names[0]  # checked as any class name
        changed: dict[str, list[str]] = {}
        with self._lock:
            for key, rec in self._records.items():
                wanted = None if ids is None else set(ids.get(key, ()))
                hits = [i for i, a in enumerate(rec.annotations)
                        if a.label == old and (wanted is None or a.id in wanted)]
                for i in hits:  # a class's name changed, not the box: the source stays
                    rec.annotations[i] = dataclasses.replace(rec.annotations[i], label=new)
                if hits:
                    changed[key] = [rec.annotations[i].id for i in hits]
                    self._mark(key)
            new_label = self._check_label(new)
        self._notify(*(("annotations", k) for k in changed), *([("labels", None)] if new_label else []))
        return changed

    def remove_class_boxes(self, label: str) -> dict[str, list[tuple[int, Annotation]]]:
        """Remove every box labelled ``label``; returns, per record, ``(index, annotation)``
        in ascending index order (re-inserting them in that order restores the list)."""
        removed: dict[str, list[tuple[int, Annotation]]] = {}
        with self._lock:
            for key, rec in self._records.items():
                gone = [(i, a) for i, a in enumerate(rec.annotations) if a.label == label]
                if gone:
                    rec.annotations = [a for a in rec.annotations if a.label != label]
                    removed[key] = gone
                    self._mark(key)
        self._notify(*(("annotations", k) for k in removed))
        return removed

    def set_user_order(self, user: bool) -> bool:
        """Whether a person chose the label order (then nothing reorders it by itself);
        returns the old value."""
        with self._lock:
            old, self.user_order = self.user_order, bool(user)
            self._mark(None)
        self._notify(("labels", None))
        return old

    def set_aliases(self, aliases: dict[str, str]) -> dict[str, str]:
        """The project's names for model classes (a renamed model class keeps being
        accepted under its new name); returns the old mapping."""
        with self._lock:
            old, self.aliases = self.aliases, _aliases(aliases)
            self._mark(None)
        self._notify(("labels", None))
        return old

    # -- saving -----------------------------------------------------------------
    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Edits made inside the block reach the disk together, in one transaction
        (the autosaver waits until the block ends; a crash inside it keeps none of
        them). Do not call :meth:`flush` or :meth:`close` inside."""
        with self._db_lock:
            yield

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Edits made inside the block are saved together: a save's snapshot is taken
        under the same in-memory lock, so it comes before or after all of them, never
        between (an undo command's boxes and review state). Unlike :meth:`batch` it
        does not wait for a disk write in progress, so the GUI thread may use it.
        Keep it short (other threads' edits wait), and open no :meth:`batch` inside
        (the autosaver takes the two locks in the other order)."""
        with self._lock:
            yield

    @property
    def dirty(self) -> bool:
        with self._lock:
            return bool(self._dirty) or self._labels_dirty

    def flush(self) -> None:
        """Write all pending edits now (one transaction).

        Raises :class:`StoreError` if the project is read-only or the write
        fails; the edits then stay in memory (and are retried).
        """
        with self._db_lock:
            with self._lock:
                if not self._dirty and not self._labels_dirty:
                    return
                if self.read_only or self._db is None:
                    raise StoreError(
                        f"{self.root}: cannot save, the project is read-only ({self.read_only_reason}); "
                        f"{self.seq - self.saved_seq} edits are kept in memory only: "
                        "export the annotations to save them elsewhere"
                    )
                if not self.db_path.is_file():  # writing on would go to a deleted file: lost
                    raise StoreError(
                        f"{self.db_path}: the project store is gone (folder deleted or moved?); "
                        f"{self.seq - self.saved_seq} edits are kept in memory only: "
                        "export the annotations to save them elsewhere"
                    )
                keys = set(self._dirty)
                rows = [(k, json.dumps(self._records[k].to_dict())) for k in keys if k in self._records]
                labels = json.dumps(self.label_map.names)
                aliases = json.dumps(self.aliases, ensure_ascii=False)
                order = "user" if self.user_order else "model"
                seq = self.seq
                self._dirty.clear()
                self._labels_dirty = False
            try:
                write_changes(self._db, rows, {"labels": labels, "aliases": aliases, "label_order": order,
                                               "seq": str(seq)})
            except (sqlite3.Error, OSError) as exc:  # disk full, I/O error, folder gone
                with self._lock:
                    self._dirty |= keys
                    self._labels_dirty = True
                raise StoreError(f"{self.db_path}: cannot save ({exc}); "
                                 f"{self.seq - self.saved_seq} edits are kept in memory and retried") from None
            self.saved_seq = seq

    def _autosave_flush(self) -> None:
        if not self._closed:
            self.flush()

    def close(self) -> None:
        """Flush, stop autosaving, release the lock. A read-only store with unsaved
        edits raises :class:`StoreError` (after closing)."""
        if self._closed:
            return
        error: StoreError | None = None
        if self._autosaver is not None:
            self._autosaver.stop()
        try:
            self.flush()
        except StoreError as exc:
            error = exc
        self._closed = True
        _OPEN_STORES.discard(self)
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None
        if self._lock_file is not None:
            self._lock_file.release()
        if error is not None:
            raise error

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DB_NAME", "STORE_DIR", "ProjectStore", "StoreEvent", "scan_media", "split_key"]
