"""The inference worker: results arrive, requests queue and cancel, the newest
video frame wins, model errors are reported and the thread survives, and the
GUI event loop keeps ticking while a (deliberately slow) model runs."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from detector_app.app.jobs import ModelInfo
from detector_app.domain.errors import Cancelled, UserError
from detector_app.domain.progress import Progress
from detector_app.qt.worker import InferenceWorker, JobThread, describe_exception
from tests.helpers.traces import make_fake_trace

INFO = ModelInfo(name="fake", class_names=["__background__", "cat", "dog"])


class SlowModel:
    """A callable 'model': sleeps, records which frames it saw and each call's
    ``(start, end)`` (``time.monotonic()``), returns the fake trace."""

    def __init__(self, delay: float = 0.0, fail_on: int | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.seen: list[int] = []
        self.spans: list[tuple[float, float]] = []
        self.trace = make_fake_trace()

    def __call__(self, rgb: np.ndarray):
        tag = int(rgb[0, 0, 0])
        self.seen.append(tag)
        start = time.monotonic()
        time.sleep(self.delay)
        self.spans.append((start, time.monotonic()))
        if tag == self.fail_on:
            raise RuntimeError(f"boom on frame {tag}")
        return self.trace


def frame(tag: int) -> np.ndarray:
    img = np.zeros((8, 8, 3), np.uint8)
    img[0, 0, 0] = tag
    return img


@pytest.fixture
def worker(qtbot):
    w = InferenceWorker()
    w.start()
    yield w
    assert w.stop()


def collect(worker: InferenceWorker) -> dict[str, list]:
    got: dict[str, list] = {"ready": [], "failed": [], "dropped": [], "models": []}
    worker.traceReady.connect(lambda k, t, s: got["ready"].append(k))
    worker.failed.connect(lambda k, m, d: got["failed"].append((k, m, d)))
    worker.dropped.connect(lambda k: got["dropped"].append(k))
    worker.modelReady.connect(lambda info: got["models"].append(info))
    return got


def test_detect_request_returns_trace_in_order(qtbot, worker):
    model = SlowModel()
    got = collect(worker)
    worker.set_detector(model, INFO)
    for i in range(3):
        worker.submit(("img", i), frame(i))
    qtbot.waitUntil(lambda: len(got["ready"]) == 3, timeout=5000)
    assert got["ready"] == [("img", 0), ("img", 1), ("img", 2)]
    assert got["models"] == [INFO]
    assert model.seen == [0, 1, 2]
    assert not worker.is_busy()


def test_no_model_is_a_clear_error_not_a_crash(qtbot, worker):
    got = collect(worker)
    worker.submit("a", frame(1))
    qtbot.waitUntil(lambda: bool(got["failed"]), timeout=5000)
    key, message, _ = got["failed"][0]
    assert key == "a" and "no model loaded" in message
    # still serving
    worker.set_detector(SlowModel(), INFO)
    worker.submit("b", frame(2))
    qtbot.waitUntil(lambda: got["ready"] == ["b"], timeout=5000)


def test_model_exception_is_reported_and_worker_survives(qtbot, worker):
    model = SlowModel(fail_on=2)
    got = collect(worker)
    worker.set_detector(model, INFO)
    for i in (1, 2, 3):
        worker.submit(i, frame(i))
    qtbot.waitUntil(lambda: len(got["ready"]) == 2 and bool(got["failed"]), timeout=5000)
    assert got["ready"] == [1, 3]
    key, message, details = got["failed"][0]
    assert key == 2
    assert message == "RuntimeError: boom on frame 2"
    assert "Traceback" in details and "boom on frame 2" in details
    assert worker.isRunning()


def test_failed_model_load_names_the_model(qtbot):
    def loader(spec, device):
        raise UserError(f"{spec}: no such checkpoint file")

    w = InferenceWorker(loader=loader)
    w.start()
    got = collect(w)
    try:
        w.load_model("/nope/model.pt", "cpu")
        qtbot.waitUntil(lambda: bool(got["failed"]), timeout=5000)
        assert got["failed"][0][0] is None
        assert got["failed"][0][1] == "cannot load model /nope/model.pt: /nope/model.pt: no such checkpoint file"
        assert got["failed"][0][2] == ""  # a UserError needs no traceback
    finally:
        assert w.stop()


def test_newest_frame_wins_for_a_group(qtbot, worker):
    model = SlowModel(delay=0.3)
    got = collect(worker)
    worker.set_detector(model, INFO)
    worker.submit(0, frame(0), group="video")
    qtbot.waitUntil(lambda: model.seen == [0], timeout=5000)  # frame 0 is running
    for i in range(1, 6):  # frames arrive faster than the model runs
        worker.submit(i, frame(i), group="video")
    assert worker.pending() == 1  # only the newest is queued
    qtbot.waitUntil(lambda: len(got["ready"]) == 2, timeout=5000)
    assert got["ready"] == [0, 5]
    assert model.seen == [0, 5]
    assert got["dropped"] == [1, 2, 3, 4]


def test_group_does_not_drop_other_requests(qtbot, worker):
    model = SlowModel(delay=0.2)
    got = collect(worker)
    worker.set_detector(model, INFO)
    worker.submit("still", frame(9))
    worker.submit(1, frame(1), group="video")
    worker.submit(2, frame(2), group="video")
    qtbot.waitUntil(lambda: len(got["ready"]) == 2, timeout=5000)
    assert got["ready"] == ["still", 2]


def test_cancel_drops_pending_and_discards_running(qtbot, worker):
    model = SlowModel(delay=0.3)
    got = collect(worker)
    worker.set_detector(model, INFO)
    for i in range(4):
        worker.submit(i, frame(i))
    qtbot.waitUntil(lambda: model.seen == [0], timeout=5000)
    worker.cancel()
    qtbot.waitUntil(lambda: not worker.is_busy(), timeout=5000)
    qtbot.wait(50)
    assert got["ready"] == []
    assert sorted(got["dropped"]) == [0, 1, 2, 3]
    assert model.seen == [0]


def test_event_loop_never_stalls_during_slow_detection(qtbot, worker):
    """A 10 ms QTimer keeps ticking on the GUI thread while a model that takes 0.5 s per
    call runs three times on the worker: there are ticks inside every call. (A model
    called on the GUI thread would leave none: its event loop stands still meanwhile.
    How long the loop may pause is measured by benchmarks/bench_gui.py.)"""
    model = SlowModel(delay=0.5)
    got = collect(worker)
    worker.set_detector(model, INFO)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    for i in range(3):
        worker.submit(i, frame(i))
    qtbot.waitUntil(lambda: len(got["ready"]) == 3, timeout=10000)
    timer.stop()
    assert model.seen == [0, 1, 2] and len(model.spans) == 3  # it really ran the slow model three times
    for start, end in model.spans:
        assert any(start < t < end for t in ticks), "the event loop stood still while the model ran"


def test_stop_while_busy_returns(qtbot):
    w = InferenceWorker()
    w.start()
    model = SlowModel(delay=0.3)
    w.set_detector(model, INFO)
    w.submit(0, frame(0))
    w.submit(1, frame(1))
    qtbot.waitUntil(lambda: model.seen == [0], timeout=5000)
    assert w.stop()  # True: the thread ended (it finishes the running call, drops the queued one)
    assert not w.isRunning() and model.seen == [0]


def test_describe_exception():
    assert describe_exception(UserError("a.png: broken")) == ("a.png: broken", "")
    try:
        raise ValueError("bad\nsecond line")
    except ValueError as exc:
        message, details = describe_exception(exc)
    assert message == "ValueError: bad"
    assert "second line" in details


def test_job_thread_reports_progress_result_and_errors(qtbot):
    def job(progress, cancel):
        for i in range(3):
            progress(Progress(i + 1, 3, "step", {"loss": 1.0 / (i + 1)}))
        return "done"

    t = JobThread(job)
    seen: list[Progress] = []
    t.progressed.connect(seen.append)
    with qtbot.waitSignal(t.succeeded, timeout=5000) as blocker:
        t.start()
    assert blocker.args == ["done"]
    t.wait()
    assert [p.done for p in seen] == [1, 2, 3]
    assert seen[-1].metrics == {"loss": pytest.approx(1 / 3)}

    def bad(progress, cancel):
        raise KeyError("missing")

    t2 = JobThread(bad)
    with qtbot.waitSignal(t2.failed, timeout=5000) as blocker:
        t2.start()
    t2.wait()
    assert blocker.args[0] == "KeyError: 'missing'"


def test_job_thread_cancel(qtbot):
    started = threading.Event()

    def job(progress, cancel):
        started.set()
        while not cancel.is_set():
            time.sleep(0.01)
        raise Cancelled("cancelled")

    t = JobThread(job)
    with qtbot.waitSignal(t.cancelled, timeout=5000):
        t.start()
        assert started.wait(2)
        t.cancel()
    t.wait()


@pytest.mark.cuda
def test_worker_loads_and_detects_on_cuda(qtbot, worker, tmp_path):
    """The GUI's worker with a real model on the GPU: device "auto" picks CUDA, the
    trace comes back as numpy in image pixels, equal to the model's own forward."""
    import torch

    from tests.helpers.models import make_tiny_checkpoint

    got = collect(worker)
    worker.load_model(str(make_tiny_checkpoint(tmp_path / "tiny.pt")), "auto")
    qtbot.waitUntil(lambda: bool(got["models"]) or bool(got["failed"]), timeout=60000)
    assert not got["failed"] and got["models"][0].device.startswith("cuda")
    rgb = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    results: list = []
    worker.traceReady.connect(lambda k, t, s: results.append(t))
    worker.submit("gpu", rgb)
    qtbot.waitUntil(lambda: bool(results), timeout=60000)
    trace = results[0]
    assert trace.image_size == (96, 128) and isinstance(trace.detection_boxes, np.ndarray)
    assert torch.cuda.max_memory_allocated() > 0
