"""The training engine's pieces, each on its own with the tiny model and data:
preparation, the step, an epoch (logging, cancellation), the end of an epoch
(checkpoints, best, train state), resume, and the CSV / JSON log."""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.detection import distributed as ddp
from detector_app.detection import evaluation
from detector_app.detection.config import ModelConfig
from detector_app.detection.datasets import load_detection_data
from detector_app.detection.training import (
    NonFiniteLoss,
    TrainingError,
    end_of_epoch,
    lr_factor,
    run_epoch,
    train_step,
)
from detector_app.detection.training_config import TrainConfig
from detector_app.detection.training_log import CSV_COLUMNS, LOSS_TERMS, RunFiles, TrainingLog
from detector_app.detection.training_setup import (
    RunState,
    TrainingRun,
    load_checkpoint_dict,
    load_run_data,
    load_start,
    prepare,
    resume,
    seed_everything,
)
from detector_app.domain.errors import Cancelled
from detector_app.domain.progress import Progress

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")
ONE_PROCESS = ddp.DistInfo()


def _cfg(data: Path, out: Path, mc: ModelConfig, **kw) -> TrainConfig:  # type: ignore[no-untyped-def]
    base = dict(data=str(data), out=str(out), model_config=mc, epochs=2, batch=1, lr=0.01, warmup_iters=0,
                schedule="constant", seed=0, log_every=1, bn_recompute_images=0, hflip=True)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _prepare(cfg: TrainConfig, progress=None) -> tuple[TrainingRun, TrainingLog]:  # type: ignore[no-untyped-def]
    """What ``train`` does before its first epoch (seed, data, start checkpoint, run, log)."""
    seed_everything(cfg.seed)
    files = RunFiles.of(cfg.out)
    data, val_data = load_run_data(cfg)
    init_ckpt, _saved = load_start(cfg, files)
    run = prepare(cfg, CPU, ONE_PROCESS, data, val_data, init_ckpt, progress)
    log = TrainingLog(files, cfg.log_every)
    log.start(None)
    return run, log


def _weights(run: TrainingRun) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in run.model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


# ---- preparation

def test_prepare_builds_a_seeded_run_of_the_right_length(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = _cfg(tiny_coco, tmp_path / "m.pt", tiny_config(), epochs=3, iters=5)
    run, _log = _prepare(cfg)
    data = load_detection_data(tiny_coco)
    assert run.class_names == data.model_classes and run.model_config.num_classes == len(data.model_classes)
    assert run.iters_per_epoch == 2 and run.total == 5  # 2 images, batch 1, 3 epochs; capped by iters
    assert run.net is run.model and run.model.training and run.head_note == ""
    assert [id(p) for p in run.params] == [id(p) for p in run.model.parameters() if p.requires_grad]
    assert run.optimizer.param_groups[0]["momentum"] == 0.9 and not run.use_amp
    again, _ = _prepare(cfg)
    assert _same(_weights(run), _weights(again))  # the seed fixes the start


def test_prepare_from_a_checkpoint_reports_its_class_head(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, _ = _prepare(_cfg(tiny_coco, tmp_path / "base.pt", tiny_config()))
    end_of_epoch(base, RunState(epoch=1), TrainingLog(RunFiles.of(tmp_path / "base.pt"), 1))
    messages: list[str] = []
    run, _ = _prepare(_cfg(tiny_coco, tmp_path / "ft.pt", None, init=str(tmp_path / "base.pt")),
                      progress=lambda p: messages.append(p.message))
    assert run.head_note == "class head kept: the checkpoint's 5 classes" and messages == [run.head_note]
    assert _same(_weights(run), _weights(base))
    with pytest.raises(TrainingError, match="--resume: .* must both exist"):
        load_start(_cfg(tiny_coco, tmp_path / "none.pt", tiny_config(), resume=True), RunFiles.of(tmp_path / "none.pt"))


def test_an_image_too_thin_for_the_model_is_left_out_with_a_message(tiny_coco: Path, tiny_config,
                                                                    tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A 2000 x 2 strip: at 128 px on the long side its short side would be under a pixel
    (torchvision's interpolation raised mid-run); the run trains on the rest and says so."""
    import cv2

    data = json.loads((tiny_coco / "annotations.json").read_text())
    (tmp_path / "ds" / "images").mkdir(parents=True)
    for im in data["images"]:
        (tmp_path / "ds" / im["file_name"]).symlink_to(tiny_coco / im["file_name"])
    assert cv2.imwrite(str(tmp_path / "ds" / "images" / "strip.png"), np.full((2, 2000, 3), 90, np.uint8))
    data["images"].append({"id": 99, "file_name": "images/strip.png", "width": 2000, "height": 2})
    data["annotations"].append({"id": 999, "image_id": 99, "category_id": 1, "bbox": [10, 0, 50, 2], "area": 100,
                                "iscrowd": 0})
    (tmp_path / "ds" / "annotations.json").write_text(json.dumps(data))
    messages: list[str] = []
    run, log = _prepare(_cfg(tmp_path / "ds", tmp_path / "m.pt", tiny_config(), epochs=1),
                        progress=lambda p: messages.append(p.message))
    assert len(run.dataset) == 2 and run.iters_per_epoch == 2
    assert any(m.startswith("left out of training: ") and "strip.png: image is 2000x2 pixels, too thin" in m
               for m in messages)
    run_epoch(run, RunState(), 0, log)  # trains on the two others
    data["images"] = [data["images"][-1]]
    data["annotations"] = [data["annotations"][-1]]
    (tmp_path / "ds" / "annotations.json").write_text(json.dumps(data))
    with pytest.raises(TrainingError, match="no image the model can train on: .*strip.png"):
        _prepare(_cfg(tmp_path / "ds", tmp_path / "m2.pt", tiny_config(), epochs=1))


# ---- the step

def test_step_returns_finite_losses_and_updates_the_weights(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run, _ = _prepare(_cfg(tiny_coco, tmp_path / "m.pt", tiny_config()))
    images, targets = next(iter(run.loader))
    before = _weights(run)
    terms = train_step(run, images, targets, lr=0.005)
    assert set(terms) == {*LOSS_TERMS, "loss"} and all(math.isfinite(v) for v in terms.values())
    assert terms["loss"] == pytest.approx(sum(terms[k] for k in LOSS_TERMS), rel=1e-5)
    assert run.optimizer.param_groups[0]["lr"] == 0.005
    after = _weights(run)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert "backbone.body.0.weight" in changed and "roi_heads.box_predictor.cls_score.weight" in changed
    # a second step on the same batch lowers its loss (the update goes downhill)
    assert train_step(run, images, targets, lr=0.005)["loss"] < terms["loss"]


@pytest.mark.parametrize("scope, learns", [
    ("heads", ("rpn.", "roi_heads.")),
    ("roi_heads", ("roi_heads.",)),
    ("predictor", ("roi_heads.box_predictor.",)),
])
def test_a_scope_trains_its_parts_and_leaves_the_rest_as_it_started(
        tiny_coco: Path, tiny_config, tmp_path: Path, scope: str, learns: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    messages: list[str] = []
    run, _ = _prepare(_cfg(tiny_coco, tmp_path / "m.pt", tiny_config(), scope=scope),
                      progress=lambda p: messages.append(p.message))
    trainable = {n for n, p in run.model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(learns) for n in trainable)
    assert {id(p) for p in run.params} == {id(p) for n, p in run.model.named_parameters() if n in trainable}
    assert messages and messages[-1].startswith("training ") and messages[-1].endswith(" parameters")
    before = _weights(run)
    images, targets = next(iter(run.loader))
    for _ in range(2):
        terms = train_step(run, images, targets, lr=0.01)
        assert all(math.isfinite(v) for v in terms.values())
    after = _weights(run)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(learns) for k in changed)  # buffers too: frozen BatchNorm stays
    assert "roi_heads.box_predictor.cls_score.weight" in changed
    with pytest.raises(TrainingError, match="unknown training scope"):
        _prepare(_cfg(tiny_coco, tmp_path / "x.pt", tiny_config(), scope="backbone"))


def test_training_the_heads_leaves_a_batchnorm_backbones_statistics_alone(
        tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Neither the steps (BatchNorm in eval mode outside the scope) nor the end of an epoch
    (no precise-BN re-estimate) move the frozen backbone's running statistics."""
    mc = tiny_config()
    mc.extra = {"norm": "batch"}
    run, log = _prepare(_cfg(tiny_coco, tmp_path / "m.pt", mc, scope="heads", epochs=1, bn_recompute_images=2))
    bn = [m for m in run.model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn and not any(m.training for m in bn) and run.model.rpn.training
    before = _weights(run)
    state = RunState()
    run_epoch(run, state, 0, log)
    end_of_epoch(run, state, log)
    after = _weights(run)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("backbone."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("rpn."))


def test_step_with_a_non_finite_loss_leaves_the_weights_alone(tiny_coco: Path, tiny_config,
                                                             tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run, _ = _prepare(_cfg(tiny_coco, tmp_path / "m.pt", tiny_config()))
    with torch.no_grad():
        run.model.roi_heads.box_predictor.cls_score.bias.fill_(float("nan"))
    before = _weights(run)
    images, targets = next(iter(run.loader))
    with pytest.raises(NonFiniteLoss, match="loss_classifier=nan") as info:
        train_step(run, images, targets, lr=0.01)
    assert "loss_objectness" not in info.value.terms  # the RPN is untouched by the bad bias
    torch.testing.assert_close(_weights(run), before, rtol=0, atol=0, equal_nan=True)
    assert not run.optimizer.state  # no step taken: no momentum buffers yet


# ---- an epoch: history, CSV, progress, cancellation

def test_epoch_records_logs_and_reports_every_step(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = _cfg(tiny_coco, tmp_path / "m.pt", tiny_config(), epochs=3, log_every=2, warmup_iters=3,
               schedule="cosine")
    run, log = _prepare(cfg)
    state = RunState()
    seen: list[Progress] = []
    for epoch in range(3):
        run_epoch(run, state, epoch, log, progress=seen.append)
        assert state.epoch == epoch + 1
    assert state.iteration == 6 and [h["iteration"] for h in state.history] == [1, 2, 3, 4, 5, 6]
    assert [h["epoch"] for h in state.history] == [1, 1, 2, 2, 3, 3]
    assert [h["lr"] for h in state.history] == pytest.approx([0.01 * lr_factor(i, 6, 3, "cosine") for i in range(6)])
    with open(log.files.csv, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 4, 6]  # the first, every 2nd, the last
    assert float(rows[2][CSV_COLUMNS.index("loss")]) == pytest.approx(state.history[1]["loss"], rel=1e-5)
    assert [(p.done, p.total, p.message) for p in seen][:3] == [(1, 6, "epoch 1/3"), (2, 6, "epoch 1/3"),
                                                               (3, 6, "epoch 2/3")]
    first, second = state.history[0]["loss"], state.history[1]["loss"]
    assert seen[1].metrics["loss"] == pytest.approx(0.9 * first + 0.1 * second, abs=1e-4)  # smoothed


def test_an_epoch_stops_at_the_runs_total(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run, log = _prepare(_cfg(tiny_coco, tmp_path / "m.pt", tiny_config(), iters=1))
    state = RunState()
    run_epoch(run, state, 0, log)
    assert state.iteration == 1 and state.epoch == 1


def test_cancel_stops_between_steps(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run, log = _prepare(_cfg(tiny_coco, tmp_path / "m.pt", tiny_config(), epochs=1))
    cancel = threading.Event()
    after_first: dict[str, torch.Tensor] = {}

    def progress(p: Progress) -> None:  # called once a step is complete
        after_first.update(_weights(run))
        cancel.set()

    state = RunState()
    with pytest.raises(Cancelled):
        run_epoch(run, state, 0, log, progress=progress, cancel=cancel)
    assert state.iteration == 1 and len(state.history) == 1 and state.epoch == 0  # the epoch did not finish
    assert _same(after_first, _weights(run))  # nothing of a second step
    with pytest.raises(Cancelled):  # set before the epoch: no step at all
        run_epoch(run, state, 0, log, cancel=cancel)
    assert state.iteration == 1


# ---- end of an epoch

def test_end_of_epoch_writes_checkpoints_atomically_and_keeps_the_best(
        tiny_coco: Path, tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    aps = iter([0.2, 0.1, 0.3, 0.4])
    monkeypatch.setattr(evaluation, "evaluate_model",
                        lambda *_a, **_k: dict.fromkeys(("AP", "AP50", "AP75"), next(aps)))
    run, log = _prepare(_cfg(tiny_coco, tmp_path / "m.pt", tiny_config(), epochs=3, val=str(tiny_coco)))
    files, state = log.files, RunState()
    best_epochs = []
    for epoch in range(3):
        run_epoch(run, state, epoch, log)
        end_of_epoch(run, state, log)
        assert load_checkpoint_dict(files.checkpoint)["meta"]["epoch"] == epoch + 1
        best_epochs.append(load_checkpoint_dict(files.best)["meta"]["epoch"])
        assert state.last_checkpoint == files.checkpoint and not list(tmp_path.glob("*.tmp"))
    assert best_epochs == [1, 1, 3] and state.best_ap == 0.3
    saved = torch.load(files.state, weights_only=True)
    assert (saved["iteration"], saved["epoch"], saved["best_ap"]) == (6, 3, 0.3)
    logged = json.loads(files.json.read_text())
    assert [v["AP"] for v in logged["val"]] == [0.2, 0.1, 0.3] and len(logged["history"]) == 6
    assert load_checkpoint_dict(files.checkpoint)["meta"]["val"] == logged["val"][-1]

    # a write that fails half way (disk full) leaves the previous checkpoint whole, and no temp file
    def no_room(*_a: object) -> None:
        raise OSError(28, "No space left on device")

    state.epoch += 1  # as after a fourth epoch
    monkeypatch.setattr(os, "replace", no_room)
    with pytest.raises(OSError, match="No space"):
        end_of_epoch(run, state, log)
    monkeypatch.undo()
    assert load_checkpoint_dict(files.checkpoint)["meta"]["epoch"] == 3
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_end_of_epoch_without_validation_writes_no_best(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run, log = _prepare(_cfg(tiny_coco, tmp_path / "m.pt", tiny_config(), epochs=1))
    state = RunState()
    run_epoch(run, state, 0, log)
    end_of_epoch(run, state, log)
    assert log.files.checkpoint.is_file() and log.files.state.is_file() and not log.files.best.exists()
    meta = load_checkpoint_dict(log.files.checkpoint)["meta"]
    assert (meta["epoch"], meta["iteration"], meta["val"]) == (1, 2, None)


# ---- resume

def test_resume_restores_the_run_and_continues_as_if_uninterrupted(tiny_coco: Path, tiny_config,
                                                                   tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = _cfg(tiny_coco, tmp_path / "r.pt", tiny_config(), epochs=2, warmup_iters=1, schedule="cosine")
    run, log = _prepare(cfg)
    state = RunState()
    run_epoch(run, state, 0, log)
    end_of_epoch(run, state, log)
    saved_optimizer = copy.deepcopy(run.optimizer.state_dict())
    run_epoch(run, state, 1, log)  # the uninterrupted run's second epoch
    straight = state.history[2:]

    resumed_cfg = _cfg(tiny_coco, tmp_path / "r.pt", tiny_config(), epochs=2, warmup_iters=1, schedule="cosine",
                       resume=True)
    seed_everything(resumed_cfg.seed)
    files = RunFiles.of(resumed_cfg.out)
    init_ckpt, saved = load_start(resumed_cfg, files)
    assert saved is not None
    again = prepare(resumed_cfg, CPU, ONE_PROCESS, load_detection_data(tiny_coco), init_ckpt=init_ckpt)
    again_log = TrainingLog(files, 1)
    back = resume(again, saved, again_log)
    assert (back.iteration, back.epoch, back.best_ap) == (2, 1, -1.0) and back.last_checkpoint == files.checkpoint
    assert [h["iteration"] for h in back.history] == [1, 2]
    assert again.optimizer.state_dict()["state"]  # momentum buffers, restored
    torch.testing.assert_close(again.optimizer.state_dict(), saved_optimizer, rtol=0, atol=0)
    run_epoch(again, back, 1, again_log)
    assert [h["lr"] for h in back.history[2:]] == [h["lr"] for h in straight]
    np.testing.assert_allclose([h["loss"] for h in back.history[2:]], [h["loss"] for h in straight], rtol=1e-6)
    assert _same(_weights(again), _weights(run))


# ---- the log

def test_log_files_columns_rows_and_resume_truncation(tmp_path: Path) -> None:
    files = RunFiles.of(tmp_path / "runs" / "m.pt")
    assert (files.best.name, files.csv.name, files.json.name, files.state.name) == (
        "m.best.pt", "m.log.csv", "m.log.json", "m.train-state.pt")
    files.csv.parent.mkdir()
    log = TrainingLog(files, log_every=3)
    log.start(None)
    assert [i for i in range(1, 9) if log.wants(i, 8)] == [1, 3, 6, 8]

    def row(i: int) -> dict[str, float]:
        return {"iteration": i, "epoch": 1, "lr": 0.01, "loss": i + 0.5, "loss_objectness": 0.25, "seconds": 0.1 * i}

    for i in (1, 3, 6):
        log.append(row(i))

    def read() -> list[list[str]]:
        with open(files.csv, encoding="utf-8") as f:
            return list(csv.reader(f))

    rows = read()
    assert tuple(rows[0]) == CSV_COLUMNS and [r[0] for r in rows[1:]] == ["1", "3", "6"]
    assert rows[2][3:5] == ["3.5", "0.25"] and rows[2][5:8] == ["0", "0", "0"]  # absent terms as 0
    log.start(resume_iteration=3)  # a resumed run drops what an interrupted epoch logged after its checkpoint
    assert [r[0] for r in read()[1:]] == ["1", "3"]
    log.start(None)
    assert read() == [list(CSV_COLUMNS)]

    assert log.logged(5) == ([], [])
    cfg = TrainConfig(data="d", out=str(files.checkpoint))
    log.write_json(cfg, ModelConfig(builder="small", num_classes=2), ["__background__", "a"],
                   [row(i) for i in (1, 2, 3)], [{"epoch": 1, "iteration": 3, "AP": 0.5}])
    history, val = log.logged(2)
    assert [h["iteration"] for h in history] == [1, 2] and val == [{"epoch": 1, "iteration": 3, "AP": 0.5}]
    doc = json.loads(files.json.read_text())
    assert doc["config"]["out"] == str(files.checkpoint) and doc["model_config"]["builder"] == "small"
    assert doc["class_names"] == ["__background__", "a"]
