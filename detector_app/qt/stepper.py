"""``ProposalStepper``: walk through the RPN's proposals one at a time and see
what became of each.

For proposal ``p`` it shows the source anchor (index, level, cell, scale,
ratio, box), the RPN's regression deltas anchor -> proposal and the objectness,
the RoI head's class probabilities as a bar chart (with the score threshold),
the refined box, and the fate under the current thresholds ("became detection
N", "suppressed by NMS (detection N)", "dropped: below score threshold", ...).

Keys: ``]`` / ``.`` next, ``[`` / ``,`` previous, Home / End first / last.
``currentProposalChanged(int)`` fires whenever the shown proposal changes.
The class probability chart is ``class_chart.ClassChart``.
"""

from __future__ import annotations

import html
import re

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSpinBox, QToolButton, QVBoxLayout, QWidget

from detector_app.domain.trace import DetectionTrace, Fate, PostprocessResult
from detector_app.qt.class_chart import MAX_CHART_CLASSES, ClassChart, chart_classes, fit_tick_labels
from detector_app.qt.overlay_data import decode_delta

_FATE_COLORS = {
    Fate.DETECTED: "#3cb44b", Fate.SUPPRESSED: "#f58231", Fate.BELOW_SCORE: "#9a9a9a",
    Fate.TOO_SMALL: "#9a9a9a", Fate.OVER_CAP: "#c8a000",
}


def _fmt_box(b: np.ndarray) -> str:
    x1, y1, x2, y2 = (float(v) for v in b)
    return f"({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f})  {x2 - x1:.1f}\u00d7{y2 - y1:.1f}"



class ProposalStepper(QWidget):
    """Slider + prev/next over proposals, with a per-proposal explanation; ``chart`` shows
    the current proposal's class probabilities."""

    currentProposalChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._trace: DetectionTrace | None = None
        self._result: PostprocessResult | None = None
        self._current: int | None = None
        self._score_thresh: float | None = None

        self._prev = QToolButton()
        self._prev.setText("\u25c0")
        self._prev.setToolTip("Previous proposal  ( [ or , )")
        self._next = QToolButton()
        self._next.setText("\u25b6")
        self._next.setToolTip("Next proposal  ( ] or . )")
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setToolTip("Proposals in the RPN's order (best objectness first)")
        self._spin = QSpinBox()
        self._of = QLabel("of 0")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for w in (QLabel("Proposal"), self._prev, self._slider, self._next, self._spin, self._of):
            row.addWidget(w)
        row.setStretch(2, 1)

        self._fate = QLabel()
        self._fate.setTextFormat(Qt.TextFormat.RichText)
        self._info = QLabel()
        self._info.setTextFormat(Qt.TextFormat.RichText)
        self._info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._info.setWordWrap(True)
        self._info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.chart = ClassChart()

        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self._fate)
        layout.addWidget(self._info)
        layout.addWidget(self.chart.plot, 1)

        self._slider.valueChanged.connect(self.set_current)
        self._spin.valueChanged.connect(self.set_current)
        self._prev.clicked.connect(lambda: self.step(-1))
        self._next.clicked.connect(lambda: self.step(1))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._refresh_range()

    # -- public API ---------------------------------------------------------
    def set_trace(self, trace: DetectionTrace | None, result: PostprocessResult | None = None) -> None:
        """Show ``trace``'s proposals; fates from ``result`` (the live thresholds)
        or, without one, the fates the trace was recorded with. The same trace
        again keeps the proposal shown; a new one opens on the proposal behind the
        best detection (proposal 0 is often "suppressed by NMS": a puzzling first sight)."""
        same = trace is self._trace
        self._trace = trace
        self._result = result
        self._score_thresh = None
        self._refresh_range()
        if trace is None or trace.num_proposals == 0:
            self._current = None
            self._show()
            return
        if same and self._current is not None and self._current < trace.num_proposals:
            start = self._current
        else:
            behind = self._detection_proposals()
            start = int(behind[0]) if len(behind) else 0
        self._current = None
        self.set_current(start)

    def set_result(self, result: PostprocessResult | None, score_thresh: float | None = None) -> None:
        """New post-processing (threshold sliders moved): fates and chart update."""
        self._result = result
        self._score_thresh = score_thresh
        self._show()

    def current(self) -> int | None:
        return self._current

    def set_current(self, index: int) -> None:
        """Show proposal ``index`` (clamped); emits ``currentProposalChanged`` if it changed."""
        trace = self._trace
        if trace is None or trace.num_proposals == 0:
            return
        index = min(max(int(index), 0), trace.num_proposals - 1)
        if index == self._current:
            return
        self._current = index
        for w in (self._slider, self._spin):
            w.blockSignals(True)
            w.setValue(index)
            w.blockSignals(False)
        self._show()
        self.currentProposalChanged.emit(index)

    def step(self, delta: int) -> None:
        if self._current is not None:
            self.set_current(self._current + delta)

    def select_detection(self, detection: int) -> None:
        """Jump to the proposal that became detection ``detection``."""
        index = self._detection_proposals()
        if 0 <= detection < len(index):
            self.set_current(int(index[detection]))

    def fate(self) -> tuple[Fate, int] | None:
        """``(fate, detection)`` of the current proposal."""
        p = self._current
        if self._trace is None or p is None:
            return None
        if self._result is not None:
            return Fate(int(self._result.fate[p])), int(self._result.fate_detection[p])
        t = self._trace
        if p < len(t.proposal_fate):
            return Fate(int(t.proposal_fate[p])), int(t.proposal_fate_detection[p])
        return None

    def fate_text(self) -> str:
        f = self.fate()
        return "" if f is None else f[0].describe(f[1])

    def info_text(self) -> str:
        """The explanation as plain text (what the label shows)."""
        doc = self._info.text().replace("<br>", "\n").replace("&nbsp;", " ")
        return html.unescape(re.sub(r"<[^>]+>", "", doc))

    def probabilities(self) -> np.ndarray:
        """``float[C]``: the bars the chart shows now."""
        return self.chart.probabilities()

    def shown_classes(self) -> list[int]:
        """The class indices of the bars, left to right (see :func:`chart_classes`)."""
        return self.chart.shown_classes()

    def tick_labels(self) -> list[str]:
        """The bar labels as drawn now (fitted to the chart's width)."""
        return self.chart.tick_labels()

    # -- internals ------------------------------------------------------------
    def _detection_proposals(self) -> np.ndarray:
        if self._result is not None:
            return self._result.proposal_index
        return self._trace.detection_proposal_index if self._trace is not None else np.zeros(0, np.int64)

    def _refresh_range(self) -> None:
        n = 0 if self._trace is None else self._trace.num_proposals
        for w in (self._slider, self._spin):
            w.blockSignals(True)
            w.setRange(0, max(0, n - 1))
            w.setEnabled(n > 0)
            w.blockSignals(False)
        self._prev.setEnabled(n > 0)
        self._next.setEnabled(n > 0)
        self._of.setText(f"of {n}")

    def _show(self) -> None:
        trace, p = self._trace, self._current
        if trace is None or p is None:
            self._fate.setText("<i>No proposals</i>")
            self._info.setText("")
            self.chart.set_probabilities(np.zeros(0), [])
            return
        f = self.fate()
        if f is not None:
            color = _FATE_COLORS.get(f[0], "#ffffff")
            self._fate.setText(
                f"<b>Fate:</b> <span style='color:{color}'><b>{html.escape(f[0].describe(f[1]))}</b></span>"
            )
        else:
            self._fate.setText("<b>Fate:</b> unknown")
        self._info.setText("<br>".join(self._lines(trace, p)))
        probs = trace.class_probs[p] if trace.class_probs.ndim == 2 and p < len(trace.class_probs) else np.zeros(0)
        self.chart.set_probabilities(probs, trace.class_names)
        thresh = self._score_thresh if self._score_thresh is not None else trace.score_thresh
        self.chart.set_threshold(thresh)

    def _lines(self, trace: DetectionTrace, p: int) -> list[str]:
        esc = html.escape
        a = int(trace.proposal_anchor_index[p])
        lines = []
        if 0 <= a < trace.num_anchors:
            level = trace.level_of_anchor(a)
            row, col = trace.anchor_cell(a)
            s, r = int(trace.anchor_scale_index[a]), int(trace.anchor_ratio_index[a])
            anchor = trace.anchors[a]
            size = level.sizes[s] if s < len(level.sizes) else float("nan")
            ratio = level.aspect_ratios[r] if r < len(level.aspect_ratios) else float("nan")
            cx, cy = (anchor[0] + anchor[2]) / 2, (anchor[1] + anchor[3]) / 2
            lines += [
                f"<b>Source anchor #{a}</b>: level {esc(level.name)}, cell (row {row}, col {col}), "
                f"scale {s} ({size:g} px), ratio {r} (h/w {ratio:g})",
                f"&nbsp;&nbsp;anchor {_fmt_box(anchor)}, centre ({cx:.1f}, {cy:.1f})",
            ]
            if a < len(trace.rpn_deltas):
                d = trace.rpn_deltas[a]
                lines.append(
                    f"<b>RPN deltas</b> dx {d[0]:+.3f}, dy {d[1]:+.3f}, dw {d[2]:+.3f}, dh {d[3]:+.3f} "
                    f"\u2192 {_fmt_box(decode_delta(anchor, d))}"
                )
            if a < len(trace.objectness_logits):
                logit = float(trace.objectness_logits[a])
                lines.append(f"<b>Objectness</b> {1 / (1 + np.exp(-logit)):.3f} (logit {logit:+.2f})")
        else:
            lines.append(f"<b>Source anchor</b>: unknown (index {a})")
        lines.append(f"<b>Proposal {p}</b> {_fmt_box(trace.proposals[p])}, score {float(trace.proposal_scores[p]):.3f}")
        if trace.class_probs.ndim == 2 and trace.class_probs.shape[1] > 1:
            probs = trace.class_probs[p]
            c = self._shown_class(p)
            name = trace.class_names[c] if c < len(trace.class_names) else str(c)
            lines.append(
                f"<b>RoI head</b>: {esc(name)} {float(probs[c]):.3f} (background {float(probs[0]):.3f}); "
                f"refined box {_fmt_box(trace.refined_boxes[p, c])}"
            )
        return lines

    def _shown_class(self, p: int) -> int:
        """The detection's class when it has one, else the most probable non-background class."""
        f = self.fate()
        labels = self._result.labels if self._result is not None else self._trace.detection_labels  # type: ignore[union-attr]
        if f is not None and 0 <= f[1] < len(labels):
            return int(labels[f[1]])
        return int(np.argmax(self._trace.class_probs[p, 1:])) + 1  # type: ignore[union-attr]


    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        key = event.key()
        if key in (Qt.Key.Key_BracketRight, Qt.Key.Key_Period):
            self.step(1)
        elif key in (Qt.Key.Key_BracketLeft, Qt.Key.Key_Comma):
            self.step(-1)
        elif key == Qt.Key.Key_Home:
            self.set_current(0)
        elif key == Qt.Key.Key_End and self._trace is not None:
            self.set_current(self._trace.num_proposals - 1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()


__all__ = ["MAX_CHART_CLASSES", "ProposalStepper", "chart_classes", "fit_tick_labels"]
