"""Detector speed: plain torchvision forward vs the project's ``trace``, per model
config and input size; batch ``detect_images`` over a folder; the bundled model's
CPU latency and peak memory; CUDA fp32 / AMP throughput when a GPU is present.

For each (config, image size) the two are timed interleaved in one loop (order
alternating), on the same weights, image and thread count, under
``torch.inference_mode`` (how the app and ``detect`` run them); the ratio is the
median of the per-pair ratios, so load changes during the run cancel out.
Models other than the bundled one have random weights (nothing is downloaded):
their RoI head keeps up to ``box_detections_per_img`` random detections, the
slow end for post-processing.

    python benchmarks/bench_detector.py [--quick] [--json OUT] [--configs small paper] [--budget 12]
    python benchmarks/bench_detector.py --bundled-precision   # only the bundled model: fp32 vs bf16
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import ROOT, Row, add_common_args, finish, median, reset_peak_rss, rss_kb  # noqa: E402

from detector_app.detection.builders import build_model  # noqa: E402
from detector_app.detection.config import ModelConfig  # noqa: E402
from detector_app.detection.inference import detect_images  # noqa: E402
from detector_app.detection.synthetic import _sample_shapes, compose  # noqa: E402
from detector_app.detection.tracing import image_to_tensor, trace  # noqa: E402
from detector_app.media.images import write_image  # noqa: E402

CONFIGS = ["small", "mobilenet_v3_large_320_fpn", "mobilenet_v3_large_fpn", "resnet50_fpn", "paper"]
SIZES = [(512, 512), (720, 1280)]  # (height, width) of the input image
STAGES = ("transform", "backbone", "rpn", "roi_heads", "postprocess")
BUNDLED_CONFIG = ROOT / "models" / "default_config.json"
BUNDLED_WEIGHTS = ROOT / "models" / "default.pt"
TRACE_TARGET = 1.05
BUNDLED_TARGET_MS = 60.0
CUDA_R50_TARGET = 25.0


def synthetic_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """``uint8[h, w, 3]``: the project's synthetic shapes (a realistic, busy image)."""
    rng = np.random.default_rng(seed)
    side = min(h, w)
    return compose(rng, h, w, _sample_shapes(rng, h, w, 8, side * 0.06, side * 0.4)).image


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def compare(model: torch.nn.Module, rgb: np.ndarray, dev: torch.device, budget_s: float,
            min_reps: int, max_reps: int) -> dict[str, Any]:
    """Interleaved timing of ``model([x])`` and ``trace(model, x)`` on the same input.

    Returns medians in ms, the median per-pair ratio, stage medians and the rep count.
    """
    x = image_to_tensor(rgb, dev)
    fwd: list[float] = []
    trc: list[float] = []
    stages: dict[str, list[float]] = {s: [] for s in STAGES}

    def run(which: int) -> float:
        _sync(dev)
        t0 = time.perf_counter()
        if which == 0:
            model([x])
        else:
            tr = trace(model, x)
            for s in STAGES:
                stages[s].append(float(tr.timings_ms.get(s, 0.0)))
        _sync(dev)
        return (time.perf_counter() - t0) * 1000.0

    with torch.inference_mode():
        one = run(0)  # warm-up (allocator, kernels), also sizes the rep count
        run(1)
        reps = int(min(max_reps, max(min_reps, budget_s * 1000.0 / max(2.0 * one, 1e-3))))
        for r in range(reps):
            for which in ((0, 1) if r % 2 == 0 else (1, 0)):
                (fwd if which == 0 else trc).append(run(which))
    ratios = [t / f for f, t in zip(fwd, trc)]
    return {"forward_ms": median(fwd), "trace_ms": median(trc), "ratio": median(ratios), "reps": reps,
            "stages": {s: median(v) for s, v in stages.items()}}


def folder_rate(model: torch.nn.Module, folder: Path, dev: torch.device, amp: bool = False) -> float:
    """Images per second of ``detect_images`` over every file in ``folder`` (after one warm-up image)."""
    paths = sorted(folder.iterdir())
    list(detect_images(model, paths[:1], device=dev, amp=amp))
    _sync(dev)
    t0 = time.perf_counter()
    n = sum(1 for r in detect_images(model, paths, device=dev, amp=amp) if r.ok)
    _sync(dev)
    return n / (time.perf_counter() - t0)


def make_folder(root: Path, h: int, w: int, n: int) -> Path:
    folder = root / f"images_{h}x{w}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_image(folder / f"img{i:03d}.png", synthetic_image(h, w, seed=100 + i))
    return folder


def load_bundled() -> tuple[torch.nn.Module, str]:
    """The bundled model, or its config with random weights when ``models/default.pt`` is absent."""
    if BUNDLED_WEIGHTS.is_file():
        from detector_app.detection.checkpoints import load_checkpoint

        return load_checkpoint(BUNDLED_WEIGHTS).model.eval(), f"{BUNDLED_WEIGHTS.name} (trained weights)"
    cfg = ModelConfig.from_json(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    return build_model(cfg).eval(), f"{BUNDLED_CONFIG.name} with RANDOM weights ({BUNDLED_WEIGHTS.name} absent)"


def backbone_gflop(model: torch.nn.Module, rgb: np.ndarray) -> float:
    """Floating-point operations (GFLOP, a multiply-add counts 2) of the backbone on this image."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode():
        images, _ = model.transform([image_to_tensor(rgb)])
        with FlopCounterMode(display=False) as counter:
            model.backbone(images.tensors)
    return counter.get_total_flops() / 1e9


class _ChannelsLastBackbone(torch.nn.Module):
    """What-if wrapper (not used by the app): the backbone in channels-last memory
    layout, float32; the feature maps come back float32 in the standard layout."""

    def __init__(self, body: torch.nn.Module) -> None:
        super().__init__()
        self.body = body.to(memory_format=torch.channels_last)
        self.out_channels = body.out_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.body(x.contiguous(memory_format=torch.channels_last))
        if isinstance(feats, torch.Tensor):
            feats = {"0": feats}
        return {k: v.contiguous() for k, v in feats.items()}


def agreement(model: torch.nn.Module, other: torch.nn.Module, images: list[np.ndarray],
              min_score: float = 0.5) -> tuple[int, int]:
    """``(matched, total)``: ``model``'s detections scoring >= ``min_score`` that ``other``
    also finds (same class, IoU >= 0.9, score >= ``min_score``)."""
    from torchvision.ops import box_iou

    matched = total = 0
    with torch.inference_mode():
        for rgb in images:
            a, b = trace(model, rgb), trace(other, rgb)
            ka, kb = a.detection_scores >= min_score, b.detection_scores >= min_score
            boxes_a, boxes_b = torch.from_numpy(a.detection_boxes[ka]), torch.from_numpy(b.detection_boxes[kb])
            total += len(boxes_a)
            if len(boxes_a) and len(boxes_b):
                best = box_iou(boxes_a, boxes_b).max(1)
                same = a.detection_labels[ka] == b.detection_labels[kb][best.indices.numpy()]
                matched += int(((best.values >= 0.9).numpy() & same).sum())
    return matched, total


def precision_rows(model: torch.nn.Module, rgb: np.ndarray, base_ms: float, budget: float,
                   quick: bool) -> list[Row]:
    """The channels-last float32 what-if and the real ``--precision bf16`` rows
    (``detection.precision.set_cpu_precision``, what ``detect --precision bf16`` runs)."""
    import copy

    from detector_app.detection.precision import bf16_is_fast, bf16_probe, set_cpu_precision

    rows = []
    images = [synthetic_image(512, 512, seed=20 + i) for i in range(3 if quick else 10)]
    reps = (3 if quick else 10, 5 if quick else 40)
    other = copy.deepcopy(model)
    other.backbone = _ChannelsLastBackbone(other.backbone)
    res = compare(other, rgb, torch.device("cpu"), budget / 2, *reps)
    matched, total = agreement(model, other, images)
    rows.append(Row("bundled model", "what-if (NOT what the app runs): backbone channels-last, float32, trace latency",
                    f"{res['trace_ms']:.1f} ms", f"< {BUNDLED_TARGET_MS:.0f} ms", None,
                    f"{base_ms / res['trace_ms']:.2f}x faster than fp32 as shipped; detections (score >= 0.5) "
                    f"also found in fp32 (same class, IoU >= 0.9): {matched} of {total} on {len(images)} images"))
    bf16 = set_cpu_precision(copy.deepcopy(model), "bf16")
    res = compare(bf16, rgb, torch.device("cpu"), budget, *reps)
    matched, total = agreement(model, bf16, images)
    fast = bf16_is_fast()
    label = "bf16 (the default here: auto)" if fast else "bf16 (--precision bf16)"
    for what, ms in (("trace (what the app runs)", res["trace_ms"]), ("plain forward (detect)", res["forward_ms"])):
        rows.append(
            Row(
                "bundled model",
                f"{label}: CPU latency per 512x512 image, {what}",
                f"{ms:.1f} ms",
                f"< {BUNDLED_TARGET_MS:.0f} ms",
                ms < BUNDLED_TARGET_MS,
                "backbone (channels-last) and RPN head convolutions under CPU bfloat16 autocast, "
                "box decoding, NMS and RoI head float32; "
                f"{base_ms / res['trace_ms']:.2f}x faster than fp32 (trace, same run); detections "
                f"(score >= 0.5) also found in fp32 (same class, IoU >= 0.9): {matched} of {total} on "
                f"{len(images)} images; "
                f"probe: {bf16_probe().reason()}; "
                f"median of {res['reps']}",
            )
        )
    return rows


def _fp32_role() -> str:
    """Whether the app runs fp32 on this CPU (``--precision auto``)."""
    from detector_app.detection.precision import resolve_precision

    if resolve_precision("auto", "cpu") == "fp32":
        return "the default on this CPU (bf16 not measured faster here)"
    return "NOT the default on this CPU (auto picks bf16: measured faster here); --precision fp32"


def memory_child() -> None:
    """Run in a fresh process: RSS before loading the bundled model, peak while it
    detects five 512x512 images (``trace``, as the app does), in KiB, as JSON."""
    rgb = synthetic_image(512, 512, seed=1)
    torch.ones(1)  # torch's own start-up allocations before the baseline
    base = rss_kb()
    peak_ok = reset_peak_rss()
    model, what = load_bundled()
    loaded = rss_kb()
    with torch.inference_mode():
        for _ in range(5):
            trace(model, rgb)
    print(json.dumps({"base_kb": base, "loaded_kb": loaded, "peak_kb": rss_kb("VmHWM") if peak_ok else None,
                      "after_kb": rss_kb(), "model": what}))


def bundled_rows(quick: bool, budget: float, precision_only: bool = False) -> list[Row]:
    rows: list[Row] = []
    model, what = load_bundled()
    dev = torch.device("cpu")
    rgb = synthetic_image(512, 512, seed=1)
    res = compare(model, rgb, dev, budget, 3 if quick else 10, 5 if quick else 60)
    threads = torch.get_num_threads()
    gflop = backbone_gflop(model, rgb)
    bb_ms = res["stages"]["backbone"]
    rows.append(
        Row(
            "bundled model",
            f"fp32: CPU latency per 512x512 image, trace (what the app runs), "
            f"{threads} thread{'s' if threads != 1 else ''}",
            f"{res['trace_ms']:.1f} ms",
            f"< {BUNDLED_TARGET_MS:.0f} ms",
            res["trace_ms"] < BUNDLED_TARGET_MS,
            f"{what}; {_fp32_role()}; median of {res['reps']}",
        )
    )
    rows.append(Row("bundled model", "fp32: CPU latency per 512x512 image, plain forward (detect)",
                    f"{res['forward_ms']:.1f} ms", f"< {BUNDLED_TARGET_MS:.0f} ms",
                    res["forward_ms"] < BUNDLED_TARGET_MS, what))
    rows.append(Row("bundled model", "backbone share of the trace; its arithmetic", f"{bb_ms:.1f} ms",
                    note=f"{bb_ms / max(res['trace_ms'], 1e-9):.0%} of the trace; {gflop:.1f} GFLOP per 512x512 "
                    f"image (torch FlopCounterMode), i.e. {gflop / max(bb_ms, 1e-9) * 1000:.0f} GFLOP/s achieved; "
                    f"{BUNDLED_TARGET_MS:.0f} ms for the backbone alone would need "
                    f"{gflop / BUNDLED_TARGET_MS * 1000:.0f} GFLOP/s"))
    rows += precision_rows(model, rgb, res["trace_ms"], budget, quick)
    if precision_only:
        return rows
    out = subprocess.run([sys.executable, __file__, "--memory-child"], capture_output=True, text=True,
                         cwd=str(ROOT), timeout=600)
    try:
        mem = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        rows.append(Row("bundled model", "peak memory", "error", note=out.stderr.strip()[-300:]))
        return rows
    if mem["peak_kb"] is not None:
        rows.append(Row("bundled model", "peak RSS while loading it and detecting 5 images, above the "
                        "process before loading", f"{(mem['peak_kb'] - mem['base_kb']) / 1024:.0f} MiB",
                        note=f"resident after: +{(mem['after_kb'] - mem['base_kb']) / 1024:.0f} MiB; "
                        f"process baseline (Python + torch) {mem['base_kb'] / 1024:.0f} MiB"))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--configs", nargs="+", default=None, help=f"model builders (default: {' '.join(CONFIGS)})")
    parser.add_argument("--budget", type=float, default=None, help="seconds of timed reps per config and size")
    parser.add_argument("--folder-images", type=int, default=None, help="images in the detect_images folder")
    parser.add_argument("--bundled-precision", action="store_true",
                        help="only the bundled model's CPU latency rows: fp32 vs --precision bf16 (same run)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child()
        return
    if args.bundled_precision:
        budget = args.budget if args.budget is not None else (1.0 if args.quick else 12.0)
        finish("bench_detector", bundled_rows(args.quick, budget, precision_only=True), args,
               [f"CPU, torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; "
                "bundled model only (--bundled-precision); times are medians"])
        return
    quick = args.quick
    configs = args.configs or (["small"] if quick else CONFIGS)
    sizes = [(256, 320)] if quick else SIZES
    budget = args.budget if args.budget is not None else (1.0 if quick else 12.0)
    n_folder = args.folder_images or (2 if quick else 6)
    cpu = torch.device("cpu")
    rows: list[Row] = []
    notes = [f"CPU, torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; "
             "random weights except the bundled model's; times are medians"]
    work = Path(tempfile.mkdtemp(prefix="bench_detector_"))
    try:
        folders = {size: make_folder(work, *size, n_folder) for size in sizes[:1]}
        for name in configs:
            torch.manual_seed(0)
            model = build_model(ModelConfig(builder=name, num_classes=6)).eval()
            for h, w in sizes:
                res = compare(model, synthetic_image(h, w), cpu, budget, 2 if quick else 3, 5 if quick else 40)
                st = res["stages"]
                breakdown = ", ".join(f"{s} {st[s]:.0f}" for s in STAGES)
                rows.append(Row("detector", f"{name} {w}x{h}: trace / forward (forward {res['forward_ms']:.0f} ms, "
                                f"trace {res['trace_ms']:.0f} ms, n={res['reps']})", f"{res['ratio']:.3f}",
                                f"<= {TRACE_TARGET}", res["ratio"] <= TRACE_TARGET,
                                f"trace stages (ms): {breakdown}"))
            for (h, w), folder in folders.items():
                rate = folder_rate(model, folder, cpu)
                rows.append(Row("detector", f"{name}: detect_images over a folder of {n_folder} {w}x{h} PNGs, CPU",
                                f"{rate:.2f} images/s", note="includes reading and decoding the files"))
            if torch.cuda.is_available():
                gpu = torch.device("cuda")
                model.to(gpu)
                for amp in (False, True):
                    rate = folder_rate(model, folders[sizes[0]], gpu, amp=amp)
                    target = name == "resnet50_fpn" and amp
                    rows.append(Row("detector", f"{name}: detect_images, CUDA {'fp16 AMP' if amp else 'fp32'}",
                                    f"{rate:.1f} images/s", f">= {CUDA_R50_TARGET:.0f} images/s" if target else "",
                                    (rate >= CUDA_R50_TARGET) if target else None,
                                    torch.cuda.get_device_name(0)))
                model.to(cpu)
            del model
        if not torch.cuda.is_available():
            notes.append("CUDA rows skipped: torch.cuda.is_available() is False on this machine "
                         "(the resnet50_fpn >= 25 images/s AMP target is not measured)")
            rows.append(Row("detector", "CUDA fp32 / fp16 AMP throughput (resnet50_fpn target)", "not measured",
                            f">= {CUDA_R50_TARGET:.0f} images/s", None, "no CUDA GPU on this machine"))
        rows += bundled_rows(quick, budget)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    finish("bench_detector", rows, args, notes)


if __name__ == "__main__":
    main()
