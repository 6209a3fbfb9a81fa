"""``FinetuneDialog``: fine-tune the model in use on this project's boxes.

Runs ``detector_app.app.jobs.run_finetune`` (export the reviewed images as a
COCO dataset, then the project's training engine) on a :class:`JobThread`
(the :class:`JobDialog` wiring), with a progress bar, a live pyqtgraph plot of the loss terms, and Cancel
(training stops at the next iteration and keeps the last checkpoint). When a
checkpoint exists it offers to switch to the new model (``modelAccepted``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from detector_app.app.finetune_job import TRAIN_SCOPES
from detector_app.app.jobs import (
    FEW_IMAGES,
    FinetuneSettings,
    ModelInfo,
    finetune_images,
    finetune_output,
    run_finetune,
    split_device,
)
from detector_app.app.session import Session
from detector_app.domain.errors import UserError
from detector_app.domain.progress import Progress
from detector_app.qt.job_dialog import JobDialog

if TYPE_CHECKING:
    from detector_app.app.jobs import TrainResult
    from detector_app.qt.compare_dialog import CompareDialog

#: Loss terms plotted (the training engine's metric names) and their colours.
CURVES = {
    "loss": (240, 240, 240), "loss_objectness": (230, 25, 75), "loss_rpn_box_reg": (245, 130, 48),
    "loss_classifier": (60, 180, 75), "loss_box_reg": (0, 130, 200),
}


class FinetuneDialog(JobDialog):
    """See the module docstring."""

    modelAccepted = Signal(str)  # path of the new checkpoint
    cancelling_text = "stopping after this iteration\u2026"

    def __init__(self, session: Session, base: ModelInfo | None, device: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on this project")
        self.resize(640, 520)
        self.session = session
        self.store = session.require_store()
        self.base = base
        self.result: TrainResult | None = None
        self.device = None if device in (None, "auto") else split_device(device)[0]  # training runs float32
        self.history: dict[str, list[tuple[int, float]]] = {k: [] for k in CURVES}

        form = self._build_options(base)
        self._build_plot()
        self._build_buttons()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.warning)
        layout.addWidget(self.key)
        layout.addWidget(self.plot, 1)
        self._add_job_widgets(layout)

    def _build_options(self, base: ModelInfo | None) -> QFormLayout:
        """The training settings (epochs, iteration cap, learning rate, batch, verified only)."""
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(FinetuneSettings.epochs)
        self.iters = QSpinBox()
        self.iters.setRange(0, 1_000_000)
        self.iters.setSpecialValueText("no limit")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(4)
        self.lr.setRange(0.0001, 0.1)
        self.lr.setSingleStep(0.001)
        self.lr.setValue(0.005)
        self.batch = QSpinBox()
        self.batch.setRange(1, 64)
        self.batch.setValue(2)
        self.scope = QComboBox()
        for key, text in TRAIN_SCOPES.items():
            self.scope.addItem(text[:1].upper() + text[1:], key)
        self._scope_choice = base is not None and bool(base.path)  # random weights: every layer must learn
        self.scope.setCurrentIndex(self.scope.findData(FinetuneSettings.scope if self._scope_choice else "all"))
        self.scope.setEnabled(self._scope_choice)
        self.scope.setToolTip("What learns. Training only the heads keeps what the backbone knows: fewer old "
                              "classes forgotten and faster steps when a few images teach a new class")
        self.verified_only = QCheckBox("Only images marked verified")
        self.verified_only.setChecked(True)
        base_text = "random weights (no model loaded)" if base is None else f"{base.name} ({base.path or base.builder})"
        form = QFormLayout()
        form.addRow("Start from", QLabel(base_text))
        form.addRow("Epochs", self.epochs)
        form.addRow("Iterations at most", self.iters)
        form.addRow("Learning rate", self.lr)
        form.addRow("Batch size", self.batch)
        form.addRow("Train", self.scope)
        form.addRow("", self.verified_only)
        return form

    def _build_plot(self) -> None:
        """The live loss curves, their key, and the few-images warning above them."""
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "iteration")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        # the key sits above the plot, not on it: a legend inside covered the curves
        self.key = QLabel("  ".join(f"<span style='color:rgb{c}'>\u2501 {k}</span>" for k, c in CURVES.items()))
        self.key.setTextFormat(Qt.TextFormat.RichText)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: rgb(255, 190, 80)")
        self.curves = {k: self.plot.plot([], [], name=k, pen=pg.mkPen(c, width=2 if k == "loss" else 1))
                       for k, c in CURVES.items()}

    def _build_buttons(self) -> None:
        """Start, "Use the new model", Compare..., Cancel and Close."""
        self._add_start_button("Start", QDialogButtonBox.ButtonRole.ActionRole)
        self.use_button = self.buttons.addButton("Use the new model", QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.clicked.connect(self._use)
        self.use_button.setEnabled(False)
        self.compare_button = self.buttons.addButton("Compare\u2026", QDialogButtonBox.ButtonRole.ActionRole)
        self.compare_button.setToolTip("The model in use and the new one side by side: the current image, AP per "
                                       "class on the verified images; then keep the new one or go back")
        self.compare_button.clicked.connect(self.compare)
        self.compare_button.setEnabled(False)
        self._add_cancel_close()

    def settings(self) -> FinetuneSettings:
        return FinetuneSettings(epochs=self.epochs.value(), lr=self.lr.value(), batch=self.batch.value(),
                                iters=self.iters.value() or None, verified_only=self.verified_only.isChecked(),
                                device=self.device, scope=str(self.scope.currentData()))

    # -- running -------------------------------------------------------------------
    def start(self) -> None:
        if self.job_thread is not None:
            return
        store, base, settings = self.store, self.base, self.settings()
        out = finetune_output(store.root)
        try:
            store.flush()  # the job reads the records; make sure they are on disk too
        except UserError as exc:
            self._failed(str(exc), "")
            return
        n = finetune_images(store, settings.verified_only)
        self.warning.setText("" if n == 0 or n >= FEW_IMAGES else
                             f"Training on {n} image{'s' if n != 1 else ''} only: the model will learn "
                             f"{'it' if n == 1 else 'them'} by heart and may get worse elsewhere; verify more images "
                             "first for a lasting improvement.")
        for points in self.history.values():
            points.clear()
        self._redraw()
        self._start_job(lambda progress, cancel: run_finetune(store, base, settings, out, progress, cancel),
                        "preparing the dataset\u2026")

    def _set_running(self, on: bool) -> None:
        super()._set_running(on)
        for w in (self.epochs, self.iters, self.lr, self.batch, self.verified_only):
            w.setEnabled(not on)
        self.scope.setEnabled(not on and self._scope_choice)

    def _progressed(self, p: Progress) -> None:
        if p.total > 0:
            self.progress.setRange(0, p.total)
            self.progress.setValue(min(p.done, p.total))
        if p.metrics:
            for k, v in p.metrics.items():
                if k in self.history:
                    self.history[k].append((p.done, float(v)))
            self._redraw()
            terms = "  ".join(f"{k.replace('loss_', '')} {v:.3f}" for k, v in p.metrics.items())
            self.message.setText(f"iteration {p.done}/{p.total} {p.message}: {terms}")
        elif p.message:
            self.message.setText(p.message)

    def _redraw(self) -> None:
        for k, points in self.history.items():
            self.curves[k].setData([x for x, _ in points], [y for _, y in points])

    def _succeeded(self, result: TrainResult) -> None:
        self.result = result
        ckpt = result.checkpoint
        if result.stopped != "cancelled":  # a cancelled run's bar stays where it stopped
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
        how = {"cancelled": "stopped early", "iters": "reached the iteration limit"}.get(result.stopped, "finished")
        if ckpt is not None and Path(ckpt).is_file():
            note = result.head_note
            self.message.setText(f"Training {how} after {result.iterations} iterations "
                                 f"({result.seconds:.0f} s). New model: {ckpt}" + (f"\n{note[0].upper()}{note[1:]}."
                                                                                   if note else ""))
            self.use_button.setEnabled(True)
            self.compare_button.setEnabled(True)
        else:
            self.message.setText(f"Training {how} before the first checkpoint; no new model.")

    def _cancelled(self) -> None:
        """Cancelled while the dataset was prepared (a cancelled training returns
        normally, see :meth:`_succeeded`): the message only, the bar is left as it is."""
        self.message.setText(self.cancelled_text)

    def compare_dialog(self) -> CompareDialog:
        """A :class:`CompareDialog` of the model in use against the new checkpoint (not shown)."""
        from detector_app.app.compare import compare_job
        from detector_app.app.jobs import UNTRAINED
        from detector_app.qt.compare_dialog import CompareDialog

        base, store = self.base, self.store
        if self.result is None or self.result.checkpoint is None:
            raise UserError("no new model to compare: fine-tune first")
        old = base.path if base is not None and base.path else (UNTRAINED if base is not None else None)
        job = compare_job(store, old, str(self.result.checkpoint), self.device, self.session.image,
                          self.session.score_thresh)
        return CompareDialog(job, self)

    def compare(self) -> None:
        """Compare, then keep the new model (as "Use the new model") or go back."""
        try:
            dialog = self.compare_dialog()
        except UserError as exc:
            self.message.setText(f"\u26a0 {exc}")
            return
        dialog.start()
        if dialog.exec():
            self._use()

    def _use(self) -> None:
        ckpt = None if self.result is None else self.result.checkpoint
        if ckpt is not None:
            self.modelAccepted.emit(str(ckpt))
            self.accept()
