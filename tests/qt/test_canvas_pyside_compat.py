"""The app survives many ``void`` PySide6 calls (PySide6 6.12 + Python 3.11 None leak)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QPointF

import detector_app.qt  # noqa: F401 (applies the work-around)
from detector_app.qt import _pyside_compat


def test_many_void_calls_do_not_free_none():
    point = QPointF(0.0, 0.0)
    for _ in range(50_000):  # ~10x None's natural reference count: aborts without the fix
        point.setX(2.0)
    if _pyside_compat.none_refs_lost_per_call() > 0:
        assert _pyside_compat.apply() is True
        assert sys.getrefcount(None) > 1 << 50
