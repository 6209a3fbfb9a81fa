"""Regenerate the README screenshots from the real app on the bundled samples.

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 python docs/screenshots/make_screenshots.py [--model models/default.pt]

Drives the real ``MainWindow`` (worker, model, canvas, stepper) on a copy of
``resources/samples`` in a temporary folder and saves PNGs next to this file:
overview (detections), proposals (proposal overlay + stepper), anchors (the
anchors of one cell + grid, legend), editing (accepted boxes, one selected),
anchor_labels (how training would label the anchors against those boxes).
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
    if ss.result is not None and len(ss.result.scores):
        p.stepper.select_detection(0)
    shot("overview")

    ss.set_overlay("proposals", True)
    p.proposal_top_n.setValue(30)
    if ss.result is not None and len(ss.result.scores) > 1:
        p.stepper.select_detection(1)
    shot("proposals")
    ss.set_overlay("proposals", False)

    ss.set_overlay("detections", False)
    ss.set_overlay("anchors", True)
    ss.set_overlay("grid", True)
    trace = ss.trace
    if ss.result is not None and len(ss.result.boxes):
        x1, y1, x2, y2 = (float(v) for v in ss.result.boxes[0])
        c.pin_cell(((x1 + x2) / 2, (y1 + y2) / 2))
    elif trace is not None:
        c.pin_cell((trace.image_size[1] / 2, trace.image_size[0] / 2))
    p.docks["legend"].raise_()
    shot("anchors")
    c.pin_cell(None)
    ss.set_overlay("anchors", False)
    ss.set_overlay("grid", False)
    ss.set_overlay("detections", True)

    ss.accept_all()
    if ss.record is not None and ss.record.annotations:
        ss.select_annotation(ss.record.annotations[0].id)
    ss.set_overlay("detections", False)
    p.docks["stats"].raise_()
    shot("editing")

    ss.select_annotation(None)
    ss.set_overlay("anchor_labels", True)
    p.docks["legend"].raise_()
    shot("anchor_labels")
    win.close()
    QApplication.processEvents()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
