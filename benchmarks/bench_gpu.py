"""GPU rows: throughput of torchvision's ResNet-50 FPN Faster R-CNN at 800 px and of
the bundled model on one CUDA GPU, float32 and fp16 AMP, batch 1 and 8, and what
``trace`` costs over the plain forward there.

Random weights for ResNet-50 FPN (nothing is downloaded; its RoI head then keeps
up to 100 random detections, the slow end for post-processing). Each figure is
timed for ``--budget`` seconds after a warm-up, with ``torch.cuda.synchronize``
around every call; the trace / forward ratio is the median of interleaved pairs
(``bench_detector.compare``).

    python benchmarks/bench_gpu.py [--quick] [--json OUT] [--doc docs/benchmarks.md]

``--doc`` writes the table, with the GPU's name and the date, into that file
between the GPU markers (replacing the last GPU section; appended when absent).
Without a CUDA GPU it prints so and exits 0 (``scripts/gpu_check.sh`` runs it).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Row, add_common_args, finish, table  # noqa: E402

START = "<!-- gpu-rows:start (benchmarks/bench_gpu.py --doc) -->"
END = "<!-- gpu-rows:end -->"
R50_SIZE = (800, 1216)  # (H, W): COCO's test resize, short side 800
BUNDLED_SIZE = (512, 512)
CUDA_R50_TARGET = 25.0  # images/s, fp16 AMP, batch 1 (issue 6)


def splice_gpu_section(doc: str, section: str) -> str:
    """``doc`` with the text between :data:`START` and :data:`END` replaced by
    ``section`` (markers kept), or with the markers and ``section`` appended."""
    block = f"{START}\n{section.strip()}\n{END}"
    if gpu_block(doc) is not None:
        head, rest = doc.split(START, 1)
        return head + block + rest.split(END, 1)[1]
    return doc.rstrip("\n") + "\n\n" + block + "\n"


def gpu_block(doc: str) -> str | None:
    """The text between the GPU markers of ``doc``, or ``None``."""
    if START not in doc or END not in doc.split(START, 1)[1]:
        return None
    return doc.split(START, 1)[1].split(END, 1)[0].strip()


def gpu_section(rows: list[Row], gpu: str, when: str, torch_version: str) -> str:
    return (f"## GPU\n\nMeasured by `scripts/gpu_check.sh` (`benchmarks/bench_gpu.py`) on **{gpu}**, "
            f"{when}, torch {torch_version}. Images per second include the model's resize and "
            f"post-processing, not file decoding.\n\n{table(rows)}\n")


def _rate(fn, n_images: int, budget_s: float) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Images per second of ``fn()`` (which handles ``n_images``), timed for ``budget_s``."""
    import torch

    fn()
    torch.cuda.synchronize()
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        torch.cuda.synchronize()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= budget_s and calls >= 3:
            return calls * n_images / elapsed, calls


def model_rows(name: str, model, size: tuple[int, int], budget: float, target: bool) -> list[Row]:  # type: ignore[no-untyped-def]
    import torch
    from bench_detector import compare, synthetic_image

    from detector_app.detection.tracing import image_to_tensor

    dev = torch.device("cuda")
    model = model.eval().to(dev)
    h, w = size
    images = [image_to_tensor(synthetic_image(h, w, seed=i), dev) for i in range(8)]
    rows = []
    for amp in (False, True):
        for batch in (1, 8):
            def run(b: int = batch, a: bool = amp) -> None:
                with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=a):
                    model(images[:b])

            rate, calls = _rate(run, batch, budget)
            is_target = target and amp and batch == 1
            rows.append(Row("gpu", f"{name} {w}x{h}: images/s, {'fp16 AMP' if amp else 'fp32'}, batch {batch}",
                            f"{rate:.1f} images/s", f">= {CUDA_R50_TARGET:.0f} images/s" if is_target else "",
                            (rate >= CUDA_R50_TARGET) if is_target else None, f"{calls} timed calls"))
    res = compare(model, synthetic_image(h, w, seed=1), dev, budget, 5, 200)
    rows.append(Row("gpu", f"{name} {w}x{h}: trace / forward, fp32, batch 1 (forward {res['forward_ms']:.1f} ms, "
                    f"trace {res['trace_ms']:.1f} ms, n={res['reps']})", f"{res['ratio']:.3f}", "<= 1.05",
                    res["ratio"] <= 1.05, "trace copies every anchor's objectness and box to the host"))
    model.to("cpu")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--budget", type=float, default=None, help="seconds of timed calls per row")
    parser.add_argument("--doc", type=Path, help="write the GPU section into this markdown file")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA GPU here (torch.cuda.is_available() is False): nothing measured")
        return 0
    from bench_detector import load_bundled

    from detector_app.detection.builders import build_model
    from detector_app.detection.config import ModelConfig

    budget = args.budget if args.budget is not None else (0.5 if args.quick else 4.0)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    rows = model_rows("resnet50_fpn", build_model(ModelConfig(builder="resnet50_fpn", num_classes=91)),
                      R50_SIZE, budget, target=True)
    bundled, what = load_bundled()
    rows += model_rows(f"bundled model ({what})", bundled, BUNDLED_SIZE, budget, target=False)
    gpu = torch.cuda.get_device_name(0)
    finish("bench_gpu", rows, args, [f"{gpu}, torch {torch.__version__}, CUDA {torch.version.cuda}"])
    if args.doc:
        when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        doc = args.doc.read_text(encoding="utf-8") if args.doc.is_file() else "# Benchmarks\n"
        args.doc.write_text(splice_gpu_section(doc, gpu_section(rows, gpu, when, torch.__version__)),
                            encoding="utf-8")
        print(f"wrote the GPU section of {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
