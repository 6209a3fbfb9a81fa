"""COCO-style evaluation with pycocotools (CLI ``detector-app evaluate``).

:func:`coco_metrics` scores detections against a dataset's ground truth with
``pycocotools.cocoeval.COCOeval`` (bbox): AP@[.5:.95], AP50, AP75, AP for
small/medium/large, AR@100, per-class AP / AP50 and the precision-recall
curve at IoU 0.5 per class. :func:`evaluate_model` runs a model over the
dataset first. Boxes are ``float[N, 4]`` x1, y1, x2, y2 in original pixels.
"""

from __future__ import annotations

import contextlib
import io
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detector_app.detection.datasets import DetectionData, load_sample_image
from detector_app.domain.progress import ProgressFn, check_cancel, report

STAT_NAMES = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
              "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


@dataclass
class Detections:
    """Detections of one image: ``boxes float[D, 4]``, ``labels int[D]`` (1-based), ``scores float[D]``."""

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray


def gt_coco_dict(data: DetectionData) -> dict[str, Any]:
    """The dataset's ground truth as a COCO dict (image id ``k + 1`` for sample ``k``)."""
    images, anns = [], []
    ann_id = 1
    for k, s in enumerate(data.samples):
        images.append({"id": k + 1, "file_name": str(s.path), "width": s.width or 0, "height": s.height or 0})
        for box, label in zip(s.boxes, s.labels):
            x1, y1, x2, y2 = (float(v) for v in box)
            anns.append({"id": ann_id, "image_id": k + 1, "category_id": int(label),
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
            ann_id += 1
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(data.class_names)]
    return {"images": images, "annotations": anns, "categories": cats}


def _quiet_coco(d: dict[str, Any]) -> COCO:
    coco = COCO()
    coco.dataset = d
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_metrics(data: DetectionData, detections: list[Detections]) -> dict[str, Any]:
    """Score ``detections`` (one entry per sample, in order) with COCOeval.

    Returns ``{"AP", "AP50", "AP75", ... (STAT_NAMES), "per_class": {name: {"AP",
    "AP50", "num_gt"}}, "pr_curve": {"recall": [101], name: [101] precision at
    IoU 0.5}, "num_images", "num_detections"}``. Values are in 0..1; a class
    without ground truth gets ``None``.
    """
    if len(detections) != len(data.samples):
        raise ValueError(f"{len(detections)} detection sets for {len(data.samples)} images")
    gt = _quiet_coco(gt_coco_dict(data))
    results = []
    for k, det in enumerate(detections):
        for box, label, score in zip(np.asarray(det.boxes).reshape(-1, 4), det.labels, det.scores):
            x1, y1, x2, y2 = (float(v) for v in box)
            results.append({"image_id": k + 1, "category_id": int(label),
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
    num_gt = {i + 1: 0 for i in range(len(data.class_names))}
    for s in data.samples:
        for lab in s.labels:
            num_gt[int(lab)] = num_gt.get(int(lab), 0) + 1
    out: dict[str, Any] = {"num_images": len(data.samples), "num_detections": len(results)}
    recall = np.linspace(0.0, 1.0, 101)
    if not results or not gt.dataset["annotations"]:
        out.update({k: 0.0 for k in STAT_NAMES})
        out["per_class"] = {n: {"AP": 0.0 if num_gt[i + 1] else None, "AP50": 0.0 if num_gt[i + 1] else None,
                                "num_gt": num_gt[i + 1]} for i, n in enumerate(data.class_names)}
        out["pr_curve"] = {"recall": recall.tolist(), **{n: [0.0] * 101 for n in data.class_names}}
        return out
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(0.0, float(v)) for v in ev.stats]
    out.update(dict(zip(STAT_NAMES, stats)))
    precision = ev.eval["precision"]  # [T=10, R=101, K, A=4, M=3]
    per_class: dict[str, Any] = {}
    pr: dict[str, Any] = {"recall": recall.tolist()}
    for i, name in enumerate(data.class_names):
        k = ev.params.catIds.index(i + 1)
        p_all = precision[:, :, k, 0, -1]
        p50 = precision[0, :, k, 0, -1]
        has = num_gt[i + 1] > 0
        per_class[name] = {
            "AP": float(p_all[p_all > -1].mean()) if has and (p_all > -1).any() else None,
            "AP50": float(p50[p50 > -1].mean()) if has and (p50 > -1).any() else None,
            "num_gt": num_gt[i + 1],
        }
        pr[name] = [max(0.0, float(v)) for v in p50]
    out["per_class"] = per_class
    out["pr_curve"] = pr
    return out


def _fitting(rgb: np.ndarray, model: torch.nn.Module, sample: Any) -> np.ndarray:
    """``rgb``, checked to survive the model's resize (a 10000 x 1 image: a one-line
    error naming it, where torchvision raised a RuntimeError)."""
    from detector_app.detection.tracing import check_fits_model

    check_fits_model(rgb.shape[0], rgb.shape[1], model, f"{getattr(sample, 'path', '?')}: ")
    return rgb


@torch.inference_mode()
def predict(model: torch.nn.Module, data: DetectionData, device: torch.device | str = "cpu", batch: int = 4,
            progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> list[Detections]:
    """Run ``model`` (eval mode) over every sample; boxes in original pixels."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    out: list[Detections] = []
    samples = data.samples
    try:
        for start in range(0, len(samples), batch):
            check_cancel(cancel)
            chunk = samples[start:start + batch]
            images = [torch.from_numpy(_fitting(load_sample_image(s), model, s)).permute(2, 0, 1).float()
                      .div_(255).to(device) for s in chunk]
            for r in model(images):
                out.append(Detections(r["boxes"].float().cpu().numpy(), r["labels"].cpu().numpy(),
                                      r["scores"].float().cpu().numpy()))
            report(progress, min(start + batch, len(samples)), len(samples), "detecting")
    finally:
        model.train(was_training)
    return out


def evaluate_model(model: torch.nn.Module, data: DetectionData, device: torch.device | str = "cpu",
                   batch: int = 4, progress: ProgressFn | None = None,
                   cancel: threading.Event | None = None) -> dict[str, Any]:
    """Detect on every image of ``data`` and score with :func:`coco_metrics`."""
    return coco_metrics(data, predict(model, data, device, batch, progress, cancel))


def format_table(metrics: dict[str, Any]) -> str:
    """A plain-text summary table of :func:`coco_metrics` output."""
    lines = [
        f"images {metrics['num_images']}, detections {metrics['num_detections']}",
        f"AP@[.5:.95] {metrics['AP']:.3f}   AP50 {metrics['AP50']:.3f}   AP75 {metrics['AP75']:.3f}",
        f"AP small {metrics['AP_small']:.3f}   medium {metrics['AP_medium']:.3f}   large {metrics['AP_large']:.3f}"
        f"   AR@100 {metrics['AR100']:.3f}",
        "",
        f"{'class':<16}{'AP':>8}{'AP50':>8}{'#gt':>8}",
    ]
    for name, row in metrics["per_class"].items():
        ap = "-" if row["AP"] is None else f"{row['AP']:.3f}"
        ap50 = "-" if row["AP50"] is None else f"{row['AP50']:.3f}"
        lines.append(f"{name:<16}{ap:>8}{ap50:>8}{row['num_gt']:>8}")
    return "\n".join(lines)


def remap_labels(dets: list[Detections], model_classes: list[str], data: DetectionData) -> list[Detections]:
    """Translate model label ids (index into ``model_classes``, background 0)
    to the dataset's label ids by class name; classes the dataset lacks are dropped."""
    to_data = {i: data.class_names.index(n) + 1 for i, n in enumerate(model_classes) if n in data.class_names}
    out = []
    for d in dets:
        keep = np.array([int(lab) in to_data for lab in d.labels], bool).reshape(-1)
        labels = np.array([to_data[int(lab)] for lab in np.asarray(d.labels)[keep]], np.int64)
        out.append(Detections(np.asarray(d.boxes).reshape(-1, 4)[keep], labels, np.asarray(d.scores)[keep]))
    return out


def evaluate_checkpoint(checkpoint: str, data: DetectionData, device: torch.device | str = "cpu",
                        batch: int = 4, progress: ProgressFn | None = None,
                        cancel: threading.Event | None = None, precision: str = "fp32") -> dict[str, Any]:
    """Load a checkpoint, detect on ``data``, match classes by name, score.
    ``precision``: ``"fp32"``, ``"bf16"`` or ``"auto"`` (``detection.precision``)."""
    from detector_app.detection.checkpoints import load_checkpoint
    from detector_app.detection.precision import resolve_precision, set_cpu_precision

    loaded = load_checkpoint(checkpoint, device)
    precision = resolve_precision(precision, torch.device(device).type)
    set_cpu_precision(loaded.model, precision)
    metrics = evaluate_named(loaded.model, list(loaded.class_names), data, device, batch, progress, cancel,
                             where=str(checkpoint))
    metrics["precision"] = precision
    return metrics


def evaluate_named(model: torch.nn.Module, model_classes: list[str], data: DetectionData,
                   device: torch.device | str = "cpu", batch: int = 4, progress: ProgressFn | None = None,
                   cancel: threading.Event | None = None, where: str = "the model") -> dict[str, Any]:
    """:func:`coco_metrics` of ``model`` on ``data``, its classes (background first) matched to
    the dataset's by name."""
    from detector_app.detection.checkpoints import CheckpointError

    if not set(model_classes) & set(data.class_names):
        raise CheckpointError(
            f"{where}: the model's classes ({', '.join(model_classes[1:])}) share none "
            f"with the dataset's ({', '.join(data.class_names)})"
        )
    dets = predict(model, data, device, batch, progress, cancel)
    metrics = coco_metrics(data, remap_labels(dets, model_classes, data))
    metrics["model_classes"] = model_classes
    return metrics
