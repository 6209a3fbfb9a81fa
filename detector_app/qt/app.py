"""QApplication set-up: HiDPI, names, a dark palette that makes overlays readable,
and ``run_gui`` (what ``detector-app gui`` calls)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from detector_app.qt.main_window import MainWindow

APP_NAME = "Faster R-CNN Studio"


def dark_palette() -> QPalette:
    """A neutral dark palette (images and coloured boxes read better on it)."""
    p = QPalette()
    base, window, text = QColor(35, 35, 38), QColor(48, 48, 52), QColor(225, 225, 225)
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, window)
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor(60, 60, 64))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, window)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor(255, 80, 80))
    p.setColor(QPalette.ColorRole.Highlight, QColor(60, 120, 200))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(140, 140, 140))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return p


def make_application(argv: Sequence[str] | None = None) -> QApplication:
    """The process's ``QApplication`` (reused if one exists), HiDPI-aware."""
    app = QApplication.instance()
    if app is not None:
        return app  # type: ignore[return-value]
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    QCoreApplication.setOrganizationName("detector_app")
    QCoreApplication.setApplicationName(APP_NAME)
    app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    return app


def run_gui(paths: Sequence[str], model: str | None = None, device: str | None = None) -> int:
    """Open the main window on ``paths`` (or the bundled samples) and run the event loop."""
    from detector_app.qt import bench_hook
    from detector_app.qt.gc_guard import GuiThreadCollector
    from detector_app.qt.main_window import MainWindow

    app = make_application()
    collector = GuiThreadCollector(parent=app)  # cyclic gc on this thread only (see gc_guard)
    collector.start()
    window = MainWindow(model=model, device=device)
    window.worker.modelReady.connect(collector.freeze)  # torch and the model loaded: freeze what exists
    install_excepthook(window)
    window.show()
    bench_hook.install_from_env(app, window)  # benchmarks/bench_gui.py times the start-up
    window.open_initial(list(paths))
    try:
        return int(app.exec())
    finally:
        collector.stop()


def install_excepthook(window: MainWindow) -> None:
    """Exceptions escaping a Qt slot (bugs) go to the status bar and the log with
    their traceback (and stderr) instead of passing unseen."""
    import traceback

    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        details = "".join(traceback.format_exception(kind, exc, tb))
        sys.stderr.write(details)
        try:
            window.report_error(f"internal error: {kind.__name__}: {exc}", details)
        except Exception:  # noqa: BLE001 - the window may be gone
            previous(kind, exc, tb)

    sys.excepthook = hook
