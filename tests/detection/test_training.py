"""Training engine: loss goes down, reproducible, logs and checkpoints, fine-tuning, speed options,
resume, cancel, NaN guard, bad boxes, the CLI."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.cli import main
from detector_app.detection.builders import build_model
from detector_app.detection.checkpoints import load_checkpoint
from detector_app.detection.config import ConfigError
from detector_app.detection.datasets import DatasetError, TorchDetectionDataset, collate, load_detection_data
from detector_app.detection.precision import get_precision
from detector_app.detection.training import (
    LOSS_TERMS,
    NEW_ROW,
    TrainConfig,
    TrainingError,
    head_plan,
    load_checkpoint_dict,
    load_init_weights,
    lr_factor,
    train,
)
from detector_app.detection.training_setup import apply_speed_options
from detector_app.domain.progress import Progress

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(data: Path, out: Path, mc, **kw) -> TrainConfig:  # type: ignore[no-untyped-def]
    base = dict(data=str(data), out=str(out), model_config=mc, epochs=1, batch=2, lr=0.01,
                warmup_iters=0, schedule="constant", seed=0, log_every=1)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_lr_schedule() -> None:
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.001)
    assert lr_factor(5, 100, 10, "constant") == pytest.approx(0.5 * 0.001 + 0.5)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.1)))
    assert lr_factor(99, 100, 0, "cosine") == pytest.approx(0.01)  # floor
    assert lr_factor(70, 90, 0, "step") == pytest.approx(0.1)
    assert lr_factor(85, 90, 0, "step") == pytest.approx(0.01)
    with pytest.raises(TrainingError):
        lr_factor(0, 10, 0, "linear")


@pytest.mark.slow
def test_overfit_two_images_loss_goes_down(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "m.pt"
    result = train(_cfg(tiny_coco, out, tiny_config(), epochs=30, lr=0.01, hflip=False))
    losses = [h["loss"] for h in result.history]
    assert result.stopped == "finished" and result.iterations == 30
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3])
    for term in LOSS_TERMS:
        assert np.isfinite([h[term] for h in result.history]).all()
    # checkpoint: project format, loadable with weights_only, builds the same model
    raw = torch.load(out, map_location="cpu", weights_only=True)
    assert raw["format"] == "detector_app.checkpoint" and raw["version"] == 1
    assert raw["class_names"][0] == "__background__" and len(raw["class_names"]) == 6
    assert raw["meta"]["epoch"] == 30 and raw["meta"]["iteration"] == 30
    model = build_model(tiny_config())
    model.load_state_dict(raw["state_dict"])
    # logs: CSV per iteration (log_every=1) and JSON history
    with open(tmp_path / "m.log.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 31))
    assert float(rows[0]["loss"]) == pytest.approx(losses[0], rel=1e-4)
    log = json.loads((tmp_path / "m.log.json").read_text())
    assert len(log["history"]) == 30 and log["model_config"]["min_size"] == 128


def test_same_seed_same_losses(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = train(_cfg(tiny_coco, tmp_path / "a.pt", tiny_config(), epochs=3, batch=1))
    b = train(_cfg(tiny_coco, tmp_path / "b.pt", tiny_config(), epochs=3, batch=1))
    la, lb = [h["loss"] for h in a.history], [h["loss"] for h in b.history]
    assert len(la) == 6
    np.testing.assert_allclose(la, lb, rtol=1e-5)


def test_hflip_is_seeded_and_flips_boxes(tiny_coco: Path) -> None:
    data = load_detection_data(tiny_coco)
    plain = TorchDetectionDataset(data, hflip=False)
    flips = TorchDetectionDataset(data, hflip=True, seed=3)
    seen_flip = False
    for epoch in range(6):
        flips.set_epoch(epoch)
        img, tgt = flips[0]
        img0, tgt0 = plain[0]
        if torch.equal(img, img0):
            assert torch.equal(tgt["boxes"], tgt0["boxes"])
        else:
            seen_flip = True
            assert torch.equal(img, img0.flip(-1))
            w = img.shape[-1]
            expect = torch.stack([w - tgt0["boxes"][:, 2], tgt0["boxes"][:, 1], w - tgt0["boxes"][:, 0],
                                  tgt0["boxes"][:, 3]], 1)
            assert torch.allclose(tgt["boxes"], expect)
        again = TorchDetectionDataset(data, hflip=True, seed=3)
        again.set_epoch(epoch)
        assert torch.equal(again[0][0], img)
    assert seen_flip


def test_finetune_with_other_classes_replaces_predictor(tiny_coco: Path, tiny_coco_two_classes: Path,
                                                         tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "base.pt"
    train(_cfg(tiny_coco, base, tiny_config(), epochs=1))
    init = load_checkpoint_dict(base)
    model = build_model(tiny_config(3))
    skipped = load_init_weights(model, init, ["__background__", "round", "angular"])
    assert sorted(skipped) == sorted(k for k in init["state_dict"] if k.startswith("roi_heads.box_predictor."))
    own = model.state_dict()
    assert torch.equal(own["backbone.body.0.weight"], init["state_dict"]["backbone.body.0.weight"])
    assert own["roi_heads.box_predictor.cls_score.weight"].shape == (3, 256)
    # through train(): config comes from the --init checkpoint, num_classes from the data
    out = tmp_path / "ft.pt"
    result = train(TrainConfig(data=str(tiny_coco_two_classes), out=str(out), init=str(base), iters=1,
                               batch=2, epochs=1, warmup_iters=0))
    assert result.iterations == 1
    ft = load_checkpoint_dict(out)
    assert ft["class_names"] == ["__background__", "round", "angular"]
    assert ft["config"]["num_classes"] == 3 and ft["config"]["min_size"] == 128
    assert ft["state_dict"]["roi_heads.box_predictor.bbox_pred.weight"].shape == (12, 256)
    assert result.head_note.startswith("class head replaced by a new one (random start): the data's classes "
                                       "round, angular are not classes of the checkpoint")
    assert ft["meta"]["init_head"] == result.head_note
    # same classes: everything is copied, nothing skipped
    assert load_init_weights(build_model(tiny_config()), init, init["class_names"]) == []


def test_finetune_on_a_subset_of_the_classes_keeps_their_head_rows(tiny_coco: Path, tiny_config,
                                                                  tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A COCO model fine-tuned on a project with some COCO classes: those classes' rows of the
    classifier and the box regressor start from the checkpoint's (class-major, 4 rows per class)."""
    base = tmp_path / "base.pt"
    train(_cfg(tiny_coco, base, tiny_config(), iters=1))
    init = load_checkpoint_dict(base)
    source = init["class_names"]
    target = ["__background__", source[2]]  # one class of the checkpoint, not the first
    rows, note = head_plan(source, target)
    assert rows == [0, 2] and note.startswith(f"class head kept for the 1 classes of the data ({source[2]})")
    model = build_model(tiny_config(2))
    assert load_init_weights(model, init, target) == []
    own, src = model.state_dict(), init["state_dict"]
    cls_w = src["roi_heads.box_predictor.cls_score.weight"]
    assert torch.equal(own["roi_heads.box_predictor.cls_score.weight"], cls_w[[0, 2]])
    assert torch.equal(
        own["roi_heads.box_predictor.cls_score.bias"], src["roi_heads.box_predictor.cls_score.bias"][[0, 2]]
    )
    box_w = src["roi_heads.box_predictor.bbox_pred.weight"]
    assert torch.equal(own["roi_heads.box_predictor.bbox_pred.weight"], torch.cat([box_w[0:4], box_w[8:12]]))
    assert head_plan(source, source)[0] == list(range(len(source)))


def test_head_plan_with_coco_names() -> None:
    from detector_app.detection.checkpoints import COCO_CATEGORIES

    rows, note = head_plan(COCO_CATEGORIES, ["__background__", "dog", "cat"])
    assert rows == [0, 18, 17] and "its other 78 classes are dropped" in note
    rows, note = head_plan(COCO_CATEGORIES, ["__background__", "cat", "lynx"])
    assert rows == [0, 17, NEW_ROW]
    assert note == "class head extended: cat kept from the checkpoint's head, new lynx start fresh; " \
                   "its other 79 classes are dropped"
    rows, note = head_plan(COCO_CATEGORIES, ["__background__", "lynx"])
    assert rows is None and "the data's classes lynx are not classes of the checkpoint (person, bicycle" in note


def test_a_new_class_extends_the_head_and_keeps_the_known_rows(tiny_coco: Path, tiny_config,
                                                               tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Adding a class to a trained model: the known classes' classifier and regressor rows
    are the checkpoint's, the new class's are the new model's own fresh start."""
    base = tmp_path / "base.pt"
    train(_cfg(tiny_coco, base, tiny_config(), iters=1))
    init = load_checkpoint_dict(base)
    source = init["class_names"]
    target = [*source, "hexagon"]
    rows, note = head_plan(source, target)
    assert rows == [*range(len(source)), NEW_ROW] and note.startswith("class head extended:")
    torch.manual_seed(0)
    model = build_model(tiny_config(len(target)))
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    assert load_init_weights(model, init, target) == []
    own, src = model.state_dict(), init["state_dict"]
    n = len(source)
    for name, per in (("cls_score", 1), ("bbox_pred", 4)):
        for part in ("weight", "bias"):
            key = f"roi_heads.box_predictor.{name}.{part}"
            assert torch.equal(own[key][: n * per], src[key])
            assert torch.equal(own[key][n * per:], fresh[key][n * per:])
            assert not torch.equal(own[key][n * per:], torch.zeros_like(own[key][n * per:]))


def test_init_with_other_architecture_is_refused(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "base.pt"
    train(_cfg(tiny_coco, base, tiny_config(), iters=1))
    other = tiny_config()
    other.representation_size = 128
    with pytest.raises(TrainingError, match="shape"):
        load_init_weights(build_model(other), load_checkpoint_dict(base), load_checkpoint_dict(base)["class_names"])


def test_stride8_model_grows_from_a_stride16_checkpoint(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``--init`` a stride-16 checkpoint with a stride-8 config: every layer copied
    except the two new top-down ones, which keep their identity start, so the
    grown model's first detections are the stride-16 model's boxes on a denser grid."""
    base = tmp_path / "base.pt"
    train(_cfg(tiny_coco, base, tiny_config(), iters=1))
    init = load_checkpoint_dict(base)
    s8_config = tiny_config()
    s8_config.extra = {"stride": 8}
    grown = build_model(s8_config)
    fresh = {k: v.clone() for k, v in grown.state_dict().items()}
    skipped = load_init_weights(grown, init, init["class_names"])
    assert sorted(skipped) == ["backbone.body.lateral.bias", "backbone.body.lateral.weight",
                               "backbone.body.smooth.bias", "backbone.body.smooth.weight"]
    own = grown.state_dict()
    assert all(torch.equal(own[k], init["state_dict"][k]) for k in init["state_dict"])
    assert all(torch.equal(own[k], fresh[k]) for k in skipped)
    out = tmp_path / "s8.pt"
    result = train(_cfg(tiny_coco, out, s8_config, init=str(base), batch=1))
    assert result.iterations == 2
    saved = load_checkpoint_dict(out)
    assert saved["config"]["extra"] == {"stride": 8}
    assert not torch.equal(saved["state_dict"]["backbone.body.lateral.weight"], fresh["backbone.body.lateral.weight"])
    # and the other way round is refused: a stride-16 model has no place for the new layers
    with pytest.raises(TrainingError, match="lacks: backbone.body.lateral"):
        load_init_weights(build_model(tiny_config()), saved, saved["class_names"])


def test_resume_continues_the_run(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.pt"
    first = train(_cfg(tiny_coco, out, tiny_config(), epochs=1, batch=1))
    assert first.iterations == 2
    with open(tmp_path / "r.log.csv", "a", encoding="utf-8") as f:  # a row from an interrupted epoch
        f.write("3,2,0.01,9,9,9,9,9,1\n")
    second = train(_cfg(tiny_coco, out, tiny_config(), epochs=3, batch=1, resume=True))
    assert second.iterations == 6 and second.history[0]["iteration"] == 1
    assert load_checkpoint_dict(out)["meta"]["epoch"] == 3
    with open(tmp_path / "r.log.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4, 5, 6] and float(rows[2]["loss"]) != 9
    # resuming reproduces the uninterrupted run (same data order, flips, sampler draws)
    straight = train(_cfg(tiny_coco, tmp_path / "s.pt", tiny_config(), epochs=3, batch=1))
    np.testing.assert_allclose([h["loss"] for h in second.history], [h["loss"] for h in straight.history],
                               rtol=1e-4)
    with pytest.raises(TrainingError, match="--resume"):
        train(_cfg(tiny_coco, tmp_path / "none.pt", tiny_config(), resume=True))


def test_cancel_keeps_last_good_checkpoint(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "c.pt"
    cancel = threading.Event()

    def progress(p: Progress) -> None:
        if p.done >= 1:
            cancel.set()

    result = train(_cfg(tiny_coco, out, tiny_config(), epochs=5, batch=2), progress=progress, cancel=cancel)
    assert result.stopped == "cancelled" and result.iterations == 1
    assert result.checkpoint == out
    assert load_checkpoint_dict(out)["meta"]["epoch"] == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_nan_guard_names_iteration_and_term(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TrainingError, match=r"not finite at iteration \d+ .*loss_\w+=(nan|inf)"):
        train(_cfg(tiny_coco, tmp_path / "n.pt", tiny_config(), epochs=20, batch=1, lr=1e12, grad_clip=None))


def test_degenerate_box_is_rejected_up_front(tiny_coco: Path, tmp_path: Path) -> None:
    data = json.loads((tiny_coco / "annotations.json").read_text())
    data["annotations"][0]["bbox"][2] = 0.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    (tmp_path / "images").symlink_to(tiny_coco / "images", target_is_directory=True)
    with pytest.raises(DatasetError, match=r"bad\.json.*000000\.png.*degenerate box"):
        load_detection_data(bad)


def test_cli_train_and_bad_input(tiny_coco: Path, tiny_config_json: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.pt"
    code = main(["train", "--data", str(tiny_coco), "--config", str(tiny_config_json), "--iters", "2",
                 "--batch", "1", "--out", str(out), "--val", str(tiny_coco), "--warmup", "0"])
    assert code == 0
    text = capsys.readouterr().out
    assert "after 2 iterations" in text and "epoch 1: AP" in text
    assert load_checkpoint_dict(out)["meta"]["val"]["AP"] >= 0.0
    assert (tmp_path / "cli.best.pt").is_file()
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "missing" in capsys.readouterr().err


def test_compact_checkpoint_is_half_size_and_loads(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from detector_app.detection.training import compact_checkpoint

    full = tmp_path / "full.pt"
    train(_cfg(tiny_coco, full, tiny_config(), iters=1))
    small = compact_checkpoint(full, tmp_path / "half.pt", {"note": "x"})
    assert small.stat().st_size < 0.55 * full.stat().st_size
    raw = torch.load(small, weights_only=True)
    assert raw["state_dict"]["backbone.body.0.weight"].dtype == torch.float16
    assert raw["meta"]["stored_as"] == "float16" and raw["meta"]["note"] == "x"
    a, b = load_checkpoint_dict(full)["state_dict"], load_checkpoint_dict(small)["state_dict"]
    assert b["backbone.body.0.weight"].dtype == torch.float32
    for k in a:
        if a[k].is_floating_point():
            torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4)
        else:
            assert torch.equal(a[k], b[k])
    # inference settings chosen after training go into the config; architecture ones are refused
    tuned = compact_checkpoint(full, tmp_path / "tuned.pt", config_updates={"rpn_pre_nms_top_n_test": 77})
    assert load_checkpoint(tuned).model.rpn._pre_nms_top_n["testing"] == 77
    assert load_checkpoint_dict(tuned)["config"]["rpn_pre_nms_top_n_test"] == 77
    with pytest.raises(ConfigError, match="representation_size"):
        compact_checkpoint(full, tmp_path / "bad.pt", config_updates={"representation_size": 64})


def test_precise_bn_and_freeze_bn(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from detector_app.detection.training import recompute_bn_stats, set_train_mode

    bn_config = tiny_config()
    bn_config.extra["norm"] = "batch"  # the small builder's default is GroupNorm (no BN statistics)
    model = build_model(bn_config)
    assert recompute_bn_stats(build_model(tiny_config()), TorchDetectionDataset(load_detection_data(tiny_coco)),
                              2, 2, torch.device("cpu")) == 0
    ds = TorchDetectionDataset(load_detection_data(tiny_coco))
    bn = model.backbone.body[1]
    assert recompute_bn_stats(model, ds, 2, 2, torch.device("cpu")) > 0
    # one batch of both images: the running mean is that batch's channel mean after conv1
    with torch.no_grad():
        imgs, _ = model.transform([ds[0][0], ds[1][0]])
        expect = model.backbone.body[0](imgs.tensors).mean(dim=(0, 2, 3))
    torch.testing.assert_close(bn.running_mean, expect, rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.1 and not model.training
    set_train_mode(model, freeze_bn=True)
    assert model.training and not bn.training
    # a run with freeze_bn keeps the statistics it estimated at the start
    out = tmp_path / "f.pt"
    train(_cfg(tiny_coco, out, bn_config, iters=2, freeze_bn=True, bn_recompute_images=2))
    sd = load_checkpoint_dict(out)["state_dict"]
    assert int(sd["backbone.body.1.num_batches_tracked"]) == 1  # one estimation batch, no training updates
    torch.manual_seed(0)  # train() seeds 0 before building: the same start weights
    start = build_model(bn_config)
    recompute_bn_stats(start, ds, 2, 2, torch.device("cpu"))
    torch.testing.assert_close(sd["backbone.body.1.running_mean"], start.backbone.body[1].running_mean)


# ---- speed options: roi_batch (RoIs sampled per image) and precision="bf16" (CPU backbone in bfloat16);
# both keep checkpoints identical in form

def _rois_seen_by_box_head(model: torch.nn.Module, tiny_coco: Path) -> list[int]:
    """Run one training forward on both tiny images; the RoI counts the box head got."""
    seen: list[int] = []
    hook = model.roi_heads.box_head.register_forward_hook(lambda m, i, o: seen.append(int(i[0].shape[0])))
    images, targets = collate([TorchDetectionDataset(load_detection_data(tiny_coco))[i] for i in range(2)])
    model.train()
    torch.manual_seed(0)
    model(images, targets)
    hook.remove()
    return seen


def test_roi_batch_sets_how_many_rois_the_box_head_trains_on(tiny_coco: Path, tiny_config) -> None:  # type: ignore[no-untyped-def]
    model = build_model(tiny_config())
    before = _rois_seen_by_box_head(model, tiny_coco)  # default 512 per image: all ~100 proposals + gt
    assert len(before) == 1 and before[0] > 2 * 100
    apply_speed_options(model, TrainConfig(data="", out="", roi_batch=16), torch.device("cpu"))
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 16
    assert _rois_seen_by_box_head(model, tiny_coco) == [2 * 16]


def test_bad_speed_options_are_refused(tiny_config) -> None:  # type: ignore[no-untyped-def]
    model = build_model(tiny_config())
    with pytest.raises(TrainingError, match="at least 1"):
        apply_speed_options(model, TrainConfig(data="", out="", roi_batch=0), torch.device("cpu"))
    with pytest.raises(TrainingError, match="unknown precision 'fp16'"):
        apply_speed_options(model, TrainConfig(data="", out="", precision="fp16"), torch.device("cpu"))
    with pytest.raises(TrainingError, match="on CUDA use --amp"):
        apply_speed_options(model, TrainConfig(data="", out="", precision="bf16"), torch.device("cuda"))
    assert get_precision(model) == "fp32"


@pytest.mark.slow
def test_bf16_training_learns_and_saves_a_plain_float32_checkpoint(tiny_coco: Path, tiny_config,
                                                                   tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out32, out16 = tmp_path / "fp32.pt", tmp_path / "bf16.pt"
    a = train(_cfg(tiny_coco, out32, tiny_config(), epochs=20, hflip=False))
    b = train(_cfg(tiny_coco, out16, tiny_config(), epochs=20, hflip=False, precision="bf16"))
    la, lb = [h["loss"] for h in a.history], [h["loss"] for h in b.history]
    assert np.isfinite(lb).all()
    # same start (only the backbone's arithmetic is rounded), and it learns as fp32 does
    assert lb[0] == pytest.approx(la[0], rel=0.05)
    assert np.mean(lb[-5:]) < 0.7 * np.mean(lb[:3])
    assert np.mean(lb[-5:]) < 1.5 * np.mean(la[-5:])
    c32, c16 = load_checkpoint_dict(out32), load_checkpoint_dict(out16)
    assert c16["meta"]["precision"] == "bf16" and c32["meta"]["precision"] == "fp32"
    assert list(c16["state_dict"]) == list(c32["state_dict"])
    assert all(v.dtype in (torch.float32, torch.int64) for v in c16["state_dict"].values())
    fresh = build_model(tiny_config())
    fresh.load_state_dict(c16["state_dict"])
    assert get_precision(fresh) == "fp32"


def test_cli_passes_the_speed_options(tiny_coco: Path, tiny_config_json: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.pt"
    code = main(["train", "--data", str(tiny_coco), "--config", str(tiny_config_json), "--iters", "2",
                 "--batch", "1", "--warmup", "0", "--precision", "bf16", "--roi-batch", "32", "--out", str(out)])
    assert code == 0
    meta = load_checkpoint_dict(out)["meta"]
    assert meta["precision"] == "bf16" and meta["roi_batch"] == 32


@pytest.mark.parametrize("norm, said", [("group", False), ("batch", True)])
def test_precise_bn_is_reported_only_when_there_is_bn(tiny_coco: Path, tiny_config, tmp_path: Path,
                                                       norm: str, said: bool) -> None:  # type: ignore[no-untyped-def]
    mc = tiny_config()
    mc.extra["norm"] = norm
    messages: list[str] = []
    train(_cfg(tiny_coco, tmp_path / "m.pt", mc, iters=1, bn_recompute_images=2),
          progress=lambda p: messages.append(p.message))
    assert any("BatchNorm statistics recomputed" in m for m in messages) is said
