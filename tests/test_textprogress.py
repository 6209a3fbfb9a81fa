"""The CLI progress bar's time estimate, fresh and resumed."""

from __future__ import annotations

import io

import pytest

from detector_app.domain.progress import Progress
from detector_app.textprogress import TextProgressBar


def _eta(line: str) -> float:
    return float(line.split(" eta ")[1].split("s")[0])


def _run(start: int, total: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Reports from ``start + 1`` to ``start + 10``, one second apart."""
    clock = iter(float(t) for t in range(1000, 1100))
    monkeypatch.setattr("detector_app.textprogress.time.monotonic", lambda: next(clock))
    stream = io.StringIO()
    bar = TextProgressBar("train", stream=stream, interval=0.0)
    for done in range(start + 1, start + 11):
        bar(Progress(done=done, total=total))
    return stream.getvalue().splitlines()


def test_fresh_job_estimates_from_its_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _run(0, 100, monkeypatch)
    # after 10 units in 10 s, 90 are left: 90 s
    assert _eta(lines[-1]) == pytest.approx(90.0)
    assert "10/100" in lines[-1]


def test_resumed_job_estimates_from_the_work_done_since_it_resumed(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _run(6000, 15000, monkeypatch)
    # 10 units in 10 s since the resume; 8990 left at 1 unit/s (not 60 % of the time elapsed so far)
    assert "6010/15000" in lines[-1]
    assert _eta(lines[-1]) == pytest.approx(8990.0)
