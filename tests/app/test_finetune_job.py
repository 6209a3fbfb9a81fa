"""The fine-tune job on a project: what learns by default (the heads of a trained model;
every layer of a model without trained weights)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from detector_app.app import jobs
from detector_app.app.session import Session
from detector_app.detection.checkpoints import load_checkpoint
from detector_app.domain.boxes import Box
from tests.helpers.files import noise_pngs
from tests.helpers.models import make_tiny_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def _annotated_session(root: Path, images: int) -> Session:
    """A session on ``images`` noise images, the first two with one verified box each (cat, dog)."""
    s = Session(detect_on_open=False)
    s.open_paths([noise_pngs(root, images, 128, 96)])
    for label, box in (("cat", Box(10, 12, 50, 60)), ("dog", Box(60, 20, 120, 90))):
        s.choose_label(label)
        s.add_box(box)
        s.verify_and_next()
    return s


@pytest.fixture
def session(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = _annotated_session(tmp_path / "proj", 2)
    yield s
    s.close()


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_a_trained_model_keeps_its_backbone_by_default(session: Session, tmp_path: Path) -> None:
    ckpt = make_tiny_checkpoint(tmp_path / "base.pt")
    base = jobs.ModelInfo("base.pt", ["__background__", "cat", "dog"], "cpu", str(ckpt), "small")
    assert jobs.FinetuneSettings().scope == "heads"
    result = jobs.run_finetune(session.require_store(), base, jobs.FinetuneSettings(iters=2, batch=1, device="cpu"),
                               tmp_path / "ft.pt", None, threading.Event())
    changed = _changed(load_checkpoint(ckpt).model.state_dict(),
                       load_checkpoint(result.checkpoint).model.state_dict())
    assert changed and not any(k.startswith("backbone.") for k in changed)
    assert any(k.startswith("rpn.") for k in changed) and any(k.startswith("roi_heads.") for k in changed)


def test_a_model_without_trained_weights_trains_every_layer(session: Session, tmp_path: Path) -> None:
    messages: list[str] = []
    untrained = jobs.ModelInfo("untrained", ["__background__"], "cpu", None, "small")
    result = jobs.run_finetune(session.require_store(), untrained,
                               jobs.FinetuneSettings(iters=1, batch=1, device="cpu", scope="heads"),
                               tmp_path / "ft.pt", lambda p: messages.append(p.message), threading.Event())
    assert result.iterations == 1
    assert not any(m.startswith("training the RPN") for m in messages)  # no scope narrower than all



def test_an_image_verified_as_empty_is_counted_and_trained_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A person who verifies an image with no boxes says "no objects here": the fine-tune
    counts it and its dataset holds it, with no boxes (a negative)."""
    from detector_app.detection import training
    from detector_app.detection.datasets import load_detection_data

    s = _annotated_session(tmp_path / "proj", 3)
    store = s.require_store()
    assert jobs.finetune_images(store, True) == 2
    s.toggle_verified()  # the third image: verified with no boxes
    assert jobs.finetune_images(store, True) == 3
    seen: dict[str, list[int]] = {}

    def fake_train(cfg, progress=None, cancel=None):  # type: ignore[no-untyped-def]
        seen["boxes"] = sorted(len(sample.boxes) for sample in load_detection_data(cfg.data).samples)
        raise RuntimeError("stop here")

    monkeypatch.setattr(training, "train", fake_train)
    base = jobs.ModelInfo("base.pt", ["__background__", "cat", "dog"], "cpu", None, "small")
    try:
        with pytest.raises(RuntimeError, match="stop here"):
            jobs.run_finetune(store, base, jobs.FinetuneSettings(iters=1, batch=1, device="cpu"), tmp_path / "ft.pt")
    finally:
        s.close()
    assert seen["boxes"] == [0, 1, 1]
