"""Background threads: the inference worker that owns the model, and a generic
thread for long jobs (export, fine-tuning).

``InferenceWorker`` is a ``QThread`` whose ``run`` loop serves a queue of
requests (load a model, detect an image). The model lives only on that thread,
so the UI never waits for the network. Requests are cancellable; a request
with a ``group`` (``"video"``) replaces any pending request of the same group,
so while a video plays the newest frame wins and stale frames are dropped, not
queued. Every exception of a request is caught and reported through
``failed`` (the window shows it in the status bar and the log); the thread
keeps serving.

Results travel as Qt signals emitted from the worker thread; receivers living
in the GUI thread get them queued (Qt's automatic connection), in order.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from detector_app.app.jobs import ModelInfo
from detector_app.domain.errors import Cancelled, UserError
from detector_app.domain.progress import Progress
from detector_app.domain.trace import Detector

#: ``loader(spec, device) -> (detector, info)``; runs on the worker thread.
Loader = Callable[[str | None, str | None], tuple[Detector, ModelInfo]]


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """``(one-line message, details)``: a ``UserError``'s own text, else the
    exception type and text (details hold the traceback for the log)."""
    if isinstance(exc, UserError):
        return str(exc), ""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__, details


@dataclass
class _Load:
    spec: str | None
    device: str | None


@dataclass
class _Set:
    detector: Detector
    info: ModelInfo


@dataclass
class _Detect:
    key: Hashable  # what the trace is of (the window's record key)
    rgb: np.ndarray
    group: str | None = None
    cancelled: bool = False  # its result is dropped


_Request = _Load | _Set | _Detect


class InferenceWorker(QThread):
    """Owns the model; serves load/detect requests one at a time (see module doc)."""

    traceReady = Signal(object, object, float)  # key, DetectionTrace, seconds
    failed = Signal(object, str, str)  # key (None for a model load), message, details
    modelReady = Signal(object)  # ModelInfo
    dropped = Signal(object)  # key of a request that was cancelled or replaced
    busyChanged = Signal(bool)

    def __init__(self, loader: Loader | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._cond = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._current: _Request | None = None
        self._stopping = False
        self._detector: Detector | None = None
        self._info: ModelInfo | None = None
        self.setObjectName("inference-worker")

    # -- requests (GUI thread) ---------------------------------------------
    def load_model(self, spec: str | None, device: str | None = None) -> None:
        """Load a model (``jobs.load_detector`` by default); ``modelReady`` or ``failed(None, ...)``.
        Pending detections stay queued and run on the new model."""
        self._put(_Load(spec, device))

    def set_detector(self, detector: Detector, info: ModelInfo) -> None:
        """Use ``detector`` (any ``rgb -> DetectionTrace`` callable) from now on."""
        self._put(_Set(detector, info))

    def submit(self, key: Hashable, rgb: np.ndarray, group: str | None = None) -> None:
        """Detect ``rgb`` (``uint8[H, W, 3]``); the result comes as ``traceReady(key, ...)``.

        A pending request with the same ``key`` is replaced; with a ``group``,
        every pending request of that group is dropped (newest wins).
        """
        req = _Detect(key, rgb, group)
        dropped: list[Hashable] = []
        with self._cond:
            keep: deque[_Request] = deque()
            for r in self._queue:
                if isinstance(r, _Detect) and (r.key == key or (group is not None and r.group == group)):
                    dropped.append(r.key)
                else:
                    keep.append(r)
            self._queue = keep
            self._queue.append(req)
            self._cond.notify()
        for k in dropped:
            if k != key:
                self.dropped.emit(k)

    def cancel(self, group: str | None = None) -> None:
        """Drop pending detections (all, or those of ``group``); the result of
        the one running now is discarded too."""
        dropped: list[Hashable] = []
        with self._cond:
            keep: deque[_Request] = deque()
            for r in self._queue:
                if isinstance(r, _Detect) and (group is None or r.group == group):
                    dropped.append(r.key)
                else:
                    keep.append(r)
            self._queue = keep
            cur = self._current
            if isinstance(cur, _Detect) and (group is None or cur.group == group):
                cur.cancelled = True
        for k in dropped:
            self.dropped.emit(k)

    def pending(self) -> int:
        """Requests waiting (not counting the one running)."""
        with self._cond:
            return len(self._queue)

    def is_busy(self) -> bool:
        with self._cond:
            return self._current is not None or bool(self._queue)

    @property
    def info(self) -> ModelInfo | None:
        """The model in use (set on the worker thread; read-only here)."""
        return self._info

    def stop(self, timeout_ms: int = 10000) -> bool:
        """Ask the loop to end after the current request; wait for it."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            if isinstance(self._current, _Detect):
                self._current.cancelled = True
            self._cond.notify_all()
        return self.wait(timeout_ms) if self.isRunning() else True

    def _put(self, req: _Request) -> None:
        with self._cond:
            self._queue.append(req)
            self._cond.notify()

    # -- the loop (worker thread) ---------------------------------------------
    def run(self) -> None:  # noqa: D401 (Qt API)
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                req = self._queue.popleft()
                self._current = req
            self.busyChanged.emit(True)
            try:
                self._serve(req)
            finally:
                with self._cond:
                    self._current = None
                    idle = not self._queue
                if idle:
                    self.busyChanged.emit(False)

    def _serve(self, req: _Request) -> None:
        try:
            if isinstance(req, _Load):
                if self._loader is None:
                    from detector_app.app.jobs import load_detector

                    self._loader = load_detector
                detector, info = self._loader(req.spec, req.device)
                self._detector, self._info = detector, info
                self.modelReady.emit(info)
            elif isinstance(req, _Set):
                self._detector, self._info = req.detector, req.info
                self.modelReady.emit(req.info)
            else:
                if self._detector is None:
                    raise UserError("no model loaded: pick a model first (Model menu)")
                t0 = time.perf_counter()
                trace = self._detector(req.rgb)
                seconds = time.perf_counter() - t0
                if req.cancelled:
                    self.dropped.emit(req.key)
                else:
                    self.traceReady.emit(req.key, trace, seconds)
        except Exception as exc:  # noqa: BLE001 - any model error is reported, never fatal
            message, details = describe_exception(exc)
            if isinstance(req, _Load):
                message = f"cannot load model {req.spec or 'default'}: {message}"
            self.failed.emit(req.key if isinstance(req, _Detect) else None, message, details)


class JobThread(QThread):
    """Runs ``fn(progress, cancel)`` (a project long job) off the GUI thread.

    Signals: ``progressed(Progress)``, then exactly one of ``succeeded(result)``,
    ``failed(message, details)`` or ``cancelled()``.
    """

    progressed = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()

    def __init__(self, fn: Callable[[Callable[[Progress], None], threading.Event], object],
                 parent: QObject | None = None, min_interval_s: float = 0.05) -> None:
        super().__init__(parent)
        self._fn = fn
        self.cancel_event = threading.Event()
        self._min_interval = min_interval_s
        self._last = 0.0

    def cancel(self) -> None:
        self.cancel_event.set()

    def _progress(self, p: Progress) -> None:
        now = time.monotonic()
        last = p.total > 0 and p.done >= p.total
        if last or p.metrics or now - self._last >= self._min_interval:
            self._last = now
            self.progressed.emit(p)

    def run(self) -> None:  # noqa: D401 (Qt API)
        try:
            result = self._fn(self._progress, self.cancel_event)
        except Cancelled:
            self.cancelled.emit()
            return
        except Exception as exc:  # noqa: BLE001 - reported to the dialog, never fatal
            self.failed.emit(*describe_exception(exc))
            return
        self.succeeded.emit(result)  # a job that stops early on cancel returns normally
