"""The start-up benchmark hook (``qt/bench_hook.py``, used by ``benchmarks/bench_gui.py``):
with ``DETECTOR_APP_BENCH_EXIT`` set it prints one JSON line per event and quits the app."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.app.jobs import ModelInfo
from detector_app.app.settings import Settings
from detector_app.qt import bench_hook
from detector_app.qt.main_window import MainWindow
from detector_app.qt.worker import InferenceWorker
from tests.qt.conftest import make_fake_trace


class _App:
    """Stands in for the QApplication: the test's must keep running."""

    def __init__(self) -> None:
        self.quits = 0

    def quit(self) -> None:
        self.quits += 1


def _window(qtbot, tmp_path: Path, with_model: bool) -> MainWindow:
    worker = InferenceWorker()
    if with_model:
        trace = make_fake_trace()
        worker.set_detector(lambda rgb: trace, ModelInfo("fake", list(trace.class_names)))
    win = MainWindow(worker=worker, settings=Settings(tmp_path / "settings.json"))
    qtbot.addWidget(win)
    return win


@pytest.mark.parametrize("mode, events", [("first-image", ["first-image"]), ("ready", ["first-image", "ready"])])
def test_reports_the_first_painted_image_then_quits(qtbot, tmp_path, capsys, monkeypatch, mode, events) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    assert cv2.imwrite(str(root / "a.png"), np.full((40, 60, 3), 90, np.uint8))
    win = _window(qtbot, tmp_path, with_model=True)
    app = _App()
    monkeypatch.setenv(bench_hook.BENCH_EXIT_ENV, mode)
    bench_hook.install_from_env(app, win)  # type: ignore[arg-type]
    win.show()
    assert win.open_paths([str(root)])
    qtbot.waitUntil(lambda: app.quits == 1, timeout=10000)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [e["event"] for e in lines] == events
    assert all(e["rss_kb"] > 0 and e["time"] > 0 for e in lines)
    win.close()
    assert win.worker.stop()


def test_does_nothing_without_the_variable(qtbot, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(bench_hook.BENCH_EXIT_ENV, raising=False)
    win = _window(qtbot, tmp_path, with_model=False)
    before = win.canvas.viewport().children()
    bench_hook.install_from_env(_App(), win)  # type: ignore[arg-type]
    assert win.canvas.viewport().children() == before and not win.findChildren(bench_hook._FirstPaint)
    win.close()
    assert win.worker.stop()
