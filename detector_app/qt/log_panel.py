"""``LogPanel``: a read-only, timestamped log of what happened (model loads,
detections, saves, errors with their details)."""

from __future__ import annotations

import html
import time

from PySide6.QtWidgets import QPlainTextEdit, QWidget

_COLORS = {"info": "#bbbbbb", "warning": "#e0b030", "error": "#ff6060"}


class LogPanel(QPlainTextEdit):
    """Append-only log; the newest line is kept in view."""

    def __init__(self, parent: QWidget | None = None, max_lines: int = 2000) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(max_lines)
        self.setPlaceholderText("Log: model loads, detections, saves and errors appear here.")
        self.entries: list[tuple[str, str]] = []  # (level, message), for tests and copying

    def log(self, message: str, level: str = "info", details: str = "") -> None:
        """Add a line (``level`` info / warning / error) and optional detail text."""
        if level not in _COLORS:
            level = "info"
        self.entries.append((level, message))
        del self.entries[: max(0, len(self.entries) - 2000)]
        stamp = time.strftime("%H:%M:%S")
        color = _COLORS[level]
        text = html.escape(message)
        self.appendHtml(f'<span style="color:#808080">{stamp}</span> <span style="color:{color}">{text}</span>')
        if details:
            body = "<br>".join(html.escape(line) for line in details.rstrip().splitlines())
            self.appendHtml(f'<span style="color:#909090; font-family:monospace">{body}</span>')
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def errors(self) -> list[str]:
        return [m for lv, m in self.entries if lv == "error"]
