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

    ss.accept_all()
    select = correct_like_a_person(ss, REPO / "resources" / "samples" / "annotations.json")
    ss.select_annotation(select)
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


def correct_like_a_person(ss, gt_file: Path) -> str | None:
    """Fix the accepted boxes against the samples' ground truth, as a reviewer
    would: delete a wrong box, draw the missed objects (``manual``). Returns
    the id of a box to show selected."""
    import json

    import numpy as np

    from detector_app.domain.boxes import Box, box_iou

    if ss.record is None or not gt_file.is_file():
        return None
    coco = json.loads(gt_file.read_text(encoding="utf-8"))
    names = {c["id"]: c["name"] for c in coco["categories"]}
    ids = [im["id"] for im in coco["images"] if Path(im["file_name"]).name == Path(ss.key).name]
    gt = [(names[a["category_id"]], Box(a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                        a["bbox"][1] + a["bbox"][3]))
          for a in coco["annotations"] if a["image_id"] in ids]
    if not gt:
        return None

    def matches(label: str, box: Box, others: list) -> bool:
        same = [b.to_tuple() for lab, b in others if lab == label]
        return bool(same) and float(box_iou(np.array([box.to_tuple()]), np.array(same)).max()) >= 0.5

    for a in list(ss.record.annotations):
        if not matches(a.label, a.box, gt):
            ss.delete_annotation(a.id)
    drawn = None
    for label, box in gt:
        if not matches(label, box, [(a.label, a.box) for a in ss.record.annotations]):
            ss.select_annotation(None)  # (choosing a label relabels the selected box)
            ss.choose_label(label)
            drawn = ss.add_box(box) or drawn
    return drawn


if __name__ == "__main__":
    raise SystemExit(main())
