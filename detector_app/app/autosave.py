"""Write-behind saving: edits land in memory at once and on disk within a second.

:class:`Autosaver` runs a daemon thread that calls ``flush()`` at most
``interval`` seconds after :meth:`Autosaver.touch` (an edit) was signalled.
Flush failures (disk full, folder gone read-only) go to ``on_error`` and are
retried at the next edit or after ``retry`` seconds; edits stay in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Default delay between an edit and its write (the store promises < 1 s).
DEFAULT_INTERVAL = 0.25


class Autosaver:
    """Calls ``flush`` on a background thread shortly after each burst of edits."""

    def __init__(
        self,
        flush: Callable[[], None],
        interval: float = DEFAULT_INTERVAL,
        on_error: Callable[[Exception], None] | None = None,
        retry: float = 5.0,
        name: str = "autosave",
    ) -> None:
        self._flush = flush
        self.interval = float(interval)
        self.retry = float(retry)
        self._on_error = on_error
        self._cond = threading.Condition()
        self._pending = False
        self._stopped = False
        self.last_error: Exception | None = None
        self.flushes = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def touch(self) -> None:
        """Signal an edit; a flush follows within ``interval`` seconds."""
        with self._cond:
            self._pending = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
            with self._cond:
                # Gather a burst (e.g. a drag) into one write; stop() cuts the wait short.
                deadline = time.monotonic() + self.interval
                while not self._stopped and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                if self._stopped:
                    return  # the owner flushes once more itself
                self._pending = False
            try:
                self._flush()
                self.flushes += 1
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - any save failure is reported, never kills the thread
                self.last_error = exc
                if self._on_error is not None:
                    try:
                        self._on_error(exc)
                    except Exception:  # noqa: BLE001 - a failing listener must not stop autosaving
                        pass
                with self._cond:
                    if not self._stopped:
                        self._cond.wait(self.retry)
                        self._pending = True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (does not flush: the owner flushes once more itself)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


__all__ = ["DEFAULT_INTERVAL", "Autosaver"]
