"""The recall funnel end to end: the bundled model on the bundled samples (a COCO dataset)
and on a project, through ``detector-app diagnose``; "final" and anchor coverage checked
against an independent computation with torchvision's box_iou."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torchvision.ops import box_iou

from detector_app.app import jobs
from detector_app.app.diagnose import dataset_items, run_funnel
from detector_app.cli import main
from detector_app.domain.annotations import Annotation, ItemState
from detector_app.domain.boxes import Box
from detector_app.domain.diagnosis import Stage
from detector_app.formats import load_dataset
from detector_app.media.images import read_image

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"
pytestmark = pytest.mark.skipif(not (ROOT / "models" / "default.pt").is_file(), reason="needs models/default.pt")


@pytest.mark.slow
def test_cli_funnel_on_the_bundled_samples_matches_an_independent_count(tmp_path, capsys) -> None:
    out = tmp_path / "funnel.json"
    assert main(["diagnose", str(SAMPLES), "--device", "cpu", "--score-thresh", "0.9", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 annotated image(s), 29 object(s)" in text and "RPN@300" in text
    doc = json.loads(out.read_text())
    assert doc["schema"] == "detector_app.recall_funnel" and doc["images"] == 4 and doc["overall"]["objects"] == 29
    assert doc["thresholds"]["score"] == 0.9 and doc["stages"][-1] == "final"
    recall = doc["overall"]["recall"]
    assert recall["RPN@50"] <= recall["RPN@100"] <= recall["RPN@300"] <= recall["RPN@1000"]
    assert recall["final"] <= recall["RoI head"]
    # independent: the same model, torchvision's box_iou, the same criterion
    detector, _info = jobs.load_detector(None, "cpu")
    dataset = load_dataset(SAMPLES)
    found = covered = total = 0
    for rec in dataset.images:
        trace = detector(read_image(SAMPLES / rec.path))
        result = trace.postprocess(score_thresh=0.9)
        for a in rec.annotations:
            gt = torch.tensor([a.box.to_tuple()])
            total += 1
            covered += bool(box_iou(gt, torch.from_numpy(trace.anchors)).max() >= 0.5)
            c = trace.class_names.index(a.label)
            same = torch.from_numpy(result.boxes[result.labels == c]).reshape(-1, 4)
            found += bool(len(same) and box_iou(gt, same).max() >= 0.5)
    assert total == 29
    assert recall["final"] == pytest.approx(found / total, abs=1e-4)
    assert recall["anchor IoU>=0.5"] == pytest.approx(covered / total, abs=1e-4)
    missed = [o for o in doc["objects"] if not o["detected"]]
    assert len(missed) == total - found and all(o["lost_at"] != "detected" for o in missed)
    assert sum(doc["lost_at"].values()) == len(missed)


@pytest.mark.slow
def test_funnel_on_a_project_and_cached_traces(tmp_path, capsys) -> None:
    from detector_app.app.store import ProjectStore

    project = tmp_path / "p"
    (project / "images").mkdir(parents=True)
    dataset = load_dataset(SAMPLES)
    for rec in dataset.images[:2]:
        shutil.copy(SAMPLES / rec.path, project / rec.path)
    with ProjectStore(project, autosave_interval=None) as store:
        for rec in dataset.images[:2]:
            store.set_size(rec.key, rec.width, rec.height)
            store.set_annotations(rec.key, [Annotation(Box(*a.box.to_tuple()), a.label) for a in rec.annotations])
            store.set_state(rec.key, ItemState.VERIFIED)
        store.flush()
    assert main(["diagnose", str(project), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    n = sum(len(r.annotations) for r in dataset.images[:2])
    assert f"project {project}: 2 annotated image(s), {n} object(s)" in text
    # a cached trace is used instead of running the model
    detector, _ = jobs.load_detector(None, "cpu")
    items = dataset_items(dataset)[:2]
    calls: list[str] = []
    traces = {i.key: detector(read_image(SAMPLES / i.record.path)) for i in items}

    def counting(rgb):
        calls.append("run")
        return detector(rgb)

    funnel = run_funnel(items, counting, cached=traces.get)
    assert calls == [] and funnel.images == 2 and len(funnel.objects) == n
    assert all(o.lost_at in Stage for o in funnel.objects)
