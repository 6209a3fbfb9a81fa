"""Regenerate the README screenshots from the real app on the bundled samples.

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 python docs/screenshots/make_screenshots.py [--model models/default.pt]

Drives the real ``MainWindow`` (worker, model, canvas, stepper) on a copy of
``resources/samples`` in a temporary folder and saves PNGs next to this file:
overview (detections), proposals (proposal overlay + stepper), anchors (the
anchors of one cell + grid, legend), editing (accepted boxes, one selected),
anchor_labels (how training would label the anchors against those boxes),
keyframes (the sample clip interpolated between two keyframes), classes (the
Classes dialog).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--out", default=str(HERE))
    parser.add_argument("--image", type=int, default=1, help="which sample image (index in the file list)")
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--score", type=float, default=None, help="score threshold (default: the app's)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shots-"))
    os.environ["DETECTOR_APP_CONFIG_DIR"] = str(tmp / "config")
    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from detector_app.app.settings import Settings
    from detector_app.qt.app import make_application
    from detector_app.qt.main_window import MainWindow

    app = make_application()
    shutil.copytree(REPO / "resources" / "samples" / "images", tmp / "samples")
    win = MainWindow(model=args.model, device="cpu", settings=Settings(tmp / "settings.json"))
    w, h = (int(v) for v in args.size.split("x"))
    win.resize(w, h)
    win.show()
    win.open_initial([str(tmp / "samples")])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def settle(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)  # as the real event loop does
            time.sleep(0.01)

    def wait_trace() -> None:
        end = time.monotonic() + 120
        while win.session.trace is None and time.monotonic() < end:
            settle(0.05)
        if win.session.trace is None:
            raise SystemExit("no trace: is the model there? see the log panel")
        settle(0.3)

    def shot(name: str) -> None:
        settle(0.3)
        path = out / f"{name}.png"
        win.grab().save(str(path), "PNG")
        print(f"{path} ({path.stat().st_size // 1024} KiB)")

    ss, p, c = win.session, win.panels, win.canvas
    if args.score is not None:
        ss.set_thresholds(score_thresh=args.score)
    wait_trace()
    ss.go_to(args.image)
    wait_trace()
    p.docks["stepper"].raise_()
    by_size: list[int] = []  # detections, largest first (their explanation reads best)
    if ss.result is not None and len(ss.result.scores):
        b = ss.result.boxes
        by_size = [int(i) for i in sorted(range(len(b)), key=lambda i: -(b[i][2] - b[i][0]) * (b[i][3] - b[i][1]))]
        p.stepper.select_detection(by_size[0])
    shot("overview")

    ss.set_overlay("proposals", True)
    p.proposal_top_n.setValue(30)
    if len(by_size) > 1:
        p.stepper.select_detection(by_size[1])
    shot("proposals")
    ss.set_overlay("proposals", False)

    ss.set_overlay("detections", False)
    ss.set_overlay("anchors", True)
    ss.set_overlay("grid", True)
    trace = ss.trace
    if ss.result is not None and len(ss.result.boxes) and trace is not None:
        h, w = trace.image_size  # the detection nearest the middle: its anchors stay in view
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in ss.result.boxes.tolist()]
        c.pin_cell(min(centres, key=lambda q: (q[0] - w / 2) ** 2 + (q[1] - h / 2) ** 2))
    elif trace is not None:
        c.pin_cell((trace.image_size[1] / 2, trace.image_size[0] / 2))
    p.docks["legend"].raise_()
    shot("anchors")
    c.pin_cell(None)
    ss.set_overlay("anchors", False)
    ss.set_overlay("grid", False)
    ss.set_overlay("detections", True)

    select = correct_like_a_person(ss, REPO / "resources" / "samples" / "annotations.json")
    ss.select_annotation(select)
    ss.set_overlay("detections", False)
    p.docks["stats"].raise_()
    shot("editing")

    ss.select_annotation(None)
    ss.set_overlay("anchor_labels", True)
    p.docks["legend"].raise_()
    shot("anchor_labels")
    ss.set_overlay("anchor_labels", False)
    ss.set_overlay("detections", True)
    keyframes_and_classes(win, ss, tmp, out, shot, settle, wait_trace)
    win.close()
    QApplication.processEvents()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def correct_like_a_person(ss, gt_file: Path) -> str | None:
    """Correct the image against the samples' ground truth as a reviewer would
    (``app.simulated_review``: delete wrong boxes, relabel, adjust, draw the missed
    objects). Returns the id of a box to show selected: one drawn by hand, if any."""
    import numpy as np

    from detector_app.app.simulated_review import review_current
    from detector_app.domain.annotations import AnnotationSource
    from detector_app.formats import load_dataset

    if ss.record is None or not gt_file.is_file():
        return None
    truth = [a for rec in load_dataset(gt_file).images if Path(rec.path).name == Path(ss.key).name
             for a in rec.annotations]
    boxes = np.array([a.box.to_tuple() for a in truth], np.float64).reshape(-1, 4)
    review_current(ss, boxes, [a.label for a in truth])
    drawn = [a.id for a in ss.record.annotations if a.source is AnnotationSource.MANUAL]
    return drawn[0] if drawn else (ss.record.annotations[0].id if ss.record.annotations else None)


def keyframes_and_classes(win, ss, tmp: Path, out: Path, shot, settle, wait_trace) -> None:
    """The sample clip: keyframes on frames 1 and 10, Interpolate, frame 5 shown; then the
    Classes dialog."""
    (tmp / "clip").mkdir()
    shutil.copy2(REPO / "resources" / "samples" / "shapes.mp4", tmp / "clip" / "shapes.mp4")
    win.open_paths([str(tmp / "clip")])
    wait_trace()
    ss.accept_all()
    ss.go_frame(9)
    ss.view.show(None, None)  # wait for frame 10's own detections
    wait_trace()
    ss.accept_all()
    ss.interpolate()
    ss.go_frame(4)
    wait_trace()
    ss.select_annotation(ss.record.annotations[0].id if ss.record and ss.record.annotations else None)
    win.panels.docks["stepper"].raise_()
    shot("keyframes")
    dialog = win.open_classes()
    dialog.select(ss.labels.names[0])
    settle(0.3)
    dialog.grab().save(str(out / "classes.png"), "PNG")
    print(out / "classes.png")
    dialog.close()


if __name__ == "__main__":
    raise SystemExit(main())
