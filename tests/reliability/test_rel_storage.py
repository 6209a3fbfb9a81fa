"""Storage: disk full while autosaving, a read-only project folder,
two instances on one project, non-ASCII project and export paths.

The rule: a clear message naming the file, the edit never lost - it stays in
memory until a save succeeds (or is exported elsewhere).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from detector_app.app import store_file as store_mod
from detector_app.app.dataset_io import import_annotations
from detector_app.app.export import ExportOptions, export_dataset
from detector_app.app.session import Event, Session
from detector_app.app.store import ProjectStore
from detector_app.domain.boxes import Box
from detector_app.domain.errors import StoreError
from detector_app.formats import load_dataset
from tests.helpers.fakes import FullDisk
from tests.helpers.files import write_png


def _wait(cond, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _on_disk(root: Path) -> dict[str, list[str]]:
    """Labels of each record's annotations, as a fresh read-only open sees them."""
    with ProjectStore(root, read_only=True, autosave_interval=None) as s:
        return {r.key: [a.label for a in r.annotations] for r in s.records() if r.annotations}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for name in ("a.png", "b.png", "c.png"):
        write_png(root / name)
    return root


class _Errors:
    """Collects a session's ``error`` and ``save_error`` messages (from any thread)."""

    def __init__(self, s: Session) -> None:
        self.error: list[str] = []
        self.save: list[str] = []
        self.status: list[str] = []
        s.subscribe(Event.ERROR, self.error.append)
        s.subscribe(Event.SAVE_ERROR, self.save.append)
        s.subscribe(Event.STATUS, self.status.append)


def test_disk_full_on_autosave_keeps_the_edit_tells_the_user_and_saves_it_later(project: Path) -> None:
    s = Session(detect_on_open=False)
    errors = _Errors(s)
    s.open_paths([project])
    store = s.store
    s.choose_label("cat")
    _wait(lambda: store.saved_seq == store.seq)
    real = store._db
    with store._db_lock:
        store._db = FullDisk(real)  # the disk is full from now on
    s.add_box(Box(1, 1, 20, 20))
    _wait(lambda: errors.save)
    assert f"{store.db_path}: cannot save ([Errno 28] No space left on device)" in errors.save[0]
    assert f"{s.unsaved_edits} edits are kept in memory and retried" in errors.save[0]
    assert [a.label for a in s.record.annotations] == ["cat"]  # still there, still shown
    assert s.unsaved_edits >= 1 and store.dirty
    assert _on_disk(project) == {}
    with store._db_lock:
        store._db = real  # space again
    s.go_to(1)
    s.add_box(Box(2, 2, 10, 10))  # the next edit triggers the retry, which saves both
    _wait(lambda: s.unsaved_edits == 0)
    assert _on_disk(project) == {"a.png": ["cat"], "b.png": ["cat"]}
    s.close()
    assert not errors.error


def test_sqlite_disk_full_error_is_handled_the_same(project: Path) -> None:
    """A real SQLITE_FULL ('database or disk is full'), made with max_page_count."""
    store = ProjectStore(project, autosave_interval=None)
    try:
        store.add_label("cat")
        store.flush()
        with store._db_lock:
            pages = store._db.execute("PRAGMA page_count").fetchone()[0]
            store._db.execute(f"PRAGMA max_page_count = {pages}")
        from detector_app.domain.annotations import Annotation

        for i in range(300):
            store.add_annotation("a.png", Annotation(Box(1, 1, 5 + i % 50, 5), "cat"))
        with pytest.raises(StoreError, match=r"project\.sqlite: cannot save \(database or disk is full\); "
                                             r"300 edits are kept in memory and retried"):
            store.flush()
        assert len(store.record("a.png").annotations) == 300 and store.dirty
        with store._db_lock:
            store._db.execute("PRAGMA max_page_count = 1073741823")
        store.flush()
    finally:
        store.close()
    assert len(_on_disk(project)["a.png"]) == 300


def test_failed_flush_on_close_is_reported_not_raised(project: Path) -> None:
    s = Session(detect_on_open=False)
    errors = _Errors(s)
    s.open_paths([project])
    s.choose_label("cat")
    store = s.store
    store._autosaver.stop()  # type: ignore[union-attr]
    real = store._db
    with store._db_lock:
        store._db = FullDisk(real)
    s.add_box(Box(1, 1, 20, 20))
    s.close()  # the window closes; the user is told
    assert len(errors.error) == 1 and "No space left on device" in errors.error[0]


def test_read_only_folder_keeps_edits_in_memory_and_they_can_be_exported(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "probe_writable", lambda d: f"{d} is not writable (Read-only file system)")
    s = Session(detect_on_open=False)
    errors = _Errors(s)
    s.open_paths([project])
    assert s.project.read_only
    assert any("read-only" in m and "edits stay in memory, export them to keep them" in m for m in errors.status)
    s.choose_label("cat")
    s.add_box(Box(1, 1, 20, 20))
    unsaved = s.unsaved_edits
    assert unsaved >= 2  # a label and a box (and the image size, its state), in memory only
    assert [a.label for a in s.record.annotations] == ["cat"]
    assert not (project / ".detector_app" / "project.sqlite").exists()
    # saving elsewhere: an export straight from the in-memory store
    out = tmp_path / "saved elsewhere"
    result = export_dataset(s.store, "coco", out, ExportOptions(image_mode="relative", coco_layout="flat"))
    assert result.annotations == 1
    ds = load_dataset(out)
    assert [a.label for a in ds.images[0].annotations] == ["cat"]
    s.close()
    assert len(errors.error) == 1
    assert "cannot save, the project is read-only" in errors.error[0]
    assert f"{unsaved} edits are kept in memory only: export the annotations to save them elsewhere" in errors.error[0]
    # ... and brought back once the folder is writable again
    monkeypatch.undo()
    with ProjectStore(project) as store:
        imported = import_annotations(store, out)
        assert (imported.images, imported.annotations) == (1, 1)
    assert _on_disk(project) == {"a.png": ["cat"]}


def test_project_folder_deleted_while_open(project: Path, tmp_path: Path) -> None:
    """SQLite would go on writing into the deleted file; the store notices, keeps
    the edit in memory and says so; the in-memory edits can still be exported."""
    s = Session(detect_on_open=False)
    errors = _Errors(s)
    s.open_paths([project])
    s.choose_label("cat")
    _wait(lambda: s.unsaved_edits == 0)
    shutil.rmtree(project)
    s.add_box(Box(1, 1, 20, 20))
    _wait(lambda: errors.save)
    assert errors.save[0].startswith(f"{project}/.detector_app/project.sqlite: the project store is gone")
    assert [a.label for a in s.record.annotations] == ["cat"] and s.unsaved_edits > 0
    write_png(project / "a.png")  # the image is back (say, restored from a backup); the boxes are rescued
    export_dataset(s.store, "coco", tmp_path / "rescued", ExportOptions())
    assert [a.label for a in load_dataset(tmp_path / "rescued").images[0].annotations] == ["cat"]
    s.close()
    assert "the project store is gone" in errors.error[-1]
