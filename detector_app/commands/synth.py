"""``detector-app synth``: generate a synthetic shapes dataset (COCO) and/or video."""

from __future__ import annotations

import argparse

HELP = "generate a synthetic shapes dataset (COCO: images/ + annotations.json) and/or a short video"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="output folder for the image dataset")
    parser.add_argument("--images", type=int, default=100, help="number of images (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed -> same bytes (default 0)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image file format (default jpg)")
    parser.add_argument("--classes", default=None,
                        help="comma-separated shapes, in category order (default circle,square,triangle,bar,star; "
                             "cross and hexagon are shapes the bundled model never saw)")
    parser.add_argument("--style", choices=("v1", "wide", "mixed"), default="v1",
                        help="v1 (default: the first style), wide (textured and noisy backgrounds, clutter, "
                             "any rotation, wider proportions, blur, sensor noise, JPEG, occluders) or mixed "
                             "(even images v1, odd ones wide)")
    parser.add_argument("--video", metavar="OUT.mp4",
                        help="also write a short video with per-frame ground truth (OUT.json beside it)")
    parser.add_argument("--seconds", type=float, default=4.0, help="video length (default 4 s)")
    parser.add_argument("--video-size", default="512x384", help="video WxH (default 512x384)")


def run(args: argparse.Namespace) -> int:
    from detector_app.detection.synthetic import CLASS_NAMES, SynthError, write_dataset, write_video
    from detector_app.textprogress import TextProgressBar

    if not args.out and not args.video:
        raise SynthError("give --out DIR (image dataset) and/or --video OUT.mp4")
    if args.out:
        classes = CLASS_NAMES if args.classes is None else tuple(c.strip() for c in args.classes.split(","))
        path = write_dataset(args.out, args.images, args.seed, args.size, args.format,
                             progress=TextProgressBar("synth"), classes=classes, style=args.style)
        print(f"wrote {args.images} images and {path}")
    if args.video:
        try:
            w, h = (int(v) for v in args.video_size.lower().split("x"))
        except ValueError:
            raise SynthError(f"--video-size {args.video_size!r}: expected WxH, e.g. 512x384") from None
        path = write_video(args.video, args.seed, args.seconds, width=w, height=h,
                           progress=TextProgressBar("video"))
        print(f"wrote {args.video} and {path}")
    return 0
