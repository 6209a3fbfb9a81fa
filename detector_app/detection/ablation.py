"""Anchor ablation (the Faster R-CNN paper's Table 8, on our data).

:func:`ablate_anchors` trains the same model briefly with 1x1, 3x1, 1x3 and
3x3 anchor settings (scales x ratios), identical data, seed, schedule and
iteration budget, then evaluates each on a validation set with COCO AP.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from detector_app.detection.builders import SMALL_DEFAULTS
from detector_app.detection.checkpoints import load_checkpoint, save_checkpoint
from detector_app.detection.config import ModelConfig
from detector_app.detection.datasets import load_detection_data
from detector_app.detection.evaluation import evaluate_checkpoint
from detector_app.detection.training import TrainConfig, train
from detector_app.domain.progress import Progress, ProgressFn, check_cancel


@dataclass(frozen=True)
class AnchorVariant:
    """One row of the ablation: a name and its anchor sizes x ratios."""

    name: str
    sizes: tuple[float, ...]
    ratios: tuple[float, ...]


def default_variants(sizes: tuple[float, ...], ratios: tuple[float, ...]) -> list[AnchorVariant]:
    """The paper's four settings built from a 3-size x 3-ratio base: the middle
    size / ratio stands for "1 scale" / "1 ratio"."""
    mid_s = sizes[len(sizes) // 2]
    mid_r = 1.0 if 1.0 in ratios else ratios[len(ratios) // 2]
    return [
        AnchorVariant("1 scale, 1 ratio", (mid_s,), (mid_r,)),
        AnchorVariant("1 scale, 3 ratios", (mid_s,), tuple(ratios)),
        AnchorVariant("3 scales, 1 ratio", tuple(sizes), (mid_r,)),
        AnchorVariant("3 scales, 3 ratios", tuple(sizes), tuple(ratios)),
    ]


def reset_rpn_outputs(src: str | Path, dst: str | Path, seed: int = 0) -> Path:
    """Copy checkpoint ``src`` to ``dst`` with the RPN's per-anchor output layers
    (``rpn.head.cls_logits``, ``rpn.head.bbox_pred``) re-initialised as torchvision's
    ``RPNHead`` does (normal, std 0.01; zero bias)."""
    loaded = load_checkpoint(src)
    head = loaded.model.rpn.head
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (head.cls_logits, head.bbox_pred):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * 0.01)
            layer.bias.zero_()
    meta = {**dict(loaded.meta or {}), "rpn_outputs_reset": True}
    return save_checkpoint(dst, loaded.model, loaded.config, list(loaded.class_names), meta)


@dataclass
class AblationRow:
    name: str
    sizes: tuple[float, ...]
    ratios: tuple[float, ...]
    anchors_per_cell: int
    AP: float
    AP50: float
    AP75: float
    train_seconds: float
    iterations: int


def ablate_anchors(train_data: str, val_data: str, out_dir: str | Path, base: ModelConfig | None = None,
                   variants: list[AnchorVariant] | None = None, iters: int = 300, batch: int = 4,
                   lr: float = 0.02, seed: int = 0, val_limit: int | None = None, device: str | None = None,
                   init: str | None = None,
                   progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> list[AblationRow]:
    """Train and evaluate one model per anchor variant; returns one row each.

    Checkpoints go to ``out_dir/<k>.pt``; the table to ``out_dir/ablation.json``.
    With ``init`` every variant starts from that checkpoint's weights except the
    RPN's per-anchor output layers (``cls_logits``, ``bbox_pred``), which every
    variant, 3x3 included, learns afresh: a short budget then compares anchor
    settings on a trained backbone instead of on barely trained ones. BatchNorm
    statistics are then estimated once and kept fixed (``freeze_bn``), as the
    bundled model was fine-tuned.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = base or ModelConfig(builder="small")
    if variants is None:
        sizes = (base.anchor_sizes or SMALL_DEFAULTS["anchor_sizes"])[0]
        ratios = (base.aspect_ratios or SMALL_DEFAULTS["aspect_ratios"])[0]
        variants = default_variants(tuple(sizes), tuple(ratios))
    if init is not None:  # every variant learns its RPN outputs afresh, 3x3 included (fair start)
        init = str(reset_rpn_outputs(init, out_dir / "init_rpn_outputs_reset.pt", seed))
    val = load_detection_data(val_data)
    if val_limit:
        val.samples = val.samples[:val_limit]
    rows: list[AblationRow] = []
    for k, var in enumerate(variants):
        check_cancel(cancel)
        mc = ModelConfig.from_dict(base.to_dict())
        mc.anchor_sizes = (tuple(var.sizes),)
        mc.aspect_ratios = (tuple(var.ratios),)
        ckpt = out_dir / f"variant{k}.pt"

        def relay(p: Progress, k: int = k, name: str = var.name) -> None:
            if progress is not None:
                progress(Progress(k * iters + p.done, len(variants) * iters, f"{name}: {p.message}", p.metrics))

        t0 = time.monotonic()
        result = train(TrainConfig(data=train_data, out=str(ckpt), model_config=mc, epochs=10_000, iters=iters,
                                   batch=batch, lr=lr, seed=seed, device=device, warmup_iters=min(100, iters // 5),
                                   init=init, freeze_bn=init is not None),
                       progress=relay, cancel=cancel)
        seconds = time.monotonic() - t0
        if result.stopped == "cancelled":
            break
        metrics = evaluate_checkpoint(str(ckpt), val, device or "cpu", cancel=cancel)
        rows.append(AblationRow(var.name, tuple(var.sizes), tuple(var.ratios), len(var.sizes) * len(var.ratios),
                                metrics["AP"], metrics["AP50"], metrics["AP75"], round(seconds, 1), result.iterations))
        _write_table(out_dir / "ablation.json", rows, {"train": train_data, "val": val_data, "iters": iters,
                                                        "batch": batch, "lr": lr, "seed": seed, "init": init})
    return rows


def _write_table(path: Path, rows: list[AblationRow], settings: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"settings": settings, "rows": [asdict(r) for r in rows]}, indent=1), encoding="utf-8")
    tmp.replace(path)


def format_rows(rows: list[AblationRow]) -> str:
    """The paper-style table: settings, anchors per cell, AP, AP50, AP75, train time."""
    fmt: Callable[[tuple[float, ...]], str] = lambda t: ", ".join(f"{v:g}" for v in t)  # noqa: E731
    lines = [f"{'settings':<20}{'sizes':<16}{'ratios':<14}{'k':>3}{'AP':>8}{'AP50':>8}{'AP75':>8}{'train s':>9}"]
    for r in rows:
        lines.append(f"{r.name:<20}{fmt(r.sizes):<16}{fmt(r.ratios):<14}{r.anchors_per_cell:>3}"
                     f"{r.AP:>8.3f}{r.AP50:>8.3f}{r.AP75:>8.3f}{r.train_seconds:>9.0f}")
    return "\n".join(lines)
