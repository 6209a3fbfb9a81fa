"""``FunnelDialog``: the recall funnel of the model in use over the project's boxes.

Runs ``app.diagnose.run_funnel`` on a :class:`JobThread` (the model is loaded
in that job; traces the window already has are reused) with a progress bar and
Cancel, then draws the recall at each stage as bars (pyqtgraph): overall, or
grouped by object size or by class, with the stage that lost the missed
objects below, and a table of the numbers. "Save JSON..." writes what
``detector-app diagnose --json`` writes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detector_app.domain.funnel import STAGES, Funnel
from detector_app.domain.progress import Progress
from detector_app.qt.colors import class_color
from detector_app.qt.job_dialog import JobDialog

#: ``(progress, cancel) -> Funnel``: the job the window gives (model, items, thresholds bound).
FunnelJob = Callable[[Callable[[Progress], None], threading.Event], Funnel]
#: Tick labels short enough to sit side by side under 8 bars.
_TICKS = {"anchor IoU>=0.7": "anchor 0.7", "anchor IoU>=0.5": "anchor 0.5"}
_SIZE_COLORS = {"small": (230, 120, 60), "medium": (80, 170, 240), "large": (120, 210, 90)}


class FunnelDialog(JobDialog):
    """Run the funnel job, then show its chart and table."""

    def __init__(self, job: FunnelJob, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Recall funnel")
        self.resize(900, 640)
        self._job = job
        self.funnel: Funnel | None = None
        self.about = QLabel(f"How many of your boxes survive each stage of the detector ({what}), at IoU \u2265 0.5: "
                            "an anchor overlapping them, the RPN's N best proposals, the RoI head's scored box, "
                            "the final detections at the current thresholds.")
        self.about.setWordWrap(True)
        self.group = QComboBox()
        self.group.addItems(["overall", "by object size", "by class"])
        self.group.currentIndexChanged.connect(lambda _i: self._draw())
        self.plot = pg.PlotWidget()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setYRange(0.0, 1.25, padding=0)  # room above 1.0 for the legend row
        self.plot.setLabel("left", "recall")
        self.plot.getAxis("left").setTicks([[(v / 5, f"{v / 5:.1f}") for v in range(6)]])
        self.plot.addLegend(offset=(10, 2), colCount=6, labelTextColor=(230, 230, 230))
        self.plot.getAxis("bottom").setTicks([[(i, _TICKS.get(s, s)) for i, s in enumerate(STAGES)]])
        self.lost = QLabel()
        self.lost.setWordWrap(True)
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        row = QHBoxLayout()
        row.addWidget(QLabel("Show"))
        row.addWidget(self.group)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.about)
        layout.addLayout(row)
        layout.addWidget(self.plot, 3)
        layout.addWidget(self.lost)
        layout.addWidget(self.table, 2)
        self._add_start_button("Run", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button = self.buttons.addButton("Save JSON\u2026", QDialogButtonBox.ButtonRole.ActionRole)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save)
        self._add_cancel_close()
        self._add_job_widgets(layout)
        self.message.setText("Run traces every image with boxes of yours (images already detected are reused).")

    # -- the job -------------------------------------------------------------------
    def start(self) -> None:
        self._start_job(self._job, "tracing the annotated images\u2026")

    def _progressed(self, p: Progress) -> None:
        super()._progressed(p)
        if p.total:
            self.message.setText(f"{p.done} of {p.total}: {p.message}")

    def _succeeded(self, result: Funnel) -> None:
        self.funnel = result
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        f = self.funnel
        skipped = f"; {len(f.skipped)} image(s) could not be read" if f.skipped else ""
        self.message.setText(f"{len(f.objects)} box(es) on {f.images} image(s), score threshold "
                             f"{f.thresholds.get('score', 0):.2f}{skipped}")
        self.save_button.setEnabled(True)
        self._draw()

    # -- showing -------------------------------------------------------------------
    def series(self) -> list[tuple[str, list[float]]]:
        """The bars drawn now: ``(name, recall per stage)`` per group."""
        f = self.funnel
        if f is None:
            return []
        mode = self.group.currentIndex()
        if mode == 0:
            groups = {"all": f.objects}
        else:
            groups = f.groups("size" if mode == 1 else "label")
        return [(f"{name} ({len(objs)})", [f.recall(objs)[s] for s in STAGES]) for name, objs in groups.items()]

    def _draw(self) -> None:
        self.plot.clear()
        series = self.series()
        if not series:
            return
        n = len(series)
        width = 0.8 / n
        for k, (name, values) in enumerate(series):
            key = name.rsplit(" (", 1)[0]
            cls_color = class_color(k + 1)
            color = _SIZE_COLORS.get(key) or (
                (cls_color.red(), cls_color.green(), cls_color.blue()) if n > 1 else (90, 160, 230))
            x = np.arange(len(STAGES)) - 0.4 + width * (k + 0.5)
            self.plot.addItem(pg.BarGraphItem(x=x, height=values, width=width * 0.9, brush=pg.mkBrush(*color),
                                              name=name))
        self.plot.setXRange(-0.6, len(STAGES) - 0.4, padding=0)
        f = self.funnel
        assert f is not None
        lost = f.lost_at()
        self.lost.setText("Missed boxes by the stage that lost them: " + (
            ", ".join(f"<b>{stage}</b> {count}" for stage, count in lost.items()) if lost else "none"))
        self.table.setColumnCount(len(STAGES))
        self.table.setHorizontalHeaderLabels(list(STAGES))
        self.table.setRowCount(n)
        self.table.setVerticalHeaderLabels([name for name, _ in series])
        for r, (_name, values) in enumerate(series):
            for c, v in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(f"{v:.3f}"))
        self.table.resizeColumnsToContents()

    def _save(self) -> None:
        if self.funnel is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the funnel as JSON", "funnel.json", "JSON (*.json)")
        if path:
            self.save_json(path)

    def save_json(self, path: str) -> None:
        from detector_app.domain.fsutil import atomic_write_text

        assert self.funnel is not None
        atomic_write_text(path, json.dumps(self.funnel.to_dict(), indent=1))
        self.message.setText(f"wrote {path}")
