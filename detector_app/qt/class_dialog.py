"""The Classes dialog (Edit > Classes...): the project's classes with their ids, colours
and box counts; rename (double-click a name, or Rename), merge (rename into an existing
class), delete with the class's boxes, move up / down (the exported ids follow the
order), load / save a classes file. Every change is one undo step of the project
(``Session.classes``); the dialog is non-modal and follows the project's labels."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detector_app.app.class_manager import ClassRow
from detector_app.app.session import Event, Session
from detector_app.qt.colors import class_color
from detector_app.qt.legend import swatch

COLUMNS = ("id", "class", "boxes", "model")
CLASSES_FILTER = "Class lists (*.txt *.names *.yaml *.yml);;All files (*)"


class ClassDialog(QDialog):
    """See the module docstring. ``table`` rows follow ``session.classes.rows()``."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Classes")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.session = session
        self._rows: list[ClassRow] = []
        self._filling = False
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.itemChanged.connect(self._renamed)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        buttons = (("rename", "Rename\u2026", self._start_rename), ("delete", "Delete\u2026", self._delete),
                   ("up", "\u25b2 Up", lambda: self._move(-1)), ("down", "\u25bc Down", lambda: self._move(1)),
                   ("load", "Load classes file\u2026", self._load), ("save", "Save classes file\u2026", self._save))
        for name, text, slot in buttons:
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, f=slot: f())
            row.addWidget(button)
            self.buttons[name] = button
        note = QLabel("The order is the exported class ids' (COCO 1, 2, ...; YOLO 0, 1, ...). Renaming into an "
                      "existing class merges the two. Ctrl+Z in the main window undoes any change.")
        note.setWordWrap(True)
        note.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(note)
        self.resize(620, 420)
        for event in (Event.LABELS, Event.ANNOTATIONS):
            session.subscribe(event, self.refresh)
        self.finished.connect(self._detach)
        self.refresh()

    def _detach(self) -> None:
        for event in (Event.LABELS, Event.ANNOTATIONS):
            self.session.unsubscribe(event, self.refresh)

    # -- the table -------------------------------------------------------------------
    def refresh(self) -> None:
        """Rows from the session (keeps the selected class selected)."""
        selected = self.selected()
        self._rows = self.session.classes.rows()
        self._filling = True
        try:
            self.table.setRowCount(len(self._rows))
            for i, r in enumerate(self._rows):
                ident = QTableWidgetItem(str(i + 1))
                ident.setIcon(swatch(class_color(i + 1)))
                name = QTableWidgetItem(r.name)
                model = ("yes" if r.model_name is None else f"yes (the model says {r.model_name})") \
                    if r.model_class else ""
                cells = (ident, name, QTableWidgetItem(str(r.boxes)), QTableWidgetItem(model))
                for col, item in enumerate(cells):
                    if col != 1:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.table.setItem(i, col, item)
            self.table.resizeColumnsToContents()
        finally:
            self._filling = False
        if selected is not None:
            self.select(selected)

    def selected(self) -> str | None:
        row = self.table.currentRow()
        return self._rows[row].name if 0 <= row < len(self._rows) else None

    def select(self, name: str) -> None:
        for i, r in enumerate(self._rows):
            if r.name == name:
                self.table.selectRow(i)
                self.table.setCurrentCell(i, 1)

    # -- actions ---------------------------------------------------------------------
    def _renamed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 1 or not 0 <= item.row() < len(self._rows):
            return
        old, new = self._rows[item.row()].name, item.text().strip()
        if new != old and not self.session.classes.rename(old, new):
            self.refresh()  # refused (the session said why): the old name is back

    def _start_rename(self) -> None:
        item = self.table.item(self.table.currentRow(), 1)
        if item is not None:
            self.table.editItem(item)

    def _delete(self) -> None:
        name = self.selected()
        if name is None:
            return
        boxes = next(r.boxes for r in self._rows if r.name == name)
        if boxes:
            answer = QMessageBox.question(self, "Delete class",
                                          f"Delete class \u201c{name}\u201d and its {boxes} box(es) in this project? "
                                          "(Ctrl+Z in the main window brings them back.)")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.session.classes.delete(name)

    def _move(self, step: int) -> None:
        name = self.selected()
        if name is not None and self.session.classes.move(name, step):
            self.select(name)

    def _load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a classes file", "", CLASSES_FILTER)
        if path:
            self.session.classes.load_file(path)

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the classes", "classes.txt", CLASSES_FILTER)
        if path:
            self.session.classes.save_file(path)


__all__ = ["ClassDialog"]
