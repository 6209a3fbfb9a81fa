"""A dependency-free text progress bar for the CLI (stderr)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from detector_app.domain.progress import Progress


class TextProgressBar:
    """Callable progress sink: ``bar(Progress(...))`` redraws one line.

    Draws on a terminal with ``\\r``; when stderr is not a terminal, prints a
    line at most every ``interval`` seconds so logs stay readable.
    """

    def __init__(self, label: str = "", stream: TextIO | None = None, width: int = 30, interval: float = 2.0) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.interval = interval
        self.start = time.monotonic()
        self._last = 0.0
        # where this bar started counting: a resumed job starts part-way, and
        # its rate is measured over the work done since, not the work done before
        self._first_done: int | None = None
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        finished = p.total > 0 and p.done >= p.total
        if self._first_done is None:
            # the first report follows one unit of work (or none, at done 0)
            self._first_done = max(p.done - 1, 0)
        if not self._tty and not finished and now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self.start
        if p.fraction is not None:
            filled = int(round(self.width * p.fraction))
            bar = "#" * filled + "-" * (self.width - filled)
            head = f"{self.label} [{bar}] {p.done}/{p.total} {elapsed:5.1f}s eta {self._eta(p, elapsed):5.1f}s"
        else:
            head = f"{self.label} {p.done} {elapsed:5.1f}s"
        metrics = " ".join(f"{k}={v:.4g}" for k, v in p.metrics.items())
        line = " ".join(s for s in (head, metrics, p.message) if s)
        if self._tty:
            self.stream.write("\r" + line[:200].ljust(80))
            if finished:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _eta(self, p: Progress, elapsed: float) -> float:
        """Seconds left at the rate of the work done since this bar began."""
        done_here = p.done - (self._first_done or 0)
        if done_here <= 0 or p.total <= p.done:
            return 0.0
        return elapsed / done_here * (p.total - p.done)
