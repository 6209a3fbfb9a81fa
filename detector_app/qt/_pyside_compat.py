"""Work around a PySide6 reference-count bug on CPython < 3.12.

PySide6 6.12's wheels (``abi3``) return ``None`` from every ``void`` C++ method
without taking a reference to it. On Python >= 3.12 ``None`` is immortal and
nothing happens; on 3.11 each call (``painter.setPen``, ``item.update`` ...)
drops ``None``'s reference count by one, and after a few thousand calls the
interpreter aborts with "Fatal Python error: none_dealloc: deallocating None".

:func:`apply` measures whether this interpreter + PySide6 leak, and if so gives
``None`` a reference count so large (2**56) that no session can use it up,
which is what CPython 3.12 does by design. It is a no-op everywhere else.
"""

from __future__ import annotations

import ctypes
import sys

_APPLIED = False


def none_refs_lost_per_call(calls: int = 64) -> float:
    """How many references to ``None`` one ``void`` PySide6 call drops (0 if fine)."""
    from PySide6.QtCore import QPointF

    point = QPointF(0.0, 0.0)
    before = sys.getrefcount(None)
    for _ in range(calls):
        point.setX(1.0)
    return (before - sys.getrefcount(None)) / calls


def apply() -> bool:
    """Protect ``None`` if PySide6 leaks it here; returns whether it did."""
    global _APPLIED
    if _APPLIED or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return _APPLIED
    if none_refs_lost_per_call() > 0.5:
        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 56
        _APPLIED = True
    return _APPLIED
