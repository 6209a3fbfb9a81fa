"""``detector-app evaluate``: COCO mAP of a model on a dataset (pycocotools)."""

from __future__ import annotations

import argparse

HELP = "COCO AP@[.5:.95], AP50, AP75, per-class AP and PR curves of a model on a dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset with ground truth (COCO folder or JSON, ...)")
    parser.add_argument("--model", required=True, help="checkpoint file (.pt)")
    parser.add_argument("--json", metavar="OUT", help="write all metrics (and PR curves) as JSON here")
    parser.add_argument("--device", help="cpu, cuda (default: cuda if available)")
    parser.add_argument("--limit", type=int, help="evaluate on the first N images only")
    parser.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
                        help="CPU arithmetic: fp32 (default, the reference), bf16 (backbone under bfloat16 "
                             "autocast) or auto (bf16 where it is measured faster than fp32 on this CPU)")
    parser.add_argument("--batch", type=int, default=4, help="images per forward pass (default 4)")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from detector_app.commands._args import warn_if_bf16_is_slow
    from detector_app.detection.builders import select_device
    from detector_app.detection.datasets import load_detection_data
    from detector_app.detection.evaluation import evaluate_checkpoint, format_table
    from detector_app.domain.fsutil import atomic_write_text
    from detector_app.textprogress import TextProgressBar

    data = load_detection_data(args.data)
    if args.limit:
        data.samples = data.samples[: args.limit]
    device = select_device(args.device)
    warn_if_bf16_is_slow(args.precision, device.type)
    metrics = evaluate_checkpoint(args.model, data, device, args.batch,
                                  progress=TextProgressBar("evaluate"), precision=args.precision)
    print(format_table(metrics))
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps({"data": str(args.data), "model": str(args.model), **metrics}, indent=1))
        print(f"wrote {out}")
    return 0
