"""Video keyframes: a box per object over a clip's frames, as CVAT's tracks.

A person places an object's box on some frames (the *keyframes*: any box that is
not interpolated); **Interpolate** (Edit menu, ``I``) fills the frames between two
keyframes of the same object with boxes moving linearly (``INTERPOLATED``), and
a keyframe moved later re-places them on the next Interpolate. Boxes are tied to
one object by their ``track`` (copying boxes forward keeps it); keyframe boxes
without one are linked to the previous keyframe's by IoU and class
(``domain.tracks.link_by_iou``), so accepted detections of one object become one
track. Relabelling a box of a clip relabels its whole track. Each is one undo step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detector_app.app.undo import Command, RecordState, Store
from detector_app.domain.annotations import Annotation, AnnotationSource, ItemState
from detector_app.domain.boxes import Box
from detector_app.domain.tracks import interpolate_track, link_by_iou

#: Keyframes are often several frames apart: a lower IoU still means the same object.
KEYFRAME_LINK_IOU = 0.1

Frames = dict[int, list[Annotation]]


def _is_key(a: Annotation) -> bool:
    return a.source is not AnnotationSource.INTERPOLATED


def link_keyframes(frames: Mapping[int, Sequence[Annotation]], min_iou: float = KEYFRAME_LINK_IOU) -> Frames:
    """Keyframe boxes without a ``track`` that continue a box of the previous frame with
    keyframes (same class, IoU >= ``min_iou``) join that box's track; returns every frame's
    annotations (interpolated ones unchanged)."""
    out: Frames = {}
    previous: list[Annotation] = []
    for f in sorted(frames):
        anns = list(frames[f])
        keys = [i for i, a in enumerate(anns) if _is_key(a)]
        loose = [i for i in keys if anns[i].track is None]
        taken = {anns[i].track_id for i in keys if anns[i].track is not None}
        if loose and previous:
            candidates = [p for p in previous if p.track_id not in taken]
            link = link_by_iou(np.array([p.box.to_tuple() for p in candidates]).reshape(-1, 4),
                               [p.label for p in candidates],
                               np.array([anns[i].box.to_tuple() for i in loose]).reshape(-1, 4),
                               [anns[i].label for i in loose], min_iou)
            for i, j in zip(loose, link):
                if j >= 0:
                    anns[i] = dataclasses.replace(anns[i], track=candidates[int(j)].track_id)
        out[f] = anns
        if keys:
            previous = [anns[i] for i in keys]
    return out


def interpolate_frames(frames: Mapping[int, Sequence[Annotation]], last_frame: int) -> Frames:
    """Every frame's annotations after interpolation: the keyframe boxes (linked), and
    for each track the frames between two of its keyframes filled (the earlier keyframe's
    class); earlier interpolated boxes are replaced. Frames up to ``last_frame``."""
    linked = link_keyframes(frames)
    keyframes: dict[str, dict[int, Box]] = {}
    labels: dict[tuple[str, int], str] = {}
    earlier: dict[tuple[str, int], Annotation] = {}  # interpolated boxes there already: their ids are kept
    for f, anns in linked.items():
        for a in anns:
            if _is_key(a):
                keyframes.setdefault(a.track_id, {})[f] = a.box
                labels[(a.track_id, f)] = a.label
            else:
                earlier[(a.track_id, f)] = a
    out: Frames = {f: [a for a in anns if _is_key(a)] for f, anns in linked.items()}
    for track, keys in keyframes.items():
        ordered = sorted(keys)
        for f, box in interpolate_track(keys).items():
            if f > last_frame:
                continue
            label = labels[(track, max(k for k in ordered if k < f))]
            old = earlier.get((track, f))
            new = (Annotation(box, label, AnnotationSource.INTERPOLATED, track=track) if old is None
                   else dataclasses.replace(old, box=box, label=label))
            out.setdefault(f, []).append(new)
    return out


@dataclass
class RecordsEdit(Command):
    """Several records' annotations and states set at once, one undo step; records that
    do not exist yet (frames never edited) are made with ``sizes[key]`` (width, height)."""

    before: dict[str, RecordState] = field(default_factory=dict)
    after: dict[str, RecordState] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    text: str = "edit boxes"

    def do(self, store: Store) -> None:
        for key, size in self.sizes.items():
            if not store.has(key):
                store.set_size(key, *size)
        self._apply(store, self.after)

    def undo(self, store: Store) -> None:
        self._apply(store, self.before)

    @staticmethod
    def _apply(store: Store, states: Mapping[str, RecordState]) -> None:
        for key, (anns, state) in states.items():
            store.set_annotations(key, list(anns))
            store.set_state(key, state)


def _frames_of(store: Store, video: str) -> Frames:
    return {f: list(store.frame_record(video, f).annotations) for f in store.frames_of(video)}


def _edit(store: Store, video: str, new: Frames, size: tuple[int, int], text: str) -> RecordsEdit | None:
    """The command turning the clip's frames into ``new`` (only frames that change)."""
    before: dict[str, RecordState] = {}
    after: dict[str, RecordState] = {}
    for f, anns in new.items():
        key = f"{video}#{f}"
        rec = store.record(key) if store.has(key) else None
        old_anns, state = (list(rec.annotations), rec.state) if rec is not None else ([], ItemState.NOT_SEEN)
        if old_anns == anns:
            continue
        before[key] = (old_anns, state)
        edited = state if state in (ItemState.EDITED, ItemState.VERIFIED) else ItemState.EDITED
        after[key] = (anns, edited if anns else state)
    if not after:
        return None
    return RecordsEdit(before, after, {k: size for k in after}, text)


def interpolate_command(store: Store, video: str, frame_count: int, size: tuple[int, int]) -> RecordsEdit | None:
    """Interpolate every track of ``video`` (``None``: nothing changes)."""
    return _edit(store, video, interpolate_frames(_frames_of(store, video), frame_count - 1), size,
                 "interpolate between keyframes")


def relabel_track_command(store: Store, video: str, annotation_id: str, label: str,
                          size: tuple[int, int]) -> RecordsEdit | None:
    """Give every box of the track of ``annotation_id`` (linked first) the label ``label``."""
    frames = link_keyframes(_frames_of(store, video))
    track = next((a.track_id for anns in frames.values() for a in anns if a.id == annotation_id), None)
    if track is None:
        return None
    new = {f: [a.with_label(label) if a.track_id == track and a.label != label else a for a in anns]
           for f, anns in frames.items()}
    return _edit(store, video, new, size, f"relabel the object as {label}")


__all__ = ["KEYFRAME_LINK_IOU", "RecordsEdit", "interpolate_command", "interpolate_frames", "link_keyframes",
           "relabel_track_command"]
