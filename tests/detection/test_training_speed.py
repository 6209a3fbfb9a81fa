"""Training speed options: ``roi_batch`` (RoIs sampled per image) and ``precision="bf16"``
(CPU backbone under bfloat16 autocast); both keep checkpoints identical in form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.cli import main
from detector_app.detection.builders import build_model
from detector_app.detection.datasets import TorchDetectionDataset, collate, load_detection_data
from detector_app.detection.precision import get_precision
from detector_app.detection.training import (
    TrainConfig,
    TrainingError,
    _apply_speed_options,
    load_checkpoint_dict,
    train,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(data: Path, out: Path, mc, **kw) -> TrainConfig:  # type: ignore[no-untyped-def]
    base = dict(data=str(data), out=str(out), model_config=mc, epochs=1, batch=2, lr=0.01,
                warmup_iters=0, schedule="constant", seed=0, log_every=1)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


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
    _apply_speed_options(model, TrainConfig(data="", out="", roi_batch=16), torch.device("cpu"))
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 16
    assert _rois_seen_by_box_head(model, tiny_coco) == [2 * 16]


def test_bad_speed_options_are_refused(tiny_config) -> None:  # type: ignore[no-untyped-def]
    model = build_model(tiny_config())
    with pytest.raises(TrainingError, match="at least 1"):
        _apply_speed_options(model, TrainConfig(data="", out="", roi_batch=0), torch.device("cpu"))
    with pytest.raises(TrainingError, match="unknown precision 'fp16'"):
        _apply_speed_options(model, TrainConfig(data="", out="", precision="fp16"), torch.device("cpu"))
    with pytest.raises(TrainingError, match="on CUDA use --amp"):
        _apply_speed_options(model, TrainConfig(data="", out="", precision="bf16"), torch.device("cuda"))
    assert get_precision(model) == "fp32"


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
