"""Which model the window runs, on which device, and what it falls back to (no Qt).

The user's choice (``spec``, saved in the settings) and what the worker is asked to
load (``loaded``) differ when the bundled model is missing: the untrained model of
its configuration runs instead, so anchors and proposals still show, while the saved
choice stays "bundled" and loads once the file exists. A checkpoint remembered from
last time that is gone falls back to the bundled model (one given on the command
line is tried as it is: its error says what is wrong).
"""

from __future__ import annotations

from dataclasses import dataclass

from detector_app.app import jobs
from detector_app.app.settings import Settings

#: Checkpoints kept in the model list's "recent" part.
MAX_RECENT_MODELS = 8


@dataclass(frozen=True)
class LoadPlan:
    """What to load and what to tell the user about it."""

    spec: str | None  # for the worker (None: the bundled model)
    error: str | None = None  # a problem for the status bar and the log
    status: str | None = None  # a line for the status bar


class ModelSelection:
    """``spec``: the model chosen (None: bundled); ``loaded``: what the worker was last asked
    to load; ``device``: a device choice (``jobs.split_device``)."""

    def __init__(self, spec: str | None, device: str | None, from_cli: bool = False) -> None:
        self.spec = spec
        self.loaded = spec
        self.device = device or "auto"
        self.from_cli = from_cli

    @classmethod
    def from_settings(cls, settings: Settings, model: str | None = None, device: str | None = None) -> ModelSelection:
        """The command line's ``model`` / ``device``, else the ones saved last time."""
        saved_model, saved_device = settings.get("model"), settings.get("device")
        return cls(model if model is not None else (saved_model if isinstance(saved_model, str) else None),
                   device or (saved_device if isinstance(saved_device, str) else None), model is not None)

    def save(self, settings: Settings) -> None:
        settings.set("model", self.spec)
        settings.set("device", self.device)

    def check_remembered(self) -> str | None:
        """At start-up: a model remembered from last time that is gone is dropped for the
        bundled one; returns the warning to log, else ``None``."""
        spec = self.spec
        if spec is None or self.from_cli or jobs.model_spec_exists(spec):
            return None
        self.spec = self.loaded = None
        return f"the model used last time, {spec}, is gone: using the bundled model"

    def plan(self, spec: str | None, device: str | None = None) -> LoadPlan:
        """Choose ``spec`` (on ``device``, default: the current one) and say what to load."""
        if device is not None:
            self.device = device
        self.spec = spec
        if spec in (None, "", "default") and not jobs.bundled_model_path().is_file():
            self.loaded = jobs.UNTRAINED
            return LoadPlan(self.loaded, error=f"bundled model {jobs.bundled_model_path()} is missing: running an "
                                               "UNTRAINED model (random weights); pick a checkpoint in the model list")
        self.loaded = spec
        return LoadPlan(spec, status=f"loading model {spec or 'default'} on {self.device}\u2026")


def remember_recent(settings: Settings, info: jobs.ModelInfo) -> None:
    """A checkpoint that loaded goes first in the recent models (the bundled one is always
    listed, so it is not remembered)."""
    if not info.path or info.path == str(jobs.bundled_model_path()):
        return
    saved = settings.get("recent_models") or []
    recent = [info.path, *[r for r in saved if isinstance(r, str) and r != info.path]]
    settings.set("recent_models", recent[:MAX_RECENT_MODELS])


def recent_models(settings: Settings) -> list[str]:
    return [r for r in settings.get("recent_models") or [] if isinstance(r, str)]


def device_choices() -> list[jobs.DeviceChoice]:
    """The device list; ``auto`` and the CPU when torch cannot list its backends."""
    try:
        return jobs.device_choices()
    except Exception:  # noqa: BLE001 - torch missing a backend: CPU is always there
        return [jobs.DeviceChoice("auto", "auto"), jobs.DeviceChoice("cpu", "CPU")]
