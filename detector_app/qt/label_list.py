"""``LabelList``: the project's classes with a search box; pick one by click,
Enter, or its number key (1-9).

Choosing a label emits ``labelChosen(name)``; the window relabels the selected
annotation with it (or uses it for the next box drawn). Typing a name that
does not exist and pressing Enter offers it as a new class
(``labelChosen`` with the new name; the session adds it to the label map).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from detector_app.qt.colors import class_color
from detector_app.qt.legend import swatch


class LabelList(QWidget):
    """Search box + numbered class list (see module doc)."""

    labelChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names: list[str] = []
        self._current: str | None = None
        self._search = QLineEdit()
        self._search.setPlaceholderText("Search or add a label\u2026")
        self._search.setClearButtonEnabled(True)
        self._list = QListWidget()
        self._list.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._hint = QLabel("1-9: label the selected box")
        self._hint.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self._search)
        layout.addWidget(self._list, 1)
        layout.addWidget(self._hint)
        self._search.textChanged.connect(self._apply_search)
        self._search.returnPressed.connect(self._search_entered)
        self._list.itemClicked.connect(lambda item: self._choose(item.data(Qt.ItemDataRole.UserRole)))
        self._list.itemActivated.connect(lambda item: self._choose(item.data(Qt.ItemDataRole.UserRole)))

    # -- owner API -------------------------------------------------------------
    def set_labels(self, names: list[str]) -> None:
        """Show ``names`` (background-free, in label-map order: colours by index)."""
        self._names = list(names)
        self._list.clear()
        for i, name in enumerate(self._names):
            key = f"{i + 1}  " if i < 9 else "    "
            item = QListWidgetItem(swatch(class_color(i + 1)), f"{key}{name}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self._list.addItem(item)
        self._apply_search(self._search.text())
        self.set_current(self._current)

    def set_current(self, name: str | None) -> None:
        """Highlight ``name`` (emits nothing)."""
        self._current = name
        self._list.blockSignals(True)
        self._list.clearSelection()
        for r in range(self._list.count()):
            item = self._list.item(r)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                item.setSelected(True)
                self._list.setCurrentItem(item)
        self._list.blockSignals(False)

    def choose_number(self, number: int) -> bool:
        """Number key ``number`` (1-9): choose that label; False when there is none."""
        if 1 <= number <= min(9, len(self._names)):
            self._choose(self._names[number - 1])
            return True
        return False

    def focus_search(self) -> None:
        self._search.setFocus()
        self._search.selectAll()

    # -- queries ---------------------------------------------------------------
    def labels(self) -> list[str]:
        return list(self._names)

    def visible_labels(self) -> list[str]:
        return [self._list.item(r).data(Qt.ItemDataRole.UserRole)
                for r in range(self._list.count()) if not self._list.item(r).isHidden()]

    def current(self) -> str | None:
        return self._current

    # -- internals ---------------------------------------------------------------
    def _apply_search(self, text: str) -> None:
        needle = text.strip().lower()
        for r in range(self._list.count()):
            item = self._list.item(r)
            name = str(item.data(Qt.ItemDataRole.UserRole))
            item.setHidden(bool(needle) and needle not in name.lower())

    def _search_entered(self) -> None:
        text = self._search.text().strip()
        if not text:
            return
        exact = [n for n in self._names if n.lower() == text.lower()]
        visible = self.visible_labels()
        name = exact[0] if exact else (visible[0] if visible else text)
        self._search.clear()
        self._choose(name)

    def _choose(self, name: str) -> None:
        self.set_current(name)
        self.labelChosen.emit(name)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        key = event.key()
        if (Qt.Key.Key_1 <= key <= Qt.Key.Key_9 and not self._search.hasFocus()
                and self.choose_number(int(key) - int(Qt.Key.Key_0))):
            event.accept()
            return
        super().keyPressEvent(event)
