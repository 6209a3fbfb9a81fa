"""``MainWindow``: wires the session, the worker and the views together.

It decides nothing: user input goes to :class:`~detector_app.app.session.Session`
methods; session events update the views (:class:`~detector_app.qt.session_views.SessionViews`,
signals blocked, so views and session never loop); detection requests go to the
:class:`InferenceWorker` and its traces come back to the session; which model to
load, what to remember and what the panels list are the app layer's
(``app.model_choice``, ``app.preferences``, ``app.panel_data``). Layout: canvas
(with the video bar) in the middle, files on the left, labels / proposal stepper /
stats / legend on the right, the log at the bottom.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QVBoxLayout, QWidget

from detector_app.app import jobs
from detector_app.app.diagnose import Finding
from detector_app.app.model_choice import ModelSelection, device_choices, recent_models, remember_recent
from detector_app.app.preferences import save_session, session_from_settings
from detector_app.app.scan import display_key
from detector_app.app.session import Event
from detector_app.app.settings import Settings, sample_project
from detector_app.domain.errors import UserError
from detector_app.domain.media_types import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, name_filter
from detector_app.domain.trace import DetectionTrace
from detector_app.qt.actions import CANVAS_ONLY, build_menus, make_actions, set_checked, shortcut_help
from detector_app.qt.canvas import ImageCanvas
from detector_app.qt.class_dialog import ClassDialog
from detector_app.qt.panels import Panels
from detector_app.qt.session_views import SessionViews
from detector_app.qt.worker import InferenceWorker

if TYPE_CHECKING:
    from detector_app.qt.detect_all_dialog import DetectAllDialog
    from detector_app.qt.download_dialog import DownloadDialog

FILE_FILTER = name_filter("Images and videos", IMAGE_EXTENSIONS + VIDEO_EXTENSIONS) + ";;All files (*)"


class MainWindow(QMainWindow):
    """See the module docstring. ``worker`` may be given (tests inject one with a fake model)."""

    saveFailed = Signal(str)  # from the store's autosave thread, delivered queued

    def __init__(self, model: str | None = None, device: str | None = None,
                 worker: InferenceWorker | None = None, settings: Settings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Faster R-CNN Studio")
        self.settings = settings or Settings()
        s = self.settings
        self.session = session_from_settings(s)
        self.canvas = ImageCanvas()
        self.actions_by_name = make_actions(self)
        self.panels = Panels(self, self.actions_by_name)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.panels.video)
        self.setCentralWidget(central)
        docks = self.createPopupMenu()
        assert docks is not None  # the window has docks and toolbars
        docks.setTitle("&Panels and toolbars")  # (an untitled submenu shows as an empty View entry)
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        acts = self.actions_by_name
        build_menus(self, acts, {"docks": docks, "recent": self.recent_menu})
        self.addActions([acts[f"label_{i}"] for i in range(1, 10)])  # in no menu: keys only
        for name in CANVAS_ONLY:
            acts[name].setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            central.addAction(acts[name])

        self.models = ModelSelection.from_settings(s, model, device)
        self._download: DownloadDialog | None = None
        self._choosing_finding = False
        self._detect_all: DetectAllDialog | None = None
        self._classes: ClassDialog | None = None
        self.worker = worker or InferenceWorker(parent=self)
        self._own_worker = worker is None
        self._wire()
        self.panels.set_thresholds(self.session.score_thresh, self.session.nms_thresh)
        self.panels.proposal_top_n.setValue(int(s.get("proposal_top_n")))
        self.views.sync_overlays()
        self.views.on_history()
        self._restore_layout()
        if not self.worker.isRunning():
            self.worker.start()

    @property
    def model_spec(self) -> str | None:
        """The model chosen (None: the bundled one)."""
        return self.models.spec

    @property
    def device(self) -> str:
        return self.models.device

    # -- start-up ---------------------------------------------------------------
    def open_initial(self, paths: list[str]) -> None:
        """What ``detector-app gui`` does: load the model, open ``paths`` (or the samples)."""
        gone = self.models.check_remembered()
        if gone is not None:
            self.panels.log.log(gone, "warning")
        self.refresh_models()
        self.load_model(self.models.spec)
        if paths:
            self.open_paths(paths)
            return
        try:
            samples = sample_project()
        except OSError as exc:
            self.report_error(f"cannot copy the bundled samples: {exc}")
            return
        if samples is not None:
            self.open_paths([str(samples)])

    def refresh_models(self) -> None:
        self.panels.model_picker.set_models(jobs.model_choices(recent_models(self.settings)), self.models.loaded)
        self.refresh_devices()

    def refresh_devices(self) -> None:
        self.panels.model_picker.set_devices(device_choices(), self.models.device)

    def load_model(self, spec: str | None, device: str | None = None) -> None:
        """Ask the worker to load ``spec`` (None: bundled; a missing bundled model is
        replaced and reported: ``ModelSelection.plan``)."""
        plan = self.models.plan(spec, device)
        if plan.error is not None:
            self.report_error(plan.error)
        if plan.status is not None:
            self._status(plan.status)
        self.panels.model_picker.set_current_model(plan.spec)
        self.worker.load_model(plan.spec, self.models.device)

    def open_paths(self, paths: list[str]) -> bool:
        try:
            self.session.open_paths(paths)
        except UserError as exc:
            self.report_error(str(exc))
            self.canvas.set_placeholder(f"Not opened: {exc}\n\nFile > Open folder (Ctrl+O) opens another one.")
            return False
        for p in paths[:1]:
            self.settings.add_recent(p)
        self.canvas.setFocus()  # the canvas keys (',' '.' P, Enter) work at once, without a click first
        hint = self.session.import_suggestion()
        if hint:
            self.panels.log.log(hint)
        return True

    # -- wiring -----------------------------------------------------------------
    def _wire(self) -> None:
        ss, a, p, c, w = self.session, self.actions_by_name, self.panels, self.canvas, self.worker
        self.views = SessionViews(ss, c, p, a, self._status, self.setWindowTitle)
        ss.subscribe(Event.DETECT, self._on_detect)
        ss.subscribe(Event.STATUS, self._status)
        ss.subscribe(Event.ERROR, self.report_error)
        ss.subscribe(Event.SAVE_ERROR, self.saveFailed.emit)
        self.saveFailed.connect(lambda message: self.report_error(f"not saved: {message}"))
        w.traceReady.connect(self._trace_ready)
        w.failed.connect(self._worker_failed)
        w.modelReady.connect(self._model_ready)
        w.busyChanged.connect(p.set_busy)
        c.annotationDrawn.connect(ss.add_box)
        c.annotationEdited.connect(ss.move_box)
        c.annotationDeleteRequested.connect(ss.delete_annotation)
        c.annotationSelected.connect(ss.select_annotation)
        c.annotationSelected.connect(self._annotation_clicked)
        c.detectionClicked.connect(self._detection_clicked)
        c.proposalClicked.connect(p.stepper.set_current)
        p.misses.findingChosen.connect(self._finding_chosen)
        p.boxes.annotationChosen.connect(ss.select_annotation)
        p.boxes.hiddenChanged.connect(ss.box_flags.set_hidden)
        p.boxes.lockedChanged.connect(ss.box_flags.set_locked)
        p.boxes.detectionChosen.connect(self._detection_clicked)
        c.drawModeChanged.connect(lambda on: set_checked(a["draw"], on))
        c.imageMouseMoved.connect(p.show_position)
        p.stepper.currentProposalChanged.connect(c.highlight_proposal)
        p.file_list.itemActivated.connect(ss.go_to)
        p.file_list.filterChanged.connect(ss.set_state_filter)
        p.file_list.sortChanged.connect(lambda _mode: self.apply_review_order())
        p.label_list.labelChosen.connect(ss.choose_label)
        p.model_picker.modelChosen.connect(self._model_chosen)
        p.model_picker.deviceChosen.connect(lambda d: self.load_model(self.model_spec, d))
        p.model_picker.listAboutToOpen.connect(self.refresh_models)
        p.model_picker.downloadRequested.connect(self.offer_download)
        p.score.valueChanged.connect(lambda v: ss.set_thresholds(score_thresh=v / 100.0))
        p.nms.valueChanged.connect(lambda v: ss.set_thresholds(nms_thresh=v / 100.0))
        p.proposal_top_n.valueChanged.connect(c.set_proposal_top_n)
        p.anchor_mode.currentTextChanged.connect(c.set_anchor_mode)
        for combo in (p.anchor_scale, p.anchor_ratio):
            combo.currentIndexChanged.connect(lambda _i: p.apply_anchor_filter(c))
        p.video.frameRequested.connect(lambda f: ss.go_frame(f, playing=p.video.playing))
        p.video.playingChanged.connect(self._playing_changed)
        for name in ss.overlays:
            a[f"overlay_{name}"].toggled.connect(lambda on, n=name: ss.set_overlay(n, on))
        for i in range(1, 10):
            a[f"label_{i}"].triggered.connect(lambda _=False, n=i: ss.choose_label_number(n))
        simple = {
            "undo": ss.undo, "redo": ss.redo, "delete": lambda: ss.delete_annotation(),
            "accept": lambda: ss.accept_detection(), "accept_all": ss.accept_all,
            "copy_previous": ss.copy_from_previous, "interpolate": ss.interpolate,
            "verify": ss.toggle_verified, "verify_next": ss.verify_and_next,
            "prev_item": lambda: ss.step(-1), "next_item": lambda: ss.step(1),
            "zoom_fit": c.zoom_fit, "zoom_actual": c.zoom_actual, "detect": ss.request_detection,
            "zoom_selection": self._zoom_to_selection,
            "open_folder": self._ask_folder, "open_files": self._ask_files, "quit": self.close,
            "open_model": lambda: p.model_picker.choose_model(_ask_file(self, "Open a model checkpoint",
                                                                           "Checkpoints (*.pt *.pth)")),
            "play": p.video.toggle, "prev_frame": lambda: p.video.step(-1), "next_frame": lambda: p.video.step(1),
            "shortcuts": self._show_shortcuts,
            "export": self._export, "finetune": self._finetune, "funnel": self._funnel,
            "detect_all": self.open_detect_all, "import": self._import_annotations, "classes": self.open_classes,
        }
        for name, fn in simple.items():
            a[name].triggered.connect(lambda _=False, f=fn: f())
        a["draw"].toggled.connect(c.set_draw_mode)
        a["detect_on_open"].setChecked(ss.detect_on_open)
        a["detect_on_open"].toggled.connect(lambda on: setattr(ss, "detect_on_open", on))

    def open_classes(self) -> ClassDialog:
        """Edit > Classes...: one non-modal dialog, raised when already open."""
        if self._classes is None:
            self._classes = ClassDialog(self.session, self)
            self._classes.destroyed.connect(lambda _=None: setattr(self, "_classes", None))
        self._classes.show()
        self._classes.raise_()
        return self._classes

    # -- clicks that show something -------------------------------------------------
    def _annotation_clicked(self, ident: str | None) -> None:
        """A box clicked on the canvas: when it is a miss, its explanation and the stepper
        on the proposal responsible (a box just drawn is selected too, but explains nothing yet)."""
        if ident is not None and not self._choosing_finding:
            self.panels.misses.show_annotation(ident)

    def _finding_chosen(self, finding: Finding) -> None:
        """Show what is responsible for a miss / false positive: the box selected, the stepper
        (and its highlight) on the proposal, or the anchors of the cell when no proposal came of it."""
        ss, e = self.session, finding.explanation
        self._choosing_finding = True
        try:
            if finding.detection >= 0:
                self._detection_clicked(finding.detection)
                return
            if ss.selected_annotation != finding.annotation_id:
                ss.select_annotation(finding.annotation_id)
            if e.proposal >= 0:
                self.panels.stepper.set_current(e.proposal)
            elif e.anchor >= 0 and ss.trace is not None:
                if not ss.overlays["anchors"]:
                    ss.set_overlay("anchors", True)
                self.canvas.pin_cell(ss.trace.cell_point(e.anchor))
        finally:
            self._choosing_finding = False

    def _playing_changed(self, playing: bool) -> None:
        if not playing:  # paused or at the end: frames still queued are of no use; the shown one is asked for
            self.worker.cancel("video")
            self.session.stop_playing()

    def _on_detect(self, key: str, rgb: np.ndarray, group: str | None) -> None:
        if self.worker.info is None and not self.worker.is_busy():
            self._status("no model loaded: pick one in the model list")
            return
        self._status(f"detecting {display_key(key)}\u2026")
        self.worker.submit(key, rgb, group)

    # -- worker -> session --------------------------------------------------------
    def _trace_ready(self, key: str, trace: DetectionTrace, seconds: float) -> None:
        self.panels.set_last_detection(seconds)
        self.session.on_trace(key, trace)
        if key == self.session.key and self.session.result is not None:
            n = len(self.session.result.scores)
            self._status(f"{display_key(key)}: {n} detection(s) in {seconds * 1000:.0f} ms")

    def _worker_failed(self, key: str | None, message: str, details: str) -> None:
        self.report_error(message if key is None else f"{key}: {message}", details)

    def _model_ready(self, info: jobs.ModelInfo) -> None:
        self.panels.set_model_text(f"{info.name} ({info.device})", "\n".join(info.warnings))
        self.panels.log.log(f"model {info.name} loaded on {info.device}: classes {', '.join(info.label_names)}")
        for warning in info.warnings:
            self.panels.log.log(warning, "warning")
        self._status(f"model {info.name} ready on {info.device}"
                     + (f" \u2014 \u26a0 {info.warnings[0]}" if info.warnings else ""))
        remember_recent(self.settings, info)
        self.session.set_model_classes(info.class_names)
        self.session.set_model_id(info.cache_id or None)
        self.session.forget_traces()
        self.refresh_devices()  # the worker has measured CPU bf16's speed by now

    def _model_chosen(self, spec: str | None) -> None:
        self.load_model(spec)

    def offer_download(self, name: str) -> None:
        """Open the download dialog for zoo model ``name`` (not modal: the window stays usable)."""
        from detector_app.qt.download_dialog import DownloadDialog

        if self._download is not None:
            self._download.raise_()
            self._download.activateWindow()
            return
        try:
            model = jobs.find_zoo_model(name)
        except UserError as exc:
            self.report_error(str(exc))
            return
        dialog = DownloadDialog(model, self)
        dialog.modelReady.connect(self._downloaded)
        dialog.destroyed.connect(lambda *_: setattr(self, "_download", None))
        self._download = dialog
        dialog.show()

    def _downloaded(self, path: str) -> None:
        self.panels.log.log(f"downloaded {path}")
        self.refresh_models()
        self.panels.model_picker.choose_model(path)

    def _zoom_to_selection(self) -> None:
        if not self.canvas.zoom_to_selection():
            self._status("select a box first (click one)")

    def _detection_clicked(self, d: int) -> None:
        self.session.select_detection(d)
        self.panels.stepper.select_detection(d)

    # -- dialogs ---------------------------------------------------------------
    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images / videos")
        if folder:
            self.open_paths([folder])

    def _ask_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open images or a video", "", FILE_FILTER)
        if files:
            self.open_paths(files)

    def _export(self) -> None:
        from detector_app.qt.export_dialog import ExportDialog

        if self.session.store is None:
            self.report_error("open a project first")
            return
        ExportDialog(self.session, self).exec()

    def _import_annotations(self) -> None:
        from detector_app.qt.import_dialog import run_import_dialog

        if self.session.store is None:
            self.report_error("open a project first")
            return
        run_import_dialog(self.session, self, self.panels.log.log, self.report_error)

    def apply_review_order(self) -> None:
        """The file list's sort: folder order, or "most useful first" (scored from stored traces)."""
        self.views.apply_review_order()

    def open_detect_all(self) -> None:
        """Model > Detect all: a non-modal dialog running over the project's images."""
        from detector_app.app.detect_all import detect_all_job, image_keys
        from detector_app.qt.detect_all_dialog import DetectAllDialog

        ss = self.session
        if ss.store is None:
            self.report_error("open a project first")
            return
        if self._detect_all is not None:
            self._detect_all.raise_()
            return
        store, spec, device = ss.store, self.models.loaded, self.models.device
        name = self.worker.info.name if self.worker.info is not None else (spec or "the bundled model")
        dialog = DetectAllDialog(lambda only, pause, done: detect_all_job(store, spec, device, only, pause, done,
                                                                          ss.score_thresh),
                                 lambda only: len(image_keys(store, only)), name, self)
        # a trace stored for this project (not for one opened since)
        dialog.itemDone.connect(lambda key: ss.on_stored_trace(key) if ss.store is store else None)
        dialog.detected.connect(self.apply_review_order)  # new scores for "most useful first"
        dialog.destroyed.connect(lambda *_: setattr(self, "_detect_all", None))
        self._detect_all = dialog
        dialog.show()

    def _funnel(self) -> None:
        from detector_app.app.diagnose import funnel_job
        from detector_app.qt.funnel_dialog import FunnelDialog

        ss = self.session
        if ss.store is None:
            self.report_error("open a project first")
            return
        loaded = self.models.loaded
        job = funnel_job(ss.store, loaded, self.models.device, ss.score_thresh, ss.nms_thresh, ss.cached_traces())
        name = self.worker.info.name if self.worker.info is not None else (loaded or "default")
        FunnelDialog(job, f"this project's images with boxes, model {name}", self).exec()

    def _finetune(self) -> None:
        from detector_app.qt.finetune_dialog import FinetuneDialog

        if self.session.store is None:
            self.report_error("open a project first")
            return
        dialog = FinetuneDialog(self.session, self.worker.info, self.models.device, self)
        dialog.modelAccepted.connect(lambda path: self.panels.model_picker.choose_model(path))
        dialog.exec()

    def _fill_recent(self) -> None:
        """File > Open recent: the folders and files opened before (settings), newest first."""
        menu = self.recent_menu
        menu.clear()
        paths = [p for p in self.settings.get("recent_paths") or [] if isinstance(p, str)]
        for path in paths:
            act = menu.addAction(path)
            act.setEnabled(Path(path).exists())
            act.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        if not paths:
            menu.addAction("(nothing opened yet)").setEnabled(False)

    def _show_shortcuts(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keys and mouse", shortcut_help(), parent=self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.open()

    # -- status and log ----------------------------------------------------------
    def _status(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def report_error(self, message: str, details: str = "") -> None:
        self.statusBar().showMessage(f"\u26a0 {message}", 15000)
        self.panels.log.log(message, "error", details)

    # -- closing ---------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        self.panels.video.pause()
        unsaved = self.session.save_now()
        if unsaved and not self._may_close_with_unsaved(unsaved):
            event.ignore()
            return
        s = self.settings
        save_session(s, self.session)
        self.models.save(s)
        s.set("proposal_top_n", self.panels.proposal_top_n.value())
        s.set("window_geometry", _base64(self.saveGeometry()))
        s.set("window_state", _base64(self.saveState()))
        s.save()
        self.session.close()
        if self._download is not None:
            self._download.stop()
        if self._detect_all is not None:
            self._detect_all.stop()
        if self._own_worker:
            self.worker.stop()
        super().closeEvent(event)

    def _may_close_with_unsaved(self, count: int) -> bool:
        """Edits that could not be saved (read-only folder, full disk): offer to
        export them elsewhere; close only after an export or an explicit discard."""
        choice = self.ask_unsaved(count)
        if choice == "export":
            return self.run_export_dialog()
        return choice == "discard"

    def ask_unsaved(self, count: int) -> str:
        """``"export"``, ``"discard"`` or ``"cancel"`` (a seam for tests)."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved edits",
                          f"{count} edit(s) could not be saved to the project "
                          f"({self.session.store.root if self.session.store else 'no project'}). "
                          "Export the annotations elsewhere before closing?", parent=self)
        export = box.addButton("Export…", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard and close", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "export" if clicked is export else "discard" if clicked is discard else "cancel"

    def run_export_dialog(self) -> bool:
        """The export dialog, modal; True when something was exported."""
        from detector_app.qt.export_dialog import ExportDialog

        dialog = ExportDialog(self.session, self)
        done: list[object] = []
        dialog.exported.connect(done.append)
        dialog.exec()
        return bool(done)

    def _restore_layout(self) -> None:
        geo, state = self.settings.get("window_geometry"), self.settings.get("window_state")
        if geo:
            self.restoreGeometry(QByteArray.fromBase64(geo.encode("ascii")))
        else:
            self.resize(1400, 900)
        if state:
            self.restoreState(QByteArray.fromBase64(state.encode("ascii")))


def _base64(data: QByteArray) -> str:
    return bytes(data.toBase64().data()).decode("ascii")


def _ask_file(parent: QWidget, title: str, filt: str) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, title, "", filt)
    return path or None
