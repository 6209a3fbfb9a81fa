"""Editing half of the GUI :class:`~detector_app.app.session.Session` (no Qt):
selection, labels, and every edit as a data-layer undo command.

Each edit is pushed on the session's :class:`UndoStack` (one canvas drag is
one step) and reaches the disk through the project store's autosave. A video
frame's record joins the store on its first edit. Accepting detections
skips boxes already annotated (same label, IoU >= ``DUPLICATE_IOU``) and
refuses the boxes of another frame (shown while a video plays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector_app.app.scan import display_key
from detector_app.app.store import split_key
from detector_app.app.undo import (
    AcceptAll,
    AcceptDetection,
    AddAnnotation,
    Command,
    DeleteAnnotation,
    MoveResize,
    Relabel,
    SetState,
)
from detector_app.domain.annotations import Annotation, ImageRecord, ItemState
from detector_app.domain.boxes import Box, BoxError, box_iou
from detector_app.domain.errors import UserError

#: A detection overlapping an annotation of its label this much is already accepted.
DUPLICATE_IOU = 0.7


def duplicates(boxes: np.ndarray, labels: Sequence[str], others: Sequence[tuple[Box, str]]) -> np.ndarray:
    """``bool[N]``: which of ``boxes`` (``float[N, 4]``, with their ``labels``) already
    have one of ``others`` of the same label at IoU >= :data:`DUPLICATE_IOU`: what
    accepting a detection skips, and what the canvas draws as the annotation alone."""
    out = np.zeros(len(labels), bool)
    if not others or not len(labels):
        return out
    iou = box_iou(np.asarray(boxes, np.float32).reshape(-1, 4), np.array([b.to_tuple() for b, _ in others], np.float32))
    same = np.array(list(labels))[:, None] == np.array([lbl for _, lbl in others])[None, :]
    return ((iou >= DUPLICATE_IOU) & same).any(axis=1)


@dataclass
class CopyAnnotations(Command):
    """Add copies (new ids, same label / box / source) of annotations to one record."""

    key: str
    copies: list[Annotation] = field(default_factory=list)
    _old: list[Annotation] | None = field(default=None, init=False, repr=False)
    _old_state: ItemState | None = field(default=None, init=False, repr=False)
    text = "copy boxes"

    def do(self, store: Any) -> None:
        rec = store.record(self.key)
        self._old_state = rec.state
        self._old = store.set_annotations(self.key, [*rec.annotations, *self.copies])
        if rec.state in (ItemState.NOT_SEEN, ItemState.DETECTED):
            store.set_state(self.key, ItemState.EDITED)

    def undo(self, store: Any) -> None:
        store.set_annotations(self.key, list(self._old or []))
        store.set_state(self.key, self._old_state or ItemState.NOT_SEEN)


class EditingMixin:
    """Selection, labels and undoable edits of the current record (see the module doc)."""

    # state kept by Session (declared here for readers and type checkers)
    store: Any
    undo_stack: Any
    record: ImageRecord | None
    result: Any
    trace: Any
    trace_key: str | None
    index: int | None
    frame: int | None
    video: Any
    items: list[str]
    labels: Any
    current_label: str | None
    selected_annotation: str | None
    selected_detection: int | None
    _index_of: dict[str, int]

    def emit(self, event: str, *args: Any) -> None: ...
    def _status(self, message: str) -> None: ...
    def _error(self, message: str) -> None: ...
    def go_to(self, index: int, frame: int | None = None, group: str | None = None) -> None: ...
    def go_frame(self, frame: int, playing: bool = False) -> None: ...
    def step(self, delta: int) -> None: ...
    def _update_anchor_labels(self) -> None: ...

    # -- selection and labels -------------------------------------------------------
    def select_annotation(self, ident: str | None) -> None:
        """Select an annotation (the label list follows its label)."""
        self.selected_annotation = ident
        ann = self._annotation(ident)
        if ann is not None:
            self.selected_detection = None
            if ann.label != self.current_label:
                self.current_label = ann.label
                self.emit("labels")
        self.emit("selection")

    def select_detection(self, index: int | None) -> None:
        self.selected_detection = index
        if index is not None:
            self.selected_annotation = None
        self.emit("selection")

    def choose_label(self, name: str) -> None:
        """Use ``name`` for new boxes and relabel the selected annotation
        (a new name joins the project's labels)."""
        name = name.strip()
        if not name or self.store is None:
            return
        if name not in self.labels:
            try:
                self.store.add_label(name)  # emits "labels" via the store event
            except UserError as exc:  # e.g. a pasted name with a line break (LabelError)
                self._error(str(exc))
                return
        self.current_label = name
        self.emit("labels")
        ann = self._annotation(self.selected_annotation)
        if ann is not None and ann.label != name:
            self._push(Relabel(self.record.key, annotation_id=ann.id, label=name))

    def choose_label_number(self, number: int) -> bool:
        """Number key 1-9: the label at that position."""
        if 1 <= number <= min(9, len(self.labels)):
            self.choose_label(self.labels.names[number - 1])
            return True
        return False

    def _annotation(self, ident: str | None) -> Annotation | None:
        if ident is None or self.record is None:
            return None
        return next((a for a in self.record.annotations if a.id == ident), None)

    # -- edits (undo commands; the store autosaves) -------------------------------------
    def _push(self, command: Command) -> Command | None:
        """Push on the undo stack; a frame's record joins the store first."""
        if self.store is None or self.undo_stack is None or self.record is None:
            return None
        key = self.record.key
        if not self.store.has(key):
            self.store.set_size(key, self.record.width or 1, self.record.height or 1)
            self.record = self.store.record(key)
        try:
            done = self.undo_stack.push(command)
        except (UserError, KeyError) as exc:
            self._error(f"{key}: {exc}")
            return None
        self.undo_stack.end_merge()  # one canvas drag = one step, never merged with the next
        return done

    def _clip(self, box: Box) -> Box | None:
        try:
            return self.record.validated_box(box)  # type: ignore[union-attr]
        except BoxError as exc:
            self._error(str(exc))
            return None

    def add_box(self, box: Box) -> str | None:
        """A new manual annotation with the current label; returns its id."""
        if self.record is None:
            return None
        if not self.current_label:
            self._error("pick a label first: type a class name in the label list and press Enter")
            return None
        box = self._clip(box)
        if box is None:
            return None
        done = self._push(AddAnnotation(self.record.key, annotation=Annotation(box, self.current_label)))
        if done is None:
            return None
        self.select_annotation(done.annotation.id)  # type: ignore[attr-defined]
        return done.annotation.id  # type: ignore[attr-defined]

    def move_box(self, ident: str, box: Box) -> None:
        """Moved or resized on the canvas (one call at the end of a drag)."""
        ann = self._annotation(ident)
        box = None if ann is None else self._clip(box)
        if ann is not None and box is not None and box != ann.box:
            self._push(MoveResize(self.record.key, annotation_id=ident, box=box))  # type: ignore[union-attr]

    def delete_annotation(self, ident: str | None = None) -> None:
        """Delete ``ident`` (default: the selected annotation). With a detection
        selected instead, says why nothing is deleted."""
        ident = self.selected_annotation if ident is None else ident
        if self._annotation(ident) is None:
            if ident is None and self.selected_detection is not None:
                self._status(f"detection {self.selected_detection} is the model's suggestion, not a box of yours: "
                             "nothing to delete (raise the score threshold to hide weak ones; Enter accepts it)")
            return
        self._push(DeleteAnnotation(self.record.key, annotation_id=ident))  # type: ignore[union-attr,arg-type]
        if self.selected_annotation == ident:
            self.select_annotation(None)

    def _detection(self, d: int) -> tuple[Box, str, float] | None:
        r, t = self.result, self.trace
        if r is None or t is None or not 0 <= d < len(r.scores):
            return None
        if self.trace_key != self.key:
            self._status(f"the detections shown are of {self.trace_key}: pause to accept them")
            return None
        box = self._clip(Box.from_array(r.boxes[d]))
        return None if box is None else (box, t.class_names[int(r.labels[d])], float(r.scores[d]))

    @staticmethod
    def _is_duplicate(box: Box, label: str, others: Sequence[tuple[Box, str]]) -> bool:
        return bool(duplicates(np.array([box.to_tuple()], np.float32), [label], others)[0])

    def accepted_detections(self) -> np.ndarray | None:
        """``bool[D]``: the shown detections that are already annotations of this item
        (same class, IoU >= :data:`DUPLICATE_IOU`: what accepting would skip), so
        views draw the annotation alone; ``None`` when the detections shown are not
        this item's."""
        r, t, rec = self.result, self.trace, self.record
        if r is None or t is None or rec is None or self.trace_key != self.key:
            return None
        return duplicates(r.boxes, [t.class_names[int(c)] for c in r.labels], self._existing())

    def _existing(self) -> list[tuple[Box, str]]:
        return [(a.box, a.label) for a in self.record.annotations] if self.record is not None else []

    def accept_detection(self, d: int | None = None) -> str | None:
        """Detection ``d`` (default: the selected one) becomes an annotation (Enter)."""
        d = self.selected_detection if d is None else d
        det = None if d is None else self._detection(d)
        if det is None:
            return None
        if self._is_duplicate(det[0], det[1], self._existing()):
            self._status(f"detection {d} is already an annotation")
            return None
        done = self._push(AcceptDetection(self.record.key, box=det[0], label=det[1], score=det[2]))  # type: ignore[union-attr]
        if done is None:
            return None
        self.select_annotation(done.annotation.id)  # type: ignore[attr-defined]
        return done.annotation.id  # type: ignore[attr-defined]

    def accept_all(self) -> int:
        """Every detection above the score threshold that is not yet an annotation."""
        if self.record is None:
            return 0
        if self.result is None or self.trace_key != self.key:
            why = (f"those shown are of {display_key(self.trace_key)}" if self.trace_key is not None
                   else "detecting\u2026" if self.detect_on_open else "press R to detect")
            self._status(f"accepted nothing: no detections of {display_key(str(self.key))} yet ({why})")
            return 0
        new: list[tuple[Box, str, float]] = []
        for d in range(len(self.result.scores)):
            det = self._detection(d)
            if det is not None and not self._is_duplicate(det[0], det[1], [*self._existing(), *[n[:2] for n in new]]):
                new.append(det)
        if new:
            self._push(AcceptAll(self.record.key, detections=list(new)))  # type: ignore[arg-type]
        self._status(f"accepted {len(new)} detection(s)")
        return len(new)

    def toggle_verified(self) -> None:
        """Mark the current item (frame) verified, or take the mark back (Space, as
        in labelImg); it stays on the item. Unverified, an item with boxes is
        "edited", one without "detected"."""
        rec = self.record
        if rec is None:
            return
        if rec.state is ItemState.VERIFIED:
            self._push(SetState(rec.key, ItemState.EDITED if rec.annotations else ItemState.DETECTED))
        else:
            self._push(SetState(rec.key, ItemState.VERIFIED))

    def verify_and_next(self) -> None:
        """Mark the current item (frame) verified and go to the next ("Verified, next")."""
        if self.record is not None and self.record.state is not ItemState.VERIFIED:
            self._push(SetState(self.record.key, ItemState.VERIFIED))
        if self.video is not None and self.frame is not None and self.frame + 1 < self.video.frame_count:
            self.go_frame(self.frame + 1)
        else:
            self.step(+1)

    def previous_record(self) -> ImageRecord | None:
        """The record to copy from: the previous annotated frame of this video,
        else the previous image item."""
        store, rec = self.store, self.record
        if store is None or rec is None:
            return None
        if rec.frame_index is not None:
            frames = [f for f in store.frames_of(rec.path) if f < rec.frame_index]
            annotated = [f for f in frames if store.record(f"{rec.path}#{f}").annotations]
            return store.record(f"{rec.path}#{annotated[-1]}") if annotated else None
        i = self.index or 0
        while i > 0:
            i -= 1
            path = self.items[i]
            if not store.is_video(path):
                return store.record(path) if store.has(path) else None
        return None

    def copy_from_previous(self) -> int:
        """Copy the annotations of :meth:`previous_record` (skipping duplicates)."""
        source = self.previous_record()
        if source is None or not source.annotations:
            self._status("nothing to copy: the previous image / frame has no boxes")
            return 0
        copies: list[Annotation] = []
        for a in source.annotations:
            box = self._clip(a.box)
            if box is not None and not self._is_duplicate(
                box, a.label, [*self._existing(), *((c.box, c.label) for c in copies)]
            ):
                copies.append(Annotation(box, a.label, a.source, a.score))
        if copies:
            self._push(CopyAnnotations(self.record.key, copies))  # type: ignore[union-attr]
        self._status(f"copied {len(copies)} box(es) from {source.key}")
        return len(copies)

    def undo(self) -> None:
        self._undo_redo(True)

    def redo(self) -> None:
        self._undo_redo(False)

    def _undo_redo(self, undo: bool) -> None:
        stack = self.undo_stack
        if stack is None or not (stack.can_undo if undo else stack.can_redo):
            return
        command = stack.undo() if undo else stack.redo()
        key = getattr(command, "key", None)
        if key is not None and key != self.key:  # show where the change happened
            path, frame = split_key(key)
            if path in self._index_of:
                self.go_to(self._index_of[path], frame)
        if self._annotation(self.selected_annotation) is None and self.selected_annotation is not None:
            self.select_annotation(None)
        self.emit("annotations")
        self._status(f"{'undid' if undo else 'redid'} {command.text}" if command else "")
