"""``BoxList``: every box of the current image, the person's apart from the model's.

Two groups: **Your boxes** (the annotations: class, where they came from, the
model's score when accepted from a detection, size) and **Suggestions** (the
detections above the score threshold that are not annotations yet, dashed on
the canvas). Each row has its class colour; clicking one emits
``annotationChosen(id)`` or ``detectionChosen(index)``, and the owner keeps the
list's selection in step with the canvas (``select_annotation`` /
``select_detection``, which emit nothing).
"""

from __future__ import annotations

from collections.abc import Sequence, Set

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from detector_app.app.panel_data import Suggestion
from detector_app.domain.annotations import Annotation, AnnotationSource
from detector_app.qt.colors import class_color

_SOURCE_TEXT = {
    AnnotationSource.MANUAL: "drawn",
    AnnotationSource.MODEL: "accepted",
    AnnotationSource.MODEL_CORRECTED: "accepted, corrected",
    AnnotationSource.INTERPOLATED: "interpolated",
}
_ROLE = Qt.ItemDataRole.UserRole
#: The hide / lock check boxes come right after the class, where a narrow dock still shows them.
HIDE_COLUMN, LOCK_COLUMN = 1, 2
SOURCE_COLUMN, SIZE_COLUMN = 3, 4


class BoxList(QWidget):
    """The current image's annotations and the model's suggestions (module docstring)."""

    annotationChosen = Signal(str)
    detectionChosen = Signal(int)
    hiddenChanged = Signal(str, bool)  # annotation id, hidden
    lockedChanged = Signal(str, bool)  # annotation id, locked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["box", "hide", "lock", "source", "size"])
        self.tree.setRootIsDecorated(False)
        # the dark palette draws unchecked boxes nearly invisible: outlined, and filled blue when on
        self.tree.setStyleSheet("QTreeView::indicator { width: 12px; height: 12px; border: 1px solid #b4b4b4; "
                                "background: #2c2c30; } QTreeView::indicator:checked { background: #3c78c8; }")
        self.tree.setToolTip("Your boxes (solid on the canvas) and the model's suggestions (dashed): click to select")
        self._yours = QTreeWidgetItem(["Your boxes"])
        self._suggested = QTreeWidgetItem(["Suggestions (not accepted)"])
        bold = QFont()
        bold.setBold(True)
        for group in (self._yours, self._suggested):
            group.setFont(0, bold)
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(group)
            group.setFirstColumnSpanned(True)  # the group titles do not widen the class column
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tree)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemChanged.connect(self._flag_changed)

    # -- owner API -------------------------------------------------------------
    def set_boxes(self, annotations: list[Annotation], label_names: list[str],
                  suggestions: Sequence[Suggestion], hidden: Set[str] = frozenset(),
                  locked: Set[str] = frozenset()) -> None:
        """``annotations`` of the image; ``suggestions``: ``(detection index, class, score, box)``
        of the detections shown that are not annotations. Class colours follow ``label_names``;
        ``hidden`` / ``locked``: annotation ids whose check boxes are ticked."""
        self.tree.blockSignals(True)
        for group in (self._yours, self._suggested):
            group.takeChildren()
        for a in annotations:
            x1, y1, x2, y2 = a.box.to_tuple()
            source = _SOURCE_TEXT.get(a.source, str(a.source))
            if a.score is not None:
                source += f" ({a.score:.2f})"
            item = QTreeWidgetItem([a.label, "", "", source, f"{x2 - x1:.0f}\u00d7{y2 - y1:.0f}"])
            item.setData(0, _ROLE, ("annotation", a.id))
            item.setForeground(0, QBrush(_color(a.label, label_names)))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            for col, on in ((HIDE_COLUMN, a.id in hidden), (LOCK_COLUMN, a.id in locked)):
                item.setCheckState(col, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self._yours.addChild(item)
        for d, name, score, (x1, y1, x2, y2) in suggestions:
            item = QTreeWidgetItem([f"{name} {score:.2f}", "", "", "suggestion", f"{x2 - x1:.0f}\u00d7{y2 - y1:.0f}"])
            item.setData(0, _ROLE, ("detection", d))
            item.setForeground(0, QBrush(_color(name, label_names)))
            italic = item.font(0)
            italic.setItalic(True)
            for col in (0, SOURCE_COLUMN, SIZE_COLUMN):
                item.setFont(col, italic)
            self._suggested.addChild(item)
        self._yours.setText(0, f"Your boxes ({len(annotations)})")
        self._suggested.setText(0, f"Suggestions, not accepted ({len(suggestions)})")
        self.tree.expandAll()
        for col in (HIDE_COLUMN, LOCK_COLUMN):
            self.tree.resizeColumnToContents(col)
        for col in (0, SOURCE_COLUMN, SIZE_COLUMN):
            width = max([self.tree.fontMetrics().horizontalAdvance(item.text(col))
                         for g in (self._yours, self._suggested) for item in _children(g)] or [40])
            self.tree.setColumnWidth(col, width + (34 if col == 0 else 14))
        self.tree.blockSignals(False)

    def select_annotation(self, ident: str | None) -> None:
        self._select(("annotation", ident) if ident is not None else None)

    def select_detection(self, index: int | None) -> None:
        self._select(("detection", index) if index is not None else None)

    def rows(self) -> list[tuple[str, str, str]]:
        """``(group, box text, source text)`` of every row, in order (for tests)."""
        out = []
        for group in (self._yours, self._suggested):
            for item in _children(group):
                out.append((group.text(0), item.text(0), item.text(SOURCE_COLUMN)))
        return out

    def selected(self) -> tuple[str, object] | None:
        items = self.tree.selectedItems()
        return items[0].data(0, _ROLE) if items else None

    def flags_of(self, ident: str) -> tuple[bool, bool]:
        """``(hidden, locked)`` as the row's check boxes show them (for tests)."""
        for item in _children(self._yours):
            if item.data(0, _ROLE) == ("annotation", ident):
                return (item.checkState(HIDE_COLUMN) == Qt.CheckState.Checked,
                        item.checkState(LOCK_COLUMN) == Qt.CheckState.Checked)
        raise KeyError(ident)

    # -- internals ---------------------------------------------------------------
    def _flag_changed(self, item: QTreeWidgetItem, column: int) -> None:
        data = item.data(0, _ROLE)
        if not data or data[0] != "annotation" or column not in (HIDE_COLUMN, LOCK_COLUMN):
            return
        on = item.checkState(column) == Qt.CheckState.Checked
        signal = self.hiddenChanged if column == HIDE_COLUMN else self.lockedChanged
        # after the click that ticked it: the session's answer rebuilds the rows, and the click's own
        # itemClicked must not meet a deleted row
        QTimer.singleShot(0, lambda: signal.emit(str(data[1]), on))

    def _select(self, key: tuple[str, object] | None) -> None:
        self.tree.blockSignals(True)
        self.tree.clearSelection()
        for group in (self._yours, self._suggested):
            for item in _children(group):
                if key is not None and item.data(0, _ROLE) == key:
                    item.setSelected(True)
                    self.tree.scrollToItem(item)
        self.tree.blockSignals(False)

    def _clicked(self, item: QTreeWidgetItem | None, _column: int) -> None:
        if item is None:
            return
        data = item.data(0, _ROLE)
        if not data:
            return
        kind, value = data
        if kind == "annotation":
            self.annotationChosen.emit(str(value))
        else:
            self.detectionChosen.emit(int(value))


def _color(name: str, label_names: list[str]) -> QColor:
    return class_color(label_names.index(name) + 1) if name in label_names else QColor(200, 200, 200)


def _children(group: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [item for item in (group.child(i) for i in range(group.childCount())) if item is not None]
