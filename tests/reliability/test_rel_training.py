"""Training and worker faults: a NaN loss stops cleanly and leaves the
last good checkpoint loadable; cancelling mid-epoch keeps the previous
epoch's checkpoint; an exception inside a fine-tune job is a message in the
dialog, which (and the app) stays usable."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.detection import training
from detector_app.detection.checkpoints import load_checkpoint
from detector_app.detection.tracing import trace
from detector_app.detection.training import TrainConfig, TrainingError, train
from detector_app.domain.progress import Progress

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(data: Path, out: Path, mc, **kw) -> TrainConfig:  # type: ignore[no-untyped-def]
    base = dict(data=str(data), out=str(out), model_config=mc, epochs=1, batch=1, lr=0.01, warmup_iters=0,
                schedule="constant", seed=0, log_every=1, bn_recompute_images=0, hflip=False)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _assert_loadable_and_finite(path: Path) -> None:
    loaded = load_checkpoint(path)
    assert all(torch.isfinite(p).all() for p in loaded.model.state_dict().values() if p.is_floating_point())
    img = np.full((128, 128, 3), 90, np.uint8)
    t = trace(loaded.model, img, class_names=loaded.class_names)
    assert np.isfinite(t.objectness_logits).all() and np.isfinite(t.detection_boxes).all()


def test_nan_after_a_good_epoch_stops_and_names_the_loadable_checkpoint(
        tiny_coco: Path, tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Epoch 1 (2 iterations) trains normally; then the learning rate explodes."""
    monkeypatch.setattr(training, "lr_factor", lambda it, *_a: 1.0 if it < 2 else 1e12)
    out = tmp_path / "n.pt"
    with pytest.raises(TrainingError) as info:
        train(_cfg(tiny_coco, out, tiny_config(), epochs=30, grad_clip=None))
    msg = str(info.value)
    assert "loss is not finite at iteration" in msg and "(epoch 2)" in msg and "Try a lower --lr" in msg
    assert msg.endswith(f"Last good checkpoint: {out}")
    assert load_checkpoint(out).meta["epoch"] == 1
    _assert_loadable_and_finite(out)
    assert not list(tmp_path.glob("*.tmp"))


def test_cancel_mid_epoch_keeps_the_previous_epochs_checkpoint(
        tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "c.pt"
    cancel = threading.Event()
    seen: list[int] = []

    def progress(p: Progress) -> None:
        if p.metrics:
            seen.append(p.done)
            if p.done == 3:  # the first iteration of epoch 2
                cancel.set()

    result = train(_cfg(tiny_coco, out, tiny_config(), epochs=5), progress=progress, cancel=cancel)
    assert result.stopped == "cancelled" and result.iterations == 3 and seen == [1, 2, 3]
    assert result.checkpoint == out
    meta = load_checkpoint(out).meta
    assert (meta["epoch"], meta["iteration"]) == (1, 2)  # not overwritten by the partial epoch
    _assert_loadable_and_finite(out)
    assert not list(tmp_path.glob("*.tmp"))
