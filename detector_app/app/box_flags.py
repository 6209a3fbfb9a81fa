"""Hide and lock per box (the Boxes dock's two check boxes), as labelme and CVAT offer.

A hidden box is not drawn on the canvas (it stays in the project and in exports);
a locked box cannot be moved, resized, relabelled or deleted until unlocked, so a
checked box survives a slip of the mouse. Both are view states of this session,
by annotation id: they are not saved with the project (a reopened project shows
every box, unlocked).
"""

from __future__ import annotations

from collections.abc import Sequence

from detector_app.app.events import Event, EventBus
from detector_app.domain.annotations import Annotation


class BoxFlags:
    """``hidden`` / ``locked``: annotation ids."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.hidden: set[str] = set()
        self.locked: set[str] = set()

    def set_hidden(self, ident: str, hidden: bool) -> None:
        self._set(self.hidden, ident, hidden)

    def set_locked(self, ident: str, locked: bool) -> None:
        self._set(self.locked, ident, locked)

    def _set(self, flags: set[str], ident: str, on: bool) -> None:
        if (ident in flags) == on:
            return
        if on:
            flags.add(ident)
        else:
            flags.discard(ident)
        self._bus.notify(Event.ANNOTATIONS)

    def visible(self, annotations: Sequence[Annotation]) -> list[Annotation]:
        """The boxes the canvas draws."""
        return [a for a in annotations if a.id not in self.hidden]

    def refuses(self, ident: str | None, what: str) -> bool:
        """``True`` (and a status line) when ``ident`` is locked against ``what`` (a verb)."""
        if ident is None or ident not in self.locked:
            return False
        self._bus.status(f"the box is locked: unlock it in the Boxes dock to {what} it")
        return True

    def clear(self) -> None:
        """Another project: no flags carry over."""
        self.hidden.clear()
        self.locked.clear()


__all__ = ["BoxFlags"]
