"""Edit > Classes: renaming by typing in the table, deleting with the confirmation,
moving with the buttons; the label list and the shown detections follow; Ctrl+Z undoes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QMessageBox

from detector_app.domain.boxes import Box
from detector_app.qt.class_dialog import ClassDialog
from tests.helpers.qt import drive_modal


def _names(dialog: ClassDialog) -> list[str]:
    return [dialog.table.item(i, 1).text() for i in range(dialog.table.rowCount())]


def _double_click_name(qtbot, dialog: ClassDialog, row: int) -> None:  # type: ignore[no-untyped-def]
    rect = dialog.table.visualItemRect(dialog.table.item(row, 1))
    qtbot.mouseClick(dialog.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(dialog.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_rename_by_typing_follows_everywhere_and_undoes(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.actions_by_name["classes"].trigger()
    dialog = window.open_classes()
    assert isinstance(dialog, ClassDialog) and dialog.isVisible()
    assert _names(dialog) == ["cat", "dog"] and dialog.table.item(1, 3).text() == "yes"
    _double_click_name(qtbot, dialog, 1)
    assert dialog.table.state() == QAbstractItemView.State.EditingState
    editor = dialog.table.viewport().findChild(QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, "hound")
    # Tab commits the edit (Enter does too under a real X server; here the offscreen platform
    # never activates the dialog, so Enter reaches the main window's canvas shortcut)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: _names(dialog) == ["cat", "hound"], timeout=3000)
    assert dialog.table.item(1, 3).text() == "yes (the model says dog)"
    ss = window.session
    assert ss.labels.names == ["cat", "hound"] and "hound" in ss.trace.class_names
    assert window.panels.label_list._names == ["cat", "hound"]
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: _names(dialog) == ["cat", "dog"], timeout=3000)


def test_delete_asks_when_boxes_would_go_and_move_reorders(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    ss = window.session
    ss.choose_label("dog")
    ss.add_box(Box(10, 10, 60, 60))
    dialog = window.open_classes()
    assert dialog.table.item(1, 2).text() == "1"
    dialog.select("dog")
    asked: list[str] = []

    def answer_no(box: QMessageBox) -> None:
        asked.append(box.text())
        box.button(QMessageBox.StandardButton.No).click()

    drive_modal(qtbot, lambda: qtbot.mouseClick(dialog.buttons["delete"], Qt.MouseButton.LeftButton),
                QMessageBox, answer_no)
    assert "its 1 box(es)" in asked[0] and _names(dialog) == ["cat", "dog"]
    drive_modal(qtbot, lambda: qtbot.mouseClick(dialog.buttons["delete"], Qt.MouseButton.LeftButton),
                QMessageBox, lambda box: box.button(QMessageBox.StandardButton.Yes).click())
    assert ss.record.annotations == [] and dialog.table.item(1, 2).text() == "0"
    assert _names(dialog) == ["cat", "dog"]  # the model predicts dogs: the class stays, its boxes went
    assert "stays in the list: the model predicts it" in window.statusBar().currentMessage()
    ss.undo()
    assert [a.label for a in ss.record.annotations] == ["dog"] and _names(dialog) == ["cat", "dog"]
    dialog.select("dog")
    qtbot.mouseClick(dialog.buttons["up"], Qt.MouseButton.LeftButton)
    assert _names(dialog) == ["dog", "cat"] and ss.store.label_map.names == ["dog", "cat"]
    assert dialog.selected() == "dog"
    dialog.close()
    ss.choose_label("cat")  # the closed dialog no longer listens
