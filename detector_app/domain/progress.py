"""The contract of long jobs (inference over many images, training, export).

A job is a plain function ``job(..., progress: ProgressFn | None, cancel: threading.Event | None)``.
It calls ``progress(Progress(...))`` now and then and :func:`check_cancel`
between units of work; the CLI shows a text bar, the GUI a QProgressBar,
from the same calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from detector_app.domain.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units (``total`` 0 when unknown), a message, and metrics
    (e.g. loss terms) a caller may plot."""

    done: int
    total: int = 0
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        return None if self.total <= 0 else min(1.0, self.done / self.total)


ProgressFn = Callable[[Progress], None]


def report(progress: ProgressFn | None, done: int, total: int = 0, message: str = "", **metrics: float) -> None:
    """Call ``progress`` if there is one."""
    if progress is not None:
        progress(Progress(done, total, message, dict(metrics)))


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise :class:`Cancelled` when ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")
