"""The GUI session without Qt: opening, navigation, traces and live thresholds,
undoable edits saved by the store, video frames, labels."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from detector_app.app.session import Event, Session
from detector_app.domain.annotations import AnnotationSource, ItemState
from detector_app.domain.boxes import Box
from detector_app.domain.errors import UserError
from detector_app.domain.trace import Fate
from tests.helpers.files import stored_records, write_png, write_video
from tests.helpers.traces import TRACE_SIZE, make_fake_trace

W, H = TRACE_SIZE


class Recorder:
    """Collects session events as (name, args)."""

    def __init__(self, session: Session) -> None:
        self.events: list[tuple[Event, tuple]] = []
        for event in Event:
            if event not in (Event.HISTORY, Event.SAVE_ERROR):
                session.subscribe(event, lambda *args, e=event: self.events.append((e, args)))

    def names(self) -> list[Event]:
        return [n for n, _ in self.events]

    def of(self, name: Event) -> list[tuple]:
        return [a for n, a in self.events if n == name]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for i, name in enumerate(("a.png", "b.png", "c.png")):
        write_png(root / name, W, H, 40 * i)
    return root


@pytest.fixture
def session(folder: Path):
    s = Session(score_thresh=0.5, nms_thresh=0.5)
    yield s
    s.close()


def wait_saved(session: Session, timeout: float = 30.0) -> None:
    """Wait until the autosaver has written every edit (no flush asked for); ``timeout``
    is a deadline against a hang only."""
    deadline = time.monotonic() + timeout
    while session.store.saved_seq != session.store.seq:
        assert time.monotonic() < deadline, "edit never reached the disk"
        time.sleep(0.01)


def test_open_folder_shows_first_item_and_asks_for_detection(session, folder):
    rec = Recorder(session)
    session.open_paths([folder])
    assert session.items == ["a.png", "b.png", "c.png"]
    assert session.index == 0 and session.key == "a.png"
    assert session.image.shape == (H, W, 3)
    assert session.record.width == W and session.record.height == H
    detect = rec.of(Event.DETECT)
    assert len(detect) == 1 and detect[0][0] == "a.png" and detect[0][1] is session.image and detect[0][2] == "view"
    assert rec.names().index(Event.ITEMS) < rec.names().index(Event.CURRENT)
    assert [session.item_state(i) for i in range(3)] == [ItemState.NOT_SEEN] * 3


def test_open_errors_are_user_errors(tmp_path):
    s = Session()
    with pytest.raises(UserError, match="no such file"):
        s.open_paths([tmp_path / "missing"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="not an image or video"):
        s.open_paths([tmp_path / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images or videos"):
        s.open_paths([tmp_path / "empty"])
    assert s.store is None


def test_open_single_file_selects_it(session, folder):
    session.open_paths([folder / "b.png", folder / "c.png"])
    assert session.items == ["b.png", "c.png"]
    session.close()
    session.open_paths([folder / "c.png"])
    assert session.items == ["c.png"] and session.key == "c.png"


def test_trace_sets_result_state_and_labels(session, folder):
    session.open_paths([folder])
    rec = Recorder(session)
    trace = make_fake_trace()
    session.on_trace("a.png", trace)
    assert session.trace is trace
    expected = trace.postprocess(0.5, 0.5)
    np.testing.assert_array_equal(session.result.boxes, expected.boxes)
    assert session.result.scores.tolist() == pytest.approx([0.9, 0.8])
    assert session.labels.names == ["cat", "dog"] and session.current_label == "cat"
    assert session.item_state(0) is ItemState.DETECTED
    assert (Event.ITEM_STATE, (0,)) in rec.events and Event.TRACE in rec.names()
    # a trace for another item is cached, not shown; going there shows it without a new request
    session.on_trace("b.png", trace)
    assert session.key == "a.png"
    rec.clear()
    session.go_to(1)
    assert session.trace is trace and rec.of(Event.DETECT) == []
    session.go_to(2)
    assert session.trace is None and rec.of(Event.DETECT)[0][0] == "c.png"


def test_thresholds_rederive_detections_without_the_network(session, folder):
    session.open_paths([folder])
    trace = make_fake_trace()
    session.on_trace("a.png", trace)
    session.set_thresholds(score_thresh=0.85)
    assert session.result.scores.tolist() == pytest.approx([0.9])
    session.set_thresholds(score_thresh=0.05, nms_thresh=0.5)
    # the fixture's documented fates under the default thresholds (cap 2)
    assert [Fate(f) for f in session.result.fate] == [
        Fate.DETECTED, Fate.DETECTED, Fate.BELOW_SCORE, Fate.SUPPRESSED, Fate.TOO_SMALL, Fate.OVER_CAP]
    session.set_thresholds(nms_thresh=0.99)  # p3 (overlapping p0) is no longer suppressed
    assert Fate(session.result.fate[3]) is not Fate.SUPPRESSED


def test_edits_undo_redo_and_autosave(session, folder):
    session.open_paths([folder])
    session.on_trace("a.png", make_fake_trace())
    ident = session.add_box(Box(10, 20, 60, 80))
    assert ident is not None and session.selected_annotation == ident
    assert session.record.annotations[0].label == "cat"
    assert session.item_state(0) is ItemState.EDITED
    wait_saved(session)
    assert stored_records(folder)["a.png"]["annotations"][0]["box"] == [10, 20, 60, 80]

    session.move_box(ident, Box(15, 25, 400, 90))  # clipped to the image
    assert session.record.annotations[0].box == Box(15, 25, W, 90)
    session.choose_label("dog")
    assert session.record.annotations[0].label == "dog"
    session.delete_annotation()
    assert session.record.annotations == [] and session.selected_annotation is None

    session.undo()
    assert session.record.annotations[0].label == "dog"
    session.undo()
    assert session.record.annotations[0].label == "cat"
    session.undo()
    assert session.record.annotations[0].box == Box(10, 20, 60, 80)
    session.undo()
    assert session.record.annotations == []
    assert session.item_state(0) is ItemState.DETECTED
    assert not session.can_undo
    for _ in range(4):
        session.redo()
    assert session.record.annotations == []
    session.undo()
    wait_saved(session)
    saved = stored_records(folder)["a.png"]
    assert saved["annotations"][0]["label"] == "dog" and saved["state"] == "edited"


def test_two_drags_of_one_box_are_two_undo_steps(session, folder):
    session.open_paths([folder])
    session.choose_label("cat")
    ident = session.add_box(Box(10, 10, 50, 50))
    session.move_box(ident, Box(20, 10, 60, 50))
    session.move_box(ident, Box(30, 10, 70, 50))
    session.undo()
    assert session.record.annotations[0].box == Box(20, 10, 60, 50)


def test_accept_detection_and_accept_all_skip_duplicates(session, folder):
    session.open_paths([folder])
    session.on_trace("a.png", make_fake_trace())
    session.select_detection(1)
    ident = session.accept_detection()
    ann = session.record.annotations[0]
    assert ann.id == ident and ann.label == "dog" and ann.source is AnnotationSource.MODEL
    assert ann.score == pytest.approx(0.8)
    assert ann.box == Box.from_array(session.result.boxes[1])
    assert session.accept_detection(1) is None  # already accepted
    assert session.accept_all() == 1  # only the cat is new
    assert sorted(a.label for a in session.record.annotations) == ["cat", "dog"]
    assert session.accept_all() == 0
    session.undo()
    assert [a.label for a in session.record.annotations] == ["dog"]


def test_add_box_without_label_is_a_clear_error(session, folder):
    session.open_paths([folder])
    rec = Recorder(session)
    assert session.add_box(Box(1, 1, 10, 10)) is None
    assert "pick a label" in rec.of(Event.ERROR)[0][0]
    session.choose_label("  person ")
    assert session.labels.names == ["person"]
    assert session.add_box(Box(1, 1, 10, 10)) is not None


def test_label_with_a_line_break_is_a_clear_error(session, folder):
    session.open_paths([folder])
    session.choose_label("cat")
    rec = Recorder(session)
    session.choose_label("two\nlines")  # e.g. pasted: would split labels.txt / classes.txt lines
    assert "contains a control character (U+000A)" in rec.of(Event.ERROR)[0][0]
    assert session.labels.names == ["cat"] and session.current_label == "cat"


def test_number_keys_choose_labels_in_model_order(session, folder):
    session.open_paths([folder])
    session.on_trace("a.png", make_fake_trace())
    ident = session.add_box(Box(1, 1, 30, 30))
    assert session.choose_label_number(2)
    assert session.record.annotations[0].label == "dog" and session.current_label == "dog"
    assert not session.choose_label_number(3)
    session.select_annotation(None)
    session.choose_label_number(1)
    assert session.record.annotations[0].label == "dog"  # nothing selected: no relabel
    session.select_annotation(ident)
    assert session.current_label == "dog"  # the label list follows the selection


def test_verify_next_filter_and_navigation(session, folder):
    session.open_paths([folder])
    session.verify_and_next()
    assert session.index == 1 and session.item_state(0) is ItemState.VERIFIED
    session.step(-1)
    assert session.index == 0
    session.set_state_filter(ItemState.NOT_SEEN)
    assert session.visible_indices() == [1, 2]
    session.step(1)
    assert session.index == 1
    session.step(1)
    assert session.index == 2
    rec = Recorder(session)
    session.step(1)
    assert session.index == 2 and rec.of(Event.STATUS) == [("no next item",)]
    session.undo()  # un-verify a.png: undo shows where the change happened
    assert session.index == 0 and session.item_state(0) is ItemState.NOT_SEEN


def test_toggle_verified_stays_on_the_item_and_takes_the_mark_back(session, folder):
    session.open_paths([folder])
    session.on_trace("a.png", make_fake_trace())
    session.toggle_verified()
    assert session.index == 0 and session.item_state(0) is ItemState.VERIFIED
    session.toggle_verified()  # without a person's boxes the item goes back to "detected"
    assert session.index == 0 and session.item_state(0) is ItemState.DETECTED
    assert session.add_box(Box(1, 2, 30, 40)) is not None
    session.toggle_verified()
    session.toggle_verified()  # with boxes, to "edited"
    assert session.item_state(0) is ItemState.EDITED
    session.undo()
    assert session.item_state(0) is ItemState.VERIFIED
    session.undo()
    assert session.item_state(0) is ItemState.EDITED and len(session.record.annotations) == 1


def test_reopen_starts_at_first_unverified(session, folder):
    session.open_paths([folder])
    session.verify_and_next()
    session.close()
    session.open_paths([folder])
    assert session.index == 1


def test_copy_from_previous_image(session, folder):
    session.open_paths([folder])
    session.choose_label("cat")
    session.add_box(Box(5, 5, 50, 50))
    session.go_to(1)
    assert session.copy_from_previous() == 1
    copy = session.record.annotations[0]
    assert copy.box == Box(5, 5, 50, 50) and copy.label == "cat"
    assert copy.id != session.store.record("a.png").annotations[0].id
    assert session.copy_from_previous() == 0  # duplicates are skipped
    session.undo()
    assert session.record.annotations == []


def test_second_instance_gets_a_clear_error(session, folder):
    session.open_paths([folder])
    other = Session()
    with pytest.raises(UserError, match="(?i)lock|in use|open"):
        other.open_paths([folder])


def test_video_frames_become_records_when_annotated(tmp_path):
    root = tmp_path / "vid"
    root.mkdir()
    write_video(root / "clip.avi", frames=6, size=(W, H))
    s = Session()
    try:
        rec = Recorder(s)
        s.open_paths([root / "clip.avi"])
        assert s.is_video() and s.frame == 0 and s.key == "clip.avi#0"
        assert s.video.frame_count == 6
        assert rec.of(Event.DETECT)[0][0] == "clip.avi#0"
        rec.clear()
        s.go_frame(3, playing=True)
        assert s.frame == 3 and int(s.image[0, 0, 0]) == pytest.approx(60, abs=6)
        (key, rgb, group), = rec.of(Event.DETECT)
        assert (key, group) == ("clip.avi#3", "video") and rgb is s.image
        assert not s.store.has("clip.avi#3")  # viewing alone stores nothing
        s.choose_label("thing")
        s.add_box(Box(10, 10, 100, 100))
        assert s.store.frames_of("clip.avi") == [3]
        frame_rec = s.store.record("clip.avi#3")
        assert frame_rec.frame_index == 3 and (frame_rec.width, frame_rec.height) == (W, H)
        assert s.item_state(0) is ItemState.EDITED
        s.go_frame(4)
        assert s.copy_from_previous() == 1  # from the last annotated frame
        s.verify_and_next()
        assert s.frame == 5 and s.store.record("clip.avi#4").state is ItemState.VERIFIED
        assert s.item_state(0) is ItemState.EDITED  # one verified frame does not make the clip "verified"
        s.go_frame(99)
        assert s.frame == 5  # clamped to the last frame
    finally:
        s.close()


def test_overlays_and_unknown_overlay(session, folder):
    session.open_paths([folder])
    rec = Recorder(session)
    session.set_overlay("proposals", True)
    session.set_overlay("proposals", True)  # no change, no event
    assert session.overlays["proposals"] and rec.names().count(Event.OVERLAYS) == 1
    with pytest.raises(KeyError, match="unknown overlay"):
        session.set_overlay("heatmap", True)


def test_anchor_labels_follow_the_annotations(session, folder):
    session.open_paths([folder])
    trace = make_fake_trace()
    session.on_trace("a.png", trace)
    rec = Recorder(session)
    assert session.anchor_labels is None  # overlay off: nothing computed
    session.set_overlay("anchor_labels", True)
    assert session.anchor_labels is not None and (session.anchor_labels == 0).all()  # no boxes: all negative
    target = 123
    x1, y1, x2, y2 = (float(v) for v in trace.anchors[target])
    session.choose_label("cat")
    ident = session.add_box(Box(max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)))
    labels = session.anchor_labels
    assert labels.shape == (trace.num_anchors,) and labels.dtype == np.int8
    assert labels[target] == 1  # the anchor the box came from is positive
    assert set(np.unique(labels)) <= {-1, 0, 1}
    session.delete_annotation(ident)
    assert (session.anchor_labels == 0).all()
    assert rec.names().count(Event.ANCHOR_LABELS) == 3
    session.set_overlay("anchor_labels", False)
    assert session.anchor_labels is None


def _torch_calls(action) -> list[str]:
    """The functions of torch / torchvision (Python or C) that ``action()`` calls on this thread."""
    import sys

    import torch
    import torchvision

    roots = tuple(str(Path(m.__file__).parent) for m in (torch, torchvision))
    seen: list[str] = []

    def profile(frame, event, arg):  # (sys.setprofile hook)
        if event == "call" and frame.f_code.co_filename.startswith(roots):
            seen.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")
        elif event == "c_call" and str(getattr(arg, "__module__", "") or "").startswith(("torch", "torchvision")):
            seen.append(f"{arg.__module__}.{arg.__name__}")

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return seen


def test_anchor_labels_run_no_torch_on_the_calling_thread(session, folder):
    """The overlay follows every edit on the GUI thread; torch there would wait for the
    inference worker's thread pool, so the labels are computed in numpy."""
    session.open_paths([folder])
    trace = make_fake_trace()
    session.on_trace("a.png", trace)
    session.choose_label("cat")

    def edit() -> None:
        session.set_overlay("anchor_labels", True)
        ident = session.add_box(Box(40, 40, 120, 140))
        session.move_box(ident, Box(44, 42, 122, 138))
        session.undo()
        session.delete_annotation(ident)
        session.go_to(1)
        session.on_trace("b.png", trace)

    assert _torch_calls(edit) == []
    assert session.anchor_labels is not None and session.anchor_labels.shape == (trace.num_anchors,)


def test_playing_video_shows_latest_detections_until_the_frames_own(tmp_path):
    root = tmp_path / "vid"
    root.mkdir()
    write_video(root / "clip.avi", frames=6, size=(W, H))
    s = Session()
    try:
        s.open_paths([root / "clip.avi"])
        trace0, trace2 = make_fake_trace(), make_fake_trace()
        s.on_trace("clip.avi#0", trace0)
        s.go_frame(1, playing=True)
        assert s.trace is trace0 and s.trace_key == "clip.avi#0"  # no blink while playing
        s.go_frame(3, playing=True)
        s.on_trace("clip.avi#2", trace2)  # arrives late (frame 3 is shown): still the newest there is
        assert s.trace is trace2 and s.trace_key == "clip.avi#2"
        assert s.accept_detection(0) is None  # not this frame's boxes
        assert s.record.annotations == []
        s.go_frame(3)  # paused: only this frame's own trace is shown
        assert s.trace is None and s.result is None
        s.on_trace("clip.avi#2", trace2)
        assert s.trace is None  # an old frame's trace no longer replaces the view
        s.on_trace("clip.avi#3", trace0)
        assert s.trace_key == "clip.avi#3" and s.accept_detection(0) is not None
    finally:
        s.close()


def test_unreadable_image_is_reported_and_skippable(session, folder):
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    session.open_paths([folder])
    rec = Recorder(session)
    session.step(1)
    assert session.index == 1 and session.record is None and session.trace is None
    assert "b.png" in rec.of(Event.ERROR)[0][0]
    assert session.image.shape == (48, 64, 3)  # a placeholder, so the views stay consistent
    assert rec.of(Event.DETECT) == []
    assert session.add_box(Box(1, 1, 5, 5)) is None and session.accept_all() == 0
    session.verify_and_next()  # nothing to verify; still moves on
    assert session.index == 2 and session.key == "c.png"
    assert list(session.unreadable) == [1] and "b.png" in session.unreadable[1]
    assert (1,) in rec.of(Event.ITEM_STATE)  # the file list is told
    import numpy as np

    from detector_app.media.images import write_image

    write_image(folder / "b.png", np.zeros((20, 30, 3), np.uint8))  # replaced by a good file
    session.go_to(1)
    assert session.unreadable == {} and session.record is not None


def test_project_label_map_takes_the_models_order_until_it_has_labels_of_its_own(session, folder):
    session.open_paths([folder])
    session.store.set_labels(["dog"])  # a project whose boxes came in another order (e.g. an older version)
    session.set_model_classes(["__background__", "cat", "dog"])
    assert session.store.label_map.names == ["cat", "dog"] == session.labels.names
    session.choose_label("zebra")  # a class of the person's own
    assert session.store.label_map.names == ["cat", "dog", "zebra"]
    session.set_model_classes(["__background__", "person", "dog", "cat"])  # another model: no reordering
    assert session.store.label_map.names == ["cat", "dog", "zebra"]
    assert session.labels.names == ["person", "dog", "cat", "zebra"]  # the label list still leads with the model's
    session.close()
    session.open_paths([folder])  # persisted
    assert session.store.label_map.names[:3] == ["cat", "dog", "zebra"]


def test_anchor_labels_without_boxes_say_why_everything_is_negative(session, folder):
    session.open_paths([folder])
    session.on_trace("a.png", make_fake_trace())
    rec = Recorder(session)
    session.set_overlay("anchor_labels", True)
    notes = [m for (m,) in rec.of(Event.STATUS) if m.startswith("anchor labels:")]
    assert len(notes) == 1 and "every anchor is negative" in notes[0]
    session.set_overlay("grid", True)  # the same image: said once
    assert len([m for (m,) in rec.of(Event.STATUS) if m.startswith("anchor labels:")]) == 1


def test_locked_boxes_refuse_edits_and_hidden_boxes_leave_the_canvas_list(session: Session, folder: Path) -> None:
    session.open_paths([folder])
    session.on_trace(session.key, make_fake_trace())
    session.choose_label("cat")
    ident = session.add_box(Box(10, 10, 50, 50))
    statuses: list[str] = []
    session.subscribe(Event.STATUS, statuses.append)
    session.box_flags.set_locked(ident, True)
    session.move_box(ident, Box(20, 20, 60, 60))
    session.choose_label("dog")  # would relabel the selected box
    session.delete_annotation(ident)
    (ann,) = session.record.annotations
    assert (ann.box, ann.label) == (Box(10, 10, 50, 50), "cat")
    assert len(statuses) == 3 and all("locked" in s for s in statuses)
    session.box_flags.set_locked(ident, False)
    session.box_flags.set_hidden(ident, True)
    assert session.box_flags.visible(session.record.annotations) == []
    session.delete_annotation(ident)  # unlocked: a hidden box can still be deleted from the list
    assert session.record.annotations == []
    session.close()
    assert not session.box_flags.hidden


def test_verifying_with_detections_left_unaccepted_says_so(session, folder):
    """Space on an image whose detections were not accepted marks it "no objects": the
    status line names what was left, and accepting them first leaves nothing to say."""
    session.open_paths([folder])
    session.on_trace("a.png", make_fake_trace())
    shown = len(session.result.scores)
    assert shown > 0
    statuses: list[str] = []
    session.subscribe(Event.STATUS, statuses.append)
    session.toggle_verified()
    assert session.item_state(0) is ItemState.VERIFIED
    assert statuses[-1] == (f"verified a.png with 0 box(es); {shown} detection(s) on screen not accepted "
                            "(Shift+Enter accepts them, Space takes the mark back)")
    before = len(statuses)
    session.toggle_verified()  # taking the mark back says nothing of the kind
    assert not any("not accepted" in s for s in statuses[before:])
    assert session.accept_all() == shown
    statuses.clear()
    session.verify_and_next()
    assert session.item_state(0) is ItemState.VERIFIED and not any("not accepted" in s for s in statuses)
