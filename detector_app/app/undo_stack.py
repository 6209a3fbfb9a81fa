"""The undo stack: unlimited undo/redo of the commands in :mod:`detector_app.app.undo`,
consecutive moves of one box merged into one step, listeners told after each change."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from detector_app.app.project import Project
from detector_app.app.store import ProjectStore

if TYPE_CHECKING:
    from detector_app.app.undo import Command, Store


class UndoStack:
    """Unlimited undo/redo of :class:`Command` objects against one store."""

    def __init__(self, store: Store, listener: Callable[[UndoStack], None] | None = None) -> None:
        self.store = store
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._can_merge = False
        self._listeners: list[Callable[[UndoStack], None]] = []
        if listener is not None:
            self._listeners.append(listener)

    def subscribe(self, listener: Callable[[UndoStack], None]) -> None:
        """Call ``listener(stack)`` after every push, undo, redo or clear."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn(self)

    def push(self, command: Command) -> Command:
        """Do ``command`` and record it (merged into the previous step when it allows).

        If ``do`` raises (bad box, unknown id), nothing is recorded and the
        exception propagates. A command's store calls (its boxes, then the review
        state) are saved together (``store.atomic``): a crash or an autosave
        between them can never leave one without the other.
        """
        with self.store.atomic():
            command.do(self.store)
        if self._can_merge and self._done and self._done[-1].merge(command):
            command = self._done[-1]
        else:
            self._done.append(command)
        self._undone.clear()
        self._can_merge = True
        self._changed()
        return command

    def push_done(self, command: Command) -> Command:
        """Record ``command`` as the newest step without doing it (it was already
        done, e.g. by a job on another thread); never merged."""
        self._done.append(command)
        self._undone.clear()
        self._can_merge = False
        self._changed()
        return command

    def end_merge(self) -> None:
        """Close the current step: the next command never merges into it (call at drag end)."""
        self._can_merge = False

    def undo(self) -> Command | None:
        if not self._done:
            return None
        command = self._done.pop()
        with self.store.atomic():
            command.undo(self.store)
        self._undone.append(command)
        self._can_merge = False
        self._changed()
        return command

    def redo(self) -> Command | None:
        if not self._undone:
            return None
        command = self._undone.pop()
        with self.store.atomic():
            command.do(self.store)
        self._done.append(command)
        self._can_merge = False
        self._changed()
        return command

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._can_merge = False
        self._changed()

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    def __len__(self) -> int:
        return len(self._done)


def make_undo_stack(project: ProjectStore | Project, on_change: Callable[[UndoStack], None] | None = None) -> UndoStack:
    """An :class:`UndoStack` over ``project`` (a :class:`Project` or a ``ProjectStore``)."""
    return UndoStack(project.store if isinstance(project, Project) else project, on_change)


__all__ = ["UndoStack", "make_undo_stack"]
