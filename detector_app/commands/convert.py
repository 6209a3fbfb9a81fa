"""``detector-app convert``: convert an annotated dataset between formats."""

from __future__ import annotations

import argparse

from detector_app.commands._args import add_allow_outside, add_image_mode, add_images_folder, add_layouts, coco_layout

HELP = "convert a dataset between COCO, Pascal VOC, YOLO (and from LabelMe)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="dataset file or folder")
    parser.add_argument("output", metavar="OUT", help="output folder (must not exist or be empty)")
    parser.add_argument("--from", dest="src_format", choices=["coco", "voc", "yolo", "labelme"],
                        help="input format (default: detected)")
    parser.add_argument("--to", dest="dst_format", required=True, choices=["coco", "voc", "yolo"],
                        help="output format")
    add_image_mode(parser, copy_help="copy the images into OUT (default for COCO and YOLO)",
                   relative_help="refer to the images where they are (default for VOC; COCO: the flat layout)")
    parser.add_argument("--split", type=float, metavar="F", help="train fraction, e.g. 0.8 (default: no split)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--keep-crowd", action="store_true", help="keep COCO crowd boxes (default: skip)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it is not empty")
    add_allow_outside(parser)
    add_layouts(parser)
    add_images_folder(parser)


def run(args: argparse.Namespace) -> int:
    from detector_app.app.export import ExportOptions, export_dataset
    from detector_app.formats import load_dataset
    from detector_app.textprogress import TextProgressBar

    dataset = load_dataset(args.input, args.src_format, keep_crowd=args.keep_crowd, images=args.images)
    for warning in dataset.warnings[:20]:
        print(f"warning: {warning}")
    if len(dataset.warnings) > 20:
        print(f"warning: ... and {len(dataset.warnings) - 20} more")
    layout = coco_layout(args)
    copies = args.dst_format == "yolo" or (args.dst_format == "coco" and layout == "standard")
    mode = args.image_mode or ("copy" if copies else "relative")
    options = ExportOptions(split=args.split, seed=args.seed, include_model_boxes=True, image_mode=mode,
                            overwrite=args.overwrite, allow_outside=args.allow_outside,
                            yolo_layout=args.yolo_layout, coco_layout=layout)
    result = export_dataset(dataset, args.dst_format, args.output, options, progress=TextProgressBar("convert"))
    for problem in result.skipped:
        print(f"skipped: {problem}")
    print(f"read {len(dataset.images)} images ({dataset.format}); wrote {result.summary()}")
    return 0
