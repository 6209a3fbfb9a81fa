"""The fine-tune job: train the model in use on the project's reviewed boxes.

The window's fine-tune dialog and the tests run :func:`run_finetune` as a long job
(``domain/progress.py``); the training itself is ``detection.training.train``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from detector_app.detection.training_config import TRAIN_SCOPES
from detector_app.domain.annotations import ImageRecord
from detector_app.domain.errors import UserError

if TYPE_CHECKING:
    import threading

    from detector_app.app.jobs import ModelInfo
    from detector_app.app.store import ProjectStore
    from detector_app.detection.training import TrainResult
    from detector_app.domain.progress import ProgressFn


@dataclass
class FinetuneSettings:
    """Fine-tuning on the project's reviewed images (see :func:`run_finetune`)."""

    epochs: int = 20  # about 500 steps on 50 images: what a new class needed (docs/correction_loop.md)
    lr: float = 0.005
    batch: int = 2
    iters: int | None = None  # cap on iterations (None: epochs decide)
    verified_only: bool = True
    seed: int = 0
    device: str | None = None
    # what learns (``TRAIN_SCOPES``): the heads, by default. On a project's few corrected images
    # a frozen backbone forgets no less, leaves fewer boxes to correct and steps ~4.8x faster
    # on a CPU than training every layer (docs/correction_loop.md)
    scope: str = "heads"


def finetune_output(root: Path) -> Path:
    """Where a fine-tuned checkpoint goes: ``<project>/.detector_app/models/finetune-<time>.pt``."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(root) / ".detector_app" / "models" / f"finetune-{stamp}.pt"


#: Fewer images than this to fine-tune on get a warning: the model would memorise them.
FEW_IMAGES = 5


def finetune_records(store: ProjectStore, verified_only: bool) -> list[ImageRecord]:
    """The reviewed (or only verified) records a fine-tune trains on, accepted model boxes included."""
    from detector_app.app.export import ExportOptions, select_records

    return select_records(store.records(), ExportOptions(verified_only=verified_only, include_model_boxes=True),
                          True)


def finetune_images(store: ProjectStore, verified_only: bool) -> int:
    """How many images (frames) a fine-tune would train on: those without boxes too, which
    it exports and trains on as images with no objects."""
    return len(finetune_records(store, verified_only))


def run_finetune(store: ProjectStore, base: ModelInfo | None, settings: FinetuneSettings, out: Path,
                 progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> TrainResult:
    """Fine-tune the model in use on the project's boxes (a long job).

    The reviewed (or only verified) images and their boxes, accepted model
    boxes included, are exported as a COCO dataset beside ``out`` (images
    referenced in place; video frames written as PNG), with the classes in
    the model's order so its class head is kept when the classes agree.
    Then ``detection.training.train`` runs from ``base``'s checkpoint (or its
    builder when it has no file). Returns the ``TrainResult``; the dataset
    folder is removed afterwards.
    """
    import shutil

    from detector_app.app.export import ExportOptions, export_dataset
    from detector_app.detection.training import TrainConfig, train
    from detector_app.domain.labels import LabelMap

    out = Path(out)
    chosen = finetune_records(store, settings.verified_only)
    if not any(r.annotations for r in chosen):
        which = "verified " if settings.verified_only else ""
        raise UserError(f"{store.root}: no {which}images with boxes to fine-tune on "
                        "(annotate some images and mark them verified with Space)")
    names = [] if base is None else list(base.label_names)
    labels = LabelMap(names + [n for n in store.label_map.names if n not in names])
    data_dir = out.with_name(out.stem + "-data")
    # the flat layout: annotations.json referring to the project's images where they are
    export_dataset(chosen, "coco", data_dir,
                   ExportOptions(image_mode="relative", overwrite=True, coco_layout="flat"),
                   progress, cancel, root=store.root, label_map=labels)
    trained = base.path if base is not None and base.path else None
    # a model without trained weights has no backbone worth keeping: everything learns
    scope = settings.scope if trained else "all"
    try:
        cfg = TrainConfig(
            data=str(data_dir), out=str(out),
            init=trained,
            model=None if trained else (base.builder if base else "small"),
            epochs=settings.epochs, iters=settings.iters, batch=settings.batch, lr=settings.lr,
            warmup_iters=10, seed=settings.seed, device=settings.device, log_every=1, scope=scope,
        )
        return train(cfg, progress, cancel)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


__all__ = ["FEW_IMAGES", "TRAIN_SCOPES", "FinetuneSettings", "finetune_images", "finetune_output", "finetune_records",
           "run_finetune"]
