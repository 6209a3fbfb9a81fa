"""Project-wide class edits as undo commands: rename, merge, delete, reorder.

Each command changes every box of a class across the project and the ordered
label list (which fixes exported class ids) in one undo step; the
:class:`~detector_app.app.undo.UndoStack` runs it inside ``store.atomic`` so an
autosave never keeps half of it. Renaming a class the model predicts records
an alias (``ProjectStore.aliases``): the model's suggestions of that class are
then accepted under the new name. Review states do not change: naming a class
is not a review of each image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from detector_app.app.undo import Command, Store
from detector_app.domain.annotations import Annotation
from detector_app.domain.errors import UserError
from detector_app.domain.labels import LabelMap
from detector_app.formats.classes_file import read_classes_file


class ClassEditError(UserError, ValueError):
    """A class edit that cannot be made (unknown class, same name, a bad new name)."""


@dataclass
class _ClassEdit(Command):
    """Remembers the label order and aliases before the edit, and restores them on undo."""

    _names: list[str] = field(default_factory=list, init=False, repr=False)
    _aliases: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _user_order: bool = field(default=False, init=False, repr=False)

    def _remember(self, store: Store) -> None:
        self._names, self._aliases = list(store.label_map.names), dict(store.aliases)
        self._user_order = store.user_order

    def _restore(self, store: Store) -> None:
        store.set_user_order(self._user_order)
        store.set_labels(self._names)
        store.set_aliases(self._aliases)


def _known(store: Store, name: str) -> None:
    if name not in store.label_map:
        raise ClassEditError(f"no class {name!r} in this project (classes: {', '.join(store.label_map.names)})")


@dataclass
class RenameClass(_ClassEdit):
    """Rename class ``old`` to ``new`` everywhere; when ``new`` is already a class,
    ``old``'s boxes join it (a merge) and ``old`` leaves the list. ``model_classes``
    (background first) says which names the model predicts: those get an alias."""

    old: str = ""
    new: str = ""
    model_classes: list[str] = field(default_factory=list)
    _changed: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self.new = LabelMap([self.new]).names[0]
        except (UserError, ValueError) as exc:
            raise ClassEditError(f"cannot rename {self.old!r}: {exc}") from None
        if self.new == self.old:
            raise ClassEditError(f"{self.old!r} already has that name")
        self.text = f"rename class {self.old} to {self.new}"

    def do(self, store: Store) -> None:
        _known(store, self.old)
        self._remember(store)
        merge = self.new in store.label_map
        self._changed = store.relabel(self.old, self.new)
        names = [n for n in self._names if n != self.old] if merge else \
            [self.new if n == self.old else n for n in self._names]
        store.set_labels(names)
        aliases = {k: (self.new if v == self.old else v) for k, v in self._aliases.items()}
        if self.old in self.model_classes and self.old not in aliases:
            aliases[self.old] = self.new
        store.set_aliases(aliases)

    def undo(self, store: Store) -> None:
        store.relabel(self.new, self.old, self._changed)
        self._restore(store)


@dataclass
class DeleteClass(_ClassEdit):
    """Delete class ``name`` and every box of it (undo brings them back in place)."""

    name: str = ""
    _removed: dict[str, list[tuple[int, Annotation]]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.text = f"delete class {self.name}"

    def do(self, store: Store) -> None:
        _known(store, self.name)
        self._remember(store)
        self._removed = store.remove_class_boxes(self.name)
        store.set_labels([n for n in self._names if n != self.name])
        store.set_aliases({k: v for k, v in self._aliases.items() if v != self.name})

    def undo(self, store: Store) -> None:
        for key, gone in self._removed.items():
            for index, ann in gone:  # ascending: each lands where it was
                store.add_annotation(key, ann, index)
        self._restore(store)


@dataclass
class ReorderClasses(_ClassEdit):
    """Put the classes in the order ``names`` (the exported ids follow it); classes
    missing from ``names`` keep their relative order after them, new names join."""

    names: list[str] = field(default_factory=list)
    text = "reorder classes"

    def __post_init__(self) -> None:
        try:
            self.names = LabelMap(list(self.names)).names
        except (UserError, ValueError) as exc:
            raise ClassEditError(f"cannot reorder the classes: {exc}") from None

    def do(self, store: Store) -> None:
        self._remember(store)
        store.set_user_order(True)  # a person's order: the model's no longer rearranges it
        store.set_labels([*self.names, *(n for n in self._names if n not in self.names)])

    def undo(self, store: Store) -> None:
        self._restore(store)


def classes_file_order(path: str | Path) -> ReorderClasses:
    """The command that orders the project's classes as the classes file ``path`` lists
    them (labelImg's predefined classes, YOLO's classes.txt, a data.yaml)."""
    return ReorderClasses(names=read_classes_file(path))


__all__ = ["ClassEditError", "DeleteClass", "RenameClass", "ReorderClasses", "classes_file_order"]
