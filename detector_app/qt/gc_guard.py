"""Python's cyclic garbage collector, run only on the GUI thread.

CPython runs the cyclic collector on whichever thread happens to allocate when
a generation's counter passes its threshold. In this application that is often
the inference worker (building a model, running the network) or the autosave
thread. If such a collection frees the last reference to a Qt wrapper (a
closed window, a dialog, a timer) its C++ object is destroyed off the thread
that owns it, which Qt does not allow: at best a warning, at worst a crash or a
deadlock between the GIL and a Qt/shiboken lock (the worker stuck in
``nn.Module.__init__``, the GUI thread waiting for the GIL).

``GuiThreadCollector`` switches automatic collection off and collects on a
``QTimer`` in the GUI thread instead, generation by generation with the
interpreter's own thresholds (the scheme pyqtgraph's ``GarbageCollector`` uses).
Reference counting, which frees almost everything, is unaffected.

A full (generation 2) collection walks every tracked object: about 390,000 once
torch, PySide6 and the model are loaded, 0.2-0.3 s of GUI thread on a 2-core
CPU. ``freeze()`` (called once the first model is ready) collects one last time
and moves all of them to the permanent generation (``gc.freeze``), after which
a full collection only walks what the session made since: well under 1 ms.
"""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject, QTimer


class GuiThreadCollector(QObject):
    """Disable automatic ``gc`` and collect from a GUI-thread timer.

    ``start()`` must be called on the GUI thread (the timer's thread); ``stop()``
    restores the collector's previous enabled state. ``check()`` is what the
    timer runs: it collects the oldest generation whose count passed its
    threshold (and with it the younger ones) and returns the number of
    unreachable objects found.
    """

    def __init__(self, interval_ms: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._was_enabled: bool | None = None
        self._thread_id: int | None = None
        self._frozen = False

    @property
    def active(self) -> bool:
        return self._was_enabled is not None

    def start(self) -> None:
        if self.active:
            return
        self._was_enabled = gc.isenabled()
        self._thread_id = threading.get_ident()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Stop the timer, collect once more (here, on the GUI thread) and
        re-enable automatic collection if it was enabled before ``start``."""
        if not self.active:
            return
        self._timer.stop()
        gc.collect()
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        if self._was_enabled:
            gc.enable()
        self._was_enabled = None

    def freeze(self, *_: object) -> None:
        """Collect, then exempt every object alive now from later collections
        (``gc.freeze``); once per start. Extra arguments are ignored, so a
        signal such as ``modelReady(info)`` can call it."""
        if not self.active or self._frozen:
            return
        gc.collect()
        gc.freeze()
        self._frozen = True

    def check(self) -> int:
        """One timer tick: collect the generations whose counts passed their thresholds."""
        if self._thread_id is not None and threading.get_ident() != self._thread_id:
            return 0  # never collect off the GUI thread, whoever calls this
        counts, thresholds = gc.get_count(), gc.get_threshold()
        over = [gen for gen in range(3) if counts[gen] > thresholds[gen]]
        return gc.collect(max(over)) if over else 0  # collecting gen n collects the younger ones too
