"""Video keyframes: interpolation between a track's keyframes (CVAT's linear mode),
linking separately placed boxes by IoU, relabelling a whole track; each one undo step."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.app.store import ProjectStore
from detector_app.app.undo import UndoStack
from detector_app.app.video_tracks import interpolate_command, interpolate_frames, link_keyframes, relabel_track_command
from detector_app.domain import Annotation, AnnotationSource, Box, ItemState

CLIP = "clip.avi"  # 12 frames, 64x48 (the app tests' project)
SIZE = (64, 48)


@pytest.fixture
def store(project_dir: Path):  # type: ignore[no-untyped-def]
    s = ProjectStore(project_dir, autosave_interval=None)
    yield s
    s.close()


def _key(f: int) -> str:
    return f"{CLIP}#{f}"


def _place(store: ProjectStore, frame: int, ann: Annotation) -> Annotation:
    if not store.has(_key(frame)):
        store.set_size(_key(frame), *SIZE)
    return store.add_annotation(_key(frame), ann)


def test_interpolation_fills_the_frames_between_keyframes_and_undoes(store: ProjectStore) -> None:
    first = _place(store, 2, Annotation(Box(0, 0, 10, 10), "cat"))
    _place(store, 6, Annotation(Box(20, 8, 30, 18), "cat", track=first.id))  # the same object, frame 6
    stack = UndoStack(store)
    command = interpolate_command(store, CLIP, 12, SIZE)
    assert command is not None and sorted(command.after) == [_key(f) for f in (3, 4, 5)]
    stack.push(command)
    mid = store.record(_key(4)).annotations
    assert [(a.box, a.label, a.source, a.track) for a in mid] == [
        (Box(10, 4, 20, 14), "cat", AnnotationSource.INTERPOLATED, first.id)]
    assert store.record(_key(4)).state is ItemState.EDITED  # to be reviewed like any box
    assert interpolate_command(store, CLIP, 12, SIZE) is None  # nothing left to do
    stack.undo()
    assert store.record(_key(4)).annotations == []


def test_moving_an_interpolated_box_makes_a_keyframe_and_interpolation_follows(store: ProjectStore) -> None:
    first = _place(store, 0, Annotation(Box(0, 0, 10, 10), "cat"))
    _place(store, 4, Annotation(Box(40, 0, 50, 10), "cat", track=first.id))
    UndoStack(store).push(interpolate_command(store, CLIP, 12, SIZE))
    box2 = store.record(_key(2)).annotations[0]
    moved = box2.with_box(Box(10, 30, 20, 40))  # a person drags it down
    assert moved.source is AnnotationSource.MANUAL and moved.track == first.id
    store.replace_annotation(_key(2), moved)
    UndoStack(store).push(interpolate_command(store, CLIP, 12, SIZE))
    assert store.record(_key(1)).annotations[0].box == Box(5, 15, 15, 25)  # towards the new keyframe
    assert store.record(_key(3)).annotations[0].box == Box(25, 15, 35, 25)


def test_boxes_placed_separately_are_linked_by_iou_and_class() -> None:
    a = Annotation(Box(0, 0, 20, 20), "cat")
    b = Annotation(Box(40, 0, 60, 20), "dog")
    c = Annotation(Box(4, 0, 24, 20), "cat")  # frame 5: the cat moved a little
    d = Annotation(Box(44, 0, 64, 20), "cat")  # overlaps the dog, but another class: a new object
    linked = link_keyframes({0: [a, b], 5: [c, d]})
    assert linked[5][0].track == a.id and linked[5][1].track is None
    filled = interpolate_frames({0: [a, b], 5: [c, d]}, last_frame=11)
    assert [x.box for x in filled[1] if x.source is AnnotationSource.INTERPOLATED] == [Box(0.8, 0, 20.8, 20)]


def test_relabelling_a_box_relabels_its_whole_track(store: ProjectStore) -> None:
    first = _place(store, 0, Annotation(Box(0, 0, 10, 10), "cat"))
    _place(store, 3, Annotation(Box(3, 0, 13, 10), "cat"))  # linked by IoU
    other = _place(store, 3, Annotation(Box(30, 30, 40, 40), "cat"))  # another cat, alone
    stack = UndoStack(store)
    stack.push(interpolate_command(store, CLIP, 12, SIZE))
    stack.push(relabel_track_command(store, CLIP, first.id, "lynx", SIZE))
    labels = {f: [(a.label, a.id == other.id) for a in store.record(_key(f)).annotations] for f in range(4)}
    assert labels == {0: [("lynx", False)], 1: [("lynx", False)], 2: [("lynx", False)],
                      3: [("lynx", False), ("cat", True)]}
    stack.undo()
    assert [a.label for a in store.record(_key(1)).annotations] == ["cat"]


def test_keyframes_through_the_session_interpolate_and_relabel_the_object(project_dir: Path) -> None:
    from detector_app.app.session import Session

    session = Session(detect_on_open=False)
    try:
        session.open_paths([project_dir / CLIP])
        session.choose_label("cat")
        session.go_frame(1)
        first = session.add_box(Box(2, 2, 22, 22))
        session.select_annotation(None)
        session.go_frame(5)
        session.add_box(Box(10, 6, 30, 26))  # drawn apart: linked to frame 1's by IoU
        assert session.interpolate() == 3
        session.go_frame(3)
        (mid,) = session.record.annotations
        assert mid.box == Box(6, 4, 26, 24) and mid.source is AnnotationSource.INTERPOLATED
        session.select_annotation(mid.id)
        session.choose_label("dog")  # relabels the whole object
        assert [session.store.record(_key(f)).annotations[0].label for f in range(1, 6)] == ["dog"] * 5
        assert session.store.record(_key(1)).annotations[0].id == first
        session.undo()
        assert session.store.record(_key(5)).annotations[0].label == "cat"
        session.go_to(0)  # an image: nothing to interpolate, and it says so
        assert session.interpolate() == 0
    finally:
        session.close()
