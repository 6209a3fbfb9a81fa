"""Anchor study: do the model's anchors fit the dataset's boxes?

For every ground-truth box, :func:`study_anchors` finds the best IoU any of
the model's anchors reaches (anchors from the model's own
``AnchorGenerator`` over the feature map the backbone produces for that
image size, in resized-image pixels; boxes are scaled the way the model's
transform resizes the image). It reports the box size / aspect ratio
distribution, how many boxes have no anchor with IoU >= 0.7 (the RPN's
positive threshold) or >= 0.3, and suggests anchor scales and ratios by
k-means: free box shapes with the ``1 - IoU`` distance on centred boxes
(YOLOv2's clustering), and a scales x ratios grid (what ``AnchorGenerator``
takes) from 1-D k-means on log size and log ratio.

Sizes are ``sqrt(w * h)`` and ratios ``h / w`` (torchvision's definition),
both in resized-image pixels (what ``ModelConfig.anchor_sizes`` means).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from torchvision.models.detection import FasterRCNN
from torchvision.ops import box_iou

from detector_app.detection.builders import build_model
from detector_app.detection.config import ModelConfig
from detector_app.detection.datasets import DetectionData
from detector_app.domain.progress import ProgressFn, check_cancel, report


@dataclass
class AnchorStudy:
    """Per-box results (``float[N]`` arrays, resized pixels) and the summary."""

    sizes: np.ndarray  # sqrt(w*h) of each GT box
    ratios: np.ndarray  # h / w
    best_iou: np.ndarray  # best anchor IoU per GT box
    anchor_sizes: tuple[float, ...]
    anchor_ratios: tuple[float, ...]
    suggested_shapes: np.ndarray  # float[k, 2] (w, h) k-means cluster centres
    suggested_sizes: tuple[float, ...]
    suggested_ratios: tuple[float, ...]
    suggested_best_iou_mean: float  # centre-aligned IoU of the suggested grid
    current_best_iou_mean_centred: float  # the same measure for the current anchors
    summary: dict[str, Any] = field(default_factory=dict)


def resize_scale(h: int, w: int, min_size: float, max_size: float) -> float:
    """The scale torchvision's ``GeneralizedRCNNTransform`` applies to an ``h x w`` image."""
    return float(min(min_size / min(h, w), max_size / max(h, w)))


@torch.inference_mode()
def model_anchors(model: FasterRCNN, height: int, width: int) -> tuple[np.ndarray, float]:
    """All anchors ``float[A, 4]`` (resized pixels) the model lays on an ``height x width``
    image, and the resize scale. Runs the backbone once on a blank image."""
    model.eval()
    image = torch.zeros(3, height, width)
    images, _ = model.transform([image])
    features = model.backbone(images.tensors)
    if isinstance(features, torch.Tensor):
        features = {"0": features}
    anchors = model.rpn.anchor_generator(images, list(features.values()))[0]
    rh, rw = images.image_sizes[0]
    return anchors.numpy(), rh / height


def centred_iou(shapes: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """IoU of centre-aligned boxes: ``shapes float[N, 2] (w, h) x centres float[K, 2] -> float[N, K]``."""
    inter = np.minimum(shapes[:, None, 0], centres[None, :, 0]) * np.minimum(shapes[:, None, 1], centres[None, :, 1])
    union = shapes[:, 0:1] * shapes[:, 1:2] + (centres[:, 0] * centres[:, 1])[None] - inter
    return inter / np.maximum(union, 1e-9)


def kmeans_iou(shapes: np.ndarray, k: int, seed: int = 0, iters: int = 100) -> np.ndarray:
    """k-means on box shapes with distance ``1 - IoU`` (YOLOv2's anchor clustering).

    ``shapes float[N, 2]`` (w, h) -> centres ``float[k, 2]`` sorted by area.
    k-means++ initialisation with a seeded generator; centres are medians.
    """
    shapes = np.asarray(shapes, np.float64).reshape(-1, 2)
    k = min(k, len(shapes))
    rng = np.random.default_rng(seed)
    centres = [shapes[rng.integers(len(shapes))]]
    for _ in range(1, k):
        d = 1 - centred_iou(shapes, np.array(centres)).max(1)
        p = d**2
        centres.append(
            shapes[rng.choice(len(shapes), p=p / p.sum())] if p.sum() > 0 else shapes[rng.integers(len(shapes))]
        )
    c = np.array(centres)
    for _ in range(iters):
        assign = centred_iou(shapes, c).argmax(1)
        new = np.array([np.median(shapes[assign == j], 0) if (assign == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c[np.argsort(c[:, 0] * c[:, 1])]


def _kmeans_1d(values: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Plain k-means on log values; returns sorted centres (exp of the log centres)."""
    x = np.log(np.asarray(values, np.float64))
    k = min(k, len(np.unique(x)))
    c = np.quantile(x, (np.arange(k) + 0.5) / k)
    for _ in range(100):
        assign = np.abs(x[:, None] - c[None]).argmin(1)
        new = np.array([x[assign == j].mean() if (assign == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return np.sort(np.exp(c))


def grid_shapes(sizes: tuple[float, ...], ratios: tuple[float, ...]) -> np.ndarray:
    """Anchor (w, h) for every size x ratio, torchvision's formula ``w = s / sqrt(r), h = s * sqrt(r)``."""
    return np.array([(s / np.sqrt(r), s * np.sqrt(r)) for s in sizes for r in ratios], np.float64)


def study_anchors(data: DetectionData, mconf: ModelConfig, n_scales: int | None = None,
                  n_ratios: int | None = None, seed: int = 0, progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None) -> AnchorStudy:
    """Best-anchor IoU per GT box for ``mconf``'s anchors, plus suggestions."""
    model = build_model(mconf)
    gen = model.rpn.anchor_generator
    anchor_sizes = tuple(float(s) for lv in gen.sizes for s in lv)
    anchor_ratios = tuple(sorted({float(r) for lv in gen.aspect_ratios for r in lv}))
    shapes, best_a = _boxes_and_best_iou(model, data, progress, cancel)
    bw, bh = shapes[:, 0], shapes[:, 1]
    sizes_a, ratios_a = np.sqrt(bw * bh), bh / bw
    shapes_a = shapes.astype(np.float64)
    ns = n_scales or len(set(anchor_sizes)) // max(1, len(gen.sizes)) or 3
    nr = n_ratios or len(anchor_ratios)
    clusters = kmeans_iou(shapes_a, ns * nr, seed)
    # the grid: 1-D k-means on log size and on log ratio over all boxes
    sug_sizes = tuple(round(float(v), 1) for v in _kmeans_1d(sizes_a, ns, seed))
    sug_ratios = tuple(round(float(v), 2) for v in _kmeans_1d(ratios_a, nr, seed))
    sug_iou = float(centred_iou(shapes_a, grid_shapes(sug_sizes, sug_ratios)).max(1).mean())
    cur_iou = float(centred_iou(shapes_a, grid_shapes(anchor_sizes, anchor_ratios)).max(1).mean())
    study = AnchorStudy(sizes_a, ratios_a, best_a, anchor_sizes, anchor_ratios, clusters, sug_sizes,
                        sug_ratios, sug_iou, cur_iou)
    study.summary = _summary(study, len(data.samples))
    return study


def _boxes_and_best_iou(model: FasterRCNN, data: DetectionData, progress: ProgressFn | None,
                        cancel: threading.Event | None) -> tuple[np.ndarray, np.ndarray]:
    """Every GT box of ``data`` as the model sees it (resized): ``(float32[N, 2] (w, h),
    float32[N] IoU of its best anchor)``. Raises ``ValueError`` when there is no box."""
    cache: dict[tuple[int, int], tuple[torch.Tensor, float]] = {}  # anchors and scale per image size
    best, shapes = [], []
    for i, s in enumerate(data.samples):
        check_cancel(cancel)
        if len(s.boxes) == 0:
            continue
        if s.width is None or s.height is None:
            from detector_app.detection.datasets import load_sample_image

            h, w = load_sample_image(s).shape[:2]
        else:
            h, w = s.height, s.width
        if (h, w) not in cache:
            anchors, scale = model_anchors(model, h, w)
            cache[(h, w)] = (torch.from_numpy(anchors), scale)
        anchors_t, scale = cache[(h, w)]
        boxes = torch.from_numpy(s.boxes.astype(np.float32)) * scale
        best.append(box_iou(boxes, anchors_t).max(1).values.numpy())
        shapes.append(np.stack([(boxes[:, 2] - boxes[:, 0]).numpy(), (boxes[:, 3] - boxes[:, 1]).numpy()], 1))
        report(progress, i + 1, len(data.samples), "anchor study")
    if not best:
        raise ValueError("the dataset has no boxes to study")
    return np.concatenate(shapes), np.concatenate(best)


def _summary(study: AnchorStudy, num_images: int) -> dict[str, Any]:
    """The study's numbers as JSON-ready values (``anchor-study --json``, the report)."""
    best_a = study.best_iou
    return {
        "num_boxes": len(best_a),
        "num_images": num_images,
        "anchor_sizes": list(study.anchor_sizes),
        "anchor_ratios": list(study.anchor_ratios),
        "best_iou_mean": float(best_a.mean()),
        "best_iou_median": float(np.median(best_a)),
        "boxes_without_anchor_ge_0.7": int((best_a < 0.7).sum()),
        "fraction_without_anchor_ge_0.7": float((best_a < 0.7).mean()),
        "boxes_without_anchor_ge_0.5": int((best_a < 0.5).sum()),
        "boxes_without_anchor_ge_0.3": int((best_a < 0.3).sum()),
        "size_percentiles": {str(p): float(np.percentile(study.sizes, p)) for p in (0, 5, 25, 50, 75, 95, 100)},
        "ratio_percentiles": {str(p): float(np.percentile(study.ratios, p)) for p in (0, 5, 25, 50, 75, 95, 100)},
        "suggested_sizes": list(study.suggested_sizes),
        "suggested_ratios": list(study.suggested_ratios),
        "kmeans_shapes_wh": [[round(float(a), 1), round(float(b), 1)] for a, b in study.suggested_shapes],
        "centred_iou_mean_current": study.current_best_iou_mean_centred,
        "centred_iou_mean_suggested": study.suggested_best_iou_mean,
    }


def format_study(study: AnchorStudy) -> str:
    """Plain-text report of :func:`study_anchors`."""
    s = study.summary
    sp, rp = s["size_percentiles"], s["ratio_percentiles"]
    n = s["num_boxes"]
    lines = [
        f"{n} boxes in {s['num_images']} images (sizes and ratios in resized-image pixels)",
        "box size sqrt(w*h): " + "  ".join(f"p{k}={v:.0f}" for k, v in sp.items()),
        "box ratio h/w:      " + "  ".join(f"p{k}={v:.2f}" for k, v in rp.items()),
        f"model anchors: sizes {tuple(s['anchor_sizes'])} x ratios {tuple(s['anchor_ratios'])}",
        f"best anchor IoU per box: mean {s['best_iou_mean']:.3f}, median {s['best_iou_median']:.3f}",
        f"boxes with no anchor IoU >= 0.7: {s['boxes_without_anchor_ge_0.7']} "
        f"({100 * s['fraction_without_anchor_ge_0.7']:.1f}%)",
        f"boxes with no anchor IoU >= 0.5: {s['boxes_without_anchor_ge_0.5']}   "
        f">= 0.3: {s['boxes_without_anchor_ge_0.3']}",
        f"suggested grid (k-means on log size, log ratio): sizes {tuple(s['suggested_sizes'])} "
        f"x ratios {tuple(s['suggested_ratios'])}",
        "k-means (1-IoU) box shapes w x h: " + ", ".join(f"{w:.0f}x{h:.0f}" for w, h in s["kmeans_shapes_wh"]),
        f"centre-aligned mean best IoU: current {s['centred_iou_mean_current']:.3f}, "
        f"suggested {s['centred_iou_mean_suggested']:.3f}",
    ]
    return "\n".join(lines)


def _hist_panel(values: np.ndarray, bins: np.ndarray, title: str, marks: list[float], w: int = 480,
                h: int = 260, log_x: bool = False) -> np.ndarray:
    panel = np.full((h, w, 3), 255, np.uint8)
    counts, _ = np.histogram(values, bins)
    left, right, top, bottom = 40, w - 30, 30, h - 30  # room for the tick labels centred on either end
    cv2.putText(panel, title, (left, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(panel, (left, top), (right, bottom), (0, 0, 0), 1)
    lo, hi = (np.log(bins[0]), np.log(bins[-1])) if log_x else (bins[0], bins[-1])

    def x_of(v: float) -> int:
        t = (np.log(v) if log_x else v) - lo
        return int(left + (right - left) * t / (hi - lo))

    peak = max(int(counts.max()), 1)
    for c, a, b in zip(counts, bins[:-1], bins[1:]):
        y = int(bottom - (bottom - top) * c / peak)
        cv2.rectangle(panel, (x_of(a) + 1, y), (max(x_of(b) - 1, x_of(a) + 1), bottom), (200, 120, 40), -1)
    for m in marks:
        if bins[0] <= m <= bins[-1]:
            cv2.line(panel, (x_of(m), top), (x_of(m), bottom), (220, 0, 0), 2)
    for v in (bins[0], bins[len(bins) // 2], bins[-1]):
        text = f"{v:.3g}"
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        x = min(max(x_of(v) - tw // 2, 2), w - tw - 2)  # centred on the tick, never past the panel's edges
        cv2.putText(panel, text, (x, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(panel, f"max {peak}", (left + 4, top + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
    return panel


def plot_study(study: AnchorStudy) -> np.ndarray:
    """``uint8[H, W, 3]`` RGB figure: size, ratio and best-IoU histograms with the
    model's anchors (and the 0.7 threshold) marked in red."""
    smax = max(float(study.sizes.max()), max(study.anchor_sizes)) * 1.1
    smin = max(1.0, min(float(study.sizes.min()), min(study.anchor_sizes)) * 0.9)
    rmin = min(float(study.ratios.min()), min(study.anchor_ratios)) * 0.9
    rmax = max(float(study.ratios.max()), max(study.anchor_ratios)) * 1.1
    a = _hist_panel(study.sizes, np.geomspace(smin, smax, 31), "box size sqrt(wh) (red: anchor sizes)",
                    list(study.anchor_sizes), log_x=True)
    b = _hist_panel(study.ratios, np.geomspace(rmin, rmax, 31), "box ratio h/w (red: anchor ratios)",
                    list(study.anchor_ratios), log_x=True)
    c = _hist_panel(study.best_iou, np.linspace(0, 1, 26), "best anchor IoU per box (red: 0.7)", [0.7])
    return np.vstack([a, b, c])
