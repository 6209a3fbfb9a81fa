"""Undo/redo of every annotation edit, as plain command objects (no Qt).

Each command has ``do(store)`` / ``undo(store)`` against a
:class:`detector_app.app.store.ProjectStore` and a ``text`` for menus.
:class:`UndoStack` keeps unlimited history, merges consecutive
:class:`MoveResize` of the same box into one step (a drag is one undo), and
calls its listeners after every change so a GUI can refresh its actions.

Editing commands move an item that is ``not-seen`` or ``detected`` to
``edited`` (undo restores the old state); ``verified`` stays verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from detector_app.app.store import ProjectStore
from detector_app.app.undo_stack import UndoStack, make_undo_stack  # (importable from here, with the commands)
from detector_app.domain.annotations import Annotation, AnnotationSource, ItemState
from detector_app.domain.boxes import Box

#: The store the commands edit.
Store = ProjectStore


class Command:
    """One undoable edit."""

    text = "edit"

    def do(self, store: Store) -> None:
        raise NotImplementedError

    def undo(self, store: Store) -> None:
        raise NotImplementedError

    def merge(self, other: Command) -> bool:
        """Absorb ``other`` (done right after this one); ``True`` if merged."""
        return False

    def record_key(self) -> str | None:
        """The record this command changes (None: several, or none)."""
        return None


@dataclass
class _Edit(Command):
    """Base of commands that edit one record's annotations."""

    key: str
    _old_state: ItemState | None = field(default=None, init=False, repr=False)

    def record_key(self) -> str | None:
        return self.key

    def _mark_edited(self, store: Store) -> None:
        rec = store.record(self.key)
        self._old_state = rec.state
        if rec.state in (ItemState.NOT_SEEN, ItemState.DETECTED):
            store.set_state(self.key, ItemState.EDITED)

    def _restore_state(self, store: Store) -> None:
        if self._old_state is not None:
            store.set_state(self.key, self._old_state)


@dataclass
class AddAnnotation(_Edit):
    """Add a (hand-drawn) annotation; ``index`` is its position (default last)."""

    annotation: Annotation | None = None
    index: int | None = None
    text = "add box"

    def do(self, store: Store) -> None:
        assert self.annotation is not None
        self.annotation = store.add_annotation(self.key, self.annotation, self.index)
        self._mark_edited(store)

    def undo(self, store: Store) -> None:
        assert self.annotation is not None
        store.remove_annotation(self.key, self.annotation.id)
        self._restore_state(store)


@dataclass
class DeleteAnnotation(_Edit):
    """Delete the annotation ``annotation_id``."""

    annotation_id: str = ""
    _removed: tuple[int, Annotation] | None = field(default=None, init=False, repr=False)
    text = "delete box"

    def do(self, store: Store) -> None:
        self._removed = store.remove_annotation(self.key, self.annotation_id)
        self._mark_edited(store)

    def undo(self, store: Store) -> None:
        assert self._removed is not None
        index, ann = self._removed
        store.add_annotation(self.key, ann, index)
        self._restore_state(store)


@dataclass
class MoveResize(_Edit):
    """Give annotation ``annotation_id`` a new box (an accepted model box becomes
    ``model-corrected``). Consecutive moves of the same box with the same
    ``drag_id`` merge into one step."""

    annotation_id: str = ""
    box: Box | None = None
    drag_id: object = None
    _old: Annotation | None = field(default=None, init=False, repr=False)
    text = "move box"

    def do(self, store: Store) -> None:
        assert self.box is not None
        rec = store.record(self.key)
        current = rec.annotations[rec.find(self.annotation_id)]
        old = store.replace_annotation(self.key, current.with_box(self.box))
        if self._old is None:  # a merged or redone move keeps the box before the drag
            self._old = old
        self._mark_edited(store)

    def undo(self, store: Store) -> None:
        assert self._old is not None
        store.replace_annotation(self.key, self._old)
        self._restore_state(store)

    def merge(self, other: Command) -> bool:
        if (isinstance(other, MoveResize) and other.key == self.key
                and other.annotation_id == self.annotation_id and other.drag_id == self.drag_id):
            self.box = other.box
            return True
        return False


@dataclass
class Relabel(_Edit):
    """Change the label of annotation ``annotation_id``."""

    annotation_id: str = ""
    label: str = ""
    _old: Annotation | None = field(default=None, init=False, repr=False)
    text = "change label"

    def do(self, store: Store) -> None:
        rec = store.record(self.key)
        current = rec.annotations[rec.find(self.annotation_id)]
        self._old = store.replace_annotation(self.key, current.with_label(self.label))
        self._mark_edited(store)

    def undo(self, store: Store) -> None:
        assert self._old is not None
        store.replace_annotation(self.key, self._old)
        self._restore_state(store)


def detection_annotation(box: Box, label: str, score: float | None) -> Annotation:
    """A model detection as an accepted annotation (source ``model``)."""
    return Annotation(box, label, AnnotationSource.MODEL,
                      None if score is None else min(1.0, max(0.0, float(score))))


@dataclass
class AcceptDetection(AddAnnotation):
    """Turn one model detection (box, label, score) into an annotation (source ``model``)."""

    box: Box | None = None
    label: str = ""
    score: float | None = None
    annotation: Annotation | None = field(default=None, init=False)
    text = "accept detection"

    def do(self, store: Store) -> None:
        assert self.box is not None
        if self.annotation is None:
            self.annotation = detection_annotation(self.box, self.label, self.score)
        super().do(store)  # undo is AddAnnotation's: remove it, restore the image's state


@dataclass
class AcceptAll(_Edit):
    """Accept many detections at once: ``detections`` is a list of
    ``(box, label, score)``; one undo step removes them all."""

    detections: list[tuple[Box, str, float | None]] = field(default_factory=list)
    _old: list[Annotation] | None = field(default=None, init=False, repr=False)
    added: list[Annotation] = field(default_factory=list, init=False)
    text = "accept all detections"

    def do(self, store: Store) -> None:
        if not self.added:
            self.added = [detection_annotation(b, lbl, s) for b, lbl, s in self.detections]
        rec = store.record(self.key)
        self._old = store.set_annotations(self.key, [*rec.annotations, *self.added])
        self._mark_edited(store)

    def undo(self, store: Store) -> None:
        assert self._old is not None
        store.set_annotations(self.key, self._old)
        self._restore_state(store)


@dataclass
class CopyAnnotations(_Edit):
    """Add copies (new ids, same label / box / source) of annotations to one record."""

    copies: list[Annotation] = field(default_factory=list)
    _old: list[Annotation] | None = field(default=None, init=False, repr=False)
    text = "copy boxes"

    def do(self, store: Store) -> None:
        rec = store.record(self.key)
        self._old = store.set_annotations(self.key, [*rec.annotations, *self.copies])
        self._mark_edited(store)

    def undo(self, store: Store) -> None:
        assert self._old is not None
        store.set_annotations(self.key, self._old)
        self._restore_state(store)


@dataclass
class SetState(Command):
    """Set an item's review state (e.g. mark it verified)."""

    key: str
    state: ItemState = ItemState.VERIFIED
    _old: ItemState | None = field(default=None, init=False, repr=False)

    @property
    def text(self) -> str:  # type: ignore[override]
        return "mark verified" if self.state is ItemState.VERIFIED else "take back verified"

    def record_key(self) -> str | None:
        return self.key

    def do(self, store: Store) -> None:
        self._old = store.set_state(self.key, self.state)

    def undo(self, store: Store) -> None:
        assert self._old is not None
        store.set_state(self.key, self._old)


#: One record's annotations and review state, as :class:`ImportBatch` keeps them.
RecordState = tuple[list[Annotation], ItemState]


@dataclass
class ImportBatch(Command):
    """A store-wide change made outside the stack (a dataset import) as one step:
    ``before`` / ``after`` hold the annotations and state of every record it changed."""

    before: dict[str, RecordState] = field(default_factory=dict)
    after: dict[str, RecordState] = field(default_factory=dict)
    text = "import annotations"

    def do(self, store: Store) -> None:
        self._apply(store, self.after)

    def undo(self, store: Store) -> None:
        self._apply(store, self.before)

    @staticmethod
    def _apply(store: Store, states: dict[str, RecordState]) -> None:
        with store.atomic():  # on the GUI thread (undo / redo): saved together, no wait for the disk
            for key, (annotations, state) in states.items():
                store.set_annotations(key, list(annotations))
                store.set_state(key, state)


def record_states(store: Store) -> dict[str, RecordState]:
    """Every existing record's annotations (a copy of the list) and state, by key."""
    return {r.key: (list(r.annotations), r.state) for r in store.records()}


def import_batch(before: dict[str, RecordState], store: Store) -> ImportBatch | None:
    """The :class:`ImportBatch` of what changed in ``store`` since ``before``
    (:func:`record_states`); ``None`` when nothing did."""
    after = record_states(store)
    changed = [k for k, v in after.items() if before.get(k, ([], ItemState.NOT_SEEN)) != v]
    if not changed:
        return None
    return ImportBatch({k: before.get(k, ([], ItemState.NOT_SEEN)) for k in changed},
                       {k: after[k] for k in changed})


__all__ = [
    "AcceptAll", "AcceptDetection", "AddAnnotation", "Command", "CopyAnnotations", "DeleteAnnotation", "ImportBatch",
    "MoveResize", "Relabel", "SetState", "UndoStack", "detection_annotation", "import_batch", "make_undo_stack",
    "record_states",
]
