"""``MainWindow``: wires the session, the worker and the views together.

It decides nothing: user input goes to :class:`~detector_app.app.session.Session`
methods; session events update the views (:class:`~detector_app.qt.session_views.SessionViews`,
signals blocked, so views and session never loop); the :class:`InferenceWorker` is linked to
the session and the model picker by :class:`~detector_app.qt.worker_link.WorkerLink`
(detection requests out, traces back, models loaded); a choice in one view is shown in the
others by :class:`~detector_app.qt.selection_links.SelectionLinks`; the dialogs open through
:class:`~detector_app.qt.window_dialogs.WindowDialogs`. Which model to load, what to remember
and what the panels list are the app layer's (``app.model_choice``, ``app.preferences``,
``app.panel_data``). Layout: canvas (with the video bar) in the middle, files on the left,
labels / proposal stepper / stats / legend on the right, the log at the bottom.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QVBoxLayout, QWidget

from detector_app.app.model_choice import ModelSelection
from detector_app.app.preferences import save_session, session_from_settings
from detector_app.app.session import Event
from detector_app.app.settings import Settings, sample_project
from detector_app.domain.errors import UserError
from detector_app.domain.media_types import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, name_filter
from detector_app.qt.actions import CANVAS_ONLY, build_menus, make_actions, set_checked
from detector_app.qt.canvas import ImageCanvas
from detector_app.qt.class_dialog import ClassDialog
from detector_app.qt.panels import Panels
from detector_app.qt.selection_links import SelectionLinks
from detector_app.qt.session_views import SessionViews
from detector_app.qt.window_dialogs import WindowDialogs
from detector_app.qt.worker import InferenceWorker
from detector_app.qt.worker_link import WorkerLink

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
        self._lay_out()
        self.models = ModelSelection.from_settings(s, model, device)
        self.worker = worker or InferenceWorker(parent=self)
        self._own_worker = worker is None
        self.dialogs = WindowDialogs(self, self.session, self.models, self.worker, self.panels, self.report_error)
        self._wire()
        self.panels.set_thresholds(self.session.score_thresh, self.session.nms_thresh, self.session.class_agnostic)
        self.panels.proposal_top_n.setValue(int(s.get("proposal_top_n")))
        self.views.sync_overlays()
        self.views.on_history()
        self._restore_layout()
        if not self.worker.isRunning():
            self.worker.start()

    def _lay_out(self) -> None:
        """The canvas over the video bar in the middle; the menus; keys that act on the canvas only."""
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
        self.worker_link.refresh_models()

    def refresh_devices(self) -> None:
        self.worker_link.refresh_devices()

    def load_model(self, spec: str | None, device: str | None = None) -> None:
        """Ask the worker to load ``spec`` (None: bundled; see ``WorkerLink.load_model``)."""
        self.worker_link.load_model(spec, device)

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

    # -- wiring, by where the input comes from -------------------------------------
    def _wire(self) -> None:
        ss, p = self.session, self.panels
        self.views = SessionViews(ss, self.canvas, p, self.actions_by_name, self._status, self.setWindowTitle)
        self.worker_link = WorkerLink(self.worker, ss, self.models, self.settings, p, self._status, self.report_error)
        ss.subscribe(Event.STATUS, self._status)
        ss.subscribe(Event.ERROR, self.report_error)
        ss.subscribe(Event.SAVE_ERROR, self.saveFailed.emit)
        self.saveFailed.connect(lambda message: self.report_error(f"not saved: {message}"))
        self._wire_canvas()
        self.selection_links = SelectionLinks(ss, self.canvas, p)  # after the canvas's selection reaches the session
        self._wire_panels()
        self._wire_overlay_and_label_actions()
        self._wire_command_actions()

    def _wire_canvas(self) -> None:
        ss, c, p = self.session, self.canvas, self.panels
        c.annotationDrawn.connect(ss.add_box)
        c.annotationEdited.connect(ss.move_box)
        c.annotationDeleteRequested.connect(ss.delete_annotation)
        c.annotationSelected.connect(ss.select_annotation)
        c.proposalClicked.connect(p.stepper.set_current)
        c.drawModeChanged.connect(lambda on: set_checked(self.actions_by_name["draw"], on))
        c.imageMouseMoved.connect(p.show_position)

    def _wire_panels(self) -> None:
        ss, c, p = self.session, self.canvas, self.panels
        p.boxes.annotationChosen.connect(ss.select_annotation)
        p.boxes.hiddenChanged.connect(ss.box_flags.set_hidden)
        p.boxes.lockedChanged.connect(ss.box_flags.set_locked)
        p.stepper.currentProposalChanged.connect(c.highlight_proposal)
        p.file_list.itemActivated.connect(ss.go_to)
        p.file_list.filterChanged.connect(ss.set_state_filter)
        p.file_list.sortChanged.connect(lambda _mode: self.apply_review_order())
        p.label_list.labelChosen.connect(ss.choose_label)
        p.model_picker.downloadRequested.connect(self.offer_download)
        p.score.valueChanged.connect(lambda v: ss.set_thresholds(score_thresh=v / 100.0))
        p.nms.valueChanged.connect(lambda v: ss.set_thresholds(nms_thresh=v / 100.0))
        p.across_classes.toggled.connect(lambda on: ss.set_thresholds(class_agnostic=on))
        p.proposal_top_n.valueChanged.connect(c.set_proposal_top_n)
        p.anchor_mode.currentTextChanged.connect(c.set_anchor_mode)
        for combo in (p.anchor_scale, p.anchor_ratio):
            combo.currentIndexChanged.connect(lambda _i: p.apply_anchor_filter(c))
        p.video.frameRequested.connect(lambda f: ss.go_frame(f, playing=p.video.playing))
        p.video.playingChanged.connect(self._playing_changed)

    def _wire_overlay_and_label_actions(self) -> None:
        ss, a = self.session, self.actions_by_name
        for name in ss.overlays:
            a[f"overlay_{name}"].toggled.connect(lambda on, n=name: ss.set_overlay(n, on))
        for i in range(1, 10):
            a[f"label_{i}"].triggered.connect(lambda _=False, n=i: ss.choose_label_number(n))
        a["draw"].toggled.connect(self.canvas.set_draw_mode)
        a["detect_on_open"].setChecked(ss.detect_on_open)
        a["detect_on_open"].toggled.connect(lambda on: setattr(ss, "detect_on_open", on))

    def _wire_command_actions(self) -> None:
        ss, a, p, c, d = self.session, self.actions_by_name, self.panels, self.canvas, self.dialogs
        commands = {
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
            "shortcuts": d.show_shortcuts,
            "export": d.export, "finetune": d.finetune, "funnel": d.funnel,
            "detect_all": self.open_detect_all, "import": d.import_annotations, "classes": self.open_classes,
        }
        for name, fn in commands.items():
            a[name].triggered.connect(lambda _=False, f=fn: f())

    # -- dialogs (``WindowDialogs``) -----------------------------------------------------
    def open_classes(self) -> ClassDialog:
        """Edit > Classes...: one non-modal dialog, raised when already open."""
        return self.dialogs.open_classes()

    def offer_download(self, name: str) -> None:
        """Open the download dialog for zoo model ``name`` (not modal: the window stays usable)."""
        self.dialogs.offer_download(name, self.worker_link.model_downloaded)

    def open_detect_all(self) -> None:
        """Model > Detect all: a non-modal dialog running over the project's images."""
        self.dialogs.open_detect_all(self.apply_review_order)

    def run_export_dialog(self) -> bool:
        """The export dialog, modal; True when something was exported."""
        return self.dialogs.run_export()

    # -- input the window handles -------------------------------------------------
    def apply_review_order(self) -> None:
        """The file list's sort: folder order, or "most useful first" (scored from stored traces)."""
        self.views.apply_review_order()

    def _playing_changed(self, playing: bool) -> None:
        if not playing:  # paused or at the end: frames still queued are of no use; the shown one is asked for
            self.worker.cancel("video")
            self.session.stop_playing()

    def _zoom_to_selection(self) -> None:
        if not self.canvas.zoom_to_selection():
            self._status("select a box first (click one)")

    # -- opening files -----------------------------------------------------------
    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images / videos")
        if folder:
            self.open_paths([folder])

    def _ask_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open images or a video", "", FILE_FILTER)
        if files:
            self.open_paths(files)

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
        self.dialogs.stop()
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
