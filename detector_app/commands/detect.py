"""``detector-app detect``: run a model over images, write COCO results JSON and overlays."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from detector_app.detection.checkpoints import LoadedModel
    from detector_app.detection.distributed import DistInfo
    from detector_app.detection.inference import ImageResult

HELP = "detect objects in images or folders of images; COCO results JSON, PNG overlays, a summary table"

EPILOG = """\
exit status: 0 when every image was processed, 1 when some were skipped (each is
reported on stderr with the reason), 2 on an error such as a missing model.
Under torchrun (python -m torch.distributed.run --nproc_per_node=N -m detector_app
detect ...) each process detects every N-th image and rank 0 merges the results
into one --json file and one summary (gloo on CPUs, NCCL on GPUs).
--model takes a checkpoint file, a torchvision weight file (e.g. from the torch
hub cache), a file name inside the hub cache, or a builder name (random weights,
for experiments). Without --model the bundled models/default.pt is used."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("inputs", nargs="+", metavar="IMAGES_OR_DIRS", help="image files and/or folders of images")
    parser.add_argument("--model", default=None, help="checkpoint path or builder name (default: bundled model)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    parser.add_argument("--score-thresh", type=float, default=None, metavar="F",
                        help="keep detections scoring above F (default: the model's, usually 0.05)")
    parser.add_argument("--json", metavar="OUT", help="write COCO detection results here")
    parser.add_argument("--save-overlays", metavar="DIR", help="write <name>.png with the detections drawn")
    parser.add_argument("--amp", action="store_true", help="fp16 autocast (CUDA only; ignored on CPU)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="CPU inference precision: bf16 runs the backbone channels-last under bfloat16 "
                        "autocast (about 2x faster on AMX / AVX-512-BF16 CPUs, 3-20x slower elsewhere; RoI head "
                        "stays fp32); auto (default): bf16 where it is measured faster than fp32 on this CPU, "
                        "else fp32. CPU only: use --amp on CUDA")
    parser.add_argument("--recursive", action="store_true", help="also search sub-folders of folder inputs")


def _summary(results: list[ImageResult], class_names: list[str]) -> str:
    """A plain-text table: one row per image, then totals."""
    from collections import Counter

    rows = [("#", "file", "size", "dets", "top classes", "ms")]
    for r in results:
        if not r.ok:
            rows.append((str(r.image_id), r.path.name, "-", "-", "SKIPPED", "-"))
            continue
        labels: list[int] = [] if r.labels is None else [int(v) for v in r.labels]
        counts = Counter(class_names[int(lab)] if int(lab) < len(class_names) else str(lab) for lab in labels)
        top = ", ".join(f"{n} x{c}" for n, c in counts.most_common(3)) or "-"
        rows.append((str(r.image_id), r.path.name, f"{r.width}x{r.height}", str(r.num_detections), top,
                     f"{r.seconds * 1000:.0f}"))
    widths = [min(max(len(row[i]) for row in rows), 40) for i in range(len(rows[0]))]
    lines = ["  ".join(cell[:40].ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    done = [r for r in results if r.ok]
    total_dets = sum(r.num_detections for r in done)
    secs = sum(r.seconds for r in done)
    lines.append(f"{len(done)} image(s), {total_dets} detection(s), {len(results) - len(done)} skipped, "
                 f"{secs:.2f} s ({secs / max(len(done), 1) * 1000:.0f} ms/image)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from detector_app.detection.builders import select_device
    from detector_app.detection.distributed import cleanup, init_distributed
    from detector_app.detection.inference import collect_images
    from detector_app.domain.errors import UserError

    if args.score_thresh is not None and not 0.0 <= args.score_thresh <= 1.0:
        raise UserError(f"--score-thresh must be between 0 and 1, got {args.score_thresh}")
    paths = collect_images(args.inputs, recursive=args.recursive)
    device = select_device(args.device)
    info = init_distributed(device)
    try:
        return _run(args, paths, device, info)
    finally:
        cleanup(info)


def _overlay_names(paths: list[Path]) -> list[str]:
    """``<stem>.png`` per image, ``<stem>_<id>.png`` where stems collide (decided over the
    whole input list, so the processes of a distributed run agree)."""
    from collections import Counter

    stems = Counter(p.stem for p in paths)
    return [f"{p.stem}.png" if stems[p.stem] == 1 else f"{p.stem}_{i + 1}.png" for i, p in enumerate(paths)]


def _gather(results: list[ImageResult], info: DistInfo) -> list[ImageResult]:
    """Every process's results on rank 0, in image-id order (others get [])."""
    import torch.distributed as dist

    if not info.enabled:
        return results
    parts: list[list[ImageResult] | None] | None = [None] * info.world_size if info.is_main else None
    dist.gather_object(results, parts, dst=0)
    if not info.is_main:
        return []
    merged = [r for part in parts or [] for r in (part or [])]
    return sorted(merged, key=lambda r: r.image_id)


def _run(args: argparse.Namespace, paths: list[Path], device: torch.device, info: DistInfo) -> int:
    import sys

    from detector_app.detection.inference import detect_images
    from detector_app.textprogress import TextProgressBar

    overlay_names = _overlay_names(paths)
    mine = list(range(info.rank, len(paths), info.world_size))  # every image when not distributed
    loaded, precision = _load_model(args, device)
    overlay_dir = Path(args.save_overlays) if args.save_overlays else None
    if overlay_dir is not None:
        overlay_dir.mkdir(parents=True, exist_ok=True)

    names = loaded.class_names
    results = []
    label = "detect" if not info.enabled else f"detect (rank {info.rank} of {info.world_size})"
    bar = TextProgressBar(label) if info.is_main else None
    for r in detect_images(loaded, [paths[i] for i in mine], score_thresh=args.score_thresh, device=device,
                           amp=args.amp, precision=precision, keep_images=overlay_dir is not None, progress=bar,
                           image_ids=[i + 1 for i in mine]):
        if not r.ok:
            print(f"skipped: {r.error}", file=sys.stderr)
        elif overlay_dir is not None:
            _save_overlay(r, overlay_dir / overlay_names[r.image_id - 1], names)
        results.append(r)
    results = _gather(results, info)
    if not info.is_main:
        return 0
    _report(args, results, names, f"device {device}, precision {precision}"
            + (" (backbone bfloat16)" if precision == "bf16" else "")
            + (f", {info.world_size} processes ({info.backend})" if info.enabled else ""))
    return 0 if all(r.ok for r in results) else 1


def _load_model(args: argparse.Namespace, device: torch.device) -> tuple[LoadedModel, str]:
    """The model ``--model`` names on ``device`` (its warnings on stderr) and the precision
    to run it in (``--precision``; ``auto`` resolved)."""
    import sys
    import warnings

    from detector_app.commands._args import warn_if_bf16_is_slow
    from detector_app.detection.hub import load_model
    from detector_app.detection.precision import resolve_precision
    from detector_app.domain.errors import UserError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_model(args.model, device)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.amp and device.type != "cuda":
        print("warning: --amp needs a CUDA device; running in fp32", file=sys.stderr)
    if args.precision == "bf16" and device.type != "cpu":
        raise UserError(f"--precision bf16 is for CPU inference; the device is {device} (use --amp there)")
    precision = resolve_precision(args.precision, device.type)
    warn_if_bf16_is_slow(args.precision, device.type)
    return loaded, precision


def _save_overlay(r: ImageResult, path: Path, names: list[str]) -> None:
    """Write ``r``'s image with its detections drawn to ``path`` (PNG), then drop the pixels."""
    import cv2

    from detector_app.detection.overlay import draw_detections
    from detector_app.domain.errors import UserError
    from detector_app.domain.fsutil import atomic_write_bytes

    if r.image is None or r.boxes is None or r.labels is None or r.scores is None:
        return
    drawn = draw_detections(r.image, r.boxes, r.labels, r.scores, names)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"{path}: cannot encode the overlay as PNG")
    atomic_write_bytes(path, buf.tobytes())
    r.image = None  # free the pixels


def _report(args: argparse.Namespace, results: list[ImageResult], names: list[str], run_line: str) -> None:
    """Write ``--json`` and print the summary table, ``run_line`` (device, precision,
    processes) and where the outputs went."""
    import json

    from detector_app.detection.inference import coco_results
    from detector_app.domain.fsutil import atomic_write_text

    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(coco_results(results, names), indent=1))
    print(_summary(results, names))
    print(run_line)
    if args.json:
        print(f"wrote {args.json}")
    if args.save_overlays:
        print(f"overlays in {Path(args.save_overlays)}")
