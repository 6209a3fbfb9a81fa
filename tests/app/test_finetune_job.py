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


@pytest.fixture
def session(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Session(detect_on_open=False)
    s.open_paths([noise_pngs(tmp_path / "proj", 2, 128, 96)])
    for label, box in (("cat", Box(10, 12, 50, 60)), ("dog", Box(60, 20, 120, 90))):
        s.choose_label(label)
        s.add_box(box)
        s.verify_and_next()
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
