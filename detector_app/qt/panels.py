"""The main window's docks, toolbars and status-bar widgets (built here so
``main_window`` only wires). Every ``set_*`` / ``show_*`` here updates widgets
with their signals blocked."""

from __future__ import annotations

import time
from typing import Protocol

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QSlider,
    QSpinBox,
    QToolBar,
    QWidget,
)

from detector_app.app.anchor_choice import NO_CHOICES, AnchorChoices
from detector_app.app.session import Session
from detector_app.qt.box_list import BoxList
from detector_app.qt.canvas import ImageCanvas
from detector_app.qt.file_list import FileList
from detector_app.qt.label_list import LabelList
from detector_app.qt.legend import LegendWidget
from detector_app.qt.log_panel import LogPanel
from detector_app.qt.misses_panel import MissesPanel
from detector_app.qt.model_picker import ModelPicker
from detector_app.qt.stats_panel import StatsPanel
from detector_app.qt.stepper import ProposalStepper
from detector_app.qt.video_controls import VideoControls

#: A toggled toolbar button is filled, not just framed: the style's faint frame alone hides which overlays are on.
TOOLBAR_STYLE = ("QToolButton:checked { background-color: rgba(70, 130, 210, 150); "
                 "border: 1px solid rgb(120, 175, 245); border-radius: 3px; }")


def _slider(tip: str) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(0, 100)
    s.setMinimumWidth(180)  # 1 % of the range is 2 px: a threshold can be set by hand
    s.setToolTip(tip)
    return s


#: What the legend shows: class names, their counts on the image, anchor sizes (None: anchors
#: off), (anchor labels on, cross-boundary rule), proposals on.
LegendState = tuple[list[str], dict[str, int], "list[float] | None", tuple[bool, bool], bool]


class VideoSource(Protocol):
    """What the video bar shows of a video (``media.video.VideoReader``)."""

    @property
    def frame_count(self) -> int: ...
    @property
    def fps(self) -> float: ...


def _blocked_set(widget: QSlider, value: int) -> None:
    widget.blockSignals(True)
    widget.setValue(value)
    widget.blockSignals(False)


class Panels:
    """Creates and owns the widgets around the canvas."""

    def __init__(self, window: QMainWindow, actions: dict[str, QAction]) -> None:
        self.window = window
        self.file_list = FileList()
        self.label_list = LabelList()
        self.stepper = ProposalStepper()
        self.stats = StatsPanel()
        self.legend = LegendWidget()
        self.misses = MissesPanel()
        self.boxes = BoxList()
        self.log = LogPanel()
        self.video = VideoControls()
        self.video.hide()
        self.model_picker = ModelPicker()
        self._legend_state: LegendState | None = None
        self.docks: dict[str, QDockWidget] = {}
        self._build_docks()
        self._build_controls()
        self._build_toolbars(actions)
        self._build_status_bar()

    # -- building ------------------------------------------------------------------------
    def _build_docks(self) -> None:
        """Files, labels and boxes on the left; stepper, stats and legend tabbed on the right
        above the misses; the log at the bottom."""
        window = self.window
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self._dock("files", "Files", self.file_list, left)
        self._dock("labels", "Labels", self.label_list, left)
        self._dock("boxes", "Boxes", self.boxes, left)
        self._dock("stepper", "Proposal stepper", self.stepper, right)
        self._dock("stats", "Stats", self.stats, right)
        self._dock("legend", "Legend", self.legend, right)
        self._dock("misses", "Misses", self.misses, right)
        self._dock("log", "Log", self.log, Qt.DockWidgetArea.BottomDockWidgetArea)
        # split before tabifying: a dock split off a tabbed one would join its tabs instead
        window.splitDockWidget(self.docks["labels"], self.docks["boxes"], Qt.Orientation.Vertical)
        window.splitDockWidget(self.docks["stepper"], self.docks["misses"], Qt.Orientation.Vertical)
        window.tabifyDockWidget(self.docks["stepper"], self.docks["stats"])
        window.tabifyDockWidget(self.docks["stats"], self.docks["legend"])
        self.docks["stepper"].raise_()
        window.resizeDocks([self.docks["files"], self.docks["stepper"]], [240, 380], Qt.Orientation.Horizontal)
        window.resizeDocks([self.docks["stepper"], self.docks["misses"]], [640, 200], Qt.Orientation.Vertical)
        window.resizeDocks([self.docks["log"]], [80], Qt.Orientation.Vertical)

    def _build_controls(self) -> None:
        """The toolbars' own widgets: threshold sliders, proposal count, anchor mode and filters."""
        self.score = _slider("Score threshold: detections need a class probability above it")
        self.nms = _slider("NMS IoU: a box overlapping a better one of its class more than this is suppressed")
        self.score_label = QLabel()
        self.nms_label = QLabel()
        self.across_classes = QCheckBox("across classes")
        self.across_classes.setStyleSheet("margin-left: 8px")
        self.across_classes.setToolTip("One box per object: NMS also suppresses a box of another class that "
                                       "overlaps a better one (two labels on one shape)")
        self.proposal_top_n = QSpinBox()
        self.proposal_top_n.setRange(1, 5000)
        self.proposal_top_n.setPrefix("top ")
        self.proposal_top_n.setToolTip("How many proposals the proposals overlay draws (best objectness first)")
        self.anchor_mode = QComboBox()
        self.anchor_mode.addItems(["cell", "grid"])
        self.anchor_mode.setToolTip("Anchors of the cell under the mouse, or over the whole grid (thinned)")
        self.anchor_scale = QComboBox()
        self.anchor_scale.setToolTip("Show the anchors of one scale only")
        self.anchor_ratio = QComboBox()
        self.anchor_ratio.setToolTip("Show the anchors of one aspect ratio (h / w) only")
        self._anchor_choices: AnchorChoices | None = None
        self.set_anchor_choices(NO_CHOICES)

    def _build_toolbars(self, actions: dict[str, QAction]) -> None:
        """The "Main" toolbar (open, model, detect, thresholds, undo) above "Overlays and editing"."""
        main = self._toolbar("main", "Main")
        for name in ("open_folder", "open_files", "import"):
            main.addAction(actions[name])
        main.addSeparator()
        main.addWidget(self.model_picker)
        main.addAction(actions["detect"])
        main.addSeparator()
        main.addWidget(QLabel(" Score "))
        main.addWidget(self.score)
        main.addWidget(self.score_label)
        main.addWidget(QLabel("  NMS IoU "))
        main.addWidget(self.nms)
        main.addWidget(self.nms_label)
        main.addWidget(self.across_classes)
        main.addSeparator()
        main.addAction(actions["undo"])
        main.addAction(actions["redo"])

        self.window.addToolBarBreak()
        view = self._toolbar("view", "Overlays and editing")
        for name in ("detections", "annotations", "proposals"):
            view.addAction(actions[f"overlay_{name}"])
        view.addWidget(self.proposal_top_n)
        for name in ("anchors", "grid", "anchor_labels"):
            view.addAction(actions[f"overlay_{name}"])
        view.addWidget(self.anchor_mode)
        view.addWidget(self.anchor_scale)
        view.addWidget(self.anchor_ratio)
        view.addSeparator()
        for name in ("prev_item", "next_item", "-", "draw", "accept_all", "copy_previous", "verify_next"):
            if name == "-":
                view.addSeparator()
            else:
                view.addAction(actions[name])

    def _build_status_bar(self) -> None:
        """Permanent widgets: the item, the cursor's image position, the model, detection time."""
        bar = self.window.statusBar()
        self.item_label = QLabel()
        self.position_label = QLabel()
        self.position_label.setMinimumWidth(110)
        self.model_label = QLabel("no model")
        self.busy_label = QLabel()
        self.busy_label.setMinimumWidth(80)
        self.busy_label.setToolTip("Detection on the worker thread: time so far, and how long the last one took")
        self._busy_since: float | None = None
        self._last_detection_s: float | None = None
        self._busy_timer = QTimer(self.busy_label)
        self._busy_timer.setInterval(250)  # a model that takes seconds shows it is still at work
        self._busy_timer.timeout.connect(self._show_busy)
        for w in (self.item_label, self.position_label, self.model_label, self.busy_label):
            bar.addPermanentWidget(w)

    def _dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        self.window.addDockWidget(area, dock)
        self.docks[name] = dock

    def _toolbar(self, name: str, title: str) -> QToolBar:
        tb = self.window.addToolBar(title)
        tb.setObjectName(f"toolbar_{name}")
        tb.setMovable(True)
        tb.setStyleSheet(TOOLBAR_STYLE)
        return tb

    # -- updates from the session (signals blocked) ------------------------------------
    def set_thresholds(self, score: float, nms: float, across_classes: bool = False) -> None:
        self.across_classes.blockSignals(True)
        self.across_classes.setChecked(across_classes)
        self.across_classes.blockSignals(False)
        _blocked_set(self.score, int(round(score * 100)))
        _blocked_set(self.nms, int(round(nms * 100)))
        self.score_label.setText(f"{score:.2f}")
        self.nms_label.setText(f"{nms:.2f}")

    def set_anchor_choices(self, choices: AnchorChoices) -> None:
        """Fill the scale / ratio filters for a model's anchors (kept when unchanged);
        the scale filter picks levels when the model has one size per FPN level."""
        if self._anchor_choices == choices:
            return
        self._anchor_choices = choices
        scale_fmt = "level {i}: {v:g} px" if choices.per_level else "{v:g} px"
        for combo, values, what, fmt in ((self.anchor_scale, choices.sizes, "scales", scale_fmt),
                                         (self.anchor_ratio, choices.ratios, "ratios", "h/w {v:g}")):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(f"all {what}", None)
            for i, v in enumerate(values):
                combo.addItem(fmt.format(i=i, v=v), i)
            combo.blockSignals(False)

    def apply_anchor_filter(self, canvas: ImageCanvas) -> None:
        """Send the chosen scale (or FPN level) and ratio to the canvas (None: all)."""
        choices = self._anchor_choices or NO_CHOICES
        shown = choices.filter(self.anchor_scale.currentData(), self.anchor_ratio.currentData())
        canvas.set_anchor_levels(shown.levels)
        canvas.set_anchor_filter(shown.scales, shown.ratios)

    def set_busy(self, busy: bool) -> None:
        """The worker started (``busy``) or finished its queue."""
        self._busy_since = time.monotonic() if busy else None
        if busy:
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
        self._show_busy()

    def set_last_detection(self, seconds: float) -> None:
        """How long the latest detection took (shown until the next one)."""
        self._last_detection_s = seconds
        self._show_busy()

    def _show_busy(self) -> None:
        last = self._last_detection_s
        if self._busy_since is not None:
            text = f"\u23f3 detecting {time.monotonic() - self._busy_since:.1f} s"
            if last is not None:
                text += f" (last {_seconds(last)})"
        else:
            text = f"last detection {_seconds(last)}" if last is not None else ""
        self.busy_label.setText(text)

    def show_position(self, x: float, y: float) -> None:
        self.position_label.setText(f"x {x:7.1f}  y {y:7.1f}")

    def set_model_text(self, text: str, warning: str = "") -> None:
        """The model in use; a ``warning`` (e.g. random weights) shows it in orange with the warning as tooltip."""
        self.model_label.setText(f"\u26a0 {text}" if warning else text)
        self.model_label.setStyleSheet("color: #ffa040;" if warning else "")
        self.model_label.setToolTip(warning)

    def set_item_text(self, text: str) -> None:
        self.item_label.setText(text)

    def show_video(self, video: VideoSource | None, frame: int | None) -> None:
        """Show the video bar for a video item (``video`` has ``frame_count``, ``fps``)."""
        if video is None:
            self.video.pause()
            self.video.hide()
            return
        if self.video.isHidden() or self.video.frame_count != video.frame_count:
            self.video.set_video(video.frame_count, video.fps)
            self.video.show()
        self.video.set_frame(frame or 0)

    def update_legend(self, session: Session) -> None:
        """Classes (with counts on this image) and the keys of the overlays shown;
        the legend is rebuilt only when something it shows changed."""
        names = list(session.labels.names)
        counts: dict[str, int] = {}
        if session.record is not None:
            for a in session.record.annotations:
                counts[a.label] = counts.get(a.label, 0) + 1
        ov, trace = session.overlays, session.trace
        sizes = sorted({s for lv in trace.levels for s in lv.sizes}) if trace is not None and ov["anchors"] else None
        crossing = bool(trace is not None and trace.rpn_ignore_cross_boundary)
        state: LegendState = (names, counts, sizes, (ov["anchor_labels"], crossing), ov["proposals"])
        if state == self._legend_state:
            return
        old: LegendState = self._legend_state or ([], {}, None, (False, False), False)
        self._legend_state = state
        if (names, counts) != old[:2]:
            self.legend.set_classes(names, counts)
        if sizes != old[2]:
            self.legend.set_anchor_scales(sizes)
        if state[3] != old[3]:
            self.legend.set_show_anchor_labels(*state[3])
        if ov["proposals"] != old[4]:
            self.legend.set_show_objectness(ov["proposals"])


def _seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s"
