"""``WorkerLink``: the window's glue between the :class:`InferenceWorker`, the session and
the model picker.

Models: the picker lists the models and devices (``jobs.model_choices``,
``model_choice.device_choices``); a model chosen there is loaded on the worker as
``ModelSelection.plan`` says (a missing bundled model is replaced and reported); a loaded
model gives the session its classes and forgets the traces of the one before.
Detection: the session's detection requests go to the worker, its traces come back to
the session, its failures to the window's error report.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from detector_app.app import jobs
from detector_app.app.model_choice import ModelSelection, device_choices, recent_models, remember_recent
from detector_app.app.scan import display_key
from detector_app.app.session import Event, Session
from detector_app.app.settings import Settings
from detector_app.domain.trace import DetectionTrace
from detector_app.qt.panels import Panels
from detector_app.qt.worker import InferenceWorker


class WorkerLink:
    """Connects ``worker``, ``session`` and ``panels`` (see the module docstring); ``status``
    shows a line in the status bar, ``report_error(message, details)`` an error."""

    def __init__(self, worker: InferenceWorker, session: Session, models: ModelSelection, settings: Settings,
                 panels: Panels, status: Callable[[str], None], report_error: Callable[[str, str], None]) -> None:
        self.worker, self.session, self.models, self.settings = worker, session, models, settings
        self.panels, self._status, self._report_error = panels, status, report_error
        session.subscribe(Event.DETECT, self._on_detect)
        worker.traceReady.connect(self._trace_ready)
        worker.failed.connect(self._worker_failed)
        worker.modelReady.connect(self._model_ready)
        worker.busyChanged.connect(panels.set_busy)
        picker = panels.model_picker
        picker.modelChosen.connect(lambda spec: self.load_model(spec))
        picker.deviceChosen.connect(lambda d: self.load_model(self.models.spec, d))
        picker.listAboutToOpen.connect(self.refresh_models)

    # -- models ---------------------------------------------------------------------
    def refresh_models(self) -> None:
        self.panels.model_picker.set_models(jobs.model_choices(recent_models(self.settings)), self.models.loaded)
        self.refresh_devices()

    def refresh_devices(self) -> None:
        self.panels.model_picker.set_devices(device_choices(), self.models.device)

    def load_model(self, spec: str | None, device: str | None = None) -> None:
        """Ask the worker to load ``spec`` (None: bundled; a missing bundled model is
        replaced and reported: ``ModelSelection.plan``)."""
        plan = self.models.plan(spec, device)
        if plan.error is not None:
            self._report_error(plan.error, "")
        if plan.status is not None:
            self._status(plan.status)
        self.panels.model_picker.set_current_model(plan.spec)
        self.worker.load_model(plan.spec, self.models.device)

    def model_downloaded(self, path: str) -> None:
        """A zoo model's file is in place: list it and load it."""
        self.panels.log.log(f"downloaded {path}")
        self.refresh_models()
        self.panels.model_picker.choose_model(path)

    def _model_ready(self, info: jobs.ModelInfo) -> None:
        self.panels.set_model_text(f"{info.name} ({info.device})", "\n".join(info.warnings))
        self.panels.log.log(f"model {info.name} loaded on {info.device}: classes {', '.join(info.label_names)}")
        for warning in info.warnings:
            self.panels.log.log(warning, "warning")
        self._status(f"model {info.name} ready on {info.device}"
                     + (f" \u2014 \u26a0 {info.warnings[0]}" if info.warnings else ""))
        remember_recent(self.settings, info)
        self.session.set_model_classes(info.class_names)
        self.session.set_model_id(info.cache_id or None)
        self.session.forget_traces()
        self.refresh_devices()  # the worker has measured CPU bf16's speed by now

    # -- detection ------------------------------------------------------------------
    def _on_detect(self, key: str, rgb: np.ndarray, group: str | None) -> None:
        if self.worker.info is None and not self.worker.is_busy():
            self._status("no model loaded: pick one in the model list")
            return
        self._status(f"detecting {display_key(key)}\u2026")
        self.worker.submit(key, rgb, group)

    def _trace_ready(self, key: str, trace: DetectionTrace, seconds: float) -> None:
        self.panels.set_last_detection(seconds)
        self.session.on_trace(key, trace)
        if key == self.session.key and self.session.result is not None:
            n = len(self.session.result.scores)
            self._status(f"{display_key(key)}: {n} detection(s) in {seconds * 1000:.0f} ms")

    def _worker_failed(self, key: str | None, message: str, details: str) -> None:
        self._report_error(message if key is None else f"{key}: {message}", details)


__all__ = ["WorkerLink"]
