"""``detector-app anchors``: how well do a model's anchors fit a dataset's boxes?"""

from __future__ import annotations

import argparse

HELP = "anchor study: box size/ratio distribution, best-anchor IoU per box, suggested anchors (k-means 1-IoU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset with boxes (COCO folder or JSON, ...)")
    parser.add_argument(
        "--config",
        default="small",
        help="builder name, model config JSON, or a checkpoint (.pt) whose config to use (default small)",
    )
    parser.add_argument("--scales", type=int, help="number of anchor sizes to suggest (default: as the model)")
    parser.add_argument("--ratios", type=int, help="number of aspect ratios to suggest (default: as the model)")
    parser.add_argument("--plot", metavar="OUT.png", help="write histograms (sizes, ratios, best IoU) here")
    parser.add_argument("--json", metavar="OUT.json", help="write the summary as JSON here")
    parser.add_argument("--limit", type=int, help="use the first N images only")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from detector_app.detection.anchor_study import format_study, plot_study, study_anchors
    from detector_app.detection.config import ModelConfig
    from detector_app.detection.datasets import load_detection_data
    from detector_app.media.images import write_image
    from detector_app.textprogress import TextProgressBar

    data = load_detection_data(args.data)
    if args.limit:
        data.samples = data.samples[: args.limit]
    if args.config.endswith(".pt"):
        from detector_app.detection.training import load_checkpoint_dict

        mconf = ModelConfig.from_dict(dict(load_checkpoint_dict(args.config)["config"]))
    else:
        mconf = ModelConfig.from_arg(args.config, num_classes=len(data.class_names) + 1)
    study = study_anchors(data, mconf, args.scales, args.ratios, progress=TextProgressBar("anchors"))
    print(format_study(study))
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        write_image(args.plot, plot_study(study))
        print(f"wrote {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(study.summary, indent=1), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0
