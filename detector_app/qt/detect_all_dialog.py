"""``DetectAllDialog``: detect every image of the project in the background.

Not modal: the window stays usable (its own detections go on). The job
(``app.detect_all.detect_all_job``) loads its own copy of the model and stores
each trace on disk; ``itemDone(key)`` fires (on the GUI thread) after each one,
so the file list turns blue and an image shown without detections gets them.
Pause holds the job between images; Cancel stops it and keeps what is stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from detector_app.app.detect_all import DetectAllResult
from detector_app.domain.progress import Progress, ProgressFn
from detector_app.qt.job_dialog import JobDialog

#: ``(only_unreviewed, pause, on_done) -> job``: what the window gives (model, device, store bound).
JobFactory = Callable[[bool, threading.Event, Callable[[str], None]],
                      Callable[[ProgressFn, threading.Event], DetectAllResult]]


class DetectAllDialog(JobDialog):
    itemDone = Signal(str)  # an image key whose trace is now stored (emitted from the job thread)
    detected = Signal()  # the job finished (its traces and usefulness scores are stored)
    cancelled_text = "stopped: the traces stored so far are kept"

    def __init__(self, make_job: JobFactory, count: Callable[[bool], int], model: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Detect all")
        self.setModal(False)
        self.setMinimumWidth(480)
        self._make_job = make_job
        self._count = count
        self.pause_event = threading.Event()
        self._t0 = 0.0
        self.about = QLabel(f"Run {model} over the project's images now, and keep every trace in the project: "
                            "stepping through them afterwards is instant. Videos are detected as they play.")
        self.about.setWordWrap(True)
        self.only_unreviewed = QCheckBox("Only images not yet edited or verified")
        self.only_unreviewed.setChecked(True)
        self.only_unreviewed.toggled.connect(self._update_count)
        layout = QVBoxLayout(self)
        layout.addWidget(self.about)
        layout.addWidget(self.only_unreviewed)
        self._add_start_button("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.pause_button = self.buttons.addButton("Pause", QDialogButtonBox.ButtonRole.ActionRole)
        self.pause_button.setEnabled(False)
        self.pause_button.clicked.connect(self.toggle_pause)
        self._add_cancel_close()
        self._add_job_widgets(layout)
        self._update_count()

    def _update_count(self) -> None:
        n = self._count(self.only_unreviewed.isChecked())
        self.message.setText(f"{n} image(s) to detect (images whose traces are stored are skipped).")

    def start(self) -> None:
        self.pause_event.clear()
        self._t0 = time.monotonic()
        job = self._make_job(self.only_unreviewed.isChecked(), self.pause_event, self.itemDone.emit)
        self._start_job(job, "loading the model\u2026")

    def toggle_pause(self) -> None:
        if self.pause_event.is_set():
            self.pause_event.clear()
            self.pause_button.setText("Pause")
            self.message.setText("resuming\u2026")
        else:
            self.pause_event.set()
            self.pause_button.setText("Resume")
            self.message.setText("paused (the image being detected finishes first)")

    def _set_running(self, on: bool) -> None:
        super()._set_running(on)
        self.pause_button.setEnabled(on)
        self.only_unreviewed.setEnabled(not on)
        if not on:
            self.pause_button.setText("Pause")

    def _progressed(self, p: Progress) -> None:
        if p.total > 0:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        if self.pause_event.is_set():
            return
        per = p.metrics.get("seconds_per_image")
        left = f", about {_duration(per * (p.total - p.done))} left" if per and p.total > p.done else ""
        rate = f" \u2014 {per:.2f} s per image{left}" if per else ""
        self.message.setText(f"{p.done} of {p.total}: {p.message}{rate}" if p.total else p.message)

    def _succeeded(self, result: DetectAllResult) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.result = result
        self.message.setText(result.summary())
        self.detected.emit()

    def stop(self) -> None:
        """Cancel a running job and wait for it (the window is closing)."""
        if self.job_thread is not None:
            self.pause_event.clear()
            self.job_thread.cancel()
            self.job_thread.wait(30000)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
