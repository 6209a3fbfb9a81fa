"""``ModelPicker``: which model to run (bundled default, a checkpoint file,
torchvision files in the torch hub cache) and on which device (CUDA when
present, CPU).

The owner fills it with ``set_models`` / ``set_devices`` (from
``detector_app.app.jobs.model_choices`` / ``device_choices``) and hears
``modelChosen(spec)`` / ``deviceChosen(device)``. "Open checkpoint\u2026" asks
for a file. A zoo model that is not downloaded yet (``ModelChoice.download``)
emits ``downloadRequested(name)`` and the list goes back to the model in use.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QSizePolicy, QWidget

from detector_app.app.jobs import ZOO_PREFIX, DeviceChoice, ModelChoice

_BROWSE = "__browse__"
MODEL_FILTER = "Checkpoints (*.pt *.pth *.ckpt);;All files (*)"


class _Combo(QComboBox):
    """A combo box that says when its list is about to open."""

    def __init__(self, about_to_open: Callable[[], None]) -> None:
        super().__init__()
        self._about_to_open = about_to_open

    def showPopup(self) -> None:  # noqa: N802 (Qt API)
        self._about_to_open()
        super().showPopup()


class ModelPicker(QWidget):
    """Model and device combos in one row (for the toolbar)."""

    modelChosen = Signal(object)  # spec: str | None (None = bundled default)
    deviceChosen = Signal(str)
    downloadRequested = Signal(str)  # a zoo model's name (not on disk yet)
    listAboutToOpen = Signal()  # the owner may refresh the choices (a model trained meanwhile)

    def __init__(self, parent: QWidget | None = None,
                 ask_file: Callable[[QWidget], str | None] | None = None) -> None:
        super().__init__(parent)
        self._ask_file = ask_file or _ask_checkpoint
        self._model = _Combo(self.listAboutToOpen.emit)
        self._model.setMinimumContentsLength(22)
        self._model.setMaximumWidth(300)
        self._model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._model.setToolTip("The detector: bundled model, a checkpoint, or a torchvision file from the hub cache")
        self._device = QComboBox()
        self._device.setToolTip("Where the model runs")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Model"))
        layout.addWidget(self._model)
        layout.addWidget(QLabel("on"))
        layout.addWidget(self._device)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self._choices: list[ModelChoice] = []
        self._last_index = 0
        self._model.activated.connect(self._model_activated)
        self._device.activated.connect(lambda i: self.deviceChosen.emit(str(self._device.itemData(i))))

    # -- owner API -------------------------------------------------------------
    def set_models(self, choices: list[ModelChoice], current: str | None = None) -> None:
        self._choices = list(choices)
        self._model.blockSignals(True)
        self._model.clear()
        for c in self._choices:
            self._model.addItem(c.label, c.spec)
            self._model.setItemData(self._model.count() - 1, c.tooltip, 3)  # ToolTipRole
            if not c.available:
                self._model.model().item(self._model.count() - 1).setEnabled(False)  # type: ignore[attr-defined]
        self._model.addItem("Open checkpoint\u2026", _BROWSE)
        self._model.blockSignals(False)
        self.set_current_model(current)

    def set_current_model(self, spec: str | None) -> None:
        """Show ``spec`` as chosen (adds an entry for an unlisted file); emits nothing."""
        i = self._model.findData(spec)
        if i < 0 and spec:
            self._model.blockSignals(True)
            self._model.insertItem(max(self._model.count() - 1, 0), _short(spec), spec)
            self._model.blockSignals(False)
            i = self._model.findData(spec)
        self._model.blockSignals(True)
        self._model.setCurrentIndex(max(i, 0))
        self._model.blockSignals(False)
        self._last_index = self._model.currentIndex()

    def set_devices(self, devices: list[DeviceChoice], current: str | None = None) -> None:
        self._device.blockSignals(True)
        self._device.clear()
        for d in devices:
            self._device.addItem(d.label, d.value)
            self._device.setItemData(self._device.count() - 1, d.tooltip, Qt.ItemDataRole.ToolTipRole)
        i = self._device.findData(current or "auto")
        self._device.setCurrentIndex(max(i, 0))
        self._device.blockSignals(False)

    # -- queries ---------------------------------------------------------------
    def current_model(self) -> str | None:
        spec = self._model.currentData()
        return spec if isinstance(spec, str) else None

    def current_device(self) -> str:
        return str(self._device.currentData())

    def model_entries(self) -> list[tuple[str, object]]:
        return [(self._model.itemText(i), self._model.itemData(i)) for i in range(self._model.count())]

    def device_entries(self) -> list[str]:
        return [str(self._device.itemData(i)) for i in range(self._device.count())]

    def device_labels(self) -> list[str]:
        return [self._device.itemText(i) for i in range(self._device.count())]

    def choose_model(self, spec: str | None) -> None:
        """As if the user picked ``spec`` (emits ``modelChosen``)."""
        self.set_current_model(spec)
        self.modelChosen.emit(spec)

    # -- internals ---------------------------------------------------------------
    def _model_activated(self, index: int) -> None:
        spec = self._model.itemData(index)
        if isinstance(spec, str) and spec.startswith(ZOO_PREFIX):
            self._restore_selection()
            self.downloadRequested.emit(spec[len(ZOO_PREFIX):])
            return
        if spec == _BROWSE:
            path = self._ask_file(self)
            if not path:
                self._restore_selection()
                return
            spec = path
            self.set_current_model(spec)
        self._last_index = self._model.currentIndex()
        self.modelChosen.emit(spec)

    def _restore_selection(self) -> None:
        self._model.blockSignals(True)
        self._model.setCurrentIndex(self._last_index)
        self._model.blockSignals(False)


def _short(spec: str) -> str:
    from pathlib import Path

    return Path(spec).name or spec


def _ask_checkpoint(parent: QWidget) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open a model checkpoint", "", MODEL_FILTER)
    return path or None
