"""``CompareDialog``: the model in use against a fine-tuned one, before keeping it.

Runs ``app.compare.compare_job`` on a :class:`JobThread`, then shows the
current image with each model's detections side by side, COCO AP50 per class
for both (a table and a pyqtgraph bar chart), and the overall AP / AP50.
"Keep the new model" accepts the dialog; "Go back" rejects it (the model in use
stays).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detector_app.app.compare import Comparison
from detector_app.domain.progress import ProgressFn
from detector_app.qt.job_dialog import JobDialog

_OLD, _NEW = (150, 150, 150), (70, 150, 240)


def _key(name: str, rgb: tuple[int, int, int]) -> str:
    """A coloured square and a name, as rich text."""
    return f"<span style='color:#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}'>&#9632;</span> {name}"


def _pixmap(rgb: np.ndarray, width: int = 400) -> QPixmap:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)


class CompareDialog(JobDialog):
    def __init__(self, job: Callable[[ProgressFn, threading.Event], Comparison],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Before and after")
        self.resize(900, 760)
        self._job = job
        self.comparison: Comparison | None = None
        self.note = QLabel("Both models on this project's verified images (usually the ones the new model was "
                           "trained on: its AP there is optimistic; `detector-app evaluate` on held-out images "
                           "gives the honest number) and on the current image.")
        self.note.setWordWrap(True)
        self.old_view, self.new_view = QLabel("before"), QLabel("after")
        self.old_title, self.new_title = QLabel(), QLabel()
        views = QGridLayout()
        views.addWidget(self.old_title, 0, 0)
        views.addWidget(self.new_title, 0, 1)
        views.addWidget(self.old_view, 1, 0)
        views.addWidget(self.new_view, 1, 1)
        self.plot = pg.PlotWidget()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setYRange(0, 1.05, padding=0)
        self.plot.setLabel("left", "AP50")
        # the key sits in the title: a legend inside a plot this short covers the first bars
        self.plot.setTitle(f"AP50 per class: {_key('before', _OLD)} &nbsp; {_key('after', _NEW)}", size="9pt")
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(views)
        layout.addWidget(self.plot, 2)
        layout.addWidget(self.table, 2)
        self._add_start_button("Compare", QDialogButtonBox.ButtonRole.ActionRole)
        self.keep_button = self.buttons.addButton("Keep the new model", QDialogButtonBox.ButtonRole.AcceptRole)
        self.keep_button.setEnabled(False)
        self.keep_button.clicked.connect(self.accept)
        self.back_button = self.buttons.addButton("Go back to the old model", QDialogButtonBox.ButtonRole.RejectRole)
        self.back_button.clicked.connect(self.reject)
        self._add_cancel_close()
        self._add_job_widgets(layout)

    def start(self) -> None:
        self._start_job(self._job, "scoring both models\u2026")

    def _set_running(self, on: bool) -> None:
        super()._set_running(on)
        self.back_button.setEnabled(not on)

    def _succeeded(self, result: Comparison) -> None:
        self.comparison = c = result
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.keep_button.setEnabled(True)
        self.message.setText(f"{c.images} verified image(s): AP50 {c.old['AP50']:.3f} \u2192 {c.new['AP50']:.3f}, "
                             f"AP {c.old['AP']:.3f} \u2192 {c.new['AP']:.3f}")
        self.old_title.setText(f"before: {c.old_name}")
        self.new_title.setText(f"after: {c.new_name}")
        if "old" in c.views:
            self.old_view.setPixmap(_pixmap(c.views["old"]))
            self.new_view.setPixmap(_pixmap(c.views["new"]))
        rows = c.per_class()
        self.plot.clear()
        x = np.arange(len(rows))
        old = [r[2] if r[2] is not None else 0.0 for r in rows]
        new = [r[3] if r[3] is not None else 0.0 for r in rows]
        self.plot.addItem(pg.BarGraphItem(x=x - 0.2, height=old, width=0.38, brush=pg.mkBrush(*_OLD), name="before"))
        self.plot.addItem(pg.BarGraphItem(x=x + 0.2, height=new, width=0.38, brush=pg.mkBrush(*_NEW), name="after"))
        self.plot.getAxis("bottom").setTicks([[(i, r[0]) for i, r in enumerate(rows)]])
        self.plot.setXRange(-0.6, max(len(rows), 1) - 0.4, padding=0)
        self.table.setColumnCount(5)
        self.table.setHorizontalHeaderLabels(["class", "boxes", "AP50 before", "AP50 after", "change"])
        self.table.setRowCount(len(rows) + 1)
        all_rows = [*rows, ("all classes", sum(r[1] for r in rows), c.old["AP50"], c.new["AP50"])]
        for i, (name, n, a, b) in enumerate(all_rows):
            cells = [name, str(n), "-" if a is None else f"{a:.3f}", "-" if b is None else f"{b:.3f}",
                     "-" if a is None or b is None else f"{b - a:+.3f}"]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
