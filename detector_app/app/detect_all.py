"""Detect all: run the model over a project's images in the background and keep the traces.

``detect_all`` is a long job: for each image key it reads the pixels, runs the
detector and writes the trace to a :class:`TraceStore` (on disk: one trace in
memory at a time, so a 10,000-image folder needs no more memory than one
image). ``pause`` (an Event) holds it between images; ``cancel`` stops it. An
image whose trace is already stored is skipped unless ``redo``. ``on_done(key)``
is called after each stored trace (the window marks the item detected; the CLI
updates the project's review state).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from detector_app.app.store import ProjectStore
from detector_app.app.trace_store import TraceStore
from detector_app.domain.annotations import ItemState
from detector_app.domain.errors import UserError
from detector_app.domain.progress import ProgressFn, check_cancel, report
from detector_app.domain.trace import DISPLAY_SCORE_THRESH, Detector


@dataclass
class DetectAllResult:
    detected: list[str] = field(default_factory=list)
    already: int = 0  # traces that were stored before
    skipped: list[str] = field(default_factory=list)  # "key: why"
    seconds: float = 0.0

    def summary(self) -> str:
        per = f" ({self.seconds / len(self.detected):.2f} s each)" if self.detected else ""
        parts = [f"detected {len(self.detected)} image(s){per}"]
        if self.already:
            parts.append(f"{self.already} already stored")
        if self.skipped:
            parts.append(f"{len(self.skipped)} unreadable")
        return ", ".join(parts)


def image_keys(store: ProjectStore, only_unreviewed: bool) -> list[str]:
    """A ``ProjectStore``'s image items to detect (videos are left out: their frames are
    detected as they play); ``only_unreviewed``: those not edited or verified yet."""
    reviewed = (ItemState.EDITED, ItemState.VERIFIED)
    out = []
    for key in store.files:
        if store.is_video(key):
            continue
        if only_unreviewed and store.record(key).state in reviewed:
            continue
        out.append(key)
    return out


def detect_all(root: str | Path, keys: list[str], detector: Detector, traces: TraceStore,
               progress: ProgressFn | None = None, cancel: threading.Event | None = None,
               pause: threading.Event | None = None, on_done: Callable[[str], None] | None = None,
               redo: bool = False, score_thresh: float | None = None) -> DetectAllResult:
    """Detect ``keys`` (image paths relative to ``root``) into ``traces``; see the module docstring.

    ``progress`` gets ``Progress(i, len(keys), key)`` after each image. Raises
    ``Cancelled`` when ``cancel`` is set (the traces stored so far stay). Each
    image's usefulness signals (``domain.usefulness.signals`` at ``score_thresh``,
    default the app's display threshold, not the model's low internal one) are
    stored beside the traces, for "most useful first".
    """
    from detector_app.domain.usefulness import signals
    from detector_app.media.images import read_image

    result = DetectAllResult()
    busy = 0.0
    root = Path(root)
    for i, key in enumerate(keys):
        while pause is not None and pause.is_set():
            check_cancel(cancel)
            time.sleep(0.05)
        check_cancel(cancel)
        if not redo and traces.has(key):
            result.already += 1
            report(progress, i + 1, len(keys), key)
            continue
        start = time.monotonic()
        try:
            trace = detector(read_image(root / key))  # (an image too thin for the model: a MediaError too)
        except (UserError, OSError) as exc:
            result.skipped.append(f"{key}: {exc}")
            report(progress, i + 1, len(keys), key)
            continue
        thresh = DISPLAY_SCORE_THRESH if score_thresh is None else score_thresh
        try:
            traces.put(key, trace)
            traces.put_summary(key, signals(trace, trace.postprocess(score_thresh=thresh), thresh))
        except OSError as exc:
            raise UserError(f"cannot store traces in {traces.folder}: {exc.strerror or exc}") from None
        busy += time.monotonic() - start
        result.detected.append(key)
        if on_done is not None:
            on_done(key)
        report(progress, i + 1, len(keys), key, seconds_per_image=busy / len(result.detected))
    result.seconds = busy
    return result


__all__ = ["DetectAllResult", "detect_all", "image_keys"]


def detect_all_job(store: ProjectStore, model_spec: str | None, device: str | None, only_unreviewed: bool,
                   pause: threading.Event | None = None, on_done: Callable[[str], None] | None = None,
                   score_thresh: float | None = None) -> Callable[[ProgressFn, threading.Event], DetectAllResult]:
    """A long job for the window: the keys are listed now (on the caller's thread, which
    owns the store); the job loads its own model (``jobs.load_detector``), so the
    window's interactive detections go on meanwhile, and stores the traces where the
    session looks for them (same model id)."""
    keys = image_keys(store, only_unreviewed)
    root = Path(store.root)
    store_dir = Path(store.store_dir)

    def job(progress: ProgressFn, cancel: threading.Event) -> DetectAllResult:
        from detector_app.app.jobs import load_detector

        detector, info = load_detector(model_spec, device)
        traces = TraceStore(store_dir, info.cache_id)
        return detect_all(root, keys, detector, traces, progress, cancel, pause, on_done, score_thresh=score_thresh)

    return job


__all__ += ["detect_all_job"]
