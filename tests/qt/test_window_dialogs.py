"""The window's dialogs (``qt/window_dialogs.py``): the project dialogs refuse without a
project, and a non-modal dialog is opened once, raised when asked again, forgotten once closed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog

from detector_app.app.jobs import ModelInfo
from detector_app.app.settings import Settings
from detector_app.qt.main_window import MainWindow
from detector_app.qt.worker import InferenceWorker
from tests.helpers.models import FakeModel


@pytest.fixture
def empty_window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The window with the fake model and no project open."""
    model = FakeModel()
    worker = InferenceWorker()
    worker.set_detector(model, ModelInfo("fake", list(model.trace.class_names)))
    win = MainWindow(worker=worker, settings=Settings(tmp_path / "settings.json"))
    qtbot.addWidget(win)
    yield win
    win.close()
    assert worker.stop()


@pytest.mark.parametrize("command", ["export", "import_annotations", "finetune", "funnel"])
def test_project_dialogs_say_a_project_is_needed_and_open_nothing(empty_window, command: str) -> None:  # type: ignore[no-untyped-def]
    getattr(empty_window.dialogs, command)()
    assert empty_window.statusBar().currentMessage() == "\u26a0 open a project first"
    assert not [d for d in empty_window.findChildren(QDialog) if d.isVisible()]


def test_detect_all_needs_a_project_too(empty_window) -> None:  # type: ignore[no-untyped-def]
    empty_window.open_detect_all()
    assert empty_window.dialogs.detect_all is None
    assert "open a project first" in empty_window.statusBar().currentMessage()


def test_the_classes_dialog_is_one_and_forgotten_when_closed(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    first = window.open_classes()
    assert window.open_classes() is first and window.dialogs.classes is first and first.isVisible()
    first.close()  # deleted once closed (WA_DeleteOnClose)
    qtbot.waitUntil(lambda: window.dialogs.classes is None, timeout=3000)
    again = window.open_classes()
    assert again is window.dialogs.classes and again.isVisible()
