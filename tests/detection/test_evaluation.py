"""COCO evaluation: perfect -> 1, shifted -> lower, equal to a direct pycocotools run."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detector_app.cli import main
from detector_app.detection.builders import build_model
from detector_app.detection.checkpoints import atomic_torch_save
from detector_app.detection.datasets import DetectionData, Sample, load_detection_data
from detector_app.detection.evaluation import (
    Detections,
    coco_metrics,
    evaluate_checkpoint,
    format_table,
    remap_labels,
)
from detector_app.detection.training import make_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def _data() -> DetectionData:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(6):
        boxes, labels = [], []
        for _ in range(4):
            x, y = rng.uniform(0, 300, 2)
            w, h = rng.uniform(20, 150, 2)
            boxes.append((x, y, x + w, y + h))
            labels.append(int(rng.integers(1, 4)))
        samples.append(Sample(Path(f"img{i}.png"), 512, 512, np.array(boxes, np.float32),
                              np.array(labels, np.int64), i + 1))
    return DetectionData(Path("mem.json"), ["a", "b", "c"], samples)


def _perfect(data: DetectionData) -> list[Detections]:
    return [Detections(s.boxes.copy(), s.labels.copy(), np.linspace(0.99, 0.9, len(s.labels)))
            for s in data.samples]


def test_perfect_predictions_score_one() -> None:
    data = _data()
    m = coco_metrics(data, _perfect(data))
    for key in ("AP", "AP50", "AP75", "AR100"):
        assert m[key] == pytest.approx(1.0)
    assert all(row["AP"] == pytest.approx(1.0) for row in m["per_class"].values())
    assert m["pr_curve"]["a"][0] == pytest.approx(1.0) and len(m["pr_curve"]["recall"]) == 101
    assert "AP@[.5:.95] 1.000" in format_table(m)


def test_shifted_boxes_score_lower_and_monotonically() -> None:
    data = _data()
    scores = []
    for frac in (0.0, 0.1, 0.25, 0.6):
        dets = []
        for d in _perfect(data):
            w = d.boxes[:, 2] - d.boxes[:, 0]
            b = d.boxes.copy()
            b[:, 0] += frac * w
            b[:, 2] += frac * w
            dets.append(Detections(b, d.labels, d.scores))
        scores.append(coco_metrics(data, dets))
    aps = [s["AP"] for s in scores]
    assert aps[0] == pytest.approx(1.0)
    assert aps[0] > aps[1] > aps[2] > aps[3]
    assert scores[1]["AP50"] == pytest.approx(1.0)  # IoU 0.82: still a hit at 0.5
    assert scores[3]["AP50"] == pytest.approx(0.0)  # IoU 0.25: a miss everywhere


def test_wrong_class_and_missing_detections() -> None:
    data = _data()
    dets = _perfect(data)
    nothing = coco_metrics(data, [Detections(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0)) for _ in dets])
    assert nothing["AP"] == 0.0 and nothing["num_detections"] == 0
    wrong = [Detections(d.boxes, (d.labels % 3) + 1, d.scores) for d in dets]
    assert coco_metrics(data, wrong)["AP"] < 0.2


def test_matches_direct_pycocotools(tmp_path: Path) -> None:
    data = _data()
    rng = np.random.default_rng(1)
    dets, results = [], []
    for k, s in enumerate(data.samples):
        b = s.boxes + rng.normal(0, 6, s.boxes.shape).astype(np.float32)
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 2)
        extra = np.array([[10, 10, 60, 80]], np.float32)  # a false positive per image
        boxes = np.concatenate([b, extra])
        labels = np.concatenate([s.labels, [1]])
        scores = rng.uniform(0.1, 1.0, len(boxes))
        dets.append(Detections(boxes, labels, scores))
        for bb, lab, sc in zip(boxes, labels, scores):
            results.append({"image_id": k + 1, "category_id": int(lab), "score": float(sc),
                            "bbox": [float(bb[0]), float(bb[1]), float(bb[2] - bb[0]), float(bb[3] - bb[1])]})
    gt = {"images": [{"id": k + 1, "width": 512, "height": 512, "file_name": f"{k}.png"} for k in range(6)],
          "annotations": [], "categories": [{"id": i, "name": n} for i, n in ((1, "a"), (2, "b"), (3, "c"))]}
    aid = 1
    for k, s in enumerate(data.samples):
        for bb, lab in zip(s.boxes, s.labels):
            w, h = float(bb[2] - bb[0]), float(bb[3] - bb[1])
            gt["annotations"].append({"id": aid, "image_id": k + 1, "category_id": int(lab), "iscrowd": 0,
                                      "bbox": [float(bb[0]), float(bb[1]), w, h], "area": w * h})
            aid += 1
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "gt.json"))
        ev = COCOeval(coco, coco.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        ev_b = COCOeval(coco, coco.loadRes(results), "bbox")
        ev_b.params.catIds = [2]
        ev_b.evaluate()
        ev_b.accumulate()
        ev_b.summarize()
    ours = coco_metrics(data, dets)
    assert 0.2 < ours["AP"] < 0.95
    assert ours["AP"] == pytest.approx(ev.stats[0], abs=1e-9)
    assert ours["AP50"] == pytest.approx(ev.stats[1], abs=1e-9)
    assert ours["AP75"] == pytest.approx(ev.stats[2], abs=1e-9)
    assert ours["AR100"] == pytest.approx(ev.stats[8], abs=1e-9)
    assert ours["per_class"]["b"]["AP"] == pytest.approx(ev_b.stats[0], abs=1e-9)
    assert ours["per_class"]["b"]["AP50"] == pytest.approx(ev_b.stats[1], abs=1e-9)


def test_remap_labels_by_class_name() -> None:
    data = _data()  # classes a, b, c
    dets = [Detections(np.array([[0, 0, 10, 10], [1, 1, 5, 5]], np.float32), np.array([1, 2]), np.array([0.9, 0.8]))]
    out = remap_labels(dets, ["__background__", "c", "zzz"], data)
    assert out[0].labels.tolist() == [3] and out[0].boxes.shape == (1, 4)


def test_evaluate_checkpoint_and_cli(tiny_coco: Path, tiny_config, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    data = load_detection_data(tiny_coco)
    ckpt = tmp_path / "m.pt"
    atomic_torch_save(make_checkpoint(build_model(tiny_config()), tiny_config(), data.model_classes, {}), ckpt)
    direct = evaluate_checkpoint(str(ckpt), data)
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--data", str(tiny_coco), "--model", str(ckpt), "--json", str(out)]) == 0
    assert "AP@[.5:.95]" in capsys.readouterr().out
    written = json.loads(out.read_text())
    assert written["AP"] == pytest.approx(direct["AP"]) and set(written["per_class"]) == set(data.class_names)
    assert main(["evaluate", "--data", str(tiny_coco), "--model", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_model_without_shared_classes_is_refused(tiny_coco_two_classes: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from detector_app.domain.errors import UserError

    ckpt = tmp_path / "m.pt"
    names = ["__background__", "circle", "square", "triangle", "bar", "star"]
    atomic_torch_save(make_checkpoint(build_model(tiny_config()), tiny_config(), names, {}), ckpt)
    with pytest.raises(UserError, match="share none"):
        evaluate_checkpoint(str(ckpt), load_detection_data(tiny_coco_two_classes))


def test_evaluation_and_generator_are_cancellable_jobs(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The GUI runs these as jobs: a progress callback, and a cancel event that stops them."""
    import threading

    from detector_app.detection.evaluation import evaluate_model
    from detector_app.detection.synthetic import write_dataset
    from detector_app.domain.errors import Cancelled
    from detector_app.domain.progress import Progress

    data = load_detection_data(tiny_coco)
    seen: list[Progress] = []
    evaluate_model(build_model(tiny_config()), data, batch=1, progress=seen.append)
    assert [(p.done, p.total) for p in seen] == [(1, 2), (2, 2)]
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        evaluate_model(build_model(tiny_config()), data, cancel=cancel)
    stop_after_one = threading.Event()
    with pytest.raises(Cancelled):
        write_dataset(tmp_path / "s", 5, seed=1, size=64, progress=lambda p: stop_after_one.set(),
                      cancel=stop_after_one)
    assert len(list((tmp_path / "s" / "images").iterdir())) == 1
    assert not (tmp_path / "s" / "annotations.json").exists()
