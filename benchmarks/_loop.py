"""What the correction-loop benchmarks share: the generated data's truth, project
folders of chosen images, the simulated review of a folder, AP50 by class."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detector_app.app import jobs
from detector_app.app.session import Session
from detector_app.app.simulated_review import ReviewCounts, detect_synchronously, review_items
from detector_app.detection.synthetic import CLASS_NAMES
from detector_app.domain.trace import Detector
from detector_app.formats import load_dataset

#: The class the bundled model never saw, and the six classes of the loop's data.
NEW_CLASS = "cross"
CLASSES = (*CLASS_NAMES, NEW_CLASS)

Truth = dict[str, tuple[np.ndarray, list[str]]]


def truth_of(folder: Path) -> Truth:
    """``images/<name>`` -> (boxes float[G, 4] x1 y1 x2 y2, labels) of the generator's COCO
    dataset in ``folder``, read by the app's own reader."""
    return {rec.path: (np.array([a.box.to_tuple() for a in rec.annotations], np.float64).reshape(-1, 4),
                       [a.label for a in rec.annotations])
            for rec in load_dataset(folder).images}


def project_of(pool: Path, dest: Path, names: list[str]) -> Truth:
    """A project folder with the pool images ``names`` (no annotations: the reviewer makes them)."""
    truth = truth_of(pool)
    chosen = {name: truth[name] for name in names}
    for name in chosen:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(pool / name, dest / name)
    return chosen


def review(folder: Path, detector: Detector, truth: Truth, keep: bool = False,
           across_classes: bool = False) -> tuple[ReviewCounts, Session]:
    """The simulated reviewer over every image of ``folder``; the session is returned open
    when ``keep`` (the fine-tune job reads its store), else closed. ``across_classes``:
    the session's NMS runs across classes (the toolbar's "across classes" box)."""
    session = Session(score_thresh=0.5)
    session.set_thresholds(class_agnostic=across_classes)
    detect_synchronously(session, detector)
    session.open_paths([folder])
    counts = review_items(session, truth)
    session.save_now()
    if not keep:
        session.close()
    return counts, session


def per_image(counts: ReviewCounts) -> float:
    return counts.corrections / max(counts.images, 1)


def ap50(metrics: dict[str, Any], classes: tuple[str, ...]) -> float:
    """Mean AP50 over ``classes`` (those with ground truth in the data)."""
    per_class = metrics["per_class"]
    values = [per_class[c]["AP50"] for c in classes if per_class.get(c, {}).get("AP50") is not None]
    return float(np.mean(values)) if values else 0.0


@dataclass
class LoopRun:
    """One turn of the loop: the labelling's counts, the fine-tune's result and time."""

    labelling: ReviewCounts
    checkpoint: str
    seconds: float
    head_note: str


def label_and_finetune(pool: Path, folder: Path, names: list[str], detector: Detector, info: jobs.ModelInfo,
                       settings: jobs.FinetuneSettings) -> LoopRun:
    """The reviewer corrects pool images ``names`` in a new project ``folder`` (the model's
    detections first), then the app's fine-tune job trains on the verified images."""
    truth = project_of(pool, folder, names)
    counts, session = review(folder, detector, truth, keep=True)
    t = time.perf_counter()
    try:
        assert session.store is not None
        result = jobs.run_finetune(session.store, info, settings, folder / "finetuned.pt", None, threading.Event())
    finally:
        session.close()
    return LoopRun(counts, str(result.checkpoint), time.perf_counter() - t, result.head_note)


def copy_images(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".detector_app"))
    return dest


def counts_note(c: ReviewCounts) -> str:
    return (f"{c.images} images: {c.deleted} deleted, {c.relabelled} relabelled, {c.adjusted} adjusted, "
            f"{c.drawn} drawn ({c.involving[NEW_CLASS]} involve a {NEW_CLASS}); {c.accepted} accepted as they were")


