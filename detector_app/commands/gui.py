"""``detector-app gui [PATHS...] [--model M] [--device D]``: the desktop app."""

from __future__ import annotations

import argparse

HELP = (
    "open the desktop app on images, a folder or a video (no paths: the bundled "
    "samples with the bundled model)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="image files, a folder, or a video (.mp4/.avi); default: resources/samples")
    parser.add_argument("--model", default=None, metavar="M",
                        help="checkpoint file, torchvision .pth, builder name, or 'default' (the bundled model)")
    parser.add_argument("--device", default=None, metavar="D",
                        help="cpu, cuda or cuda:N (default: CUDA when present, else CPU)")


def run(args: argparse.Namespace) -> int:
    from detector_app.qt.app import run_gui

    return run_gui(args.paths, model=args.model, device=args.device)
