"""``ClassChart``: the RoI head's class probabilities of one proposal as a bar chart
(pyqtgraph), the score threshold as a dashed line across it.

Bars are coloured by class; a model with many classes (COCO: 90) shows the background and
the most probable ones, every value in the tooltip. Bar labels are fitted to the chart's
width (:func:`fit_tick_labels`) and refitted when it is resized.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QSizePolicy

from detector_app.qt.colors import class_color


def fit_tick_labels(labels: list[str], centres_px: Sequence[float], chart_px: float,
                    text_width: Callable[[str], float], elide: Callable[[str, float], str],
                    priority: Sequence[float] | None = None, pad_px: float = 6.0) -> list[str]:
    """Bar labels that neither overlap nor run off the chart; the others empty.

    Bar ``i`` is centred ``centres_px[i]`` from the left edge of a chart
    ``chart_px`` wide. Labels are placed greedily, highest
    ``priority`` first (the class probabilities; default left to right): whole
    when there is room, else cut with an ellipsis (``elide(text, px)``) while
    at least three characters stay, else left out. Class names come from the
    model: 6 for the bundled one, 91 for a COCO checkpoint.
    """
    n = len(labels)
    order = sorted(range(n), key=lambda i: -priority[i]) if priority is not None else range(n)
    placed: list[tuple[float, float]] = []
    out = [""] * n
    for i in order:
        centre = centres_px[i]
        half = min([centre, chart_px - centre] + [max(lo - centre, centre - hi) for lo, hi in placed])
        room = 2 * half - pad_px
        text = labels[i]
        if text_width(text) > room:
            if text_width(text[:3] + "\u2026") > room:
                continue
            text = elide(text, room)
        out[i] = text
        w = text_width(text) + pad_px
        placed.append((centre - w / 2, centre + w / 2))
    return out


_CHART_TITLE = "RoI head class probabilities"
#: With more classes than this (a COCO model: 90), the chart shows the background and the top ones.
MAX_CHART_CLASSES = 10


def chart_classes(probs: np.ndarray, top: int = MAX_CHART_CLASSES) -> list[int]:
    """Which classes get a bar: all of them (background first) when there are at
    most ``top``; else the background, then the ``top`` most probable classes,
    most probable first (ties: lower index first)."""
    n = len(probs)
    if n - 1 <= top:
        return list(range(n))
    rest = np.argsort(-np.asarray(probs[1:], float), kind="stable")[:top] + 1
    return [0, *(int(i) for i in rest)]


class ClassChart:
    """The chart; ``plot`` is its widget (the stepper lays it out)."""

    def __init__(self) -> None:
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(120)
        self.plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setYRange(0.0, 1.0, padding=0.02)
        self.plot.setLabel("left", "p(class)")
        self.plot.setTitle(_CHART_TITLE)
        self._bars: pg.BarGraphItem | None = None
        self._shown: list[int] = []
        self._tick_names: list[str] = []
        self._tick_priority: list[float] = []
        self._tick_shown: list[str] = []
        self._thresh_line = pg.InfiniteLine(
            angle=0, movable=False, pen=pg.mkPen((220, 220, 220), style=Qt.PenStyle.DashLine)
        )
        self.plot.addItem(self._thresh_line)
        self.plot.getViewBox().sigResized.connect(self._fit_ticks)

    def set_threshold(self, score: float) -> None:
        """Where the dashed score-threshold line crosses the chart."""
        self._thresh_line.setPos(score)

    def probabilities(self) -> np.ndarray:
        """``float[C]``: the bars the chart shows now."""
        if self._bars is None:
            return np.zeros(0, np.float32)
        return np.asarray(self._bars.opts["height"], np.float32)

    def shown_classes(self) -> list[int]:
        """The class indices of the bars, left to right (see :func:`chart_classes`)."""
        return list(self._shown)

    def tick_labels(self) -> list[str]:
        """The bar labels as drawn now (fitted to the chart's width)."""
        return list(self._tick_shown)

    def set_probabilities(self, probs: np.ndarray, names: list[str]) -> None:
        """``float[C]`` class probabilities (background first), ``names`` of the classes
        (the model's); empty ``probs`` clears the chart."""
        if self._bars is not None:
            self.plot.removeItem(self._bars)
            self._bars = None
        if len(probs) == 0:
            self._tick_names, self._tick_priority, self._tick_shown, self._shown = [], [], [], []
            self.plot.getAxis("bottom").setTicks([[]])
            self.plot.setToolTip("")
            self.plot.setTitle(_CHART_TITLE)
            return
        probs = np.asarray(probs, float)
        all_labels = [names[i] if i < len(names) else str(i) for i in range(len(probs))]
        all_labels[0] = "bg" if all_labels[0].startswith("__") or all_labels[0] == "background" else all_labels[0]
        self._shown = chart_classes(probs)
        x = np.arange(len(self._shown))
        brushes = [pg.mkBrush(class_color(i)) for i in self._shown]
        self._bars = pg.BarGraphItem(x=x, height=probs[self._shown], width=0.7, brushes=brushes)
        self.plot.addItem(self._bars)
        self._tick_names = [all_labels[i] for i in self._shown]
        self._tick_priority = [float(probs[i]) for i in self._shown]
        if len(self._shown) < len(probs):
            rest = float(probs.sum() - probs[self._shown].sum())
            self.plot.setTitle(f"RoI head: top {len(self._shown) - 1} of {len(probs) - 1} classes (rest {rest:.3f})")
        else:
            self.plot.setTitle(_CHART_TITLE)
        order = (
            sorted(range(len(probs)), key=lambda i: -probs[i]) if len(self._shown) < len(probs) else range(len(probs))
        )
        self.plot.setToolTip("\n".join(f"{all_labels[i]}: {probs[i]:.3f}" for i in order))
        self.plot.setXRange(-0.6, len(self._shown) - 0.4, padding=0)
        self._fit_ticks()

    def _fit_ticks(self) -> None:
        if not self._tick_names:
            return
        axis = self.plot.getAxis("bottom")
        metrics = QFontMetricsF(axis.style.get("tickFont") or self.plot.font())  # the font pyqtgraph paints with
        view = self.plot.getViewBox()
        width = view.width()
        if width <= 1:  # not laid out yet: sigResized comes
            self._tick_shown = list(self._tick_names)
        else:
            x0, x1 = view.viewRange()[0]  # bar i sits at x = i
            centres = [(i - x0) / (x1 - x0) * width for i in range(len(self._tick_names))]
            self._tick_shown = fit_tick_labels(
                self._tick_names, centres, width, metrics.horizontalAdvance,
                lambda t, px: metrics.elidedText(t, Qt.TextElideMode.ElideRight, px), self._tick_priority)
        axis.setTicks([list(enumerate(self._tick_shown))])


__all__ = ["MAX_CHART_CLASSES", "ClassChart", "chart_classes", "fit_tick_labels"]
