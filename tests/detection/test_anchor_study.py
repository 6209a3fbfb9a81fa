"""Anchor study and the anchor ablation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator

from detector_app.cli import main
from detector_app.detection.ablation import AnchorVariant, ablate_anchors, default_variants, format_rows
from detector_app.detection.anchor_study import (
    centred_iou,
    grid_shapes,
    kmeans_iou,
    model_anchors,
    plot_study,
    resize_scale,
    study_anchors,
)
from detector_app.detection.builders import build_model
from detector_app.detection.config import ModelConfig
from detector_app.detection.datasets import DetectionData, Sample

pytestmark = pytest.mark.usefixtures("one_thread")


def test_model_anchors_are_torchvisions() -> None:
    cfg = ModelConfig(builder="small", min_size=256, max_size=256)
    model = build_model(cfg)
    anchors, scale = model_anchors(model, 128, 128)  # upscaled to 256: a 16 x 16 grid at stride 16
    assert scale == pytest.approx(2.0) == resize_scale(128, 128, 256, 256)
    assert anchors.shape == (16 * 16 * 9, 4)
    gen = AnchorGenerator(((24.0, 64.0, 160.0),), ((0.5, 1.0, 2.0),))
    cell = gen.generate_anchors([24.0, 64.0, 160.0], [0.5, 1.0, 2.0]).round()
    np.testing.assert_allclose(anchors[:9], cell.numpy())
    np.testing.assert_allclose(anchors[9:18], cell.numpy() + np.array([16, 0, 16, 0]))  # next cell


def _data_with_boxes(boxes: np.ndarray, size: int = 128) -> DetectionData:
    return DetectionData(Path("mem"), ["x"], [Sample(Path("a.png"), size, size, boxes.astype(np.float32),
                                                     np.ones(len(boxes), np.int64), 1)])


def test_boxes_equal_to_anchors_have_iou_one_and_tiny_boxes_are_counted() -> None:
    cfg = ModelConfig(builder="small", num_classes=2, min_size=128, max_size=128,
                      anchor_sizes=((16.0, 32.0, 64.0),), aspect_ratios=((0.5, 1.0, 2.0),))
    anchors, _ = model_anchors(build_model(cfg), 128, 128)
    inside = anchors[(anchors[:, 0] >= 0) & (anchors[:, 1] >= 0) & (anchors[:, 2] <= 128) & (anchors[:, 3] <= 128)]
    picked = inside[:: max(1, len(inside) // 20)]
    study = study_anchors(_data_with_boxes(picked), cfg)
    np.testing.assert_allclose(study.best_iou, 1.0, atol=1e-6)
    assert study.summary["boxes_without_anchor_ge_0.7"] == 0
    tiny = np.array([[40, 40, 43, 43], [10, 10, 14, 12]], np.float32)  # 3 px and 4x2 px boxes
    s2 = study_anchors(_data_with_boxes(np.concatenate([picked, tiny])), cfg)
    assert s2.summary["boxes_without_anchor_ge_0.7"] == 2 and s2.summary["boxes_without_anchor_ge_0.3"] == 2
    assert plot_study(s2).shape[2] == 3


def test_kmeans_iou_recovers_clusters() -> None:
    rng = np.random.default_rng(0)
    truth = np.array([[20, 20], [40, 80], [160, 80]], float)
    shapes = np.concatenate([t * rng.uniform(0.95, 1.05, (50, 2)) for t in truth])
    centres = kmeans_iou(shapes, 3, seed=0)
    np.testing.assert_allclose(centres, truth, rtol=0.06)
    assert centred_iou(truth, truth).diagonal() == pytest.approx([1, 1, 1])
    g = grid_shapes((32.0,), (0.25, 1.0))
    np.testing.assert_allclose(g, [[64, 16], [32, 32]])


def test_suggestions_follow_the_data() -> None:
    rng = np.random.default_rng(1)
    w = np.exp(rng.uniform(np.log(100), np.log(110), 60))
    boxes = np.stack([np.full(60, 5.0), np.full(60, 5.0), 5 + w, 5 + w * 0.5], 1)  # ~105 x 52 boxes
    cfg = ModelConfig(builder="small", num_classes=2, min_size=128, max_size=128)
    study = study_anchors(_data_with_boxes(boxes), cfg, n_scales=1, n_ratios=1)
    # the size / ratio distribution: sqrt(w*h) = w / sqrt(2) (no resizing at 128 px), h / w = 0.5
    sizes = np.sqrt(w * w * 0.5)
    for q, v in study.summary["size_percentiles"].items():
        assert v == pytest.approx(np.percentile(sizes, float(q)), rel=1e-4)
    assert all(v == pytest.approx(0.5, rel=1e-4) for v in study.summary["ratio_percentiles"].values())
    assert study.suggested_sizes[0] == pytest.approx(74, rel=0.05)  # sqrt(105 * 52)
    assert study.suggested_ratios[0] == pytest.approx(0.5, rel=0.05)
    assert study.suggested_best_iou_mean > 0.9 > study.current_best_iou_mean_centred


def test_cli_anchors(tiny_coco: Path, tiny_config_json: Path, tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    plot, js = tmp_path / "a.png", tmp_path / "a.json"
    assert main(["anchors", "--data", str(tiny_coco), "--config", str(tiny_config_json),
                 "--plot", str(plot), "--json", str(js)]) == 0
    text = capsys.readouterr().out
    assert "no anchor IoU >= 0.7" in text and "suggested" in text
    assert plot.stat().st_size > 1000
    summary = json.loads(js.read_text())
    assert summary["num_images"] == 2 and summary["anchor_sizes"] == [16.0, 32.0, 64.0]


def test_default_variants_are_the_papers_four() -> None:
    v = default_variants((24.0, 64.0, 160.0), (0.5, 1.0, 2.0))
    assert [(x.sizes, x.ratios) for x in v] == [
        ((64.0,), (1.0,)), ((64.0,), (0.5, 1.0, 2.0)), ((24.0, 64.0, 160.0), (1.0,)),
        ((24.0, 64.0, 160.0), (0.5, 1.0, 2.0))]


def test_ablation_runs_each_variant(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    variants = [AnchorVariant("1x1", (32.0,), (1.0,)), AnchorVariant("1x3", (32.0,), (0.5, 1.0, 2.0))]
    rows = ablate_anchors(str(tiny_coco), str(tiny_coco), tmp_path, tiny_config(), variants, iters=2, batch=2)
    assert [r.name for r in rows] == ["1x1", "1x3"] and [r.anchors_per_cell for r in rows] == [1, 3]
    assert all(0.0 <= r.AP <= 1.0 and r.iterations == 2 for r in rows)
    ck = torch.load(tmp_path / "variant1-seed0.pt", weights_only=True)
    assert ck["config"]["aspect_ratios"] == [[0.5, 1.0, 2.0]]
    table = json.loads((tmp_path / "ablation.json").read_text())
    assert len(table["rows"]) == 2 and "1x3" in format_rows(rows)


@pytest.mark.slow
def test_ablation_with_seeds_resumes_and_summarises(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two seeds per variant from random weights, the RPN's recall at 300 proposals; a
    second call with the same settings skips the finished runs; a run interrupted
    part-way resumes from its checkpoint."""
    import threading

    from detector_app.detection.ablation import summarize

    variants = [AnchorVariant("1x1", (32.0,), (1.0,)), AnchorVariant("3x3", (16.0, 32.0, 64.0), (0.5, 1.0, 2.0))]
    cancel = threading.Event()
    seen: list[str] = []

    def stop_in_second_run(p) -> None:  # cancel the second run (3x3, seed 0) after its first epoch (2 images)
        seen.append(p.message)
        if p.message.startswith("3x3, seed 0") and p.done >= 4 + 3:
            cancel.set()

    rows = ablate_anchors(str(tiny_coco), str(tiny_coco), tmp_path, tiny_config(), variants, iters=4, batch=1,
                          seeds=(0, 1), recall=True, progress=stop_in_second_run, cancel=cancel)
    assert [(r.name, r.seed) for r in rows] == [("1x1", 0)]
    # the interrupted run's epoch checkpoint
    assert torch.load(tmp_path / "variant1-seed0.pt", weights_only=True)["meta"]["iteration"] == 2
    rows = ablate_anchors(str(tiny_coco), str(tiny_coco), tmp_path, tiny_config(), variants, iters=4, batch=1,
                          seeds=(0, 1), recall=True)
    assert [(r.name, r.seed) for r in rows] == [("1x1", 0), ("3x3", 0), ("1x1", 1), ("3x3", 1)]
    assert all(0.0 <= r.recall300 <= 1.0 and r.iterations == 4 for r in rows)
    table = json.loads((tmp_path / "ablation.json").read_text())
    assert table["settings"]["seeds"] == [0, 1] and len(table["summary"]) == 2
    s = summarize(rows)
    assert [x.name for x in s] == ["1x1", "3x3"] and s[0].seeds == [0, 1]
    ap = [r.AP for r in rows if r.name == "1x1"]
    assert s[0].mean["AP"] == sum(ap) / 2 and s[0].spread["AP"] == max(ap) - min(ap)
    text = format_rows(rows)
    assert "recall300" in text and "\u00b1" in text


def test_init_with_other_anchor_count_reinitialises_rpn_outputs(tiny_coco: Path, tiny_config,
                                                                  tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from detector_app.detection.training import TrainConfig, load_checkpoint_dict, load_init_weights, train

    base = tmp_path / "base.pt"
    train(TrainConfig(data=str(tiny_coco), out=str(base), model_config=tiny_config(), iters=1, batch=2,
                      warmup_iters=0))
    init = load_checkpoint_dict(base)
    one = tiny_config()
    one.anchor_sizes, one.aspect_ratios = ((32.0,),), ((1.0,),)
    model = build_model(one)
    skipped = load_init_weights(model, init, init["class_names"])
    assert sorted(skipped) == ["rpn.head.bbox_pred.bias", "rpn.head.bbox_pred.weight",
                               "rpn.head.cls_logits.bias", "rpn.head.cls_logits.weight"]
    own = model.state_dict()
    assert own["rpn.head.cls_logits.weight"].shape[0] == 1
    assert torch.equal(own["rpn.head.conv.0.0.weight"], init["state_dict"]["rpn.head.conv.0.0.weight"])
    rows = ablate_anchors(str(tiny_coco), str(tiny_coco), tmp_path / "abl", tiny_config(),
                          [AnchorVariant("1x1", (32.0,), (1.0,))], iters=1, batch=2, init=str(base))
    assert len(rows) == 1 and json.loads((tmp_path / "abl" / "ablation.json").read_text())["settings"]["init"]
    reset = torch.load(tmp_path / "abl" / "init_rpn_outputs_reset.pt", weights_only=True)["state_dict"]
    w = reset["rpn.head.cls_logits.weight"]
    assert not torch.equal(w, init["state_dict"]["rpn.head.cls_logits.weight"])
    assert 0.007 < float(w.std()) < 0.013 and float(reset["rpn.head.bbox_pred.bias"].abs().max()) == 0.0
    assert torch.equal(reset["rpn.head.conv.0.0.weight"], init["state_dict"]["rpn.head.conv.0.0.weight"])


@pytest.mark.slow
def test_cli_ablation_takes_the_init_checkpoints_network(tiny_coco: Path, tiny_config, tmp_path: Path,
                                                         capsys) -> None:  # type: ignore[no-untyped-def]
    """``ablate-anchors --init M`` without ``--config`` ablates M's own network
    (e.g. the stride-8 ``small`` of models/previous/; plain ``small`` lacks its layers)."""
    from detector_app.detection.training import TrainConfig, train

    s8 = tiny_config()
    s8.extra = {"norm": "group", "stride": 8}
    base = tmp_path / "s8.pt"
    train(TrainConfig(data=str(tiny_coco), out=str(base), model_config=s8, iters=1, batch=2, warmup_iters=0))
    out = tmp_path / "abl"
    assert main(["ablate-anchors", "--data", str(tiny_coco), "--val", str(tiny_coco), "--init", str(base),
                 "--iters", "1", "--batch", "2", "--out-dir", str(out)]) == 0
    assert "3 scales, 3 ratios" in capsys.readouterr().out
    for k in range(4):
        config = torch.load(out / f"variant{k}-seed0.pt", weights_only=True)["config"]
        assert config["extra"] == {"norm": "group", "stride": 8} and config["min_size"] == 128
    # an explicit --config still wins, and a network the weights do not fit is a clear error, not a crash
    assert main(["ablate-anchors", "--data", str(tiny_coco), "--val", str(tiny_coco), "--init", str(base),
                 "--config", "small", "--iters", "1", "--out-dir", str(tmp_path / "abl2")]) == 2
    assert "has a layer this model lacks" in capsys.readouterr().err


def test_docs_ablation_table_is_the_recorded_run() -> None:
    """docs/anchors.md's ablation table shows what docs/anchor_ablation.json
    (written by the documented ``ablate-anchors`` run) recorded."""
    root = Path(__file__).resolve().parents[2]
    recorded = json.loads((root / "docs" / "anchor_ablation.json").read_text(encoding="utf-8"))
    assert recorded["settings"]["iters"] == 100 and recorded["settings"]["batch"] == 4
    text = (root / "docs" / "anchors.md").read_text(encoding="utf-8")
    text = text[text.index("## Anchors on a trained backbone"):]
    for row in recorded["rows"]:
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {row['name']} |"))
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        assert int(cells[3]) == row["anchors_per_cell"]
        assert [float(c) for c in cells[4:7]] == [round(row[k], 3) for k in ("AP", "AP50", "AP75")]
    assert len(recorded["rows"]) == 4


def test_docs_from_scratch_table_is_the_recorded_run() -> None:
    """The from-scratch table shows each variant's mean and range over the seeds that
    docs/anchor_ablation_scratch.json recorded (every run, from random weights)."""
    from detector_app.detection.ablation import AblationRow, summarize

    root = Path(__file__).resolve().parents[2]
    recorded = json.loads((root / "docs" / "anchor_ablation_scratch.json").read_text(encoding="utf-8"))
    assert recorded["settings"]["init"] is None and recorded["settings"]["seeds"] == [0, 1]
    rows = [AblationRow(**{**r, "sizes": tuple(r["sizes"]), "ratios": tuple(r["ratios"])}) for r in recorded["rows"]]
    text = (root / "docs" / "anchors.md").read_text(encoding="utf-8")
    text = text[text.index("## Ablation from scratch"):text.index("## Anchors on a trained backbone")]
    keys = ("AP", "AP50", "AP_small", "AP_medium", "AP_large", "recall300")
    for s in summarize(rows):
        assert s.seeds == [0, 1]
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {s.name} |"))
        cells = [c.strip().replace("*", "") for c in line.strip("|").split("|")][4:]
        for key, cell in zip(keys, cells):
            mean, spread = cell.split(" (")
            assert float(mean) == round(s.mean[key], 3) and float(spread.rstrip(")")) == round(s.spread[key], 3)
