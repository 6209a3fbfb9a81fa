"""Editing the item shown: the selection, and every edit as an undo command on the
project's :class:`UndoStack` (one canvas drag is one step); the store autosaves.

A video frame's record joins the store on its first edit. Accepting detections skips
boxes already annotated (same label, IoU >= ``DUPLICATE_IOU``) and refuses the boxes
of another frame (shown while a video plays).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from detector_app.app.box_flags import BoxFlags
from detector_app.app.events import Event, EventBus
from detector_app.app.label_choice import LabelChoice
from detector_app.app.navigation import Navigator
from detector_app.app.scan import display_key
from detector_app.app.trace_view import TraceView
from detector_app.app.undo import (
    AcceptAll,
    AcceptDetection,
    AddAnnotation,
    Command,
    CopyAnnotations,
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

#: ``(box, label, score)`` of one detection as it would be accepted.
Detection = tuple[Box, str, float]


def duplicates(boxes: np.ndarray, labels: Sequence[str], others: Sequence[tuple[Box, str]]) -> np.ndarray:
    """``bool[N]``: which of ``boxes`` (``float[N, 4]``, with their ``labels``) already
    have one of ``others`` of the same label at IoU >= :data:`DUPLICATE_IOU`: what
    accepting a detection skips, and what the canvas draws as the annotation alone."""
    out = np.zeros(len(labels), bool)
    if not others or not len(labels):
        return out
    iou = box_iou(np.asarray(boxes, np.float32).reshape(-1, 4), np.array([b.to_tuple() for b, _ in others], np.float32))
    same = np.array(list(labels))[:, None] == np.array([lbl for _, lbl in others])[None, :]
    return np.asarray(((iou >= DUPLICATE_IOU) & same).any(axis=1), bool)


def _is_duplicate(box: Box, label: str, others: Sequence[tuple[Box, str]]) -> bool:
    return bool(duplicates(np.array([box.to_tuple()], np.float32), [label], others)[0])


class Editor:
    """Selection and undoable edits of ``nav.record``. ``show_record(key)`` makes the
    record an undo or redo changed the one shown."""

    def __init__(self, bus: EventBus, nav: Navigator, view: TraceView, labels: LabelChoice,
                 show_record: Callable[[str], None], flags: BoxFlags,
                 relabel_track: Callable[[Annotation, str], bool]) -> None:
        self._bus, self._nav, self._view, self._labels = bus, nav, view, labels
        self._show_record = show_record
        self.flags = flags  # hidden / locked boxes
        self._relabel_track = relabel_track  # a clip's box: its whole track (app.keyframes)
        self.selected_annotation: str | None = None
        self.selected_detection: int | None = None

    # -- selection and labels -------------------------------------------------------
    def clear_selection(self) -> None:
        """Nothing selected (no event: the caller announces the new item)."""
        self.selected_annotation = self.selected_detection = None

    def select_annotation(self, ident: str | None) -> None:
        """Select an annotation (the label list follows its label)."""
        self.selected_annotation = ident
        ann = self.annotation(ident)
        if ann is not None:
            self.selected_detection = None
            if ann.label != self._labels.current:
                self._labels.use(ann.label)
        self._bus.notify(Event.SELECTION)

    def select_detection(self, index: int | None) -> None:
        self.selected_detection = index
        if index is not None:
            self.selected_annotation = None
        self._bus.notify(Event.SELECTION)

    def drop_vanished_selection(self) -> None:
        """Unselect an annotation that is gone (undone, or replaced by an import)."""
        if self.selected_annotation is not None and self.annotation(self.selected_annotation) is None:
            self.select_annotation(None)

    def choose_label(self, name: str) -> None:
        """Use ``name`` for new boxes and relabel the selected annotation
        (a new name joins the project's labels)."""
        name = name.strip()
        store = self._nav.store
        if not name or store is None or not self._labels.add(name, store):
            return
        self._labels.use(name)
        ann = self.annotation(self.selected_annotation)
        if ann is None or ann.label == name:
            return
        if self.flags.refuses(ann.id, "relabel"):
            return
        if not self._relabel_track(ann, name):
            self._push(lambda key: Relabel(key, annotation_id=ann.id, label=name))

    def annotation(self, ident: str | None) -> Annotation | None:
        rec = self._nav.record
        if ident is None or rec is None:
            return None
        return next((a for a in rec.annotations if a.id == ident), None)

    # -- edits (undo commands; the store autosaves) -------------------------------------
    def _push(self, command: Callable[[str], Command]) -> Command | None:
        """Push ``command(key)`` of the current record on the undo stack; a frame's record
        joins the store first. ``None`` (and ``ERROR``) when it could not be done."""
        opened, rec = self._nav.opened, self._nav.ensure_stored()
        if opened is None or rec is None:
            return None
        try:
            done = opened.undo_stack.push(command(rec.key))
        except (UserError, KeyError) as exc:
            self._bus.error(f"{rec.key}: {exc}")
            return None
        opened.undo_stack.end_merge()  # one canvas drag = one step, never merged with the next
        return done

    def _push_new(self, command: Callable[[str], AddAnnotation]) -> str | None:
        """Push an edit adding one annotation, select it and return its id."""
        done = self._push(command)
        if not isinstance(done, AddAnnotation) or done.annotation is None:
            return None
        self.select_annotation(done.annotation.id)
        return done.annotation.id

    def _clip(self, record: ImageRecord, box: Box) -> Box | None:
        try:
            return record.validated_box(box)
        except BoxError as exc:
            self._bus.error(str(exc))
            return None

    def add_box(self, box: Box) -> str | None:
        """A new manual annotation with the current label; returns its id."""
        rec, label = self._nav.record, self._labels.current
        if rec is None:
            return None
        if not label:
            self._bus.error("pick a label first: type a class name in the label list and press Enter")
            return None
        clipped = self._clip(rec, box)
        if clipped is None:
            return None
        return self._push_new(lambda key: AddAnnotation(key, annotation=Annotation(clipped, label)))

    def move_box(self, ident: str, box: Box) -> None:
        """Moved or resized on the canvas (one call at the end of a drag)."""
        ann, rec = self.annotation(ident), self._nav.record
        if ann is not None and self.flags.refuses(ident, "move"):
            self._bus.notify(Event.ANNOTATIONS)  # the view puts the box back where it is
            return
        clipped = None if ann is None or rec is None else self._clip(rec, box)
        if ann is not None and clipped is not None and clipped != ann.box:
            self._push(lambda key: MoveResize(key, annotation_id=ident, box=clipped))

    def delete_annotation(self, ident: str | None = None) -> None:
        """Delete ``ident`` (default: the selected annotation). With a detection
        selected instead, says why nothing is deleted."""
        ident = self.selected_annotation if ident is None else ident
        ann = self.annotation(ident)
        if ann is None:
            if ident is None and self.selected_detection is not None:
                self._bus.status(f"detection {self.selected_detection} is the model's suggestion, not a box of "
                                 "yours: nothing to delete (raise the score threshold to hide weak ones; Enter "
                                 "accepts it)")
            return
        if self.flags.refuses(ann.id, "delete"):
            return
        self._push(lambda key: DeleteAnnotation(key, annotation_id=ann.id))
        if self.selected_annotation == ident:
            self.select_annotation(None)

    def _detection(self, d: int) -> Detection | None:
        """Detection ``d`` of the item shown, clipped to it (None: no such detection, or the
        detections shown are of another frame)."""
        r, t, rec = self._view.result, self._view.trace, self._nav.record
        if r is None or t is None or rec is None or not 0 <= d < len(r.scores):
            return None
        if self._view.trace_key != rec.key:
            self._bus.status(f"the detections shown are of {self._view.trace_key}: pause to accept them")
            return None
        box = self._clip(rec, Box.from_array(r.boxes[d]))
        return None if box is None else (box, t.class_names[int(r.labels[d])], float(r.scores[d]))

    def _existing(self) -> list[tuple[Box, str]]:
        rec = self._nav.record
        return [(a.box, a.label) for a in rec.annotations] if rec is not None else []

    def accepted_detections(self) -> np.ndarray | None:
        """``bool[D]``: the shown detections that are already annotations of this item
        (same class, IoU >= :data:`DUPLICATE_IOU`: what accepting would skip), so
        views draw the annotation alone; ``None`` when the detections shown are not
        this item's."""
        r, t, rec = self._view.result, self._view.trace, self._nav.record
        if r is None or t is None or rec is None or self._view.trace_key != rec.key:
            return None
        return duplicates(r.boxes, [t.class_names[int(c)] for c in r.labels], self._existing())

    def accept_detection(self, d: int | None = None) -> str | None:
        """Detection ``d`` (default: the selected one) becomes an annotation (Enter)."""
        d = self.selected_detection if d is None else d
        det = None if d is None else self._detection(d)
        if det is None:
            return None
        box, label, score = det
        if _is_duplicate(box, label, self._existing()):
            self._bus.status(f"detection {d} is already an annotation")
            return None
        return self._push_new(lambda key: AcceptDetection(key, box=box, label=label, score=score))

    def accept_all(self) -> int:
        """Every detection above the score threshold that is not yet an annotation."""
        rec, view = self._nav.record, self._view
        if rec is None:
            return 0
        if view.result is None or view.trace_key != rec.key:
            why = (f"those shown are of {display_key(view.trace_key)}" if view.trace_key is not None
                   else "detecting\u2026" if view.detect_on_open else "press R to detect")
            self._bus.status(f"accepted nothing: no detections of {display_key(rec.key)} yet ({why})")
            return 0
        new: list[Detection] = []
        for d in range(len(view.result.scores)):
            det = self._detection(d)
            if det is not None and not _is_duplicate(det[0], det[1], [*self._existing(), *[n[:2] for n in new]]):
                new.append(det)
        if new:
            self._push(lambda key: AcceptAll(key, detections=[(b, lbl, s) for b, lbl, s in new]))
        self._bus.status(f"accepted {len(new)} detection(s)")
        return len(new)

    def toggle_verified(self) -> None:
        """Mark the current item (frame) verified, or take the mark back (Space, as
        in labelImg); it stays on the item. Unverified, an item with boxes is
        "edited", one without "detected"."""
        rec = self._nav.record
        if rec is None:
            return
        if rec.state is ItemState.VERIFIED:
            state = ItemState.EDITED if rec.annotations else ItemState.DETECTED
            self._push(lambda key: SetState(key, state))
        else:
            self.mark_verified()

    def mark_verified(self) -> None:
        """Mark the current item (frame) verified, if it is not yet; the status line says
        when detections on screen were left unaccepted (a verified image without boxes is
        exported as one with no objects)."""
        rec = self._nav.record
        if rec is None or rec.state is ItemState.VERIFIED:
            return
        if self._push(lambda key: SetState(key, ItemState.VERIFIED)) is None:
            return
        accepted = self.accepted_detections()
        left = 0 if accepted is None else int((~accepted).sum())
        if left:
            boxes = len(rec.annotations)
            self._bus.status(f"verified {display_key(rec.key)} with {boxes} box(es); {left} detection(s) on screen "
                             "not accepted (Shift+Enter accepts them, Space takes the mark back)")

    def previous_record(self) -> ImageRecord | None:
        """The record to copy from: the previous annotated frame of this video,
        else the previous image item."""
        store, rec = self._nav.store, self._nav.record
        if store is None or rec is None:
            return None
        if rec.frame_index is not None:
            frames = [f for f in store.frames_of(rec.path) if f < rec.frame_index]
            annotated = [f for f in frames if store.record(f"{rec.path}#{f}").annotations]
            return store.record(f"{rec.path}#{annotated[-1]}") if annotated else None
        items, i = self._nav.items, self._nav.index or 0
        while i > 0:
            i -= 1
            if not store.is_video(items[i]):
                return store.record(items[i]) if store.has(items[i]) else None
        return None

    def copy_from_previous(self) -> int:
        """Copy the annotations of :meth:`previous_record` (skipping duplicates)."""
        source, rec = self.previous_record(), self._nav.record
        if source is None or rec is None or not source.annotations:
            self._bus.status("nothing to copy: the previous image / frame has no boxes")
            return 0
        copies: list[Annotation] = []
        for a in source.annotations:
            box = self._clip(rec, a.box)
            if box is not None and not _is_duplicate(
                box, a.label, [*self._existing(), *((c.box, c.label) for c in copies)]
            ):
                copies.append(Annotation(box, a.label, a.source, a.score, track=a.track_id))  # the same object
        if copies:
            self._push(lambda key: CopyAnnotations(key, copies=copies))
        self._bus.status(f"copied {len(copies)} box(es) from {source.key}")
        return len(copies)

    # -- undo -----------------------------------------------------------------------------
    def undo(self) -> None:
        self._undo_redo(True)

    def redo(self) -> None:
        self._undo_redo(False)

    def _undo_redo(self, undo: bool) -> None:
        opened = self._nav.opened
        stack = None if opened is None else opened.undo_stack
        if stack is None or not (stack.can_undo if undo else stack.can_redo):
            return
        command = stack.undo() if undo else stack.redo()
        key = None if command is None else command.record_key()
        if key is not None and key != self._nav.key:  # show where the change happened
            self._show_record(key)
        self.drop_vanished_selection()
        self._bus.notify(Event.ANNOTATIONS)
        self._bus.status(f"{'undid' if undo else 'redid'} {command.text}" if command else "")
