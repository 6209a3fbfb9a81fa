"""``LegendWidget``: what the overlay colours mean.

Class colours come from :mod:`detector_app.qt.colors` (a deterministic palette
by 1-based class index, the same everywhere); the legend also explains the
anchor scale colours, the anchor label colours and the objectness colormap
when those layers are on.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from detector_app.qt.colors import class_color, colormap_color
from detector_app.qt.overlay_style import DEFAULT_STYLE

__all__ = ["LegendWidget", "class_color", "swatch"]


def swatch(color: QColor, size: int = 14, outline: bool = False, dashed: bool = False,
           dotted: bool = False) -> QPixmap:
    """A small square of ``color`` (an outlined square for box-outline colours, dashed
    for the model's suggestions, dotted for anchor labels)."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    if outline or dashed or dotted:
        style = Qt.PenStyle.DotLine if dotted else Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        p.setPen(QPen(color, 1.5 if dashed else 2, style))
        p.drawRect(QRectF(1, 1, size - 2, size - 2))
    else:
        p.fillRect(0, 0, size, size, color)
    p.end()
    return pm


class _Gradient(QWidget):
    """The objectness colormap, 0 on the left, 1 on the right."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(120, 12)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        grad = QLinearGradient(0, 0, self.width(), 0)
        for i in range(11):
            grad.setColorAt(i / 10, colormap_color(i / 10))
        p.fillRect(self.rect(), grad)
        p.end()


class LegendWidget(QWidget):
    """Rows of colour swatches: classes, then optional overlay keys."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._entries: list[tuple[str, QColor]] = []
        self._classes: list[str] = []
        self._counts: dict[str, int] = {}
        self._scales: list[float] | None = None
        self._labels = False
        self._crossing = False
        self._objectness = False
        self._grid = QGridLayout()
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(6)
        self._grid.setVerticalSpacing(2)
        self._grid.setColumnStretch(2, 1)  # keep names next to their swatches
        outer = QVBoxLayout(self)
        outer.addLayout(self._grid)
        outer.addStretch(1)
        self._rebuild()

    def set_classes(self, names: list[str], counts: dict[str, int] | None = None) -> None:
        """Class names without the background (colour = index + 1); optional counts shown."""
        self._classes = [n for n in names if not n.startswith("__")]
        self._counts = dict(counts or {})
        self._rebuild()

    def set_anchor_scales(self, sizes: list[float] | None) -> None:
        """Show the anchor colour of each scale index (``None`` hides)."""
        self._scales = None if sizes is None else list(sizes)
        self._rebuild()

    def set_show_anchor_labels(self, on: bool, crossing: bool = False) -> None:
        """The anchor-label key; ``crossing``: the model ignores cross-boundary anchors (paper rule)."""
        self._labels = bool(on)
        self._crossing = bool(crossing)
        self._rebuild()

    def set_show_objectness(self, on: bool) -> None:
        self._objectness = bool(on)
        self._rebuild()

    def entries(self) -> list[tuple[str, tuple[int, int, int]]]:
        """``(text, rgb)`` of each swatch row, top to bottom."""
        return [(text, (color.red(), color.green(), color.blue())) for text, color in self._entries]

    def _rebuild(self) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = None if item is None else item.widget()
            if widget is not None:
                widget.deleteLater()
        self._entries = []
        row = 0

        def add(text: str, color: QColor, outline: bool = False, dashed: bool = False, dotted: bool = False) -> None:
            nonlocal row
            icon = QLabel()
            icon.setPixmap(swatch(color, outline=outline, dashed=dashed, dotted=dotted))
            self._grid.addWidget(icon, row, 0)
            self._grid.addWidget(QLabel(text), row, 1)
            self._entries.append((text, QColor(color)))
            row += 1

        def heading(text: str) -> None:
            nonlocal row
            label = QLabel(f"<b>{text}</b>")
            self._grid.addWidget(label, row, 0, 1, 2)
            row += 1

        if self._classes:
            heading("Classes")
            for i, name in enumerate(self._classes, start=1):
                text = f"{name} ({self._counts[name]})" if name in self._counts else name
                add(text, class_color(i))
            heading("Boxes")
            add("dashed, \u201cclass 0.97\u201d: the model's suggestion (Enter accepts it)", QColor(200, 200, 200),
                dashed=True)
            add("solid, \u201cclass\u201d: your annotation (accepted or drawn)", QColor(200, 200, 200), outline=True)
        if self._scales:
            heading("Anchor scales")
            for s, size in enumerate(self._scales):
                add(f"scale {s}: {size:g} px", DEFAULT_STYLE.anchor_scale_color(s), outline=True)
        if self._labels:
            heading("Anchor labels")
            add("positive (dotted, bold)", DEFAULT_STYLE.positive_color, dotted=True)
            add("negative (sampled)", DEFAULT_STYLE.negative_color, dotted=True)
            add("ignored (sampled)", DEFAULT_STYLE.ignored_color, dotted=True)
            if self._crossing:
                add("ignored: crosses the image boundary (sampled)", DEFAULT_STYLE.boundary_color, dotted=True)
        if self._objectness:
            heading("Proposal objectness")
            self._grid.addWidget(QLabel("0"), row, 0)
            bar = QWidget()
            inner = QGridLayout(bar)
            inner.setContentsMargins(0, 0, 0, 0)
            inner.addWidget(_Gradient(), 0, 0)
            inner.addWidget(QLabel("1"), 0, 1)
            self._grid.addWidget(bar, row, 1)
            row += 1
