"""Importing a dataset's annotations into the open project, on a job thread, as ONE
undo step ("import annotations"), and the hint that a dataset lies next to the images."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from detector_app.app.dataset_io import ImportResult, find_dataset, import_annotations
from detector_app.app.store import ProjectStore
from detector_app.app.undo import RecordState, UndoStack, import_batch, record_states
from detector_app.domain.progress import ProgressFn

ImportJob = Callable[[ProgressFn, threading.Event], ImportResult]


def import_suggestion(store: ProjectStore) -> str | None:
    """One line pointing at File > Import annotations when the project has no annotations
    yet and a dataset lies next to its images (``find_dataset``); else ``None``."""
    if any(r.annotations for r in store.records()):
        return None
    found = find_dataset(store.root)
    if found is None:
        return None
    return f"{found} looks like annotations of these images: File > Import annotations\u2026 brings its boxes in"


class PendingImport:
    """The records' states before the import job that is running, for its undo step."""

    def __init__(self) -> None:
        self._before: dict[str, RecordState] | None = None

    def job(self, store: ProjectStore, path: str | Path, fmt: str | None, mode: str,
            images: str | Path | None) -> ImportJob:
        """The import as ``fn(progress, cancel)`` for a job thread (all or nothing, see
        ``dataset_io.import_annotations``); call :meth:`finish` when it has ended."""
        self._before = record_states(store)
        return lambda progress, cancel: import_annotations(store, path, fmt, mode, progress, cancel, images)

    def finish(self, result: ImportResult | None, store: ProjectStore | None, undo_stack: UndoStack | None) -> None:
        """What the job changed becomes one step on ``undo_stack`` (``result`` None: it failed
        or was cancelled and changed nothing)."""
        before, self._before = self._before, None
        if result is not None and before is not None and store is not None and undo_stack is not None:
            batch = import_batch(before, store)
            if batch is not None:
                undo_stack.push_done(batch)
