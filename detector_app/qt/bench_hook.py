"""Start-up benchmark hook (``benchmarks/bench_gui.py``): with ``DETECTOR_APP_BENCH_EXIT``
set, the app reports when the first image has been painted and quits.

``first-image`` quits once the first image has been painted; ``ready`` waits for the
model as well (``model-timeout`` after 5 minutes). Each event prints one JSON line
``{"event", "time" (epoch s), "rss_kb"}`` to stdout (RSS after ``gc.collect`` and glibc's
``malloc_trim``: live memory, not freed heap).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from detector_app.qt.main_window import MainWindow

BENCH_EXIT_ENV = "DETECTOR_APP_BENCH_EXIT"
MODEL_TIMEOUT_S = 300.0


def install_from_env(app: QApplication, window: MainWindow) -> None:
    """Install the hook on ``window`` when the environment asks for it."""
    mode = os.environ.get(BENCH_EXIT_ENV)
    if mode:
        window.canvas.viewport().installEventFilter(_FirstPaint(app, window, mode))


def _report(event: str) -> None:
    gc.collect()
    try:  # hand freed heap back to the OS so RSS counts live memory only
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/status", encoding="utf-8") as fh:
        rss = next((int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:")), 0)
    print(json.dumps({"event": event, "time": time.time(), "rss_kb": rss}), flush=True)


class _FirstPaint(QObject):
    """Watches the canvas for the first paint with an image in it (a child of the window:
    it lives as long as the window)."""

    def __init__(self, app: QApplication, window: MainWindow, mode: str) -> None:
        super().__init__(window)
        self._app, self._window, self._mode = app, window, mode
        self._deadline = time.monotonic() + MODEL_TIMEOUT_S

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and not self._window.canvas.overlays.image_item.pixmap().isNull():
            obj.removeEventFilter(self)
            QTimer.singleShot(0, self._after_paint)  # runs once this paint event is done
        return False

    def _after_paint(self) -> None:
        _report("first-image")
        if self._mode == "ready":
            self._wait_for_model()
        else:
            self._app.quit()

    def _wait_for_model(self) -> None:
        ready = self._window.worker.info is not None
        if ready or time.monotonic() > self._deadline:
            _report("ready" if ready else "model-timeout")
            self._app.quit()
        else:
            QTimer.singleShot(20, self._wait_for_model)
