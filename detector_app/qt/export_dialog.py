"""``ExportDialog``: write the project as COCO / Pascal VOC / YOLO.

Every option of ``detector_app.app.export.ExportOptions`` is here: format,
the COCO layout (standard, CVAT's "COCO 1.0", by default; or flat), train/val
split and its seed, verified images only, accepted model boxes included or not,
images copied / symlinked / referenced in place (flat COCO and VOC), output
folder (and overwrite). The export runs on a :class:`JobThread` with a
progress bar (the :class:`JobDialog` wiring); Cancel stops it and leaves no
partial output.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from detector_app.app.export import ExportOptions, ExportResult, export_dataset
from detector_app.app.session import Session
from detector_app.qt.job_dialog import JobDialog

FORMATS = (("COCO (JSON + images)", "coco"), ("Pascal VOC (XML per image)", "voc"),
           ("YOLO (txt per image + data.yaml)", "yolo"))
COCO_LAYOUTS = (("standard: annotations/instances_<split>.json + images/<split>/", "standard"),
                ("flat: annotations.json + images/", "flat"))
IMAGE_MODES = (("Copy the images", "copy"), ("Symlink the images", "symlink"),
               ("Refer to the originals (no copy)", "relative"))


class ExportDialog(JobDialog):
    """See the module docstring. ``session`` gives the project store (a project must be open)."""

    exported = Signal(object)  # ExportResult
    cancelled_text = "cancelled: nothing was written"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export dataset")
        self.session = session
        self.store = session.require_store()
        self.result: ExportResult | None = None
        self.format = QComboBox()
        for text, fmt in FORMATS:
            self.format.addItem(text, fmt)
        self.coco_layout = QComboBox()
        for text, value in COCO_LAYOUTS:
            self.coco_layout.addItem(text, value)
        self._root = Path(self.store.root)
        self.out_dir = QLineEdit(self._default_folder(str(self.format.currentData())))
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_dir, 1)
        out_row.addWidget(browse)
        self.split = QCheckBox("Split into train / val")
        self.train_fraction = QDoubleSpinBox()
        self.train_fraction.setRange(0.05, 0.95)
        self.train_fraction.setSingleStep(0.05)
        self.train_fraction.setValue(0.8)
        self.train_fraction.setPrefix("train ")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setPrefix("seed ")
        split_row = QHBoxLayout()
        for w in (self.split, self.train_fraction, self.seed):
            split_row.addWidget(w)
        self.verified_only = QCheckBox("Only images marked verified")
        self.include_model = QCheckBox("Include accepted model boxes on images not verified")
        self.image_mode = QComboBox()
        for text, mode in IMAGE_MODES:
            self.image_mode.addItem(text, mode)
        self.overwrite = QCheckBox("Replace the folder if it exists")
        self.allow_outside = QCheckBox("Include images linked from outside the project")
        self.allow_outside.setToolTip("A link (or a stored path) leading out of the project folder is left out "
                                      "of exports unless this is ticked, so an export never copies a file the "
                                      "project only points to by accident")
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("COCO layout", self.coco_layout)
        form.addRow("Output folder", out_row)
        form.addRow("", split_row)
        form.addRow("", self.verified_only)
        form.addRow("", self.include_model)
        form.addRow("Images", self.image_mode)
        form.addRow("", self.allow_outside)
        form.addRow("", self.overwrite)
        self.export_button = self._add_start_button("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self._add_cancel_close()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self._add_job_widgets(layout)
        self.split.toggled.connect(self._sync)
        self.format.currentIndexChanged.connect(self._sync)
        self.coco_layout.currentIndexChanged.connect(self._sync)
        self._sync()

    # -- options -------------------------------------------------------------------
    def options(self) -> tuple[str, Path, ExportOptions]:
        """``(format, output folder, options)`` as set in the dialog."""
        opts = ExportOptions(
            split=self.train_fraction.value() if self.split.isChecked() else None,
            seed=self.seed.value(),
            verified_only=self.verified_only.isChecked(),
            include_model_boxes=self.include_model.isChecked(),
            image_mode=str(self.image_mode.currentData()),
            overwrite=self.overwrite.isChecked(),
            coco_layout=str(self.coco_layout.currentData()),
            allow_outside=self.allow_outside.isChecked(),
        )
        return str(self.format.currentData()), Path(self.out_dir.text().strip()).expanduser(), opts

    def set_format(self, fmt: str) -> None:
        self.format.setCurrentIndex(max(self.format.findData(fmt), 0))

    def _default_folder(self, fmt: str) -> str:
        """``<project>-<format>`` beside the project: each format its own folder, so
        switching the format does not aim at the last export's (then non-empty) folder."""
        return str(self._root.parent / f"{self._root.name}-{fmt}")

    def _sync(self) -> None:
        fmt = str(self.format.currentData())
        defaults = {self._default_folder(str(self.format.itemData(i))) for i in range(self.format.count())}
        if self.out_dir.text().strip() in defaults:  # still a suggestion (not typed or chosen): follow the format
            self.out_dir.setText(self._default_folder(fmt))
        self.train_fraction.setEnabled(self.split.isChecked())
        self.seed.setEnabled(self.split.isChecked())
        coco = fmt == "coco"
        self.coco_layout.setEnabled(coco)
        # YOLO's labels and the standard COCO layout's images/<split>/ need the images inside the dataset
        holds_images = fmt == "yolo" or (coco and self.coco_layout.currentData() == "standard")
        i = self.image_mode.findData("relative")
        self.image_mode.model().item(i).setEnabled(not holds_images)  # type: ignore[attr-defined]
        if holds_images and self.image_mode.currentData() == "relative":
            self.image_mode.setCurrentIndex(0)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into folder", self.out_dir.text())
        if folder:
            self.out_dir.setText(folder)

    # -- running -------------------------------------------------------------------
    def start(self) -> None:
        """Run the export off the GUI thread."""
        if self.job_thread is not None:
            return
        fmt, out, opts = self.options()
        if not self.out_dir.text().strip():
            self._failed("choose an output folder", "")
            return
        store = self.store
        self._start_job(lambda progress, cancel: export_dataset(store, fmt, out, opts, progress, cancel),
                        f"exporting to {out}\u2026")

    def _succeeded(self, result: ExportResult) -> None:
        self.result = result
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        text = f"Exported {result.summary()}"
        if result.skipped:
            text += "\nSkipped: " + "; ".join(result.skipped[:3])
        self.message.setText(text)
        self.exported.emit(result)

