"""Driving Qt from tests (imports PySide6: for the Qt tests only)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog


def drive_modal(qtbot, trigger: Callable[[], None], kind: type, steps: Callable[[QDialog], None]) -> list:
    """Run ``trigger`` (which opens a modal ``kind`` dialog with ``exec``) and, from
    inside the dialog's event loop, ``steps(dialog)``; returns what was seen."""
    seen: list = []

    def inside() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, kind):  # not open yet
            QTimer.singleShot(20, inside)
            return
        seen.append(dialog)
        try:
            steps(dialog)
        except BaseException as exc:  # noqa: BLE001 - reported after exec returns
            seen.append(exc)
        finally:
            if dialog.isVisible() and not dialog.running():
                dialog.done(0)

    QTimer.singleShot(0, inside)
    trigger()
    for item in seen:
        if isinstance(item, BaseException):
            raise item
    assert seen, f"no {kind.__name__} was shown"
    return seen
