"""Argument groups that several subcommands share."""

from __future__ import annotations

import argparse


def add_image_mode(parser: argparse.ArgumentParser, copy_help: str, relative_help: str) -> None:
    """``--copy`` / ``--symlink`` / ``--relative`` (one of them, ``args.image_mode``,
    None when none is given): how a written dataset holds its images. The
    defaults differ per command, so each says its own in ``copy_help`` and
    ``relative_help``."""
    images = parser.add_mutually_exclusive_group()
    images.add_argument("--copy", dest="image_mode", action="store_const", const="copy", help=copy_help)
    images.add_argument("--symlink", dest="image_mode", action="store_const", const="symlink",
                        help="symlink the images into OUT")
    images.add_argument("--relative", dest="image_mode", action="store_const", const="relative", help=relative_help)


def add_allow_outside(parser: argparse.ArgumentParser) -> None:
    """``--allow-outside``: also write images that an annotation file (or the project
    store) names outside its own folder; by default they are left out and listed."""
    parser.add_argument("--allow-outside", action="store_true",
                        help="also export images referenced outside the dataset's folder (../.., absolute "
                             "paths, symbolic links leading out); by default they are left out and listed, so a "
                             "dataset from elsewhere cannot pull other files into OUT")


def add_layouts(parser: argparse.ArgumentParser) -> None:
    """``--coco-layout`` and ``--yolo-layout``: how a written dataset is laid out
    (``ExportOptions.coco_layout`` / ``yolo_layout``)."""
    parser.add_argument("--coco-layout", choices=["standard", "flat"],
                        help="COCO only: standard (annotations/instances_<split>.json + images/<split>/, "
                             "split 'default' without --split, as CVAT's 'COCO 1.0'; the default) or flat "
                             "(annotations.json + images/; the default with --relative)")
    parser.add_argument("--yolo-layout", choices=["ultralytics", "darknet"], default="ultralytics",
                        help="YOLO only: ultralytics (images/, labels/, data.yaml; default) or darknet "
                             "(obj.data, obj.names, obj_<split>_data/: CVAT's 'YOLO 1.1')")


def coco_layout(args: argparse.Namespace) -> str:
    """The COCO layout asked for: ``--coco-layout``, else ``standard``, or ``flat`` with
    ``--relative`` (the standard layout holds its images; the flat one can refer to them)."""
    if args.coco_layout:
        return str(args.coco_layout)
    return "flat" if args.image_mode == "relative" else "standard"


def add_images_folder(parser: argparse.ArgumentParser) -> None:
    """``--images DIR``: where a COCO file's images are, when its layout does not say."""
    parser.add_argument("--images", metavar="DIR",
                        help="COCO: the folder the file_name entries are relative to (default: found from the "
                             "layout: annotations/instances_<split>.json with images/<split>/, <split>2017/, "
                             "images/, or beside the JSON)")


def warn_if_bf16_is_slow(precision: str, device_type: str) -> None:
    """Print one warning line to stderr when the user asked for ``--precision bf16``
    on a CPU where it is measured slower than float32 (``detection.precision.bf16_slow_warning``)."""
    if precision != "bf16":
        return
    import sys

    from detector_app.detection.precision import bf16_slow_warning

    message = bf16_slow_warning(device_type)
    if message:
        print(f"warning: {message}", file=sys.stderr)
