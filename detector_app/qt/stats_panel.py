"""``StatsPanel``: how long each stage of the forward pass took, how many boxes
each stage kept, and a histogram of objectness.

Counts follow the funnel: anchors (A) -> pre-NMS candidates (Q) -> proposals
(P) -> detections (D, under the current thresholds), plus how many proposals
met each fate. The histogram shows the objectness of the P proposals, or of
all A anchors (log scale: most anchors are background).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detector_app.domain.trace import DetectionTrace, Fate, PostprocessResult
from detector_app.qt.colors import bin_colors

HIST_BINS = 20
_FATE_LABELS = {
    Fate.DETECTED: "became a detection",
    Fate.BELOW_SCORE: "below score threshold",
    Fate.TOO_SMALL: "box too small",
    Fate.SUPPRESSED: "suppressed by NMS",
    Fate.OVER_CAP: "over the per-image cap",
}
SOURCES = ("proposals", "anchors")


def objectness_histogram(values: np.ndarray, bins: int = HIST_BINS) -> tuple[np.ndarray, np.ndarray]:
    """``(edges float[bins+1], counts int64[bins])`` of probabilities over ``[0, 1]``."""
    counts, edges = np.histogram(np.clip(np.asarray(values, np.float64), 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    return edges, counts.astype(np.int64)


class StatsPanel(QWidget):
    """Per-stage timings and counts for one trace, and an objectness histogram."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._trace: DetectionTrace | None = None
        self._result: PostprocessResult | None = None
        self._counts = np.zeros(HIST_BINS, np.int64)
        self._edges = np.linspace(0.0, 1.0, HIST_BINS + 1)

        self._table = QTableWidget(0, 2)
        self._table.setHorizontalHeaderLabels(["", ""])
        self._table.horizontalHeader().setVisible(False)
        self._table.verticalHeader().setVisible(False)
        self._table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self._table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self._table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self._table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self._table.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        self._source = QComboBox()
        self._source.addItem("Proposals (P)", "proposals")
        self._source.addItem("All anchors (A), log scale", "anchors")
        self._source.currentIndexChanged.connect(lambda _i: self._update_histogram())
        self._plot = pg.PlotWidget()
        self._plot.setMinimumHeight(120)
        self._plot.setMouseEnabled(x=False, y=False)
        self._plot.hideButtons()
        self._plot.setLabel("bottom", "objectness")
        self._plot.setLabel("left", "count")
        self._bars = pg.BarGraphItem(x0=self._edges[:-1], x1=self._edges[1:], height=self._counts,
                                     brushes=[pg.mkBrush(c) for c in bin_colors(HIST_BINS)])
        self._plot.addItem(self._bars)
        self._plot.setXRange(0.0, 1.0, padding=0.01)

        top = QHBoxLayout()
        top.addWidget(QLabel("Objectness of"))
        top.addWidget(self._source, 1)
        layout = QVBoxLayout(self)
        self._table.verticalHeader().setDefaultSectionSize(self._table.fontMetrics().height() + 4)
        layout.addWidget(self._table, 3)
        layout.addLayout(top)
        layout.addWidget(self._plot, 2)
        self._refresh()

    # -- public API ---------------------------------------------------------
    def set_trace(self, trace: DetectionTrace | None, result: PostprocessResult | None = None) -> None:
        """Show one trace; ``result`` gives D and the fates under live thresholds."""
        self._trace = trace
        self._result = result
        self._refresh()

    def set_result(self, result: PostprocessResult | None) -> None:
        self._result = result
        self._refresh()

    def set_histogram_source(self, source: str) -> None:
        """``"proposals"`` (P values) or ``"anchors"`` (A values)."""
        if source not in SOURCES:
            raise ValueError(f"histogram source must be one of {SOURCES}, got {source!r}")
        self._source.setCurrentIndex(SOURCES.index(source))

    def rows(self) -> list[tuple[str, str]]:
        """The table as ``(name, value)`` text pairs."""
        out = []
        for r in range(self._table.rowCount()):
            a, b = self._table.item(r, 0), self._table.item(r, 1)
            out.append((a.text() if a else "", b.text() if b else ""))
        return out

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """``(edges, counts)`` the chart shows now."""
        return self._edges.copy(), self._counts.copy()

    # -- internals ------------------------------------------------------------
    def _refresh(self) -> None:
        rows: list[tuple[str, str, bool]] = []
        t = self._trace
        if t is None:
            rows.append(("No detection run yet", "", True))
        else:
            rows.append(("Time per stage", "ms", True))
            stages = {k: v for k, v in t.timings_ms.items() if k != "total"}
            for name, ms in stages.items():
                rows.append((f"  {name}", f"{ms:.1f}", False))
            if t.timings_ms:  # the traced total (wall clock) when there is one, else the stages' sum
                rows.append(("  total", f"{t.timings_ms.get('total', sum(stages.values())):.1f}", False))
            rows.append(("Boxes per stage", "count", True))
            k = "+".join(str(lv.num_anchors_per_cell) for lv in t.levels) or "?"
            cells = sum(lv.grid_size[0] * lv.grid_size[1] for lv in t.levels)
            rows.append((f"  anchors ({cells} cells \u00d7 {k})", f"{t.num_anchors:,}", False))
            rows.append(("  pre-NMS candidates", f"{len(t.pre_nms_scores):,}", False))
            rows.append(("  proposals (after RPN NMS)", f"{t.num_proposals:,}", False))
            fate, n_det = self._fates()
            rows.append(("  detections", f"{n_det:,}", False))
            if fate is not None:
                rows.append(("Fate of the proposals", "count", True))
                counts = Counter(int(f) for f in fate)
                for f in Fate:
                    rows.append((f"  {_FATE_LABELS[f]}", f"{counts.get(int(f), 0):,}", False))
            rows.insert(0, (f"Image {t.image_size[1]}\u00d7{t.image_size[0]} \u2192 model input "
                            f"{t.resized_size[1]}\u00d7{t.resized_size[0]}", "", False))
        self._table.setRowCount(len(rows))
        for r, (name, value, header) in enumerate(rows):
            a, b = QTableWidgetItem(name), QTableWidgetItem(value)
            b.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if header:
                font = a.font()
                font.setBold(True)
                a.setFont(font)
                b.setFont(font)
            self._table.setItem(r, 0, a)
            self._table.setItem(r, 1, b)
        self._table.resizeRowsToContents()
        self._update_histogram()

    def _fates(self) -> tuple[np.ndarray | None, int]:
        t = self._trace
        if self._result is not None:
            return self._result.fate, len(self._result.boxes)
        if t is not None and len(t.proposal_fate) == t.num_proposals and t.num_proposals:
            return t.proposal_fate, t.num_detections
        return None, 0 if t is None else t.num_detections

    def _update_histogram(self) -> None:
        t = self._trace
        source = self._source.currentData()
        if t is None:
            values = np.zeros(0)
        elif source == "anchors":
            values = t.objectness()
        else:
            values = t.proposal_scores
        self._edges, self._counts = objectness_histogram(values)
        log = source == "anchors"
        heights = np.log10(self._counts + 1.0) if log else self._counts.astype(float)
        self._bars.setOpts(x0=self._edges[:-1], x1=self._edges[1:], height=heights)
        self._plot.setLabel("left", "log10(count + 1)" if log else "count")
        self._plot.setYRange(0.0, max(1.0, float(heights.max()) if len(heights) else 1.0), padding=0.05)
        self._plot.setTitle(f"{len(values):,} values")
