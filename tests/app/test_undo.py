"""Undo/redo of every edit command against a real store, merging of drags, listeners."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.app.store import ProjectStore
from detector_app.app.undo import (
    AcceptAll,
    AcceptDetection,
    AddAnnotation,
    DeleteAnnotation,
    MoveResize,
    Relabel,
    SetState,
    UndoStack,
    make_undo_stack,
)
from detector_app.domain import Annotation, AnnotationSource, Box, BoxError, ItemState

KEY = "img1.png"


@pytest.fixture
def store(project_dir: Path):  # type: ignore[no-untyped-def]
    s = ProjectStore(project_dir, autosave_interval=None)
    s.set_size(KEY, 60, 40)
    yield s
    s.close()


def _snapshot(store: ProjectStore) -> dict:
    return store.record(KEY).to_dict()


def _check_undo_redo(store: ProjectStore, stack: UndoStack, command) -> None:  # type: ignore[no-untyped-def]
    before = _snapshot(store)
    stack.push(command)
    after = _snapshot(store)
    assert after != before
    stack.undo()
    assert _snapshot(store) == before
    stack.redo()
    assert _snapshot(store) == after
    stack.undo()
    assert _snapshot(store) == before
    stack.redo()


def test_add_and_delete(store: ProjectStore) -> None:
    stack = UndoStack(store)
    a = Annotation(Box(1, 2, 10, 12), "cat")
    _check_undo_redo(store, stack, AddAnnotation(KEY, annotation=a))
    assert store.record(KEY).state is ItemState.EDITED
    _check_undo_redo(store, stack, DeleteAnnotation(KEY, annotation_id=a.id))
    assert store.record(KEY).annotations == []
    stack.undo()
    stack.undo()
    assert store.record(KEY).state is ItemState.NOT_SEEN and store.record(KEY).annotations == []


def test_delete_restores_position(store: ProjectStore) -> None:
    stack = UndoStack(store)
    anns = [Annotation(Box(i, 1, i + 5, 6), "cat") for i in range(3)]
    for a in anns:
        stack.push(AddAnnotation(KEY, annotation=a))
    stack.push(DeleteAnnotation(KEY, annotation_id=anns[1].id))
    stack.undo()
    assert [a.id for a in store.record(KEY).annotations] == [a.id for a in anns]


def test_move_resize_and_drag_merge(store: ProjectStore) -> None:
    stack = UndoStack(store)
    a = stack.push(AddAnnotation(KEY, annotation=Annotation(Box(1, 1, 10, 10), "cat"))).annotation
    _check_undo_redo(store, stack, MoveResize(KEY, annotation_id=a.id, box=Box(2, 2, 11, 11)))
    depth = len(stack)
    for dx in range(1, 20):  # one drag: many moves, one undo step
        stack.push(MoveResize(KEY, annotation_id=a.id, box=Box(2 + dx, 2, 11 + dx, 11), drag_id="d1"))
    assert len(stack) == depth + 1
    assert store.record(KEY).annotations[0].box == Box(21, 2, 30, 11)
    stack.end_merge()
    stack.push(MoveResize(KEY, annotation_id=a.id, box=Box(0, 0, 5, 5), drag_id="d1"))
    assert len(stack) == depth + 2  # a new drag after end_merge is its own step
    stack.undo()
    stack.undo()
    assert store.record(KEY).annotations[0].box == Box(2, 2, 11, 11)
    stack.redo()
    assert store.record(KEY).annotations[0].box == Box(21, 2, 30, 11)


def test_moves_of_different_boxes_do_not_merge(store: ProjectStore) -> None:
    stack = UndoStack(store)
    a = stack.push(AddAnnotation(KEY, annotation=Annotation(Box(1, 1, 10, 10), "cat"))).annotation
    b = stack.push(AddAnnotation(KEY, annotation=Annotation(Box(1, 1, 10, 10), "dog"))).annotation
    stack.push(MoveResize(KEY, annotation_id=a.id, box=Box(2, 2, 10, 10)))
    stack.push(MoveResize(KEY, annotation_id=b.id, box=Box(3, 3, 10, 10)))
    assert len(stack) == 4


def test_move_clips_and_rejects_outside(store: ProjectStore) -> None:
    stack = UndoStack(store)
    a = stack.push(AddAnnotation(KEY, annotation=Annotation(Box(1, 1, 10, 10), "cat"))).annotation
    stack.push(MoveResize(KEY, annotation_id=a.id, box=Box(50, 30, 70, 50)))
    assert store.record(KEY).annotations[0].box == Box(50, 30, 60, 40)
    depth = len(stack)
    with pytest.raises(BoxError):
        stack.push(MoveResize(KEY, annotation_id=a.id, box=Box(100, 100, 120, 120)))
    assert len(stack) == depth


def test_relabel_and_model_box_becomes_corrected(store: ProjectStore) -> None:
    stack = UndoStack(store)
    cmd = stack.push(AcceptDetection(KEY, box=Box(1, 1, 10, 10), label="cat", score=0.9))
    ann = store.record(KEY).annotations[0]
    assert ann.source is AnnotationSource.MODEL and ann.score == pytest.approx(0.9)
    assert cmd.annotation == ann
    _check_undo_redo(store, stack, Relabel(KEY, annotation_id=ann.id, label="dog"))
    got = store.record(KEY).annotations[0]
    assert got.label == "dog" and got.source is AnnotationSource.MODEL_CORRECTED
    assert "dog" in store.label_map


def test_accept_detection_and_accept_all(store: ProjectStore) -> None:
    stack = UndoStack(store)
    _check_undo_redo(store, stack, AcceptDetection(KEY, box=Box(1, 1, 10, 10), label="cat", score=0.5))
    dets = [(Box(i, 0, i + 4, 4), "dog", 0.1 * i) for i in range(1, 5)]
    _check_undo_redo(store, stack, AcceptAll(KEY, detections=dets))
    anns = store.record(KEY).annotations
    assert len(anns) == 5 and all(a.source is AnnotationSource.MODEL for a in anns)
    stack.undo()
    assert len(store.record(KEY).annotations) == 1


def test_set_state(store: ProjectStore) -> None:
    stack = UndoStack(store)
    cmd = SetState(KEY, ItemState.VERIFIED)
    assert cmd.text == "mark verified"
    _check_undo_redo(store, stack, cmd)
    assert store.record(KEY).state is ItemState.VERIFIED
    stack.push(AddAnnotation(KEY, annotation=Annotation(Box(1, 1, 5, 5), "cat")))
    assert store.record(KEY).state is ItemState.VERIFIED  # editing keeps 'verified'


def test_unlimited_history_listener_and_texts(store: ProjectStore) -> None:
    calls: list[tuple[bool, bool]] = []
    stack = make_undo_stack(store, lambda s: calls.append((s.can_undo, s.can_redo)))
    ids = [stack.push(AddAnnotation(KEY, annotation=Annotation(Box(1, 1, 5, 5), "cat"))).annotation.id
           for _ in range(300)]
    assert len(store.record(KEY).annotations) == 300 and stack.undo_text == "add box"
    while stack.undo():
        pass
    assert store.record(KEY).annotations == [] and stack.redo_text == "add box"
    while stack.redo():
        pass
    assert [a.id for a in store.record(KEY).annotations] == ids
    assert calls[0] == (True, False) and len(calls) == 900
    stack.undo()
    stack.push(SetState(KEY, ItemState.VERIFIED))
    assert not stack.can_redo  # a new edit drops the redo branch
    stack.clear()
    assert not stack.can_undo and stack.undo() is None and stack.redo() is None


def test_undo_is_saved(project_dir: Path) -> None:
    with ProjectStore(project_dir, autosave_interval=None) as store:
        stack = UndoStack(store)
        stack.push(AddAnnotation("img2.png", annotation=Annotation(Box(1, 1, 5, 5), "cat")))
        stack.undo()
    with ProjectStore(project_dir, autosave_interval=None) as store:
        assert store.record("img2.png").annotations == []


class _TwoCalls(AddAnnotation):
    """An edit whose two store calls (a box, then the review state) have an autosave
    attempted between them, from another thread, as the autosaver would."""

    def do(self, store: ProjectStore) -> None:  # type: ignore[override]
        import threading

        super().do(store)
        self.saver = threading.Thread(target=lambda: (store.flush(), self.seen.append(_on_disk(store))))
        self.saver.start()
        self.saver.join(timeout=0.5)  # it may not finish while the command is half done
        self.finished_inside = not self.saver.is_alive()
        store.set_state(self.key, ItemState.VERIFIED)


def _on_disk(store: ProjectStore) -> dict | None:
    import json
    import sqlite3

    db = sqlite3.connect(str(store.db_path))
    try:
        row = db.execute("SELECT data FROM records WHERE key = ?", (KEY,)).fetchone()
    finally:
        db.close()
    return None if row is None else json.loads(row[0])


def test_a_commands_store_calls_reach_the_disk_together(store: ProjectStore) -> None:
    """Push, undo and redo are one transaction: an autosave between a command's two calls
    (24 of 42 land there when they may) followed by a kill would leave accepted boxes saved
    with the image still "detected"."""
    stack = UndoStack(store)
    cmd = _TwoCalls(KEY, annotation=Annotation(Box(1, 2, 10, 12), "cat"))
    cmd.seen = []
    stack.push(cmd)
    cmd.saver.join(timeout=10)
    assert not cmd.finished_inside  # the autosave waited for the whole command
    (saved,) = cmd.seen
    assert len(saved["annotations"]) == 1 and saved["state"] == ItemState.VERIFIED.value
    stack.undo()
    stack.redo()
    assert store.record(KEY).state is ItemState.VERIFIED


def test_an_edit_does_not_wait_for_a_disk_write_in_progress(store: ProjectStore) -> None:
    """The autosaver holds the disk lock while it writes (seconds on a slow or network
    disk); the GUI thread's edits only take the in-memory lock and go on meanwhile."""
    import threading

    writing, done = threading.Event(), threading.Event()

    def slow_write() -> None:
        with store._db_lock:  # what flush holds during the disk write
            writing.set()
            done.wait(60)  # until the edit below has finished (or failed to)

    t = threading.Thread(target=slow_write)
    t.start()
    assert writing.wait(30)
    stack = UndoStack(store)
    finished = threading.Event()
    threading.Thread(target=lambda: (stack.push(AddAnnotation(KEY, annotation=Annotation(Box(1, 2, 10, 12), "cat"))),
                                     finished.set())).start()
    # the edit finishes while the disk lock is still held: were it waiting for that lock, it
    # could only finish after done.set() below (the 30 s is a deadline, not a speed target)
    assert finished.wait(30), "the edit waited for the disk write"
    done.set()
    t.join()
    assert len(store.record(KEY).annotations) == 1
