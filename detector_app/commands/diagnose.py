"""``detector-app diagnose``: the recall funnel of a model on a project or a dataset."""

from __future__ import annotations

import argparse

HELP = ("recall funnel: how many annotated objects survive anchor coverage, the RPN (at 50/100/300/1000 "
        "proposals), the RoI head and the thresholds, per class and size, and which stage lost the others")

EPILOG = """\
DATASET_OR_PROJECT is a project folder (one with .detector_app/: its images with boxes)
or a dataset in any format `convert` reads. --json writes every number and every object
(schema: docs/diagnose.md). Exit status 0, or 2 on an error."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from detector_app.commands._args import add_images_folder

    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("target", metavar="DATASET_OR_PROJECT", help="project folder or dataset file/folder")
    parser.add_argument("--model", default=None, help="checkpoint, hub file name or builder (default: bundled model)")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cpu-bf16, cuda, cuda:N")
    parser.add_argument("--format", default=None, choices=["coco", "voc", "yolo", "labelme"],
                        help="dataset format (default: detected)")
    add_images_folder(parser)
    parser.add_argument("--score-thresh", type=float, default=None, metavar="F",
                        help="the final stage's score threshold (default: the model's)")
    parser.add_argument("--nms-thresh", type=float, default=None, metavar="F",
                        help="the final stage's class NMS IoU (default: the model's)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N annotated images")
    parser.add_argument("--json", metavar="OUT", help="write the funnel as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from detector_app.app import jobs
    from detector_app.app.diagnose import dataset_items, project_items, run_funnel
    from detector_app.app.store import STORE_DIR, ProjectStore
    from detector_app.domain.fsutil import atomic_write_text
    from detector_app.formats import load_dataset
    from detector_app.textprogress import TextProgressBar

    target = Path(args.target)
    if target.is_dir() and (target / STORE_DIR).is_dir():
        store = ProjectStore(target, read_only=True, autosave_interval=None)
        try:
            items = project_items(store)
        finally:
            store.close()
        what = f"project {target}"
    else:
        dataset = load_dataset(target, args.format, images=getattr(args, "images", None))
        items = dataset_items(dataset)
        what = f"{dataset.format} dataset {target}"
    if args.limit is not None:
        items = items[: max(0, args.limit)]
    detector, info = jobs.load_detector(args.model, args.device)
    for w in info.warnings:
        print(f"warning: {w}")
    objects = sum(len(i.record.annotations) for i in items)
    print(f"{what}: {len(items)} annotated image(s), {objects} object(s); model {info.name} on {info.device}")
    funnel = run_funnel(items, detector, args.score_thresh, args.nms_thresh, progress=TextProgressBar("diagnose"),
                        model=info.path or info.name)
    for problem in funnel.skipped:
        print(f"skipped: {problem}")
    print(funnel.table())
    lost = funnel.lost_at()
    if lost:
        print("missed objects, by the stage that lost them: "
              + ", ".join(f"{stage} {n}" for stage, n in lost.items()))
    if args.json:
        atomic_write_text(args.json, json.dumps(funnel.to_dict(), indent=1))
        print(f"wrote {args.json}")
    return 0
