"""The cyclic garbage collector runs on the GUI thread only (qt/gc_guard.py).

A collection on a worker thread that frees a Qt wrapper destroys its C++
object off its thread, which can deadlock the two threads. These tests watch
where collections happen through ``gc.callbacks``.
"""

from __future__ import annotations

import gc
import sys
import threading
import weakref

import pytest

from detector_app.qt.gc_guard import GuiThreadCollector


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref:
    """A two-object reference cycle nothing else holds; its weak reference."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def collections():
    """Thread idents of the collections that start while the test runs."""
    seen: list[int] = []

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(threading.get_ident())

    gc.callbacks.append(callback)
    yield seen
    gc.callbacks.remove(callback)


@pytest.fixture
def gc_enabled():
    """Run with automatic collection on (the Qt-test fixture turns it off); restore after."""
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def _churn(n: int = 50_000) -> None:
    """Allocate enough container objects to pass every generation-0 threshold many times."""
    keep = [[] for _ in range(n)]
    del keep


def test_start_disables_and_stop_restores(qtbot, gc_enabled):
    collector = GuiThreadCollector()
    collector.start()
    assert not gc.isenabled() and collector.active
    collector.stop()
    assert gc.isenabled() and not collector.active
    gc.disable()
    collector.start()
    collector.stop()
    assert not gc.isenabled()  # it was off before start: left off


def test_worker_allocations_never_collect_on_the_worker(qtbot, gc_enabled, collections):
    main = threading.get_ident()
    # control: without the collector, a worker's allocations do run the collector on the worker
    worker = threading.Thread(target=_churn)
    worker.start()
    worker.join()
    assert worker.ident in collections

    collections.clear()
    collector = GuiThreadCollector(interval_ms=10)
    collector.start()
    try:
        ref = _cycle()
        worker = threading.Thread(target=_churn)
        worker.start()
        worker.join()
        assert collections == [] and ref() is not None  # the worker collected nothing
        qtbot.waitUntil(lambda: ref() is None, timeout=5000)  # the GUI thread's timer did
        assert collections and set(collections) == {main}
    finally:
        collector.stop()


@pytest.fixture
def started(qtbot):
    """A started collector (stopped, which collects, at teardown); a young
    unreachable cycle's weak reference; generation 0 over its threshold."""
    collector = GuiThreadCollector()
    collector.start()
    gc.collect()
    assert collector.check() == 0  # nothing over any threshold right after a full collection
    ref = _cycle()
    live = [[] for _ in range(gc.get_threshold()[0] * 3)]  # counts are allocations minus frees
    assert gc.get_count()[0] > gc.get_threshold()[0]
    yield collector, ref
    del live
    collector.stop()
    assert ref() is None  # stop() collects on the GUI thread at the latest


def test_check_collects_the_oldest_generation_over_threshold(started):
    collector, ref = started
    assert collector.check() >= 2 and ref() is None
    assert gc.get_count()[0] <= gc.get_threshold()[0]


def test_freeze_exempts_what_exists_and_stop_undoes_it(qtbot):
    collector = GuiThreadCollector()
    collector.freeze()
    assert gc.get_freeze_count() == 0  # not started: nothing
    collector.start()
    try:
        old = _cycle()  # unreachable when frozen: collected first, not frozen
        collector.freeze()
        assert old() is None and gc.get_freeze_count() > 1000
        frozen = gc.get_freeze_count()
        collector.freeze()  # once per start
        assert gc.get_freeze_count() == frozen
        young = _cycle()
        gc.collect()
        assert young() is None  # what is made after the freeze is still collected
    finally:
        collector.stop()
    assert gc.get_freeze_count() == 0


def test_check_from_another_thread_does_nothing(started):
    collector, ref = started
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(collector.check()))
    t.start()
    t.join()
    assert result == [0] and ref() is not None


def test_run_gui_collects_on_the_gui_thread_only(qtbot, monkeypatch, gc_enabled):
    """``run_gui`` (what ``detector-app gui`` runs) has automatic gc off while
    the event loop runs and restores it after. (``QApplication.exec`` is
    replaced by a local event loop: a real one, once quit, leaves pytest-qt's
    later waits returning at once.)"""
    from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal
    from PySide6.QtWidgets import QApplication, QWidget

    from detector_app.qt import app as qt_app
    from detector_app.qt import main_window

    seen: dict[str, object] = {}

    class FakeWorker(QObject):
        modelReady = Signal(object)

    class FakeWindow(QWidget):
        def __init__(self, model=None, device=None) -> None:
            super().__init__()
            seen["model"] = model
            self.worker = FakeWorker()

        def report_error(self, message: str, details: str = "") -> None:
            pass

        def open_initial(self, paths) -> None:
            seen["paths"] = list(paths)

    def fake_exec(app: QApplication) -> int:
        loop = QEventLoop()

        def during_loop() -> None:
            seen["enabled_in_loop"] = gc.isenabled()
            assert gc.get_freeze_count() == 0
            windows[0].worker.modelReady.emit("info")  # the first model is ready: freeze
            QTimer.singleShot(0, after_model)

        def after_model() -> None:
            seen["frozen_after_model"] = gc.get_freeze_count() > 1000
            loop.quit()

        QTimer.singleShot(0, during_loop)
        return loop.exec()

    windows: list = []
    monkeypatch.setattr(main_window, "MainWindow", lambda **kw: windows.append(FakeWindow(**kw)) or windows[-1])
    monkeypatch.setattr(QApplication, "exec", fake_exec)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    assert qt_app.run_gui(["a.png"], model="m.pt") == 0
    assert seen == {"model": "m.pt", "paths": ["a.png"], "enabled_in_loop": False, "frozen_after_model": True}
    assert gc.isenabled() and gc.get_freeze_count() == 0  # all restored
