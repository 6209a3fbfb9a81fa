"""``JobDialog``: the part of a dialog that runs one long job off the GUI thread.

The export, fine-tune and import dialogs each run a project job
(``fn(progress, cancel)``) on a :class:`JobThread` with a progress bar, a
message line, a start button, Cancel and Close. This base class owns that
wiring: the thread and its signals, the buttons' enabled states while a job
runs, Cancel, failures shown as a message, and Close / Esc refused while the
job runs. A subclass builds its own options, adds its start button (and any
others) with :meth:`_add_start_button`, then :meth:`_add_cancel_close`, puts
:meth:`_add_job_widgets` at the bottom of its layout, starts the job with
:meth:`_start_job` and shows the result in :meth:`_succeeded`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QBoxLayout, QDialog, QDialogButtonBox, QLabel, QProgressBar, QPushButton, QWidget

from detector_app.domain.progress import Progress
from detector_app.qt.worker import JobThread

#: A project long job: ``fn(progress, cancel) -> result`` (see :class:`JobThread`).
JobFn = Callable[[Callable[[Progress], None], threading.Event], Any]


class JobDialog(QDialog):
    """A dialog with one background job at a time (see the module docstring).

    Attributes: ``thread`` (the running :class:`JobThread`, or None),
    ``result`` (the last job's result), ``progress``, ``message``,
    ``buttons``, ``start_button``, ``cancel_button``, ``close_button``.
    """

    #: Shown when Cancel is pressed while the job runs.
    cancelling_text = "cancelling\u2026"
    #: Shown when the job ends with ``Cancelled``.
    cancelled_text = "cancelled"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # deleted once closed: a dialog opened from the window's menu would otherwise stay
        # its child (with its last result) until the window goes. Close is refused while a
        # job runs, so its thread is never deleted running.
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.job_thread: JobThread | None = None
        self.result: Any = None
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox()

    # -- building ------------------------------------------------------------------
    def _add_start_button(self, text: str, role: QDialogButtonBox.ButtonRole) -> QPushButton:
        """Add the button that runs :meth:`start`; it is off while the job runs."""
        self.start_button = self.buttons.addButton(text, role)
        self.start_button.clicked.connect(self.start)
        return self.start_button

    def _add_cancel_close(self) -> None:
        """Add Cancel (on only while the job runs) and Close (off while it runs)."""
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        self.cancel_button.setEnabled(False)

    def _add_job_widgets(self, layout: QBoxLayout) -> None:
        """Append the progress bar, the message line and the buttons to ``layout``."""
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    # -- running -------------------------------------------------------------------
    def start(self) -> None:
        """Start the dialog's job (a subclass calls :meth:`_start_job`)."""
        raise NotImplementedError

    def _start_job(self, fn: JobFn, message: str) -> None:
        """Run ``fn(progress, cancel)`` on a :class:`JobThread`: the progress bar
        goes busy, ``message`` is shown, and the thread's signals go to
        :meth:`_progressed`, :meth:`_succeeded`, :meth:`_failed`,
        :meth:`_cancelled` and, when it ends, :meth:`_thread_done`."""
        self.result = None
        self.progress.setRange(0, 0)
        self.message.setText(message)
        self.job_thread = JobThread(fn, self)
        self.job_thread.progressed.connect(self._progressed)
        self.job_thread.succeeded.connect(self._succeeded)
        self.job_thread.failed.connect(self._failed)
        self.job_thread.cancelled.connect(self._cancelled)
        self.job_thread.finished.connect(self._thread_done)
        self._set_running(True)
        self.job_thread.start()

    def cancel(self) -> None:
        """Ask the running job to stop (it ends at its next cancellation check)."""
        if self.job_thread is not None:
            self.job_thread.cancel()
            self.message.setText(self.cancelling_text)

    def running(self) -> bool:
        """True while a job runs (until its thread has finished)."""
        return self.job_thread is not None

    def _set_running(self, on: bool) -> None:
        """Buttons while a job runs (``on``) or not; a subclass may disable more."""
        self.start_button.setEnabled(not on)
        self.cancel_button.setEnabled(on)
        self.close_button.setEnabled(not on)

    # -- the job's signals ----------------------------------------------------------
    def _progressed(self, p: Progress) -> None:
        """Show ``p``: done out of total (when known) and its message."""
        if p.total > 0:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        if p.message:
            self.message.setText(p.message)

    def _succeeded(self, result: Any) -> None:
        """The job returned ``result``; a subclass shows it."""
        raise NotImplementedError

    def _failed(self, message: str, details: str) -> None:
        """The job raised (or could not start): the message, with a warning sign."""
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message.setText(f"\u26a0 {message}")

    def _cancelled(self) -> None:
        """The job ended with ``Cancelled``: an empty bar and :attr:`cancelled_text`."""
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message.setText(self.cancelled_text)

    def _thread_done(self) -> None:
        thread, self.job_thread = self.job_thread, None
        if thread is not None:
            thread.wait(5000)  # ``finished`` comes just before the thread's very end
        self._set_running(False)

    def reject(self) -> None:
        """Esc / Close: never while a job runs."""
        if self.job_thread is None:
            super().reject()
