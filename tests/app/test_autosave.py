"""Autosaver: bursts become one flush, failures are reported and retried, stop is prompt."""

from __future__ import annotations

import threading
import time

from detector_app.app.autosave import Autosaver


def _wait(cond, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_burst_is_one_flush() -> None:
    """50 edits within one interval are written once. (The interval is long enough that
    the burst, microseconds of work, falls inside it even on a loaded machine.)"""
    calls: list[float] = []
    saver = Autosaver(lambda: calls.append(time.monotonic()), interval=1.0)
    for _ in range(50):
        saver.touch()
    assert _wait(lambda: len(calls) == 1)
    time.sleep(0.2)
    assert len(calls) == 1 and saver.flushes == 1
    saver.stop()
    assert not saver.alive


def test_failure_is_reported_and_retried() -> None:
    attempts: list[int] = []
    errors: list[Exception] = []

    def flush() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk full")

    saver = Autosaver(flush, interval=0.01, on_error=errors.append, retry=0.05)
    saver.touch()
    assert _wait(lambda: len(attempts) == 2)  # retried without a new edit
    assert [str(e) for e in errors] == ["disk full"]
    assert _wait(lambda: saver.last_error is None)
    saver.stop()


def test_stop_interrupts_a_long_wait() -> None:
    """``stop`` ends the thread at once, not after the 30 s wait for the next flush: here
    time is what is tested, so the bound is a third of that wait (seconds of margin for a
    loaded machine; an uninterrupted wait would take all 30 s)."""
    ran = threading.Event()
    saver = Autosaver(ran.set, interval=30)
    saver.touch()
    t0 = time.monotonic()
    saver.stop(timeout=60)
    assert time.monotonic() - t0 < 10.0 and not saver.alive and not ran.is_set()
