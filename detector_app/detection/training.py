"""The training / fine-tuning engine (CLI ``detector-app train`` and the GUI).

:func:`train` is a plain long job: ``train(cfg, progress, cancel) -> TrainResult``.
SGD (momentum 0.9, weight decay 1e-4), linear warm-up then cosine or step
decay, seeded horizontal flips, a checkpoint after every epoch (atomic), a
CSV + JSON log of the loss curves, validation mAP per epoch when a
validation set is given, AMP on CUDA, a NaN/inf guard, and
DistributedDataParallel when launched by ``torchrun``.

Model inputs are lists of ``float32[3, H, W]`` images in 0..1; targets
``{"boxes": float32[N, 4] (x1, y1, x2, y2, original pixels), "labels": int64[N]}``.
"""

from __future__ import annotations

import csv
import json
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from torchvision.models.detection import FasterRCNN

from detector_app.detection import distributed as ddp
from detector_app.detection.builders import STRIDE8_NEW_LAYERS, build_model, select_device
from detector_app.detection.checkpoints import (
    CHECKPOINT_FORMAT,
    atomic_torch_save,
    checkpoint_dict,
    compact_checkpoint,  # noqa: F401  (re-exported: the model card's commands import it from here)
    load_checkpoint,
    save_checkpoint,
)
from detector_app.detection.config import ConfigError, ModelConfig
from detector_app.detection.datasets import (
    DetectionData,
    TorchDetectionDataset,
    collate,
    load_detection_data,
)
from detector_app.detection.precision import set_cpu_precision
from detector_app.domain.errors import Cancelled, UserError
from detector_app.domain.fsutil import atomic_write_text
from detector_app.domain.labels import label_names
from detector_app.domain.progress import ProgressFn, report

#: RPN layers whose shape depends on the number of anchors per cell.
RPN_ANCHOR_LAYERS = ("rpn.head.cls_logits.", "rpn.head.bbox_pred.")
LOSS_TERMS = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg")


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


def make_checkpoint(model: torch.nn.Module, mconf: ModelConfig, class_names: list[str],
                    meta: dict[str, Any]) -> dict[str, Any]:
    """The project's checkpoint dict (``checkpoints.checkpoint_dict``), weights on CPU."""
    return checkpoint_dict(model, mconf, class_names, meta)


def load_checkpoint_dict(path: str | Path) -> dict[str, Any]:
    """A checkpoint as the project's dict, read by ``checkpoints.load_checkpoint``
    (``weights_only=True``; fp16 weights come back as fp32; a bare torchvision
    state dict works too). Raises ``CheckpointError`` naming the file."""
    loaded = load_checkpoint(path)
    return {"format": CHECKPOINT_FORMAT, "version": 1, "config": loaded.config.to_dict(),
            "class_names": list(loaded.class_names), "state_dict": dict(loaded.model.state_dict()),
            "meta": dict(loaded.meta or {})}


def set_train_mode(model: torch.nn.Module, freeze_bn: bool) -> None:
    """``model.train()``, but with ``freeze_bn`` every BatchNorm layer stays in eval
    mode: it normalises with its stored statistics (and does not update them)
    while its scale and shift still learn, so training and inference agree."""
    model.train()
    if freeze_bn:
        for m in model.modules():
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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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


def _resolve_model_config(cfg: TrainConfig, data: DetectionData, init: dict[str, Any] | None) -> ModelConfig:
    num_classes = len(data.class_names) + 1
    if cfg.model_config is not None:
        mc = ModelConfig.from_dict(cfg.model_config.to_dict())
        mc.num_classes = num_classes
        return mc
    if cfg.model:
        return ModelConfig.from_arg(cfg.model, num_classes=num_classes)
    if init is not None:
        mc = ModelConfig.from_dict(dict(init["config"]))
        mc.num_classes = num_classes
        return mc
    return ModelConfig(builder="small", num_classes=num_classes)


#: ``head_plan`` row of a target class the checkpoint does not know: its rows keep their fresh start.
NEW_ROW = -1


def head_plan(source: list[str], target: list[str]) -> tuple[list[int] | None, str]:
    """How the class head of a checkpoint with classes ``source`` starts a model
    with classes ``target`` (both background first): ``(rows, note)``.

    ``rows[i]`` is the checkpoint class whose predictor rows start target class
    ``i``: the identity when the lists agree, a selection when every target
    class is one of the checkpoint's (a COCO model fine-tuned on a project with
    some COCO classes keeps what it knows of them). A target class the checkpoint
    lacks gets :data:`NEW_ROW` (a fresh start for that class alone), so adding a
    class keeps what the head knows of the others. ``None`` when no target class
    is known: the head is replaced by a fresh one. ``note`` says which, for a person.
    """
    if list(source) == list(target):
        return list(range(len(target))), f"class head kept: the checkpoint's {len(target) - 1} classes"
    known = [n for n in target[1:] if n in source]
    new = [n for n in target[1:] if n not in source]
    if source and not new:
        rows = [0, *(source.index(name) for name in target[1:])]
        dropped = len([n for n in label_names(source) if n not in target])
        return rows, (f"class head kept for the {len(target) - 1} classes of the data ({_names(target[1:])}), "
                      f"taken from the checkpoint's head; its other {dropped} classes are dropped")
    if source and known:
        rows = [0, *(source.index(name) if name in source else NEW_ROW for name in target[1:])]
        dropped = len([n for n in label_names(source) if n not in target])
        return rows, (f"class head extended: {_names(known)} kept from the checkpoint's head, new "
                      f"{_names(new)} start fresh" + (f"; its other {dropped} classes are dropped" if dropped else ""))
    return None, (f"class head replaced by a new one (random start): the data's classes {_names(new)} are not "
                  f"classes of the checkpoint ({_names(label_names(source))})")


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _predictor_rows(key: str, value: torch.Tensor, rows: list[int], fresh: torch.Tensor) -> torch.Tensor:
    """The box predictor tensor for the classes ``rows`` (bbox_pred: 4 rows per class):
    ``value``'s rows where ``rows`` names a checkpoint class, ``fresh``'s (the new
    model's own start, same shape as the result) for :data:`NEW_ROW`."""
    per_class = 4 if ".bbox_pred." in key else 1
    src = value.reshape(-1, per_class, *value.shape[1:])
    out = fresh.reshape(len(rows), per_class, *fresh.shape[1:]).clone().to(value.dtype)
    for i, row in enumerate(rows):
        if row != NEW_ROW:
            out[i] = src[row]
    return out.reshape(len(rows) * per_class, *value.shape[1:])


def load_init_weights(model: torch.nn.Module, ckpt: dict[str, Any], class_names: list[str]) -> list[str]:
    """Copy a checkpoint's weights into ``model`` (fine-tuning).

    The box predictor (``roi_heads.box_predictor.*``) follows :func:`head_plan`:
    kept, cut down to the classes of ``class_names`` (background first), extended
    (a new class's rows keep the model's fresh start, the known classes' rows are
    copied) or left at its fresh initialisation when no class is known. When the number of anchors
    per cell differs, so do the RPN's per-anchor output layers
    (``rpn.head.cls_logits``, ``rpn.head.bbox_pred``); a stride-8 ``small``
    model started from a stride-16 checkpoint keeps its new top-down layers
    (``builders.STRIDE8_NEW_LAYERS``). Returns the names of the parameters *not* copied.
    Raises :class:`TrainingError` when the rest of the architecture differs.
    """
    state = ckpt["state_dict"]
    rows, _note = head_plan(list(ckpt.get("class_names") or []), list(class_names))
    own = model.state_dict()
    skipped = []
    load = {}
    for key, value in state.items():
        if key.startswith("roi_heads.box_predictor."):
            if rows is None:
                skipped.append(key)
                continue
            if key not in own:
                raise TrainingError(f"--init checkpoint has a layer this model lacks: {key}")
            value = _predictor_rows(key, value, rows, own[key])
        if key not in own:
            raise TrainingError(f"--init checkpoint has a layer this model lacks: {key}")
        if key.startswith(RPN_ANCHOR_LAYERS) and tuple(own[key].shape) != tuple(value.shape):
            skipped.append(key)  # another number of anchors per cell: fresh RPN output layers
            continue
        if tuple(own[key].shape) != tuple(value.shape):
            raise TrainingError(
                f"--init checkpoint layer {key} has shape {tuple(value.shape)}, "
                f"the model needs {tuple(own[key].shape)} (different architecture?)"
            )
        load[key] = value.to(own[key].dtype)
    missing = [k for k in own if k not in load and k not in skipped]
    fresh_ok = ("roi_heads.box_predictor.", *RPN_ANCHOR_LAYERS, *STRIDE8_NEW_LAYERS)
    if [k for k in missing if not k.startswith(fresh_ok)]:
        raise TrainingError(f"--init checkpoint lacks layers: {', '.join(missing[:5])}")
    model.load_state_dict(load, strict=False)
    return skipped or missing


def _apply_speed_options(model: FasterRCNN, cfg: TrainConfig, device: torch.device) -> None:
    """``cfg.roi_batch`` and ``cfg.precision`` on ``model`` (in place).

    On a 2-core CPU, torchvision's RoIAlign backward (single-threaded) over the
    default 512 sampled RoIs per image was a quarter of a training step; 128
    RoIs per image (the Fast R-CNN paper used 64) and the backbone in bfloat16
    made a step of the bundled model 2x faster (docs/training.md).
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


def _log_paths(out: Path) -> tuple[Path, Path, Path]:
    stem = out.with_suffix("")
    return (Path(f"{stem}.log.csv"), Path(f"{stem}.log.json"), Path(f"{stem}.train-state.pt"))


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1), durable=False)  # rewritten every log step


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
    out = Path(cfg.out)
    csv_path, json_path, state_path = _log_paths(out)
    best_path = Path(f"{out.with_suffix('')}.best.pt")
    data = load_detection_data(cfg.data)
    if data.num_boxes() == 0:
        raise TrainingError(f"{cfg.data}: the dataset has no boxes to learn from")
    val_data = load_detection_data(cfg.val) if cfg.val else None
    if val_data is not None and cfg.val_limit:
        val_data.samples = val_data.samples[: cfg.val_limit]

    init_ckpt = load_checkpoint_dict(cfg.init) if cfg.init else None
    resume_state: dict[str, Any] | None = None
    if cfg.resume:
        if not out.is_file() or not state_path.is_file():
            raise TrainingError(f"--resume: {out} and {state_path} must both exist")
        init_ckpt = load_checkpoint_dict(out)
        resume_state = torch.load(state_path, map_location="cpu", weights_only=True)
    mconf = _resolve_model_config(cfg, data, init_ckpt)
    model = build_model(mconf)
    class_names = data.model_classes
    head_note = ""
    if init_ckpt is not None:
        load_init_weights(model, init_ckpt, class_names)
        if not cfg.resume:
            head_note = head_plan(list(init_ckpt.get("class_names") or []), list(class_names))[1]
            report(progress, 0, 0, head_note)
    model.to(device)
    model.train()
    _apply_speed_options(model, cfg, device)
    if cfg.freeze_bn:  # statistics of the starting weights, then fixed for the whole run
        recompute_bn_stats(model, TorchDetectionDataset(data, hflip=False), max(cfg.bn_recompute_images, 1),
                           cfg.batch, device, seed=cfg.seed)
    set_train_mode(model, cfg.freeze_bn)

    dataset = TorchDetectionDataset(data, hflip=cfg.hflip, seed=cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    if info.enabled:
        sampler: Any = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank,
                                          shuffle=True, seed=cfg.seed, drop_last=False)
    else:
        sampler = RandomSampler(dataset, generator=gen)
    loader = DataLoader(dataset, batch_size=cfg.batch, sampler=sampler, num_workers=cfg.workers,
                        collate_fn=collate, drop_last=len(dataset) > cfg.batch * info.world_size,
                        persistent_workers=cfg.workers > 0)
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
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history: list[dict[str, Any]] = []
    val_history: list[dict[str, Any]] = []
    it = 0
    start_epoch = 0
    best_ap = -1.0
    if resume_state is not None:
        optimizer.load_state_dict(resume_state["optimizer"])
        if use_amp and resume_state.get("scaler"):
            scaler.load_state_dict(resume_state["scaler"])
        it = int(resume_state["iteration"])
        start_epoch = int(resume_state["epoch"])
        best_ap = float(resume_state.get("best_ap", -1.0))
        if "torch_rng" in resume_state:  # the RPN / RoI samplers draw from it
            torch.set_rng_state(resume_state["torch_rng"])
        if json_path.is_file():
            logged = json.loads(json_path.read_text(encoding="utf-8"))
            history = [h for h in logged.get("history", []) if h["iteration"] <= it]
            val_history = list(logged.get("val", []))

    if info.is_main:
        out.parent.mkdir(parents=True, exist_ok=True)
        if resume_state is None or not csv_path.is_file():
            with open(csv_path, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(["iteration", "epoch", "lr", "loss", *LOSS_TERMS, "seconds"])
        else:  # drop rows logged after the checkpoint we resume from
            with open(csv_path, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            kept = [rows[0], *(r for r in rows[1:] if r and int(r[0]) <= it)]
            with open(csv_path, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(kept)

    stopped = "finished"
    epoch = start_epoch
    last_ckpt: Path | None = out if out.is_file() and resume_state is not None else None
    smooth: dict[str, float] = {}
    try:
        for epoch in range(start_epoch, cfg.epochs):
            if it >= total:
                stopped = "iters" if cfg.iters is not None else "finished"
                break
            dataset.set_epoch(epoch)
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            else:
                gen.manual_seed(cfg.seed * 1000 + epoch)
            set_train_mode(model, cfg.freeze_bn)
            for images, targets in loader:
                if it >= total:
                    break
                stop = cancel is not None and cancel.is_set()
                if ddp.broadcast_flag(info, stop, device):
                    raise Cancelled("cancelled")
                for g in optimizer.param_groups:
                    g["lr"] = cfg.lr * lr_factor(it, total, cfg.warmup_iters, cfg.schedule)
                images = [im.to(device, non_blocking=True) for im in images]
                targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
                with torch.autocast(device_type=device.type, enabled=use_amp):
                    loss_dict = net(images, targets)
                losses = torch.stack([loss_dict[k].float() for k in LOSS_TERMS if k in loss_dict])
                if not ddp.all_finite(info, losses):
                    bad = [f"{k}={float(v.detach()):g}" for k, v in loss_dict.items() if not torch.isfinite(v).all()]
                    raise TrainingError(
                        f"loss is not finite at iteration {it + 1} (epoch {epoch + 1}): "
                        f"{', '.join(bad) or 'on another process'}; stopped. Try a lower --lr. "
                        f"Last good checkpoint: {last_ckpt or 'none yet'}"
                    )
                loss = losses.sum()
                optimizer.zero_grad(set_to_none=True)
                scaled: torch.Tensor = scaler.scale(loss)
                scaled.backward()  # type: ignore[no-untyped-call]  # (torch's Tensor.backward is unannotated)
                if cfg.grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                it += 1
                terms = {k: float(loss_dict[k].detach()) for k in LOSS_TERMS if k in loss_dict}
                terms["loss"] = float(loss.detach())
                terms = ddp.mean_over_ranks(info, terms, device)
                for k, v in terms.items():
                    smooth[k] = v if k not in smooth else 0.9 * smooth[k] + 0.1 * v
                row = {"iteration": it, "epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"],
                       **terms, "seconds": round(time.monotonic() - t0, 2)}
                history.append(row)
                if info.is_main and (it % cfg.log_every == 0 or it == total or it == 1):
                    with open(csv_path, "a", newline="", encoding="utf-8") as f:
                        csv.writer(f).writerow([row["iteration"], row["epoch"], f"{row['lr']:.6g}",
                                                f"{row['loss']:.6g}", *(f"{row.get(k, 0.0):.6g}" for k in LOSS_TERMS),
                                                row["seconds"]])
                report(progress, it, total, f"epoch {epoch + 1}/{cfg.epochs}",
                       **{k: round(v, 4) for k, v in smooth.items()})
            # ---- end of epoch: precise BN, validate, checkpoint, log
            # (recompute_bn_stats finds 0 layers for GroupNorm models: nothing to say then)
            if (info.is_main and cfg.bn_recompute_images > 0 and not cfg.freeze_bn
                    and recompute_bn_stats(model, dataset, cfg.bn_recompute_images, cfg.batch, device,
                                           seed=cfg.seed + epoch)):
                report(progress, it, total, f"epoch {epoch + 1}: BatchNorm statistics recomputed")
            val_row = None
            if val_data is not None and info.is_main:
                from detector_app.detection.evaluation import evaluate_model

                metrics = evaluate_model(model, val_data, device=device)
                val_row = {"epoch": epoch + 1, "iteration": it,
                           **{k: metrics[k] for k in ("AP", "AP50", "AP75")}}
                val_history.append(val_row)
                set_train_mode(model, cfg.freeze_bn)
                report(progress, it, total, f"epoch {epoch + 1}: val AP {metrics['AP']:.3f} AP50 {metrics['AP50']:.3f}")
            if info.is_main:
                meta = {"epoch": epoch + 1, "iteration": it, "seed": cfg.seed, "lr": cfg.lr,
                        "batch": cfg.batch * info.world_size, "train_data": str(cfg.data),
                        "train_seconds": round(time.monotonic() - t0, 1),
                        "val": val_row, "init": cfg.init,
                        "precision": cfg.precision, "roi_batch": cfg.roi_batch,
                        "distributed": info.backend or None}
                if head_note:
                    meta["init_head"] = head_note
                save_checkpoint(out, model, mconf, class_names, meta)
                last_ckpt = out
                if val_row is not None and val_row["AP"] > best_ap:
                    best_ap = float(val_row["AP"])
                    save_checkpoint(best_path, model, mconf, class_names, meta)
                atomic_torch_save({"optimizer": optimizer.state_dict(),
                                   "scaler": scaler.state_dict() if use_amp else {},
                                   "iteration": it, "epoch": epoch + 1, "best_ap": best_ap,
                                   "torch_rng": torch.get_rng_state()}, state_path)
                _write_json(json_path, {"config": {k: (v.to_dict() if isinstance(v, ModelConfig) else v)
                                                   for k, v in asdict(cfg).items()},
                                        "model_config": mconf.to_dict(), "class_names": class_names,
                                        "history": history, "val": val_history})
            ddp.barrier(info)
        else:
            epoch = cfg.epochs
        if it >= total and cfg.iters is not None and total < iters_per_epoch * cfg.epochs:
            stopped = "iters"
    except Cancelled:
        stopped = "cancelled"
    return TrainResult(
        checkpoint=last_ckpt, best_checkpoint=best_path if best_path.is_file() and val_data else None,
        iterations=it, epochs_done=epoch, stopped=stopped, history=history, val_history=val_history,
        seconds=time.monotonic() - t0, head_note=head_note,
    )

