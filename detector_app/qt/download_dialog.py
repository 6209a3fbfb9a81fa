"""``DownloadDialog``: fetch one of torchvision's COCO models, in the background.

It says what will be downloaded (title, size, COCO box AP, licence note, URL,
destination in the torch hub cache) and asks once: Download. The transfer runs
on a :class:`JobThread` (``jobs.download_job``) with a progress bar in bytes and
a line with the rate and the time left; Cancel stops it and keeps nothing. The
dialog is not modal, so the window stays usable meanwhile. On success it emits
``modelReady(path)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from detector_app.app import jobs
from detector_app.domain.progress import Progress
from detector_app.qt.job_dialog import JobDialog

if TYPE_CHECKING:
    from detector_app.app.jobs import ZooModel


class DownloadDialog(JobDialog):
    """Download ``model`` (a ``detection.zoo.ZooModel``) into the torch hub cache."""

    modelReady = Signal(str)
    cancelled_text = "cancelled: nothing was kept"

    def __init__(self, model: ZooModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setWindowTitle(f"Download {model.title}")
        self.setModal(False)
        self.setMinimumWidth(520)
        about = QLabel(
            f"<b>{model.title}</b><br>{model.summary()}, trained on COCO (80 classes)."
            f"<br><br>From: {model.url}<br>To: {model.path()}"
            f"<br><br><small>Licence: {jobs.ZOO_LICENCE_NOTE}.</small>")
        about.setWordWrap(True)
        about.setTextFormat(Qt.TextFormat.RichText)
        about.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # the URL, to copy
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.about = about
        layout = QVBoxLayout(self)
        layout.addWidget(about)
        self._add_start_button("Download", QDialogButtonBox.ButtonRole.AcceptRole)
        self._add_cancel_close()
        self._add_job_widgets(layout)
        self.message.setText("Nothing is downloaded until you press Download.")

    def start(self) -> None:
        self._start_job(jobs.download_job(self.model), f"connecting to {self.model.url.split('/')[2]}\u2026")

    def _progressed(self, p: Progress) -> None:
        if p.total > 0:  # QProgressBar holds ints: show kB so files over 2 GB fit too
            self.progress.setRange(0, max(1, p.total // 1000))
            self.progress.setValue(p.done // 1000)
        if p.message:
            self.message.setText(p.message)

    def _failed(self, message: str, details: str) -> None:
        super()._failed(message, details)
        self.adjustSize()  # the message names the URL and the path: room for all of it

    def _succeeded(self, result: Path) -> None:
        path = Path(result)
        if self.progress.maximum() == 0:  # the size was never known: the bar was busy
            self.progress.setRange(0, 1)
        self.progress.setValue(self.progress.maximum())
        self.message.setText(f"installed {path}; loading it")
        self.start_button.setEnabled(False)
        self.modelReady.emit(str(path))

    def stop(self) -> None:
        """Cancel a running download and wait for its thread (the window is closing)."""
        if self.job_thread is not None:
            self.job_thread.cancel()
            self.job_thread.wait(10000)
