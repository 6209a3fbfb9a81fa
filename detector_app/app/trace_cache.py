"""The traces a session remembers: the newest ``TRACE_CACHE`` in memory, and the ones
Model > Detect all stored on disk for the model in use (``TraceStore``)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from detector_app.app.trace_store import TraceStore
from detector_app.domain.trace import DetectionTrace

TRACE_CACHE = 16


class TraceCache:
    """Traces by record key, of one model (``model_id``); memory first, then disk."""

    def __init__(self) -> None:
        self._traces: OrderedDict[str, DetectionTrace] = OrderedDict()
        self.model_id: str | None = None  # the model in use, as ``trace_store.model_id`` names it
        self.store: TraceStore | None = None  # this project's stored traces of that model (detect all)
        self._store_dir: Path | None = None

    def open(self, store_dir: Path | None) -> None:
        """A project was opened (``store_dir``: its ``.detector_app`` folder) or closed (None):
        memory is emptied, the stored traces are the new project's."""
        self._traces.clear()
        self._store_dir = store_dir
        self._open_store()

    def set_model_id(self, model_id: str | None) -> None:
        """The model in use changed: its stored traces are used (call :meth:`clear` too)."""
        self.model_id = model_id
        self._open_store()

    def _open_store(self) -> None:
        self.store = (TraceStore(self._store_dir, self.model_id)
                      if self._store_dir is not None and self.model_id else None)

    def get(self, key: str) -> DetectionTrace | None:
        """The trace of ``key`` in memory, else stored on disk by Detect all (then kept in memory)."""
        trace = self._traces.get(key)
        if trace is None and self.store is not None:
            trace = self.store.get(key)
            if trace is not None:
                self.remember(key, trace)
        return trace

    def remember(self, key: str, trace: DetectionTrace) -> None:
        """Keep ``trace`` in memory as the most recent; the oldest beyond ``TRACE_CACHE`` go."""
        self._traces[key] = trace
        self._traces.move_to_end(key)
        while len(self._traces) > TRACE_CACHE:
            self._traces.popitem(last=False)

    def clear(self) -> None:
        """Forget the traces in memory (the stored ones stay)."""
        self._traces.clear()

    def snapshot(self) -> dict[str, DetectionTrace]:
        """The traces in memory (a copy: safe to hand to a job thread)."""
        return dict(self._traces)
