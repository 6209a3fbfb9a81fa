"""The overlay toggles (the canvas's layers) and the anchor labels the ``anchor_labels``
overlay draws: how RPN training would label each anchor against the boxes of the item.

The labels are computed in numpy (``domain.anchor_targets``, identical to the torch
version): they follow every edit on the GUI thread, where torch would compete with the
inference worker for its thread pool.
"""

from __future__ import annotations

import numpy as np

from detector_app.app.events import Event, EventBus
from detector_app.domain.anchor_targets import trace_anchor_labels
from detector_app.domain.annotations import ImageRecord
from detector_app.domain.trace import DetectionTrace

#: Overlay layers (the canvas's layer names) and whether they start visible.
OVERLAYS: dict[str, bool] = {
    "detections": True, "annotations": True, "proposals": False,
    "anchors": False, "grid": False, "anchor_labels": False,
}


class Overlays:
    """Which overlays are visible, and ``anchor_labels`` (``int8[A]`` of the trace shown,
    None while that overlay is off or there is nothing to label)."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.visible: dict[str, bool] = dict(OVERLAYS)
        self.anchor_labels: np.ndarray | None = None
        self._noted_key: str | None = None  # the image the "no boxes: all negative" note was shown for

    def set(self, name: str, visible: bool) -> bool:
        """Show or hide overlay ``name``; returns whether that changed anything (``OVERLAYS``)."""
        if name not in self.visible:
            raise KeyError(f"unknown overlay {name!r}; known: {', '.join(self.visible)}")
        if self.visible[name] == bool(visible):
            return False
        self.visible[name] = bool(visible)
        self._bus.notify(Event.OVERLAYS)
        return True

    def update_anchor_labels(self, trace: DetectionTrace | None, record: ImageRecord | None) -> None:
        """Label the anchors of ``trace`` against ``record``'s boxes while the overlay is on
        (``ANCHOR_LABELS`` when the labels change or go)."""
        labels = None
        if self.visible["anchor_labels"] and trace is not None and record is not None:
            labels = trace_anchor_labels(trace, record.annotations)
            if not record.annotations and self._noted_key != record.key:  # once per image
                self._noted_key = record.key
                self._bus.status("anchor labels: this image has no boxes of yours, so every anchor is negative "
                                 "(red); draw or accept boxes to see which anchors training would make positive")
        if labels is not None or self.anchor_labels is not None:
            self.anchor_labels = labels
            self._bus.notify(Event.ANCHOR_LABELS)

    def clear(self) -> None:
        """The project closed: no labels (no event: nothing is shown any more)."""
        self.anchor_labels = None
