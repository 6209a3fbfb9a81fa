"""The Qt (PySide6) user interface: the only package that imports Qt or pyqtgraph."""

from detector_app.qt import _pyside_compat

# PySide6 6.12 on Python 3.11 under-counts references to None; fix it before any Qt use.
_pyside_compat.apply()
