"""``WindowDialogs``: the dialogs the main window opens from its menus and toolbars.

Export, import, fine-tune and the recall funnel are modal and need an open project
(without one the window's status bar says so). Detect all, a model download and the
classes are not modal (the window stays usable): each is opened once and raised when
asked for again, and forgotten when it closes; :meth:`stop` ends their jobs when the
window closes. The dialogs are imported when first opened, not with the window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from detector_app.app import jobs
from detector_app.app.model_choice import ModelSelection
from detector_app.app.session import Session
from detector_app.domain.errors import UserError
from detector_app.qt.actions import shortcut_help
from detector_app.qt.class_dialog import ClassDialog
from detector_app.qt.panels import Panels
from detector_app.qt.worker import InferenceWorker

if TYPE_CHECKING:
    from detector_app.qt.detect_all_dialog import DetectAllDialog
    from detector_app.qt.download_dialog import DownloadDialog


class WindowDialogs:
    """The dialogs of the window ``parent`` (see the module docstring); ``download``,
    ``detect_all`` and ``classes`` are the non-modal ones open now (or None)."""

    def __init__(self, parent: QWidget, session: Session, models: ModelSelection, worker: InferenceWorker,
                 panels: Panels, report_error: Callable[[str], None]) -> None:
        self._parent, self._session, self._models = parent, session, models
        self._worker, self._panels, self._report_error = worker, panels, report_error
        self.download: DownloadDialog | None = None
        self.detect_all: DetectAllDialog | None = None
        self.classes: ClassDialog | None = None

    def _project_open(self) -> bool:
        if self._session.store is None:
            self._report_error("open a project first")
            return False
        return True

    def _model_name(self, default: str) -> str:
        """The loaded model's name for a dialog's title (``default`` before one is loaded)."""
        info = self._worker.info
        return info.name if info is not None else default

    # -- not modal: one each ---------------------------------------------------------
    def open_classes(self) -> ClassDialog:
        """Edit > Classes...: one non-modal dialog, raised when already open."""
        if self.classes is None:
            self.classes = ClassDialog(self._session, self._parent)
            self.classes.destroyed.connect(lambda _=None: setattr(self, "classes", None))
        self.classes.show()
        self.classes.raise_()
        return self.classes

    def offer_download(self, name: str, downloaded: Callable[[str], None]) -> None:
        """The download dialog for zoo model ``name``; ``downloaded(path)`` once the file is in place."""
        from detector_app.qt.download_dialog import DownloadDialog

        if self.download is not None:
            self.download.raise_()
            self.download.activateWindow()
            return
        try:
            model = jobs.find_zoo_model(name)
        except UserError as exc:
            self._report_error(str(exc))
            return
        dialog = DownloadDialog(model, self._parent)
        dialog.modelReady.connect(downloaded)
        dialog.destroyed.connect(lambda *_: setattr(self, "download", None))
        self.download = dialog
        dialog.show()

    def open_detect_all(self, detected: Callable[[], None]) -> None:
        """Model > Detect all over the project's images; ``detected()`` when it finishes."""
        from detector_app.app.detect_all import detect_all_job, image_keys
        from detector_app.qt.detect_all_dialog import DetectAllDialog

        ss = self._session
        if not self._project_open():
            return
        if self.detect_all is not None:
            self.detect_all.raise_()
            return
        store, spec, device = ss.require_store(), self._models.loaded, self._models.device
        name = self._model_name(spec or "the bundled model")
        dialog = DetectAllDialog(lambda only, pause, done: detect_all_job(store, spec, device, only, pause, done,
                                                                          ss.score_thresh),
                                 lambda only: len(image_keys(store, only)), name, self._parent)
        # a trace stored for this project (not for one opened since)
        dialog.itemDone.connect(lambda key: ss.on_stored_trace(key) if ss.store is store else None)
        dialog.detected.connect(detected)  # new scores for "most useful first"
        dialog.destroyed.connect(lambda *_: setattr(self, "detect_all", None))
        self.detect_all = dialog
        dialog.show()

    def stop(self) -> None:
        """The window closes: the download and detect-all jobs end."""
        if self.download is not None:
            self.download.stop()
        if self.detect_all is not None:
            self.detect_all.stop()

    # -- modal --------------------------------------------------------------------------
    def export(self) -> None:
        if self._project_open():
            self.run_export()

    def run_export(self) -> bool:
        """The export dialog, modal; True when something was exported."""
        from detector_app.qt.export_dialog import ExportDialog

        dialog = ExportDialog(self._session, self._parent)
        done: list[object] = []
        dialog.exported.connect(done.append)
        dialog.exec()
        return bool(done)

    def import_annotations(self) -> None:
        from detector_app.qt.import_dialog import run_import_dialog

        if self._project_open():
            run_import_dialog(self._session, self._parent, self._panels.log.log, self._report_error)

    def funnel(self) -> None:
        from detector_app.app.diagnose import funnel_job
        from detector_app.qt.funnel_dialog import FunnelDialog

        ss = self._session
        if not self._project_open():
            return
        loaded = self._models.loaded
        job = funnel_job(ss.require_store(), loaded, self._models.device, ss.score_thresh, ss.nms_thresh,
                         ss.cached_traces())
        name = self._model_name(loaded or "default")
        FunnelDialog(job, f"this project's images with boxes, model {name}", self._parent).exec()

    def finetune(self) -> None:
        from detector_app.qt.finetune_dialog import FinetuneDialog

        if not self._project_open():
            return
        dialog = FinetuneDialog(self._session, self._worker.info, self._models.device, self._parent)
        dialog.modelAccepted.connect(lambda path: self._panels.model_picker.choose_model(path))
        dialog.exec()

    def show_shortcuts(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keys and mouse", shortcut_help(), parent=self._parent)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.open()


__all__ = ["WindowDialogs"]
