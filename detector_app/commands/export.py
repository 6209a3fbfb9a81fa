"""``detector-app export``: write a project's annotations as a dataset."""

from __future__ import annotations

import argparse

from detector_app.commands._args import add_allow_outside, add_image_mode, add_layouts, coco_layout

HELP = "export a project's reviewed images and boxes as COCO, Pascal VOC or YOLO"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="project folder (images/videos + .detector_app/)")
    parser.add_argument("output", metavar="OUT", help="output folder (must not exist or be empty)")
    parser.add_argument("--format", required=True, choices=["coco", "voc", "yolo"], help="dataset format")
    parser.add_argument("--split", type=float, metavar="F", help="train fraction, e.g. 0.8 (default: no split)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--verified-only", action="store_true", help="only images marked verified")
    parser.add_argument("--include-model-boxes", action="store_true",
                        help="also accepted model boxes never corrected on unverified images")
    add_image_mode(parser, copy_help="copy the images into OUT (default)",
                   relative_help="refer to the images where they are (VOC, and COCO in the flat layout)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it is not empty")
    add_allow_outside(parser)
    add_layouts(parser)


def run(args: argparse.Namespace) -> int:
    from detector_app.app.export import ExportOptions, export_dataset
    from detector_app.app.store import ProjectStore
    from detector_app.textprogress import TextProgressBar

    options = ExportOptions(split=args.split, seed=args.seed, verified_only=args.verified_only,
                            include_model_boxes=args.include_model_boxes,
                            image_mode=args.image_mode or "copy", overwrite=args.overwrite,
                            allow_outside=args.allow_outside,
                            yolo_layout=args.yolo_layout, coco_layout=coco_layout(args))
    store = ProjectStore(args.project, read_only=True, autosave_interval=None)
    try:
        result = export_dataset(store, args.format, args.output, options, progress=TextProgressBar("export"))
    finally:
        store.close()
    for problem in result.skipped:
        print(f"skipped: {problem}")
    print(f"wrote {result.summary()}")
    return 0
