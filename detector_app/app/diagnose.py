"""The recall funnel over a project or a dataset, as a long job (``domain.funnel``).

``project_items`` / ``dataset_items`` list the annotated images (video frames
included) with their boxes; ``run_funnel`` traces each one (or takes a trace
already computed for it, e.g. the window's cache) and follows every annotated
object through the detector. Plain Python: the CLI (``detector-app diagnose``)
and the window's dialog run the same function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector_app.app.store import ProjectStore
from detector_app.domain.annotations import Annotation, ImageRecord
from detector_app.domain.diagnosis import Explanation, explain_false_positive, explain_object, false_positives
from detector_app.domain.errors import UserError
from detector_app.domain.funnel import Funnel
from detector_app.domain.progress import ProgressFn, check_cancel, report
from detector_app.domain.trace import DetectionTrace, Detector, PostprocessResult
from detector_app.formats.dataset import Dataset


@dataclass(frozen=True)
class DiagnoseItem:
    """One annotated image (or video frame): where it is and its boxes."""

    key: str  # the project key (``clip.mp4#12``) or the dataset-relative path
    root: Path
    record: ImageRecord

    @property
    def annotations(self) -> list[tuple[np.ndarray, str]]:
        return [(np.array(a.box.to_tuple(), np.float64), a.label) for a in self.record.annotations]


def dataset_items(dataset: Dataset) -> list[DiagnoseItem]:
    """The annotated images of a ``formats.Dataset``."""
    return [DiagnoseItem(r.key, Path(dataset.root), r) for r in dataset.images if r.annotations]


def project_items(store: ProjectStore) -> list[DiagnoseItem]:
    """The project's records with boxes of the user's (annotations, accepted boxes included)."""
    return [DiagnoseItem(r.key, Path(store.root), r) for r in store.records() if r.annotations]


def run_funnel(items: list[DiagnoseItem], detector: Detector, score_thresh: float | None = None,
               nms_thresh: float | None = None, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None,
               cached: Callable[[str], DetectionTrace | None] | None = None, model: str = "") -> Funnel:
    """Trace every item (unless ``cached(key)`` has its trace) and build the funnel.

    ``score_thresh`` / ``nms_thresh``: the "final" stage's thresholds (default: the
    model's). An image that cannot be read is skipped and listed in
    ``funnel.skipped``. Raises ``Cancelled`` when ``cancel`` is set.
    """
    from detector_app.app.export_images import RecordFrames
    from detector_app.media.images import read_image

    if not items:
        raise UserError("nothing to diagnose: no annotated images (draw or accept boxes, or give a dataset "
                        "with annotations)")
    funnel = Funnel(model=model)
    frames: dict[Path, RecordFrames] = {}
    try:
        for i, item in enumerate(items):
            check_cancel(cancel)
            report(progress, i, len(items), item.key)
            trace = cached(item.key) if cached is not None else None
            if trace is None:
                try:
                    rec = item.record
                    if rec.frame_index is not None:
                        rgb = frames.setdefault(item.root, RecordFrames(item.root)).read(rec)
                    else:
                        rgb = read_image(item.root / rec.path)
                except (UserError, OSError) as exc:
                    funnel.skipped.append(f"{item.key}: {exc}")
                    continue
                trace = detector(rgb)
            st = trace.score_thresh if score_thresh is None else score_thresh
            nt = trace.nms_thresh if nms_thresh is None else nms_thresh
            funnel.thresholds = {"score": st, "nms": nt}
            result = trace.postprocess(score_thresh=st, nms_thresh=nt)
            funnel.add_image(item.key, trace, result, item.annotations, st)
        report(progress, len(items), len(items), "done")
    finally:
        for f in frames.values():
            f.close()
    return funnel


def funnel_job(store: ProjectStore, model_spec: str | None, device: str | None, score_thresh: float | None,
               nms_thresh: float | None, cached: dict[str, DetectionTrace] | None = None
               ) -> Callable[[ProgressFn, threading.Event], Funnel]:
    """A long job for the window: the project's annotated items are listed now (on
    the caller's thread, which owns the store); the job loads the model
    (``jobs.load_detector``) and runs :func:`run_funnel`, reusing ``cached`` traces."""
    items = project_items(store)
    traces = dict(cached or {})

    def job(progress: ProgressFn, cancel: threading.Event) -> Funnel:
        from detector_app.app.jobs import load_detector

        report(progress, 0, len(items), f"loading model {model_spec or 'default'}")
        detector, info = load_detector(model_spec, device)
        return run_funnel(items, detector, score_thresh, nms_thresh, progress, cancel, traces.get,
                          model=info.path or info.name)

    return job


@dataclass(frozen=True)
class Finding:
    """A missed annotation (``kind == "miss"``, ``annotation_id`` set) or a false
    positive (``kind == "false positive"``, ``detection`` set) on one image."""

    kind: str
    title: str
    explanation: Explanation
    annotation_id: str | None = None
    detection: int = -1


def image_findings(trace: DetectionTrace, result: PostprocessResult, annotations: list[Annotation],
                   score_thresh: float, nms_thresh: float | None = None,
                   false_positives_too: bool = True) -> list[Finding]:
    """The image's misses (annotations no detection of their class finds at IoU >= 0.5,
    in annotation order) then, with ``false_positives_too``, its false positives (best
    score first), each explained. (A detection only counts as false once the person's
    boxes are complete: the window asks for them on verified images.)"""
    out: list[Finding] = []
    for i, a in enumerate(annotations):
        e = explain_object(trace, result, np.array(a.box.to_tuple()), a.label, score_thresh, nms_thresh)
        if e.missed:
            out.append(Finding("miss", f"missed {a.label} (box {i + 1}): {e.stage.value}", e, annotation_id=a.id))
    if not false_positives_too:
        return out
    gts = [(np.array(a.box.to_tuple()), a.label) for a in annotations]
    fps = sorted(false_positives(result, gts, trace.class_names), key=lambda d: -float(result.scores[d]))
    for d in fps:
        e = explain_false_positive(trace, result, d, gts)
        name = trace.class_names[int(result.labels[d])]
        out.append(Finding("false positive", f"false positive: {name} {float(result.scores[d]):.2f} "
                           f"(detection {d})", e, detection=d))
    return out


__all__ = ["DiagnoseItem", "Finding", "funnel_job", "image_findings", "dataset_items", "project_items", "run_funnel"]
