"""Training faults in the GUI: an exception inside the fine-tune job
(a bug, or a NaN loss) is a message in the dialog; the dialog can start again,
can be closed, and the project stays editable and saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.app import jobs
from detector_app.app.session import Session
from detector_app.detection import training
from detector_app.domain.boxes import Box
from detector_app.qt import finetune_dialog
from detector_app.qt.finetune_dialog import FinetuneDialog
from tests.helpers.files import noise_pngs
from tests.helpers.models import make_tiny_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def session(tmp_path: Path):
    root = noise_pngs(tmp_path / "proj", 2, 128, 96)
    s = Session(detect_on_open=False)
    s.open_paths([root])
    s.choose_label("cat")
    s.add_box(Box(10, 12, 50, 60))
    s.verify_and_next()
    s.add_box(Box(60, 20, 120, 90))
    s.verify_and_next()
    yield s
    s.close()


def _finish(qtbot, dialog: FinetuneDialog) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not dialog.running(), timeout=30000)
    assert dialog.start_button.isEnabled() and dialog.close_button.isEnabled()
    assert not dialog.cancel_button.isEnabled() and not dialog.use_button.isEnabled()


def test_job_exceptions_are_messages_and_the_dialog_stays_usable(
        qtbot, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    base = jobs.ModelInfo("base.pt", ["__background__", "cat"], "cpu",
                          str(make_tiny_checkpoint(tmp_path / "base.pt")), "small")
    dialog = FinetuneDialog(session, base, "cpu")
    qtbot.addWidget(dialog)
    dialog.epochs.setValue(20)
    dialog.batch.setValue(1)
    real = finetune_dialog.run_finetune

    def bug(*_a: object) -> None:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(finetune_dialog, "run_finetune", bug)
    dialog.start()
    _finish(qtbot, dialog)
    assert dialog.message.text() == "\u26a0 RuntimeError: CUDA error: an illegal memory access was encountered"

    # the real job, diverging after its first iteration: the NaN guard's message
    monkeypatch.setattr(finetune_dialog, "run_finetune", real)
    monkeypatch.setattr(training, "lr_factor", lambda it, *_a: 1.0 if it < 1 else 1e12)
    dialog.start()
    _finish(qtbot, dialog)
    text = dialog.message.text()
    assert text.startswith("\u26a0 loss is not finite at iteration") and "Last good checkpoint" in text

    # the project is untouched and still editable; the dialog closes
    session.go_to(0)
    assert session.add_box(Box(1, 1, 9, 9)) is not None
    dialog.reject()
    assert not dialog.isVisible()
