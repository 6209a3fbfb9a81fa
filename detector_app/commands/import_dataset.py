"""``detector-app import``: bring a dataset's boxes (COCO, VOC, YOLO, LabelMe) into a project."""

from __future__ import annotations

import argparse

from detector_app.commands._args import add_images_folder

HELP = "import the boxes of a COCO, Pascal VOC, YOLO or LabelMe dataset into a project"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``PROJECT DATASET [--format F] [--mode replace|append]``."""
    parser.add_argument("project", metavar="PROJECT", help="project folder (images/videos + .detector_app/)")
    parser.add_argument("dataset", metavar="DATASET",
                        help="dataset file or folder (annotations.json, Annotations/, data.yaml, LabelMe .json)")
    parser.add_argument("--format", dest="fmt", choices=["coco", "voc", "yolo", "labelme"],
                        help="dataset format (default: detected)")
    parser.add_argument("--mode", choices=["replace", "append"], default="replace",
                        help="replace the boxes of each image the dataset names (default) or add to them")
    add_images_folder(parser)


def run(args: argparse.Namespace) -> int:
    """Open the project writable, import (all or nothing), print skipped images and the summary."""
    from pathlib import Path

    from detector_app.app.dataset_io import import_annotations
    from detector_app.app.store import ProjectStore
    from detector_app.domain.errors import UserError
    from detector_app.textprogress import TextProgressBar

    if not Path(args.project).is_dir():
        raise UserError(f"{args.project}: not a project folder")
    store = ProjectStore(args.project, require_writable=True, autosave_interval=None)
    try:
        result = import_annotations(store, args.dataset, args.fmt, args.mode, progress=TextProgressBar("import"),
                                    images=args.images)
    finally:
        store.close()  # saves what was imported (one transaction); nothing when the import failed
    for warning in result.warnings:
        print(f"warning: {warning}")
    for problem in result.skipped:
        print(f"skipped: {problem}")
    print(f"{result.summary()} into {store.root} ({args.mode})")
    return 0
