"""Anchor ablation (the Faster R-CNN paper's Table 8, on our data).

:func:`ablate_anchors` trains the same model briefly with 1x1, 3x1, 1x3 and
3x3 anchor settings (scales x ratios), identical data, seed, schedule and
iteration budget, then evaluates each on a validation set with COCO AP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from detector_app.detection.builders import SMALL_DEFAULTS
from detector_app.detection.checkpoints import load_checkpoint, save_checkpoint
from detector_app.detection.config import ModelConfig
from detector_app.detection.datasets import DetectionData, load_detection_data
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
    """One training run: a variant, a seed, its scores on the validation set."""

    name: str
    sizes: tuple[float, ...]
    ratios: tuple[float, ...]
    anchors_per_cell: int
    AP: float
    AP50: float
    AP75: float
    train_seconds: float
    iterations: int
    seed: int = 0
    AP_small: float = -1.0
    AP_medium: float = -1.0
    AP_large: float = -1.0
    recall300: float = -1.0  # RPN recall: share of validation boxes one of the 300 best proposals covers (IoU >= 0.5)


@dataclass
class AblationSummary:
    """A variant over its seeds: mean and spread (max - min) of each score."""

    name: str
    anchors_per_cell: int
    seeds: list[int]
    mean: dict[str, float]
    spread: dict[str, float]


SCORES = ("AP", "AP50", "AP_small", "AP_medium", "AP_large", "recall300")


def rpn_recall(checkpoint: str | Path, data: Any, top_n: int = 300, device: str | None = None,
               cancel: threading.Event | None = None) -> float:
    """Share of ``data``'s boxes covered (IoU >= 0.5) by one of the ``top_n`` best proposals
    (by objectness) of the model in ``checkpoint``; the model keeps at least ``top_n``."""
    from detector_app.detection.datasets import load_sample_image
    from detector_app.detection.tracing import trace
    from detector_app.domain.funnel import object_stages

    loaded = load_checkpoint(checkpoint, device or "cpu")
    rpn = loaded.model.rpn
    rpn._post_nms_top_n["testing"] = max(int(rpn._post_nms_top_n["testing"]), top_n)  # noqa: SLF001
    rpn._pre_nms_top_n["testing"] = max(int(rpn._pre_nms_top_n["testing"]), top_n)  # noqa: SLF001
    covered = total = 0
    with torch.inference_mode():
        for sample in data.samples:
            check_cancel(cancel)
            t = trace(loaded.model, load_sample_image(sample))
            result = t.postprocess()
            for box, label in zip(sample.boxes, sample.labels):
                name = data.class_names[int(label) - 1]
                stages = object_stages("", t, result, box, name, t.score_thresh)
                covered += 0 < stages.rpn_rank <= top_n
                total += 1
    return covered / total if total else 0.0


def ablate_anchors(train_data: str, val_data: str, out_dir: str | Path, base: ModelConfig | None = None,
                   variants: list[AnchorVariant] | None = None, iters: int = 300, batch: int = 4,
                   lr: float = 0.02, seed: int = 0, val_limit: int | None = None, device: str | None = None,
                   init: str | None = None, seeds: tuple[int, ...] | None = None, recall: bool = False,
                   precision: str = "fp32", roi_batch: int | None = None,
                   progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> list[AblationRow]:
    """Train and evaluate one model per anchor variant and seed; returns one row per run.

    Runs go seed by seed (a whole table after the first seed), each to
    ``out_dir/variant<k>-seed<s>.pt``; every finished run is recorded in
    ``out_dir/ablation.json`` and skipped when called again with the same
    settings, and a run stopped part-way resumes from its last epoch
    checkpoint, so a long ablation can run in pieces. ``recall``: also measure
    the RPN's recall at 300 proposals on the validation set. ``precision`` /
    ``roi_batch``: as ``TrainConfig`` (a CPU step about 2x faster with "bf16" and 128).

    With ``init`` every variant starts from that checkpoint's weights except the
    RPN's per-anchor output layers (``cls_logits``, ``bbox_pred``), which every
    variant, 3x3 included, learns afresh (a different question: anchors on a
    trained backbone); BatchNorm statistics are then estimated once and kept fixed.
    Without it every run starts from random weights (the paper's comparison).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = base or ModelConfig(builder="small")
    seeds = tuple(seeds) if seeds else (seed,)
    if variants is None:
        sizes = (base.anchor_sizes or SMALL_DEFAULTS["anchor_sizes"])[0]
        ratios = (base.aspect_ratios or SMALL_DEFAULTS["aspect_ratios"])[0]
        variants = default_variants(tuple(sizes), tuple(ratios))
    if init is not None:  # every variant learns its RPN outputs afresh, 3x3 included (fair start)
        init = str(reset_rpn_outputs(init, out_dir / "init_rpn_outputs_reset.pt", seeds[0]))
    val = load_detection_data(val_data)
    if val_limit:
        val.samples = val.samples[:val_limit]
    settings = {"train": train_data, "val": val_data, "iters": iters, "batch": batch, "lr": lr, "seeds": list(seeds),
                "init": init, "base": base.to_dict(), "val_limit": val_limit, "recall": recall,
                "precision": precision, "roi_batch": roi_batch}
    runner = _Runner(train_data, val, out_dir, base, iters, batch, lr, device, init, precision, roi_batch, recall)
    table = out_dir / "ablation.json"
    rows = _load_rows(table, settings)
    total = len(variants) * len(seeds) * iters
    for s_i, s in enumerate(seeds):
        for k, var in enumerate(variants):
            check_cancel(cancel)
            if any(r.name == var.name and r.seed == s for r in rows):
                continue

            def relay(p: Progress, name: str = var.name, s: int = s,
                      before: int = (s_i * len(variants) + k) * iters) -> None:
                if progress is not None:
                    progress(Progress(before + p.done, total, f"{name}, seed {s}: {p.message}", p.metrics))

            row = runner.run(k, var, s, relay, cancel)
            if row is None:  # cancelled part-way: the runs before it stay recorded
                return rows
            rows.append(row)
            _write_table(table, rows, settings)
    return rows


@dataclass
class _Runner:
    """What every run of one ablation shares: the training data and schedule, the
    validation set and the folder checkpoints go to."""

    train_data: str
    val: DetectionData
    out_dir: Path
    base: ModelConfig
    iters: int
    batch: int
    lr: float
    device: str | None
    init: str | None
    precision: str
    roi_batch: int | None
    recall: bool

    def run(self, k: int, var: AnchorVariant, seed: int, progress: ProgressFn,
            cancel: threading.Event | None) -> AblationRow | None:
        """Train variant number ``k`` with ``seed`` into ``variant<k>-seed<seed>.pt`` (resuming
        a run stopped part-way) and evaluate it; None when cancelled during training."""
        mc = ModelConfig.from_dict(self.base.to_dict())
        mc.anchor_sizes = (tuple(var.sizes),)
        mc.aspect_ratios = (tuple(var.ratios),)
        ckpt = self.out_dir / f"variant{k}-seed{seed}.pt"
        state = Path(f"{ckpt.with_suffix('')}.train-state.pt")
        t0 = time.monotonic()
        result = train(TrainConfig(data=self.train_data, out=str(ckpt), model_config=mc, epochs=10_000,
                                   iters=self.iters, batch=self.batch, lr=self.lr, seed=seed, device=self.device,
                                   warmup_iters=min(100, self.iters // 5), init=self.init,
                                   freeze_bn=self.init is not None, precision=self.precision,
                                   roi_batch=self.roi_batch, resume=ckpt.is_file() and state.is_file()),
                       progress=progress, cancel=cancel)
        seconds = time.monotonic() - t0
        if result.stopped == "cancelled":
            return None
        metrics = evaluate_checkpoint(str(ckpt), self.val, self.device or "cpu", cancel=cancel)
        r300 = rpn_recall(ckpt, self.val, 300, self.device, cancel) if self.recall else -1.0
        return AblationRow(var.name, tuple(var.sizes), tuple(var.ratios), len(var.sizes) * len(var.ratios),
                           metrics["AP"], metrics["AP50"], metrics["AP75"], round(seconds, 1),
                           result.iterations, seed, metrics.get("AP_small", -1.0),
                           metrics.get("AP_medium", -1.0), metrics.get("AP_large", -1.0), r300)


def summarize(rows: list[AblationRow]) -> list[AblationSummary]:
    """Per variant (in first-seen order): mean and spread over its seeds."""
    out = []
    for name in dict.fromkeys(r.name for r in rows):
        runs = [r for r in rows if r.name == name]
        mean, spread = {}, {}
        for key in SCORES:
            values = [float(getattr(r, key)) for r in runs if float(getattr(r, key)) >= 0]
            if values:
                mean[key] = sum(values) / len(values)
                spread[key] = max(values) - min(values)
        out.append(AblationSummary(name, runs[0].anchors_per_cell, [r.seed for r in runs], mean, spread))
    return out


def _load_rows(path: Path, settings: dict[str, Any]) -> list[AblationRow]:
    """Runs recorded by an earlier call with the same settings (others start afresh)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    if data.get("settings") != json.loads(json.dumps(settings)):
        return []
    rows = []
    for r in data.get("rows", []):
        r = dict(r)
        r["sizes"], r["ratios"] = tuple(r["sizes"]), tuple(r["ratios"])
        rows.append(AblationRow(**r))
    return rows


def _write_table(path: Path, rows: list[AblationRow], settings: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    summary = [asdict(x) for x in summarize(rows)]
    tmp.write_text(json.dumps({"settings": settings, "rows": [asdict(r) for r in rows], "summary": summary},
                              indent=1), encoding="utf-8")
    tmp.replace(path)


def format_rows(rows: list[AblationRow]) -> str:
    """The paper-style table, one line per variant: anchors per cell, then each score's
    mean over the seeds (and, with several seeds, ± half its range, (max - min) / 2)."""
    fmt: Callable[[tuple[float, ...]], str] = lambda t: ", ".join(f"{v:g}" for v in t)  # noqa: E731
    summaries = summarize(rows)
    several = any(len(s.seeds) > 1 for s in summaries)
    keys = [k for k in SCORES if any(k in s.mean for s in summaries)]
    cell = 15 if several else 9
    lines = [f"{'settings':<20}{'sizes':<16}{'ratios':<14}{'k':>3}{'runs':>5}"
             + "".join(f"{k:>{cell}}" for k in keys)]
    first = {r.name: r for r in rows}
    for s in summaries:
        r = first[s.name]
        vals = "".join((f"{s.mean[k]:>8.3f} \u00b1{s.spread[k] / 2:.3f}" if several else f"{s.mean[k]:>{cell}.3f}")
                       if k in s.mean else f"{'-':>{cell}}" for k in keys)
        lines.append(f"{s.name:<20}{fmt(r.sizes):<16}{fmt(r.ratios):<14}{s.anchors_per_cell:>3}{len(s.seeds):>5}"
                     + vals)
    return "\n".join(lines)
