"""``detector-app detect-all``: detect every image of a project and store the traces in it."""

from __future__ import annotations

import argparse

HELP = ("detect every image of a project (or those not yet reviewed) and store the traces in the project, "
        "so the app steps through them without waiting; Ctrl-C keeps what is done")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="project folder (images/videos; .detector_app/ is made)")
    parser.add_argument("--model", default=None, help="checkpoint, hub file name or builder (default: bundled model)")
    parser.add_argument("--device", default=None,
                        help="auto (default, as the app), cpu, cpu-bf16, cuda, cuda:N; the app uses the stored "
                             "traces of the same model on the same device")
    parser.add_argument("--only-unreviewed", action="store_true", help="skip images already edited or verified")
    parser.add_argument("--redo", action="store_true", help="detect again images whose traces are stored")
    parser.add_argument("--score-thresh", type=float, default=0.5, metavar="F",
                        help="score threshold the usefulness of each image is judged at (\"most useful first\"; "
                             "default 0.5, the app's)")
    parser.add_argument("--max-gb", type=float, default=2.0, metavar="G",
                        help="keep this model's stored traces under G GB (oldest dropped first; default 2)")


def run(args: argparse.Namespace) -> int:
    from detector_app.app import jobs
    from detector_app.app.detect_all import detect_all, image_keys
    from detector_app.app.store import ProjectStore
    from detector_app.app.trace_store import TraceStore
    from detector_app.domain.annotations import ItemState
    from detector_app.domain.errors import Cancelled, UserError
    from detector_app.textprogress import TextProgressBar

    if not 0.0 <= args.score_thresh <= 1.0:
        raise UserError(f"--score-thresh must be between 0 and 1, got {args.score_thresh}")
    detector, info = jobs.load_detector(args.model, args.device)
    for w in info.warnings:
        print(f"warning: {w}")
    store = ProjectStore(args.project, autosave_interval=None)
    try:
        keys = image_keys(store, args.only_unreviewed)
        traces = TraceStore(store.store_dir, info.cache_id, max_bytes=int(args.max_gb * 1024 ** 3))
        print(f"{len(keys)} image(s) of {store.root}; model {info.name} on {info.device}; traces in {traces.folder}")

        def mark(key: str) -> None:
            if store.record(key).state is ItemState.NOT_SEEN:
                store.set_state(key, ItemState.DETECTED)

        try:
            result = detect_all(store.root, keys, detector, traces, progress=TextProgressBar("detect-all"),
                                on_done=mark, redo=args.redo, score_thresh=args.score_thresh)
        except (KeyboardInterrupt, Cancelled):
            print("\nstopped: the traces stored so far are kept")
            return 130
        store.flush()
    finally:
        store.close()
    for problem in result.skipped:
        print(f"skipped: {problem}")
    print(f"{result.summary()}; {traces.count()} trace(s), {traces.size_bytes() / 1e6:.0f} MB stored")
    return 0
