"""Setting up a training run (``detection.training``): the model, data loader and
optimiser it trains with (:func:`prepare` -> :class:`TrainingRun`), and where it
stands (:class:`RunState`), saved after every epoch (:func:`train_state`) and
restored by ``--resume`` (:func:`resume`).

Model inputs are lists of ``float32[3, H, W]`` images in 0..1; targets
``{"boxes": float32[N, 4] (x1, y1, x2, y2, original pixels), "labels": int64[N]}``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from torchvision.models.detection import FasterRCNN

from detector_app.detection import distributed as ddp
from detector_app.detection.builders import build_model
from detector_app.detection.checkpoints import CHECKPOINT_FORMAT, load_checkpoint
from detector_app.detection.config import ConfigError, ModelConfig
from detector_app.detection.datasets import DetectionData, TorchDetectionDataset, collate, load_detection_data
from detector_app.detection.finetune import head_plan, load_init_weights, resolve_model_config
from detector_app.detection.precision import set_cpu_precision
from detector_app.detection.training_config import TRAIN_SCOPES, TrainConfig, TrainingError
from detector_app.detection.training_log import RunFiles, TrainingLog
from detector_app.domain.progress import ProgressFn, report


def load_checkpoint_dict(path: str | Path) -> dict[str, Any]:
    """A checkpoint as the project's dict, read by ``checkpoints.load_checkpoint``
    (``weights_only=True``; fp16 weights come back as fp32; a bare torchvision
    state dict works too). Raises ``CheckpointError`` naming the file."""
    loaded = load_checkpoint(path)
    return {"format": CHECKPOINT_FORMAT, "version": 1, "config": loaded.config.to_dict(),
            "class_names": list(loaded.class_names), "state_dict": dict(loaded.model.state_dict()),
            "meta": dict(loaded.meta or {})}


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _trained_parts(model: FasterRCNN, scope: str) -> list[torch.nn.Module]:
    """The sub-modules a run of ``scope`` (``TRAIN_SCOPES``) trains."""
    if scope not in TRAIN_SCOPES:
        raise TrainingError(f"unknown training scope {scope!r}: one of {', '.join(TRAIN_SCOPES)}")
    if scope == "all":
        return [model]
    if scope == "heads":
        return [model.rpn, model.roi_heads]
    if scope == "roi_heads":
        return [model.roi_heads]
    return [model.roi_heads.box_predictor]


def freeze_outside(model: FasterRCNN, scope: str) -> int:
    """Stop gradients everywhere but the parts ``scope`` trains; returns the number of
    trainable parameters (elements) left."""
    trained = {id(p) for part in _trained_parts(model, scope) for p in part.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in trained)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def set_train_mode(model: torch.nn.Module, freeze_bn: bool, scope: str = "all") -> None:
    """``model.train()``, but with ``freeze_bn`` every BatchNorm layer stays in eval
    mode: it normalises with its stored statistics (and does not update them)
    while its scale and shift still learn, so training and inference agree.
    Outside the trained ``scope`` BatchNorm layers stay in eval mode too (the
    frozen layers keep their statistics); the frozen parts themselves stay in
    training mode, so the RPN still hands the RoI heads its training-time proposals."""
    model.train()
    frozen_bn: list[torch.nn.Module] = list(model.modules()) if freeze_bn else []
    if scope != "all" and isinstance(model, FasterRCNN):
        trained = {id(m) for part in _trained_parts(model, scope) for m in part.modules()}
        frozen_bn += [m for m in model.modules() if id(m) not in trained]
    for m in frozen_bn:
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def recompute_bn_stats(model: FasterRCNN, dataset: TorchDetectionDataset, images: int, batch: int,
                       device: torch.device, seed: int = 0) -> int:
    """Re-estimate BatchNorm running statistics with the final weights ("precise BN").

    Running averages collected while the weights were still moving (momentum
    0.1, large learning rate) lag behind the network; at evaluation time that
    mismatch cost half the AP in our from-scratch runs. This resets every BN
    layer's statistics and averages the batch statistics of ``images`` training
    images (``batch`` at a time, a seeded random subset, no gradients) through
    the backbone, the only part of these models with BN. Returns the number of
    BN layers updated (0 when the model has none, e.g. FrozenBatchNorm).
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or images <= 0:
        return 0
    n = min(images, len(dataset))
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    momenta = [bn.momentum for bn in bns]
    was_training = model.training
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
    model.eval()
    model.backbone.train()
    try:
        with torch.no_grad():
            for start in range(0, n, batch):
                imgs = [dataset[i][0].to(device) for i in order[start:start + batch]]
                image_list, _ = model.transform(imgs)
                model.backbone(image_list.tensors)
    finally:
        for bn, m in zip(bns, momenta):
            bn.momentum = m
        model.train(was_training)
    return len(bns)


def apply_speed_options(model: FasterRCNN, cfg: TrainConfig, device: torch.device) -> None:
    """``cfg.roi_batch`` and ``cfg.precision`` on ``model`` (in place).

    On a 2-core CPU, torchvision's RoIAlign backward (single-threaded) over the
    default 512 sampled RoIs per image takes a quarter of a training step; 128
    RoIs per image (the Fast R-CNN paper used 64) and the backbone in bfloat16
    make a step of the bundled model 2x faster (measured: docs/training.md).
    """
    if cfg.roi_batch is not None:
        if int(cfg.roi_batch) < 1:
            raise TrainingError(f"--roi-batch must be at least 1 (got {cfg.roi_batch})")
        model.roi_heads.fg_bg_sampler.batch_size_per_image = int(cfg.roi_batch)
    if cfg.precision == "bf16" and device.type != "cpu":
        raise TrainingError("--precision bf16 is for CPU training; on CUDA use --amp")
    try:
        set_cpu_precision(model, cfg.precision)  # validates the name ("fp32": nothing to do)
    except ConfigError as exc:
        raise TrainingError(str(exc)) from None


# ---- preparation -----------------------------------------------------------------------------------------

@dataclass
class TrainingRun:
    """The objects one run trains with, built by :func:`prepare`.

    ``net`` is ``model`` itself, or its ``DistributedDataParallel`` wrapper under
    ``torchrun``; ``total`` is the run's number of iterations (``iters_per_epoch *
    cfg.epochs``, capped by ``cfg.iters``); ``head_note`` says what happened to the
    ``--init`` checkpoint's class head ("" without one, and when resuming).
    """

    cfg: TrainConfig
    device: torch.device
    info: ddp.DistInfo
    model_config: ModelConfig
    class_names: list[str]
    model: FasterRCNN
    net: torch.nn.Module
    dataset: TorchDetectionDataset
    sampler: RandomSampler | DistributedSampler[Any]
    generator: torch.Generator
    loader: DataLoader[Any]
    iters_per_epoch: int
    total: int
    optimizer: torch.optim.SGD
    scaler: torch.amp.GradScaler
    use_amp: bool
    val_data: DetectionData | None = None
    head_note: str = ""

    @property
    def params(self) -> list[torch.nn.Parameter]:
        """The parameters the optimiser updates (those that require gradients)."""
        return [p for group in self.optimizer.param_groups for p in group["params"]]


def load_run_data(cfg: TrainConfig) -> tuple[DetectionData, DetectionData | None]:
    """The training set and the validation set (``cfg.val``, its first ``cfg.val_limit`` images)."""
    data = load_detection_data(cfg.data)
    if data.num_boxes() == 0:
        raise TrainingError(f"{cfg.data}: the dataset has no boxes to learn from")
    val_data = load_detection_data(cfg.val) if cfg.val else None
    if val_data is not None and cfg.val_limit:
        val_data.samples = val_data.samples[: cfg.val_limit]
    return data, val_data


def load_start(cfg: TrainConfig, files: RunFiles) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``(checkpoint, saved_state)`` a run starts from: ``cfg.init`` (or nothing), and with
    ``cfg.resume`` the run's own last checkpoint and its train state (:func:`train_state`)."""
    init_ckpt = load_checkpoint_dict(cfg.init) if cfg.init else None
    if not cfg.resume:
        return init_ckpt, None
    if not files.checkpoint.is_file() or not files.state.is_file():
        raise TrainingError(f"--resume: {files.checkpoint} and {files.state} must both exist")
    return load_checkpoint_dict(files.checkpoint), torch.load(files.state, map_location="cpu", weights_only=True)


def prepare(cfg: TrainConfig, device: torch.device, info: ddp.DistInfo, data: DetectionData,
            val_data: DetectionData | None = None, init_ckpt: dict[str, Any] | None = None,
            progress: ProgressFn | None = None) -> TrainingRun:
    """Build a run: the model (with ``init_ckpt``'s weights when given), the seeded
    data loader, and SGD over the trainable parameters.

    Call it after :func:`seed_everything`: the model's fresh layers draw from
    torch's global generator, so the same seed gives the same start.
    """
    model, mconf, head_note = _start_model(cfg, data, init_ckpt, device, progress)
    _leave_out_too_thin(data, model, progress)
    dataset, sampler, generator, loader = _make_loader(cfg, data, info)
    iters_per_epoch = len(loader)
    total = iters_per_epoch * cfg.epochs
    if cfg.iters is not None:
        total = min(total, int(cfg.iters))
    net: torch.nn.Module = model
    if info.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[info.local_rank] if device.type == "cuda" else None)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    use_amp = bool(cfg.amp and device.type == "cuda")
    return TrainingRun(cfg=cfg, device=device, info=info, model_config=mconf, class_names=data.model_classes,
                       model=model, net=net, dataset=dataset, sampler=sampler, generator=generator, loader=loader,
                       iters_per_epoch=iters_per_epoch, total=total, optimizer=optimizer,
                       scaler=torch.amp.GradScaler("cuda", enabled=use_amp), use_amp=use_amp,
                       val_data=val_data, head_note=head_note)


def _leave_out_too_thin(data: DetectionData, model: FasterRCNN, progress: ProgressFn | None) -> None:
    """Drop from ``data`` the images the model's resize would make under one pixel thin
    (a 2000 x 2 strip: torchvision's interpolation raises mid-run), saying which; a
    dataset of nothing else cannot train."""
    from detector_app.detection.tracing import check_fits_model
    from detector_app.domain.errors import MediaError

    kept, thin = [], []
    for sample in data.samples:
        try:
            if sample.width and sample.height:
                check_fits_model(sample.height, sample.width, model, f"{sample.path}: ")
            kept.append(sample)
        except MediaError as exc:
            thin.append(str(exc))
    if not thin:
        return
    if not kept:
        raise TrainingError(f"no image the model can train on: {thin[0]}")
    data.samples = kept
    more = f" (and {len(thin) - 1} more)" if len(thin) > 1 else ""
    report(progress, 0, 0, f"left out of training: {thin[0]}{more}")


def _start_model(cfg: TrainConfig, data: DetectionData, init_ckpt: dict[str, Any] | None, device: torch.device,
                 progress: ProgressFn | None) -> tuple[FasterRCNN, ModelConfig, str]:
    """``(model, config, head_note)``: built, started from ``init_ckpt``, on ``device``, in training mode."""
    mconf = resolve_model_config(cfg, data, init_ckpt)
    model = build_model(mconf)
    head_note = ""
    if init_ckpt is not None:
        load_init_weights(model, init_ckpt, data.model_classes)
        if not cfg.resume:  # a resumed run's checkpoint already has the data's classes
            head_note = head_plan(list(init_ckpt.get("class_names") or []), list(data.model_classes))[1]
            report(progress, 0, 0, head_note)
    model.to(device)
    model.train()
    apply_speed_options(model, cfg, device)
    if cfg.freeze_bn:  # statistics of the starting weights, then fixed for the whole run
        recompute_bn_stats(model, TorchDetectionDataset(data, hflip=False), max(cfg.bn_recompute_images, 1),
                           cfg.batch, device, seed=cfg.seed)
    if cfg.scope != "all":
        trainable = freeze_outside(model, cfg.scope)
        report(progress, 0, 0, f"training {TRAIN_SCOPES[cfg.scope]}: {trainable:,} parameters")
    set_train_mode(model, cfg.freeze_bn, cfg.scope)
    return model, mconf, head_note


def _make_loader(cfg: TrainConfig, data: DetectionData, info: ddp.DistInfo) -> tuple[
        TorchDetectionDataset, RandomSampler | DistributedSampler[Any], torch.Generator, DataLoader[Any]]:
    """The training loader: seeded shuffling (reseeded every epoch by ``training.begin_epoch``),
    batches of ``cfg.batch`` images as lists (``datasets.collate``); a last, smaller
    batch is dropped unless all the data fits in one batch per process."""
    dataset = TorchDetectionDataset(data, hflip=cfg.hflip, seed=cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    sampler: RandomSampler | DistributedSampler[Any]
    if info.enabled:
        sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank,
                                     shuffle=True, seed=cfg.seed, drop_last=False)
    else:
        sampler = RandomSampler(dataset, generator=generator)
    loader = DataLoader(dataset, batch_size=cfg.batch, sampler=sampler, num_workers=cfg.workers,
                        collate_fn=collate, drop_last=len(dataset) > cfg.batch * info.world_size,
                        persistent_workers=cfg.workers > 0)
    return dataset, sampler, generator, loader


# ---- resume ----------------------------------------------------------------------------------------------

@dataclass
class RunState:
    """Where a run stands: what :func:`train_state` saves and :func:`resume` restores,
    and what the epochs advance. ``iteration`` counts the steps taken, ``epoch`` the
    epochs finished; ``smooth`` holds the loss terms' running averages (progress)."""

    iteration: int = 0
    epoch: int = 0
    best_ap: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)
    val_history: list[dict[str, Any]] = field(default_factory=list)
    last_checkpoint: Path | None = None
    smooth: dict[str, float] = field(default_factory=dict)

    def record(self, epoch: int, lr: float, terms: dict[str, float], seconds: float) -> dict[str, Any]:
        """Add the history row of the step just taken (``epoch`` 0-based) and update
        ``smooth`` (exponential average, weight 0.1 for the new value); returns the row."""
        for k, v in terms.items():
            self.smooth[k] = v if k not in self.smooth else 0.9 * self.smooth[k] + 0.1 * v
        row = {"iteration": self.iteration, "epoch": epoch + 1, "lr": lr, **terms, "seconds": seconds}
        self.history.append(row)
        return row


def train_state(run: TrainingRun, state: RunState) -> dict[str, Any]:
    """What ``--resume`` needs beyond the checkpoint: the optimiser (momentum buffers),
    the AMP scaler, the position, the best AP so far and torch's generator state
    (the RPN and RoI samplers draw from it). The learning rate follows from the
    position (``training.lr_factor``)."""
    return {"optimizer": run.optimizer.state_dict(), "scaler": run.scaler.state_dict() if run.use_amp else {},
            "iteration": state.iteration, "epoch": state.epoch, "best_ap": state.best_ap,
            "torch_rng": torch.get_rng_state()}


def resume(run: TrainingRun, saved: dict[str, Any], log: TrainingLog) -> RunState:
    """Restore ``saved`` (:func:`train_state`) into ``run`` and return the state to go on
    from, with the loss history the JSON log holds up to that iteration; the run then
    takes the steps an uninterrupted run would have taken."""
    run.optimizer.load_state_dict(saved["optimizer"])
    if run.use_amp and saved.get("scaler"):
        run.scaler.load_state_dict(saved["scaler"])
    state = RunState(iteration=int(saved["iteration"]), epoch=int(saved["epoch"]),
                     best_ap=float(saved.get("best_ap", -1.0)))
    if "torch_rng" in saved:
        torch.set_rng_state(saved["torch_rng"])
    state.history, state.val_history = log.logged(state.iteration)
    if log.files.checkpoint.is_file():
        state.last_checkpoint = log.files.checkpoint
    return state
