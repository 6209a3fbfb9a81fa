"""``ImportDialog``: bring the boxes of a COCO / Pascal VOC / YOLO / LabelMe
dataset into the open project (File > Import annotations).

The user picks the dataset file or folder (:meth:`ImportDialog.ask_path`, the
seam tests replace), its format (detected by default) and the mode: replace
the boxes of each image the dataset names, or add to them. The import runs
on a :class:`JobThread` (the :class:`JobDialog` wiring) through
:meth:`Session.import_job`; it is all or nothing, so a malformed file or
Cancel changes nothing. When it ends, :meth:`Session.import_finished` makes
the import one undo step and refreshes the window's views.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from detector_app.app.dataset_io import ImportResult
from detector_app.app.session import Session
from detector_app.domain.errors import UserError
from detector_app.qt.job_dialog import JobDialog

FORMATS = (("Detect from the file / folder", None), ("COCO (JSON)", "coco"), ("Pascal VOC (XML)", "voc"),
           ("YOLO (txt + data.yaml / classes.txt)", "yolo"), ("LabelMe (JSON per image)", "labelme"))
MODES = (("Replace the boxes of each image in the dataset", "replace"),
         ("Add to the boxes already there", "append"))
DATASET_FILTER = "Dataset files (*.json *.xml *.yaml *.yml *.txt);;All files (*)"


class ImportDialog(JobDialog):
    """See the module docstring. ``session`` is the window's :class:`Session`;
    ``path`` pre-fills the dataset (e.g. ``session.suggested_dataset()``)."""

    imported = Signal(object)  # ImportResult
    importFailed = Signal(str)  # the error message (nothing was changed)
    cancelled_text = "cancelled: nothing was imported"

    def __init__(self, session: Session, path: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import annotations")
        self.session = session
        self.result: ImportResult | None = None
        self.path = QLineEdit(str(path) if path else "")
        self.path.setPlaceholderText("annotations.json, a VOC / YOLO / LabelMe folder\u2026")
        self.path.setMinimumWidth(420)
        file_button = QPushButton("File\u2026")
        folder_button = QPushButton("Folder\u2026")
        file_button.clicked.connect(lambda: self._browse(False))
        folder_button.clicked.connect(lambda: self._browse(True))
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(file_button)
        row.addWidget(folder_button)
        self.images = QLineEdit()
        self.images.setPlaceholderText("COCO only, when not found from the layout (images/<split>/, <split>2017/…)")
        images_button = QPushButton("Browse…")
        images_button.clicked.connect(self._browse_images)
        images_row = QHBoxLayout()
        images_row.addWidget(self.images, 1)
        images_row.addWidget(images_button)
        self.format = QComboBox()
        for text, fmt in FORMATS:
            self.format.addItem(text, fmt)
        self.mode = QComboBox()
        for text, mode in MODES:
            self.mode.addItem(text, mode)
        note = QLabel("Images outside the project are skipped. The import is one step of Edit > Undo.")
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Dataset", row)
        form.addRow("Images folder", images_row)
        form.addRow("Format", self.format)
        form.addRow("Mode", self.mode)
        form.addRow("", note)
        self.import_button = self._add_start_button("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self._add_cancel_close()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self._add_job_widgets(layout)

    # -- options -------------------------------------------------------------------
    def options(self) -> tuple[str, str | None, str]:
        """``(dataset path, format or None for detected, mode)`` as set in the dialog."""
        return self.path.text().strip(), self.format.currentData(), str(self.mode.currentData())

    def images_folder(self) -> str | None:
        """The images folder typed or chosen (COCO ``file_name`` entries are relative to it), or ``None``."""
        return self.images.text().strip() or None

    def set_mode(self, mode: str) -> None:
        """Select ``"replace"`` or ``"append"``."""
        self.mode.setCurrentIndex(max(self.mode.findData(mode), 0))

    def set_format(self, fmt: str | None) -> None:
        """Select a format name, or ``None`` (detect)."""
        self.format.setCurrentIndex(max(self.format.findData(fmt), 0))

    def ask_path(self, folder: bool) -> str | None:
        """Ask for a dataset file (``folder`` False) or folder; ``None`` if cancelled
        (the file-dialog seam: tests replace it)."""
        start = self.path.text().strip() or str(getattr(self.session.store, "root", ""))
        if folder:
            chosen = QFileDialog.getExistingDirectory(self, "Import annotations from a dataset folder", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Import annotations from a dataset file", start,
                                                    DATASET_FILTER)
        return chosen or None

    def ask_images_folder(self) -> str | None:
        """Ask for the images folder; ``None`` if cancelled (a seam for tests)."""
        start = self.images.text().strip() or self.path.text().strip()
        return QFileDialog.getExistingDirectory(self, "The folder of the dataset's images", start) or None

    def _browse_images(self) -> None:
        chosen = self.ask_images_folder()
        if chosen:
            self.images.setText(chosen)

    def _browse(self, folder: bool) -> None:
        chosen = self.ask_path(folder)
        if chosen:
            self.path.setText(chosen)

    # -- running -------------------------------------------------------------------
    def start(self) -> None:
        """Run the import off the GUI thread."""
        if self.job_thread is not None:
            return
        path, fmt, mode = self.options()
        if not path:
            self._failed("choose a dataset file or folder", "")
            return
        try:
            images = self.images_folder()
            job = self.session.import_job(Path(path).expanduser(), fmt, mode,
                                          None if images is None else Path(images).expanduser())
        except UserError as exc:
            self._failed(str(exc), "")
            return
        self._start_job(job, f"importing {path}\u2026")

    def _succeeded(self, result: ImportResult) -> None:
        self.result = result
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        text = result.summary().capitalize()
        if result.skipped:
            text += "\nSkipped: " + "; ".join(result.skipped[:3]) + ("; \u2026" if len(result.skipped) > 3 else "")
        self.message.setText(text)

    def _failed(self, message: str, details: str) -> None:
        super()._failed(message, details)
        self.importFailed.emit(message)

    def _thread_done(self) -> None:
        super()._thread_done()
        self.session.import_finished(self.result)  # one undo step, views refreshed
        if self.result is not None:
            self.imported.emit(self.result)


def run_import_dialog(session: Session, parent: QWidget, log: Callable[..., None],
                      report_error: Callable[[str], None]) -> ImportDialog:
    """File > Import annotations: the dialog, modal, pre-filled with the dataset
    found next to the project's images; the outcome goes to ``log(message,
    level)`` (summary, skipped images) or ``report_error`` (nothing changed)."""
    dialog = ImportDialog(session, session.suggested_dataset(), parent)

    def imported(result: ImportResult) -> None:
        log(f"{result.summary()} from {dialog.options()[0]}; Edit > Undo takes the whole import back")
        for line in [*result.warnings, *result.skipped]:
            log(line, "warning")

    dialog.imported.connect(imported)
    dialog.importFailed.connect(lambda message: report_error(f"import: {message} (nothing was changed)"))
    dialog.exec()
    return dialog
