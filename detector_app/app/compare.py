"""Before and after a fine-tune: the old and the new model side by side.

``compare_job`` (a long job) scores both models on the project's verified
images (COCO AP per class, pycocotools, classes matched by name) and runs both
on the current image, drawn for a side-by-side view. The verified images are
usually the ones the new model was trained on: their AP is optimistic, and the
dialog says so; a held-out dataset gives the honest number (``evaluate``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detector_app.app.store import ProjectStore
from detector_app.domain.annotations import ItemState
from detector_app.domain.errors import UserError
from detector_app.domain.progress import ProgressFn, check_cancel, report
from detector_app.formats.dataset import Dataset

if TYPE_CHECKING:
    from detector_app.detection.datasets import DetectionData


@dataclass
class Comparison:
    """Both models' scores; ``views`` are the current image with each model's detections."""

    old_name: str
    new_name: str
    images: int
    old: dict[str, Any]
    new: dict[str, Any]
    views: dict[str, np.ndarray] = field(default_factory=dict)  # "old" / "new" -> uint8[H, W, 3]

    def per_class(self) -> list[tuple[str, int, float | None, float | None]]:
        """``(class, boxes, old AP50, new AP50)`` per class with boxes (None: not scored)."""
        rows = []
        for name, new in self.new.get("per_class", {}).items():
            old = self.old.get("per_class", {}).get(name, {})
            n = int(new.get("num_gt") or 0)
            if n:
                rows.append((name, n, old.get("AP50"), new.get("AP50")))
        return rows


def project_detection_data(store: ProjectStore, verified_only: bool = True) -> DetectionData:
    """The project's (verified) images and frames with boxes as ``detection.datasets.DetectionData``
    (the store keeps every box's label in its label map)."""
    from detector_app.detection.datasets import detection_data

    records = [rec for rec in store.records()
               if rec.annotations and (not verified_only or rec.state is ItemState.VERIFIED)]
    return detection_data(Dataset(Path(store.root), store.label_map, records), Path(store.root))


def compare_job(store: ProjectStore, old_spec: str | None, new_spec: str, device: str | None,
                image: np.ndarray | None, score_thresh: float = 0.5
                ) -> Callable[[ProgressFn, threading.Event], Comparison]:
    """The long job behind the window's comparison (module docstring). The project's
    records are read now, on the caller's thread."""
    data = project_detection_data(store)
    if not data.samples:
        raise UserError("no verified images with boxes to compare on: mark reviewed images verified (Space)")

    def job(progress: ProgressFn, cancel: threading.Event) -> Comparison:
        from detector_app.app.jobs import UNTRAINED, split_device, untrained_model
        from detector_app.detection.builders import select_device
        from detector_app.detection.evaluation import evaluate_named
        from detector_app.detection.hub import load_model
        from detector_app.detection.overlay import draw_detections
        from detector_app.detection.tracing import trace

        dev = select_device(split_device(device)[0])
        out: dict[str, dict[str, Any]] = {}
        views: dict[str, np.ndarray] = {}
        names: dict[str, str] = {}
        for step, (which, spec) in enumerate((("old", old_spec), ("new", new_spec))):
            check_cancel(cancel)
            report(progress, step, 2, f"scoring the {which} model on {len(data.samples)} verified image(s)")
            loaded = untrained_model(dev) if spec == UNTRAINED else load_model(spec, dev)
            names[which] = Path(str(loaded.path)).name if loaded.path else str(spec or "bundled model")
            out[which] = evaluate_named(loaded.model, list(loaded.class_names), data, dev, cancel=cancel,
                                        where=names[which])
            if image is not None:
                t = trace(loaded.model, image)
                r = t.postprocess(score_thresh=score_thresh)
                views[which] = draw_detections(image, r.boxes, r.labels, r.scores, t.class_names)
        report(progress, 2, 2, "done")
        return Comparison(names["old"], names["new"], len(data.samples), out["old"], out["new"], views)

    return job


__all__ = ["Comparison", "compare_job", "project_detection_data"]
