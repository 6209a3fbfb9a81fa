"""``FileList``: the project's items with their review state, filterable by state.

Backed by a list model over plain ``(name, state)`` rows, so tens of thousands
of items list instantly. The owner calls ``set_items`` / ``set_state`` /
``set_current`` (no signals come back from those); a click or Enter emits
``itemActivated(index)`` with the index into the owner's item list.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QListView, QVBoxLayout, QWidget

from detector_app.domain.annotations import ItemState

STATE_COLORS = {
    ItemState.NOT_SEEN: QColor(120, 120, 120),
    ItemState.DETECTED: QColor(70, 140, 230),
    ItemState.EDITED: QColor(235, 160, 40),
    ItemState.VERIFIED: QColor(60, 180, 75),
}
STATE_TEXT = {
    ItemState.NOT_SEEN: "not seen",
    ItemState.DETECTED: "detected",
    ItemState.EDITED: "edited",
    ItemState.VERIFIED: "verified",
}


def _dot(color: QColor, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(color)
    p.setPen(color.darker(140))
    p.drawEllipse(1, 1, size - 2, size - 2)
    p.end()
    return QIcon(pm)


#: An item whose pixels cannot be read (a corrupt or unsupported file): a red cross, not a state dot.
UNREADABLE_COLOR = QColor(220, 50, 50)


def _cross(color: QColor, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = p.pen()
    pen.setColor(color)
    pen.setWidth(2)
    p.setPen(pen)
    p.drawLine(2, 2, size - 3, size - 3)
    p.drawLine(2, size - 3, size - 3, 2)
    p.end()
    return QIcon(pm)


def state_icon(state: ItemState) -> QIcon:
    """The coloured dot the list shows for ``state``."""
    return _dot(STATE_COLORS[state])


class _ItemsModel(QAbstractListModel):
    """Rows = the items passing the state filter, in project order."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.states: list[ItemState] = []
        self.filter: ItemState | None = None
        self.order: list[int] | None = None  # review order (None: project order)
        self.reasons: dict[int, str] = {}  # why an item sits where it does in that order
        self.problems: dict[int, str] = {}  # items that cannot be read: why
        self.rows: list[int] = []  # item index of each visible row
        self._icons = {s: _dot(c) for s, c in STATE_COLORS.items()}
        self._unreadable_icon = _cross(UNREADABLE_COLOR)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        i = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.names[i]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._unreadable_icon if i in self.problems else self._icons[self.states[i]]
        if role == Qt.ItemDataRole.ToolTipRole:
            if i in self.problems:
                return f"{self.names[i]}: cannot be read\n{self.problems[i]}"
            reason = self.reasons.get(i)
            return f"{self.names[i]} ({STATE_TEXT[self.states[i]]})" + (f"\n{reason}" if reason else "")
        if role == Qt.ItemDataRole.UserRole:
            return i
        return None

    def reset(self, names: list[str], states: list[ItemState]) -> None:
        self.beginResetModel()
        self.names, self.states = list(names), list(states)
        self.order, self.reasons, self.problems = None, {}, {}  # another item list: the owner sets these again
        self._refilter()
        self.endResetModel()

    def set_filter(self, state: ItemState | None) -> None:
        self.beginResetModel()
        self.filter = state
        self._refilter()
        self.endResetModel()

    def set_order(self, order: list[int] | None, reasons: dict[int, str] | None = None) -> None:
        self.beginResetModel()
        self.order = None if order is None else list(order)
        self.reasons = dict(reasons or {})
        self._refilter()
        self.endResetModel()

    def _refilter(self) -> None:
        f = self.filter
        order = self.order if self.order is not None else range(len(self.states))
        self.rows = [i for i in order if f is None or self.states[i] is f]

    def set_state(self, i: int, state: ItemState) -> None:
        self.states[i] = state
        if self.filter is not None and (state is self.filter) != (i in self.rows):
            self.set_filter(self.filter)  # membership changed: rebuild rows
            return
        try:
            row = self.rows.index(i)
        except ValueError:
            return
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def row_of(self, i: int) -> int | None:
        try:
            return self.rows.index(i)
        except ValueError:
            return None


class FileList(QWidget):
    """State filter + list of items (see module doc)."""

    itemActivated = Signal(int)
    filterChanged = Signal(object)  # ItemState | None
    sortChanged = Signal(str)  # "folder" | "useful"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = _ItemsModel()
        self._view = QListView()
        self._view.setModel(self._model)
        self._view.setUniformItemSizes(True)
        self._view.setIconSize(QSize(12, 12))
        self._view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._filter = QComboBox()
        self._filter.addItem("All items", None)
        for state in ItemState:
            self._filter.addItem(state_icon(state), STATE_TEXT[state].capitalize(), state.value)
        self.sort = QComboBox()
        self.sort.addItem("Folder order", "folder")
        self.sort.addItem("Most useful first", "useful")
        self.sort.setToolTip("Most useful first: unreviewed images whose correction would teach the model most "
                             "(uncertain scores, confident proposals called background, classes confused, rare "
                             "classes), scored from Detect all's traces; each row's tooltip says why")
        self._summary = QLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        row.addWidget(self._filter, 1)
        row.addWidget(self.sort, 1)
        layout.addLayout(row)
        layout.addWidget(self._view, 1)
        layout.addWidget(self._summary)
        self._filter.currentIndexChanged.connect(self._filter_changed)
        self.sort.currentIndexChanged.connect(lambda _i: self.sortChanged.emit(str(self.sort.currentData())))
        self._view.clicked.connect(self._activated)
        self._view.activated.connect(self._activated)
        self._update_summary()

    # -- owner API -------------------------------------------------------------
    def set_items(self, names: list[str], states: list[ItemState]) -> None:
        self._model.reset(names, states)
        self._update_summary()

    def set_problem(self, index: int, problem: str | None) -> None:
        """Mark item ``index`` unreadable (``problem``: why; the tooltip says it) or clear it."""
        m = self._model
        if not 0 <= index < len(m.states) or m.problems.get(index) == problem:
            return
        if problem is None:
            m.problems.pop(index, None)
        else:
            m.problems[index] = problem
        row = m.row_of(index)
        if row is not None:
            m.dataChanged.emit(m.index(row), m.index(row))
        self._update_summary()

    def problem(self, index: int) -> str | None:
        return self._model.problems.get(index)

    def set_state(self, index: int, state: ItemState) -> None:
        if 0 <= index < len(self._model.states):
            current = self.current_index()
            self._model.set_state(index, state)
            if current is not None:
                self.set_current(current)
            self._update_summary()

    def set_current(self, index: int | None) -> None:
        """Highlight item ``index`` (if it passes the filter); emits nothing (the view's
        ``clicked`` / ``activated`` come from the user only). The selection model's own
        signals are left on: they repaint the rows, and blocking them leaves the previous
        row painted as selected (two rows highlighted)."""
        row = None if index is None else self._model.row_of(index)
        if row is None:
            self._view.clearSelection()
            self._view.setCurrentIndex(QModelIndex())
        else:
            idx = self._model.index(row)
            self._view.setCurrentIndex(idx)
            self._view.scrollTo(idx)

    def set_order(self, order: list[int] | None, reasons: dict[int, str] | None = None) -> None:
        """Show the items in ``order`` (None: project order), ``reasons`` in the tooltips."""
        current = self.current_index()
        self._model.set_order(order, reasons)
        self.set_current(current)

    def reason(self, index: int) -> str:
        return self._model.reasons.get(index, "")

    def set_filter(self, state: ItemState | None) -> None:
        i = self._filter.findData(None if state is None else ItemState(state).value)
        self._filter.setCurrentIndex(max(i, 0))

    # -- queries ---------------------------------------------------------------
    def current_index(self) -> int | None:
        idx = self._view.currentIndex()
        return None if not idx.isValid() else int(self._model.data(idx, Qt.ItemDataRole.UserRole))

    def visible_indices(self) -> list[int]:
        return list(self._model.rows)

    def visible_names(self) -> list[str]:
        return [self._model.names[i] for i in self._model.rows]

    def state_filter(self) -> ItemState | None:
        return self._model.filter

    def summary(self) -> str:
        return self._summary.text()

    # -- internals ---------------------------------------------------------------
    def _filter_changed(self, _i: int) -> None:
        current = self.current_index()
        data = self._filter.currentData()
        state = None if data is None else ItemState(data)  # Qt hands the str value back
        self._model.set_filter(state)
        self.set_current(current)
        self._update_summary()
        self.filterChanged.emit(state)

    def _activated(self, idx: QModelIndex) -> None:
        if idx.isValid():
            self.itemActivated.emit(int(self._model.data(idx, Qt.ItemDataRole.UserRole)))

    def _update_summary(self) -> None:
        states = self._model.states
        counts = {s: sum(1 for x in states if x is s) for s in ItemState}
        shown = len(self._model.rows)
        parts = [f"{counts[s]} {STATE_TEXT[s]}" for s in ItemState if counts[s]]
        if self._model.problems:
            parts.append(f"{len(self._model.problems)} unreadable")
        self._summary.setText(f"{shown} of {len(states)} shown" + (f" \u2014 {', '.join(parts)}" if parts else ""))
        self._summary.setWordWrap(True)

