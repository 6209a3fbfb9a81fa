"""Class management of the open project: rename, merge, delete, reorder, classes files.

The session part behind the window's Classes dialog. Each change is one undo step
(``app.class_edits``) on the project's undo stack, so Ctrl+Z takes back a rename
or a deletion with every box it touched; the store's ``labels`` event then
refreshes the label list, the shown detections' names and the views.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from detector_app.app.class_edits import DeleteClass, RenameClass, ReorderClasses, classes_file_order
from detector_app.app.events import EventBus
from detector_app.app.label_choice import LabelChoice
from detector_app.app.navigation import Navigator
from detector_app.app.ranking import class_counts
from detector_app.app.undo import Command
from detector_app.domain.errors import UserError
from detector_app.formats.classes_file import write_classes_file


@dataclass(frozen=True)
class ClassRow:
    """One class as the dialog lists it: its boxes in the project, whether the model
    predicts it, and the model's own name when the project renamed it."""

    name: str
    boxes: int
    model_class: bool
    model_name: str | None = None


class ClassManager:
    """Class edits on the project :class:`Navigator` has open (none: every call is a no-op)."""

    def __init__(self, bus: EventBus, nav: Navigator, labels: LabelChoice) -> None:
        self._bus, self._nav, self._labels = bus, nav, labels

    def rows(self) -> list[ClassRow]:
        """The project's classes in id order (the label list's order)."""
        store = self._nav.store
        if store is None:
            return []
        counts = class_counts(store.records())
        model_name = self._labels.model_names(store)
        rows = []
        for name in self._labels.labels.names:
            own = model_name.get(name)
            rows.append(ClassRow(name, counts.get(name, 0), own is not None, own if own != name else None))
        return rows

    def rename(self, old: str, new: str) -> bool:
        """Rename ``old`` to ``new``; into an existing class it is a merge."""
        return self._run(lambda: RenameClass(old=old, new=new, model_classes=list(self._labels.model_classes)),
                         f"class {old} renamed to {new}")

    def delete(self, name: str) -> bool:
        """Delete class ``name`` and all its boxes (one undo step). A class the model
        predicts stays in the list (its suggestions keep coming); only its boxes go."""
        store = self._nav.store
        predicted = name in self._labels.model_names(store)
        done = (f"the boxes of {name} deleted; {name} stays in the list: the model predicts it" if predicted
                else f"class {name} deleted with its boxes")
        return self._run(lambda: DeleteClass(name=name), done)

    def reorder(self, names: list[str]) -> bool:
        """The classes in this order: the exported class ids follow it."""
        return self._run(lambda: ReorderClasses(names=list(names)), "classes reordered")

    def move(self, name: str, step: int) -> bool:
        """Move class ``name`` up (``step`` < 0) or down the list."""
        names = list(self._labels.labels.names)
        if name not in names:
            return False
        i = names.index(name)
        j = max(0, min(len(names) - 1, i + step))
        if i == j:
            return False
        names.insert(j, names.pop(i))
        return self.reorder(names)

    def load_file(self, path: str | Path) -> bool:
        """Order (and add) the classes as a classes file lists them."""
        return self._run(lambda: classes_file_order(path), f"classes ordered as {Path(path).name}")

    def save_file(self, path: str | Path) -> bool:
        """Write the class list, one name per line (YOLO's classes.txt, labelImg's predefined classes)."""
        try:
            write_classes_file(path, list(self._labels.labels.names))
        except (UserError, OSError) as exc:
            self._bus.error(f"{path}: cannot write ({getattr(exc, 'strerror', None) or exc})")
            return False
        self._bus.status(f"wrote {len(self._labels.labels)} class names to {path}")
        return True

    def _run(self, make: Callable[[], Command], done: str) -> bool:
        opened = self._nav.opened
        if opened is None:
            return False
        try:
            opened.undo_stack.push(make())
        except (UserError, ValueError) as exc:
            self._bus.error(str(exc))
            return False
        self._bus.status(done)
        return True


__all__ = ["ClassManager", "ClassRow"]
