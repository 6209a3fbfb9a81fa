"""The real window (offscreen): a full disk while autosaving, a
second window on the same project, a read-only folder - each a line in the
status bar and the log, the edit kept, the window usable."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.app import store_file as store_mod
from detector_app.app.jobs import ModelInfo
from detector_app.app.settings import Settings
from detector_app.app.store import ProjectStore
from detector_app.domain.boxes import Box
from detector_app.qt.main_window import MainWindow
from detector_app.qt.worker import InferenceWorker
from tests.helpers.fakes import FullDisk
from tests.helpers.files import write_images
from tests.helpers.models import FakeModel


@pytest.fixture
def make_window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[tuple[MainWindow, InferenceWorker]] = []

    def make() -> MainWindow:
        model = FakeModel()
        worker = InferenceWorker()
        worker.set_detector(model, ModelInfo("fake", list(model.trace.class_names)))
        win = MainWindow(worker=worker, settings=Settings(tmp_path / f"settings{len(made)}.json"))
        qtbot.addWidget(win)
        made.append((win, worker))
        return win

    yield make
    for win, worker in made:
        win.close()
        assert worker.stop()


def test_disk_full_is_shown_and_the_edit_saved_when_space_returns(make_window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = write_images(tmp_path / "proj")
    win = make_window()
    assert win.open_paths([str(root)])
    ss, store = win.session, win.session.store
    shown: list[str] = []
    win.statusBar().messageChanged.connect(shown.append)
    ss.choose_label("cat")
    qtbot.waitUntil(lambda: ss.unsaved_edits == 0, timeout=5000)
    real = store._db
    with store._db_lock:
        store._db = FullDisk(real)
    ss.add_box(Box(20, 20, 90, 80))
    qtbot.waitUntil(lambda: bool(win.panels.log.errors()), timeout=5000)
    error = win.panels.log.errors()[-1]
    assert error.startswith(f"not saved: {store.db_path}: cannot save ([Errno 28] No space left on device)")
    assert any(m.startswith("\u26a0 not saved: ") and "No space left on device" in m for m in shown)
    assert [a.label for a in ss.record.annotations] == ["cat"]
    with store._db_lock:
        store._db = real
    ss.add_box(Box(100, 100, 150, 150))  # the next edit retries: both are saved
    qtbot.waitUntil(lambda: ss.unsaved_edits == 0, timeout=5000)
    with ProjectStore(root, read_only=True, autosave_interval=None) as disk:
        assert len(disk.record("img0.png").annotations) == 2


def test_second_window_on_the_same_project(make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = write_images(tmp_path / "proj")
    first, second = make_window(), make_window()
    assert first.open_paths([str(root)])
    assert not second.open_paths([str(root)])
    message = f"{root}: the project is already open in this program"
    assert second.panels.log.errors() == [message]
    assert message in second.statusBar().currentMessage()  # (no other status in this window)
    assert second.session.store is None
    # not only in the log and a passing status: the empty canvas says it, until something opens
    assert second.canvas.placeholder.startswith(f"Not opened: {message}")
    first.session.choose_label("cat")
    assert first.session.add_box(Box(1, 1, 30, 30)) is not None


def test_read_only_folder_is_announced(make_window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(store_mod, "probe_writable", lambda d: f"{d} is not writable (Read-only file system)")
    root = write_images(tmp_path / "proj")
    win = make_window()
    messages: list[str] = []
    win.statusBar().messageChanged.connect(messages.append)
    assert win.open_paths([str(root)])
    assert any("read-only" in m and "export them to keep them" in m for m in messages)
    win.session.choose_label("cat")
    assert win.session.add_box(Box(1, 1, 30, 30)) is not None  # editing works, in memory
    assert win.session.unsaved_edits > 0
    monkeypatch.setattr(win, "ask_unsaved", lambda n: "discard")  # closing would ask (see below)


@pytest.mark.parametrize("choice, exported, closes", [
    ("cancel", False, False), ("export", False, False), ("export", True, True), ("discard", False, True),
])
def test_closing_with_unsaved_edits_offers_export(make_window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                  choice: str, exported: bool, closes: bool) -> None:
    """A read-only project's edits live in memory only: closing asks first, and the window
    stays open unless the edits were exported elsewhere or explicitly discarded."""
    monkeypatch.setattr(store_mod, "probe_writable", lambda d: f"{d} is not writable (Read-only file system)")
    root = write_images(tmp_path / "proj")
    win = make_window()
    assert win.open_paths([str(root)])
    win.session.choose_label("cat")
    win.session.add_box(Box(1, 1, 30, 30))
    asked: list[int] = []
    monkeypatch.setattr(win, "ask_unsaved", lambda n: asked.append(n) or choice)
    monkeypatch.setattr(win, "run_export_dialog", lambda: exported)
    win.show()
    assert win.close() is closes
    assert len(asked) == 1 and asked[0] >= 1  # asked once, with the number of unsaved edits
    assert win.isVisible() is not closes
    if not closes:
        assert [a.label for a in win.session.record.annotations] == ["cat"]  # nothing lost
        monkeypatch.setattr(win, "ask_unsaved", lambda n: "discard")  # let the fixture close it


def test_closing_a_writable_project_saves_without_asking(make_window, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_images(tmp_path / "proj")
    win = make_window()
    assert win.open_paths([str(root)])
    win.session.choose_label("cat")
    win.session.add_box(Box(1, 1, 30, 30))
    monkeypatch.setattr(win, "ask_unsaved", lambda n: pytest.fail("asked although everything could be saved"))
    win.show()
    assert win.close()
    with ProjectStore(root, read_only=True, autosave_interval=None) as disk:
        assert [a.label for a in disk.record("img0.png").annotations] == ["cat"]
