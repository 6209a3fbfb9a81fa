"""``detector-app ablate-anchors``: train briefly with 1x1, 3x1, 1x3, 3x3 anchors, compare AP."""

from __future__ import annotations

import argparse

HELP = ("anchor ablation (paper Table 8): training runs with 1x1, 1x3, 3x1, 3x3 anchors, AP side by side; "
        "several seeds, resumable (finished runs in OUT_DIR/ablation.json are kept, a stopped one resumes)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="training dataset")
    parser.add_argument("--val", required=True, help="validation dataset")
    parser.add_argument("--config", help="base model: builder name or config JSON "
                        "(default: the --init checkpoint's own, else small)")
    parser.add_argument("--iters", type=int, default=300, help="training iterations per variant (default 300)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0, help="the seed of a single run per variant (default 0)")
    parser.add_argument("--seeds", type=int, nargs="+", metavar="S",
                        help="several seeds per variant (mean and spread are reported), e.g. --seeds 0 1")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="training precision (bf16: CPU backbone under bfloat16 autocast, as train)")
    parser.add_argument("--roi-batch", type=int, default=None, metavar="N", help="RoIs per image for the box loss")
    parser.add_argument("--recall", action="store_true",
                        help="also measure the RPN's recall at 300 proposals on the validation set")
    parser.add_argument("--init", help="start every variant from this checkpoint (RPN output layers re-initialised)")
    parser.add_argument("--val-limit", type=int, help="validate on the first N images only")
    parser.add_argument("--out-dir", default="runs/ablate-anchors", help="checkpoints and ablation.json go here")
    parser.add_argument("--device", help="cpu, cuda (default: cuda if available)")


def run(args: argparse.Namespace) -> int:
    from detector_app.detection.ablation import ablate_anchors, format_rows
    from detector_app.detection.config import ModelConfig
    from detector_app.detection.datasets import load_detection_data
    from detector_app.textprogress import TextProgressBar

    n_classes = len(load_detection_data(args.data).class_names) + 1
    if args.config is None and args.init:  # the network the weights were trained for (stride 8 for the bundled one)
        from detector_app.detection.checkpoints import load_checkpoint

        base = load_checkpoint(args.init, "cpu").config
        base.num_classes = n_classes
    else:
        base = ModelConfig.from_arg(args.config or "small", num_classes=n_classes)
    rows = ablate_anchors(args.data, args.val, args.out_dir, base, iters=args.iters, batch=args.batch,
                          lr=args.lr, seed=args.seed, val_limit=args.val_limit, device=args.device, init=args.init,
                          seeds=tuple(args.seeds) if args.seeds else None, recall=args.recall,
                          precision=args.precision, roi_batch=args.roi_batch,
                          progress=TextProgressBar("ablate"))
    print(format_rows(rows))
    print(f"table: {args.out_dir}/ablation.json")
    return 0
