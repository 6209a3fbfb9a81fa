"""The detections shown: one trace and its post-processing under the live score / NMS
thresholds (no network), and which trace that is. A shown item gets its own trace
from the cache, or none until the detector's arrives; while a video plays, the
latest frame's detections stay up until the newer frame's arrive."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from detector_app.app.trace_cache import TraceCache
from detector_app.domain.trace import DetectionTrace, PostprocessResult


def _of_video(key: str | None, path: str) -> bool:
    return key is not None and key.startswith(f"{path}#")


class TraceView:
    """``trace`` is of record ``trace_key`` (an earlier frame while a video plays, or None);
    ``result`` is its post-processing under ``score_thresh`` / ``nms_thresh``. The shown
    trace names its classes as the project does: a model class the project renamed
    (``ProjectStore.aliases``) carries the project's name, so the canvas, the stepper and
    accepting all use it."""

    def __init__(self, score_thresh: float, nms_thresh: float, detect_on_open: bool) -> None:
        self.cache = TraceCache()
        self.trace: DetectionTrace | None = None
        self.trace_key: str | None = None
        self.result: PostprocessResult | None = None
        self.score_thresh = float(score_thresh)
        self.nms_thresh = float(nms_thresh)
        self.class_agnostic = False  # NMS across classes: one box per object
        self.detect_on_open = detect_on_open  # an item shown without a trace asks the detector for one
        self._model_trace: DetectionTrace | None = None  # as the detector named its classes
        self._aliases: dict[str, str] = {}

    def show(self, trace: DetectionTrace | None, key: str | None) -> None:
        self._model_trace, self.trace_key = trace, (key if trace is not None else None)
        self.trace = self._renamed(trace)
        self._refresh_result()

    def set_aliases(self, aliases: Mapping[str, str]) -> bool:
        """The project's names for model classes changed; ``True`` when the shown trace's did."""
        if dict(aliases) == self._aliases:
            return False
        self._aliases = dict(aliases)
        self.show(self._model_trace, self.trace_key)
        return self._model_trace is not None

    def _renamed(self, trace: DetectionTrace | None) -> DetectionTrace | None:
        if trace is None or not any(n in self._aliases for n in trace.class_names):
            return trace
        return dataclasses.replace(trace, class_names=[self._aliases.get(n, n) for n in trace.class_names])

    def show_cached(self, key: str, path: str, playing: bool) -> DetectionTrace | None:
        """Item ``key`` (of file ``path``) is now shown: its cached trace, else none, except
        that while a video plays the previous frame's stays up. Returns the cached trace."""
        cached = self.cache.get(key)
        if cached is not None or not (playing and _of_video(self.trace_key, path)):
            self.show(cached, key)
        return cached

    def arrived(self, key: str, trace: DetectionTrace, shown_key: str | None, video_playing: str | None) -> bool:
        """A trace of ``key`` arrived from the detector: remembered, and shown when ``key`` is
        shown (``shown_key``), or is a frame of ``video_playing`` (the path of a playing
        video). Returns whether it is shown."""
        self.cache.remember(key, trace)
        if key != shown_key and not (video_playing is not None and _of_video(key, video_playing)):
            return False
        self.show(trace, key)
        return True

    def set_thresholds(self, score_thresh: float | None = None, nms_thresh: float | None = None,
                       class_agnostic: bool | None = None) -> None:
        if score_thresh is not None:
            self.score_thresh = float(score_thresh)
        if nms_thresh is not None:
            self.nms_thresh = float(nms_thresh)
        if class_agnostic is not None:
            self.class_agnostic = bool(class_agnostic)
        self._refresh_result()

    def _refresh_result(self) -> None:
        t = self.trace
        self.result = None if t is None else t.postprocess(self.score_thresh, self.nms_thresh,
                                                                class_agnostic=self.class_agnostic)
