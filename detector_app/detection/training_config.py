"""What a training run is given and what it gives back: :class:`TrainConfig`,
:class:`TrainResult`, and :class:`TrainingError` for runs that cannot go on.

Plain data, apart from the engine (``detection.training``) so that the
engine's parts (``detection.finetune``, ``detection.training_log``) can name
them without importing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector_app.detection.config import ModelConfig
from detector_app.domain.errors import UserError


class TrainingError(UserError, RuntimeError):
    """Training cannot go on (bad settings, diverged loss, ...)."""


@dataclass
class TrainConfig:
    """Everything a training run needs. ``model`` is a builder name or a config
    JSON path (``ModelConfig.from_arg``); ``model_config`` overrides it.
    ``iters`` (when set) caps the total number of iterations."""

    data: str
    out: str
    model: str | None = None
    model_config: ModelConfig | None = None
    init: str | None = None
    epochs: int = 10
    iters: int | None = None
    batch: int = 4
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 100
    schedule: str = "cosine"  # "cosine" | "step" | "constant"
    grad_clip: float | None = 10.0
    val: str | None = None
    val_limit: int | None = None
    resume: bool = False
    seed: int = 0
    workers: int = 0
    device: str | None = None
    amp: bool = False
    hflip: bool = True
    log_every: int = 10
    bn_recompute_images: int = 200  # precise BN after every epoch (0: off); see recompute_bn_stats
    freeze_bn: bool = False  # BN statistics re-estimated once, then fixed (BN layers in eval mode)
    precision: str = "fp32"  # "bf16": CPU backbone under bfloat16 autocast (detection.precision)
    roi_batch: int | None = None  # RoIs sampled per image for the box head's loss (None: the model's own)
    scope: str = "all"  # what learns: one of TRAIN_SCOPES (the rest keeps the starting weights)


#: What a run trains, from everything to the last layers only; the rest is frozen
#: (``training_setup.freeze_outside``). Fine-tuning on a few corrected images
#: learns a new class with less forgetting, fewer false positives and faster
#: steps when the backbone stays as trained.
TRAIN_SCOPES: dict[str, str] = {
    "all": "every layer",
    "heads": "the RPN and the RoI heads (backbone frozen)",
    "roi_heads": "the RoI heads only (backbone and RPN frozen)",
    "predictor": "the class and box layers only",
}


@dataclass
class TrainResult:
    """What a run produced."""

    checkpoint: Path | None
    best_checkpoint: Path | None
    iterations: int
    epochs_done: int
    stopped: str  # "finished" | "cancelled" | "iters"
    history: list[dict[str, Any]] = field(default_factory=list)
    val_history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    head_note: str = ""  # what happened to the starting checkpoint's class head (``head_plan``)
