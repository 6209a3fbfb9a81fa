"""The training / fine-tuning engine (CLI ``detector-app train`` and the GUI).

:func:`train` is a plain long job: ``train(cfg, progress, cancel) -> TrainResult``.
SGD (momentum 0.9, weight decay 1e-4), linear warm-up then cosine or step
decay, seeded horizontal flips, a checkpoint after every epoch (atomic), a
CSV + JSON log of the loss curves, validation mAP per epoch when a
validation set is given, AMP on CUDA, a NaN/inf guard, and
DistributedDataParallel when launched by ``torchrun``.

A run in pieces, each usable (and tested) on its own: ``training_setup.prepare``
builds the model, data loader and optimiser (a ``TrainingRun``), and
``training_setup.resume`` restores a saved ``RunState``; here :func:`run_epoch`
calls :func:`train_step` per batch and logs (``training_log.TrainingLog``), and
:func:`end_of_epoch` validates and writes the checkpoints. How a checkpoint
starts the model is ``detection.finetune``.

Model inputs are lists of ``float32[3, H, W]`` images in 0..1; targets
``{"boxes": float32[N, 4] (x1, y1, x2, y2, original pixels), "labels": int64[N]}``.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import torch
from torch.utils.data import DistributedSampler

from detector_app.detection import distributed as ddp
from detector_app.detection.builders import select_device
from detector_app.detection.checkpoints import (
    CHECKPOINT_FORMAT,
    atomic_torch_save,
    checkpoint_dict,
    compact_checkpoint,
    save_checkpoint,
)
from detector_app.detection.config import ModelConfig
from detector_app.detection.finetune import NEW_ROW, RPN_ANCHOR_LAYERS, head_plan, load_init_weights
from detector_app.detection.training_config import TrainConfig, TrainingError, TrainResult
from detector_app.detection.training_log import LOSS_TERMS, RunFiles, TrainingLog
from detector_app.detection.training_setup import (
    RunState,
    TrainingRun,
    load_checkpoint_dict,
    load_run_data,
    load_start,
    prepare,
    recompute_bn_stats,
    resume,
    seed_everything,
    set_train_mode,
    train_state,
)
from detector_app.domain.errors import Cancelled
from detector_app.domain.progress import ProgressFn, report

__all__ = [  # what other modules import from here: the engine and the names of its parts
    "CHECKPOINT_FORMAT", "LOSS_TERMS", "NEW_ROW", "RPN_ANCHOR_LAYERS", "NonFiniteLoss", "RunState", "TrainConfig",
    "TrainResult", "TrainingError", "TrainingRun", "compact_checkpoint", "end_of_epoch", "head_plan",
    "load_checkpoint_dict", "load_init_weights", "lr_factor", "make_checkpoint", "prepare", "recompute_bn_stats",
    "resume", "run_epoch", "seed_everything", "set_train_mode", "train", "train_step",
]


def make_checkpoint(model: torch.nn.Module, mconf: ModelConfig, class_names: list[str],
                    meta: dict[str, Any]) -> dict[str, Any]:
    """The project's checkpoint dict (``checkpoints.checkpoint_dict``), weights on CPU."""
    return checkpoint_dict(model, mconf, class_names, meta)


def lr_factor(it: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the base learning rate at iteration ``it`` (0-based)."""
    warm = 1.0
    if warmup > 0 and it < warmup:
        alpha = it / warmup
        warm = 0.001 * (1 - alpha) + alpha
    if schedule == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * min(it, total) / max(total, 1)))
        decay = max(decay, 0.01)
    elif schedule == "step":
        decay = 0.1 ** sum(it >= int(total * f) for f in (2 / 3, 8 / 9))
    elif schedule == "constant":
        decay = 1.0
    else:
        raise TrainingError(f"unknown schedule {schedule!r}; choose cosine, step or constant")
    return warm * decay


# ---- the step --------------------------------------------------------------------------------------------

class NonFiniteLoss(TrainingError):
    """A loss term is NaN or infinite (here or on another process); the weights were
    not updated. ``terms`` names the bad ones (``"loss_box_reg=nan, ..."``, "" when
    only another process saw them)."""

    def __init__(self, terms: str) -> None:
        super().__init__(f"loss is not finite: {terms or 'on another process'}")
        self.terms = terms


def train_step(run: TrainingRun, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]],
               lr: float) -> dict[str, float]:
    """One SGD step at learning rate ``lr`` on a batch (``images[i]``: ``float32[3, H, W]``,
    ``targets[i]``: ``{"boxes": float32[N, 4], "labels": int64[N]}``, on any device).

    Returns this process's loss terms (those of :data:`LOSS_TERMS` the model gave)
    and their sum ``"loss"``. Raises :class:`NonFiniteLoss` before touching the
    weights when a term is not finite on any process.
    """
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    images = [im.to(run.device, non_blocking=True) for im in images]
    targets = [{k: v.to(run.device) for k, v in t.items()} for t in targets]
    with torch.autocast(device_type=run.device.type, enabled=run.use_amp):
        loss_dict = run.net(images, targets)
    losses = torch.stack([loss_dict[k].float() for k in LOSS_TERMS if k in loss_dict])
    if not ddp.all_finite(run.info, losses):
        raise NonFiniteLoss(", ".join(f"{k}={float(v.detach()):g}" for k, v in loss_dict.items()
                                      if not torch.isfinite(v).all()))
    loss = losses.sum()
    run.optimizer.zero_grad(set_to_none=True)
    scaled: torch.Tensor = run.scaler.scale(loss)
    scaled.backward()  # type: ignore[no-untyped-call]  # (torch's Tensor.backward is unannotated)
    if run.cfg.grad_clip:
        run.scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(run.params, run.cfg.grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    terms = {k: float(loss_dict[k].detach()) for k in LOSS_TERMS if k in loss_dict}
    terms["loss"] = float(loss.detach())
    return terms


# ---- an epoch --------------------------------------------------------------------------------------------

def begin_epoch(run: TrainingRun, epoch: int) -> None:
    """Reseed the epoch's shuffling and flips from ``cfg.seed`` and ``epoch`` (0-based),
    so a resumed run draws the batches an uninterrupted one would, and set training mode."""
    run.dataset.set_epoch(epoch)
    if isinstance(run.sampler, DistributedSampler):
        run.sampler.set_epoch(epoch)
    else:
        run.generator.manual_seed(run.cfg.seed * 1000 + epoch)
    set_train_mode(run.model, run.cfg.freeze_bn, run.cfg.scope)


def run_epoch(run: TrainingRun, state: RunState, epoch: int, log: TrainingLog, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None, t0: float | None = None) -> None:
    """Train epoch ``epoch`` (0-based) until the loader or ``run.total`` iterations run out;
    the epoch then counts as finished (``state.epoch = epoch + 1``).

    After each step: the history row (``state.record``), the CSV row when
    ``log.wants`` it, and a progress report with the smoothed loss terms. ``cancel``
    is checked before every step (on every process at once): :class:`Cancelled`
    is raised between steps, never inside one. ``t0``: the run's start
    (``time.monotonic()``), for the rows' ``seconds``.
    """
    cfg = run.cfg
    start = time.monotonic() if t0 is None else t0
    begin_epoch(run, epoch)
    for images, targets in run.loader:
        if state.iteration >= run.total:
            break
        if ddp.broadcast_flag(run.info, cancel is not None and cancel.is_set(), run.device):
            raise Cancelled("cancelled")
        try:
            terms = train_step(run, images, targets, cfg.lr * lr_factor(state.iteration, run.total,
                                                                          cfg.warmup_iters, cfg.schedule))
        except NonFiniteLoss as exc:
            raise TrainingError(
                f"loss is not finite at iteration {state.iteration + 1} (epoch {epoch + 1}): "
                f"{exc.terms or 'on another process'}; stopped. Try a lower --lr. "
                f"Last good checkpoint: {state.last_checkpoint or 'none yet'}"
            ) from None
        state.iteration += 1
        terms = ddp.mean_over_ranks(run.info, terms, run.device)
        row = state.record(epoch, run.optimizer.param_groups[0]["lr"], terms, round(time.monotonic() - start, 2))
        if run.info.is_main and log.wants(state.iteration, run.total):
            log.append(row)
        report(progress, state.iteration, run.total, f"epoch {epoch + 1}/{cfg.epochs}",
               **{k: round(v, 4) for k, v in state.smooth.items()})
    state.epoch = epoch + 1


# ---- end of an epoch -------------------------------------------------------------------------------------

def end_of_epoch(run: TrainingRun, state: RunState, log: TrainingLog, progress: ProgressFn | None = None,
                 t0: float | None = None) -> None:
    """After epoch ``state.epoch`` (1-based: the epochs finished), on the main process:
    precise BN, validation, then the files, each written atomically: the checkpoint,
    ``<out>.best.pt`` when the validation AP beats the best so far, the train state
    and the JSON log (see ``training_log``)."""
    start = time.monotonic() if t0 is None else t0
    _precise_bn(run, state, progress)
    val_row = _validate(run, state, progress)
    meta = _checkpoint_meta(run, state, val_row, round(time.monotonic() - start, 1))
    files = log.files
    save_checkpoint(files.checkpoint, run.model, run.model_config, run.class_names, meta)
    state.last_checkpoint = files.checkpoint
    if val_row is not None and val_row["AP"] > state.best_ap:
        state.best_ap = float(val_row["AP"])
        save_checkpoint(files.best, run.model, run.model_config, run.class_names, meta)
    atomic_torch_save(train_state(run, state), files.state)
    log.write_json(run.cfg, run.model_config, run.class_names, state.history, state.val_history)


def _checkpoint_meta(run: TrainingRun, state: RunState, val_row: dict[str, Any] | None,
                     seconds: float) -> dict[str, Any]:
    """The checkpoint's ``meta``: where the run stands, its settings, the epoch's validation."""
    cfg, info = run.cfg, run.info
    meta = {"epoch": state.epoch, "iteration": state.iteration, "seed": cfg.seed, "lr": cfg.lr,
            "batch": cfg.batch * info.world_size, "train_data": str(cfg.data), "train_seconds": seconds,
            "val": val_row, "init": cfg.init, "precision": cfg.precision, "roi_batch": cfg.roi_batch,
            "distributed": info.backend or None}
    if run.head_note:
        meta["init_head"] = run.head_note
    return meta


def _precise_bn(run: TrainingRun, state: RunState, progress: ProgressFn | None) -> None:
    """Re-estimate BN statistics with the epoch's final weights (unless off or frozen, or
    the run trains only the heads: the backbone's BatchNorm layers keep the statistics its
    frozen weights were trained with); reported only when the model has BN layers
    (GroupNorm models have none)."""
    cfg = run.cfg
    if cfg.bn_recompute_images <= 0 or cfg.freeze_bn or cfg.scope != "all":
        return
    if recompute_bn_stats(run.model, run.dataset, cfg.bn_recompute_images, cfg.batch, run.device,
                          seed=cfg.seed + state.epoch - 1):
        report(progress, state.iteration, run.total, f"epoch {state.epoch}: BatchNorm statistics recomputed")


def _validate(run: TrainingRun, state: RunState, progress: ProgressFn | None) -> dict[str, Any] | None:
    """COCO AP on the validation set (None without one), appended to ``state.val_history``:
    ``{"epoch", "iteration", "AP", "AP50", "AP75"}``."""
    if run.val_data is None:
        return None
    from detector_app.detection.evaluation import evaluate_model  # pycocotools: only for runs that validate

    metrics = evaluate_model(run.model, run.val_data, device=run.device)
    val_row = {"epoch": state.epoch, "iteration": state.iteration, **{k: metrics[k] for k in ("AP", "AP50", "AP75")}}
    state.val_history.append(val_row)
    set_train_mode(run.model, run.cfg.freeze_bn, run.cfg.scope)
    report(progress, state.iteration, run.total,
           f"epoch {state.epoch}: val AP {metrics['AP']:.3f} AP50 {metrics['AP50']:.3f}")
    return val_row


# ---- the whole run ---------------------------------------------------------------------------------------

def train(cfg: TrainConfig, progress: ProgressFn | None = None,
          cancel: threading.Event | None = None) -> TrainResult:
    """Train (or fine-tune, or resume) a detector; see the module docstring.

    Writes ``cfg.out`` (checkpoint, every epoch), ``<out>.best.pt`` (best
    validation AP, when ``cfg.val``), ``<out>.log.csv`` / ``<out>.log.json``
    and ``<out>.train-state.pt`` (optimizer etc., for ``--resume``).
    """
    t0 = time.monotonic()
    if cfg.batch < 1 or cfg.epochs < 1 or cfg.lr <= 0:
        raise TrainingError("--batch and --epochs must be >= 1 and --lr > 0")
    device = select_device(cfg.device)
    info = ddp.init_distributed(device)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    try:
        return _train(cfg, device, info, progress, cancel, t0)
    finally:
        ddp.cleanup(info)


def _train(cfg: TrainConfig, device: torch.device, info: ddp.DistInfo, progress: ProgressFn | None,
           cancel: threading.Event | None, t0: float) -> TrainResult:
    seed_everything(cfg.seed + info.rank)
    files = RunFiles.of(cfg.out)
    data, val_data = load_run_data(cfg)
    init_ckpt, saved = load_start(cfg, files)
    run = prepare(cfg, device, info, data, val_data, init_ckpt, progress)
    log = TrainingLog(files, cfg.log_every)
    state = resume(run, saved, log) if saved is not None else RunState()
    if info.is_main:
        files.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        log.start(state.iteration if saved is not None else None)
    stopped, epochs_done = _run_epochs(run, state, log, progress, cancel, t0)
    return TrainResult(
        checkpoint=state.last_checkpoint,
        best_checkpoint=files.best if files.best.is_file() and val_data else None,
        iterations=state.iteration, epochs_done=epochs_done, stopped=stopped, history=state.history,
        val_history=state.val_history, seconds=time.monotonic() - t0, head_note=run.head_note,
    )


def _run_epochs(run: TrainingRun, state: RunState, log: TrainingLog, progress: ProgressFn | None,
                cancel: threading.Event | None, t0: float) -> tuple[str, int]:
    """The epochs from ``state.epoch`` on: ``(stopped, epochs_done)`` for :class:`TrainResult`."""
    cfg = run.cfg
    stopped = "finished"
    epoch = state.epoch
    try:
        for epoch in range(state.epoch, cfg.epochs):
            if state.iteration >= run.total:
                stopped = "iters" if cfg.iters is not None else "finished"
                break
            run_epoch(run, state, epoch, log, progress, cancel, t0)
            if run.info.is_main:
                end_of_epoch(run, state, log, progress, t0)
            ddp.barrier(run.info)
        else:
            epoch = cfg.epochs
        if state.iteration >= run.total and cfg.iters is not None and run.total < run.iters_per_epoch * cfg.epochs:
            stopped = "iters"
    except Cancelled:
        stopped = "cancelled"
    return stopped, epoch
