"""The real MainWindow, offscreen: open a folder, detect on the worker, overlays,
the stepper on a known trace, live thresholds, editing through the canvas
signals with undo/redo and autosave, keys, worker errors, UI latency."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from detector_app.app.jobs import ModelInfo
from detector_app.app.session import OVERLAYS
from detector_app.app.settings import Settings
from detector_app.domain.annotations import AnnotationSource, ItemState
from detector_app.domain.boxes import Box
from detector_app.qt.main_window import MainWindow
from detector_app.qt.worker import InferenceWorker
from tests.helpers.files import stored_records, write_images, write_video
from tests.helpers.models import FakeModel, make_tiny_checkpoint
from tests.helpers.traces import FAKE, TRACE_SIZE, anchor_index, make_fake_trace

W, H = TRACE_SIZE


def test_open_folder_detects_and_shows_everything(window):
    ss, c, p = window.session, window.canvas, window.panels
    assert p.file_list.visible_names() == ["img0.png", "img1.png", "img2.png"]
    assert p.file_list.current_index() == 0
    assert c.overlays.image_size == (W, H)
    assert c.overlays.trace is ss.trace
    np.testing.assert_array_equal(c.overlays.result.scores, ss.result.scores)  # score 0.5: cat, dog
    assert ss.result.scores.tolist() == pytest.approx([0.9, 0.8])
    assert ss.item_state(0) is ItemState.DETECTED
    assert p.label_list.labels() == ["cat", "dog"]
    assert "2 detection(s)" in window.statusBar().currentMessage()
    rows = dict(p.stats.rows())
    assert rows["  proposals (after RPN NMS)"] == "6" and rows["  detections"] == "2"
    assert rows["  below score threshold"] == "2"  # p2 and p5 (0.30) under the 0.5 slider
    names = [name for name, _ in p.legend.entries()]
    assert names[:2] == ["cat", "dog"] and names[2].startswith("dashed") and names[3].startswith("solid")


@pytest.mark.parametrize("name", list(OVERLAYS))
def test_each_overlay_toggle_reaches_canvas_and_session(window, name):
    act = window.actions_by_name[f"overlay_{name}"]
    before = window.session.overlays[name]
    assert act.isChecked() == before == window.canvas.layer_visible(name)
    act.trigger()
    assert window.session.overlays[name] is (not before)
    assert window.canvas.layer_visible(name) is (not before)
    assert act.isChecked() is (not before)
    window.session.set_overlay(name, before)  # model -> view: the action follows
    assert act.isChecked() is before and window.canvas.layer_visible(name) is before


def test_proposals_overlay_highlights_the_stepper_proposal(window):
    ss, c, stepper = window.session, window.canvas, window.panels.stepper
    ss.set_overlay("proposals", False)
    ss.on_trace(ss.key, make_fake_trace())  # a new trace with the proposals hidden: no highlight
    best = int(ss.result.proposal_index[0])  # it opens on the best detection's proposal
    assert c.overlays.highlighted is None and stepper.current() == best
    stepper.set_current(4)
    ss.set_overlay("proposals", True)  # showing proposals shows the stepper's one: anchor, proposal, refined box
    assert c.overlays.highlighted == 4
    ss.set_overlay("grid", True)  # other overlays leave it alone
    assert c.overlays.highlighted == 4
    ss.set_overlay("proposals", False)
    assert c.overlays.highlighted is None


def test_stepper_shows_anchor_and_fate_and_follows_thresholds(window, qtbot):
    p, c = window.panels, window.canvas
    stepper = p.stepper
    stepper.set_current(3)
    row, col, a = FAKE[3]
    assert f"#{anchor_index(row, col, a)}" in stepper.info_text()
    assert f"row {row}, col {col}" in stepper.info_text()
    assert stepper.fate_text() == "suppressed by NMS (detection 0)"
    assert c.overlays.highlighted == 3  # stepper -> canvas highlight
    stepper.set_current(5)
    assert stepper.fate_text() == "dropped: below score threshold"  # cat 0.30 < 0.5
    p.score.setValue(5)  # the live slider: 0.05, no network run
    assert window.session.score_thresh == pytest.approx(0.05)
    assert stepper.fate_text() == "dropped: over the detections-per-image cap"
    assert p.score_label.text() == "0.05"
    c.proposalClicked.emit(1)  # canvas -> stepper
    assert stepper.current() == 1 and c.overlays.highlighted == 1
    assert stepper.fate_text() == "became detection 1"
    c.detectionClicked.emit(0)
    assert stepper.current() == 0 and window.session.selected_detection == 0


def test_nms_across_classes_box_rederives_detections_and_follows_the_session(window):
    p, ss = window.panels, window.session
    assert not p.across_classes.isChecked() and not ss.class_agnostic
    ss.trace.refined_boxes[1, 2] = ss.trace.refined_boxes[0, 1]  # the dog box onto the cat box
    ss.set_thresholds(nms_thresh=0.5)
    assert ss.result.labels.tolist() == [1, 2]  # class-wise: both stay
    p.across_classes.click()
    assert ss.class_agnostic and ss.result.labels.tolist() == [1]
    assert window.canvas.overlays.result is ss.result
    p.stepper.set_current(1)
    assert p.stepper.fate_text() == "suppressed by NMS (detection 0)"
    ss.set_thresholds(class_agnostic=False)  # from elsewhere (a restored session): the box follows
    assert not p.across_classes.isChecked() and ss.result.labels.tolist() == [1, 2]


def test_nms_slider_changes_fates_live(window):
    p, ss = window.panels, window.session
    p.score.setValue(5)
    p.stepper.set_current(3)
    assert p.stepper.fate_text() == "suppressed by NMS (detection 0)"
    p.nms.setValue(99)  # p3 no longer overlaps "too much": it survives NMS, then meets the cap of 2
    assert ss.nms_thresh == pytest.approx(0.99) and p.nms_label.text() == "0.99"
    assert p.stepper.fate_text() == "dropped: over the detections-per-image cap"
    assert window.canvas.overlays.result is ss.result
    assert dict(p.stats.rows())["  over the per-image cap"] == "2"


def test_edit_box_through_canvas_signals_undo_redo_and_autosave(window, qtbot, tmp_path):
    ss, c = window.session, window.canvas
    c.annotationDrawn.emit(Box(10, 20, 60, 90))
    (ann,) = ss.record.annotations
    assert ann.label == "cat" and c.overlays.annotations.box_of(ann.id) == Box(10, 20, 60, 90)
    assert c.selected_annotation == ann.id
    c.annotationEdited.emit(ann.id, Box(30, 20, 80, 90))
    assert ss.record.annotations[0].box == Box(30, 20, 80, 90)
    assert c.overlays.annotations.box_of(ann.id) == Box(30, 20, 80, 90)
    assert window.panels.file_list.summary() == "3 of 3 shown \u2014 2 not seen, 1 edited"
    assert window.actions_by_name["undo"].text() == "&Undo move box"
    window.actions_by_name["undo"].trigger()
    assert c.overlays.annotations.box_of(ann.id) == Box(10, 20, 60, 90)
    assert window.actions_by_name["redo"].text() == "&Redo move box"
    window.actions_by_name["undo"].trigger()
    assert c.overlays.annotations.box_of(ann.id) is None and ss.record.annotations == []
    assert not window.actions_by_name["undo"].isEnabled() and window.actions_by_name["redo"].isEnabled()
    window.actions_by_name["redo"].trigger()
    window.actions_by_name["redo"].trigger()
    assert c.overlays.annotations.box_of(ann.id) == Box(30, 20, 80, 90)
    qtbot.waitUntil(lambda: ss.store.saved_seq == ss.store.seq, timeout=1000)
    assert stored_records(tmp_path / "proj")["img0.png"]["annotations"][0]["box"] == [30, 20, 80, 90]
    c.annotationDeleteRequested.emit(ann.id)
    assert ss.record.annotations == []


def test_keys_drive_the_session(window, qtbot):
    ss, c = window.session, window.canvas
    c.setFocus()
    ss.select_detection(1)
    qtbot.keyClick(c, Qt.Key.Key_Return)  # accept the selected detection
    (ann,) = ss.record.annotations
    assert ann.label == "dog" and ann.source is AnnotationSource.MODEL
    qtbot.keyClick(c, Qt.Key.Key_1)  # relabel the (now selected) annotation
    assert ss.record.annotations[0].label == "cat"
    qtbot.keyClick(c, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)  # accept all
    assert sorted(a.label for a in ss.record.annotations) == ["cat", "cat", "dog"]
    qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(ss.record.annotations) == 1
    qtbot.keyClick(c, Qt.Key.Key_Delete)
    assert ss.record.annotations == []
    qtbot.keyClick(c, Qt.Key.Key_W)
    assert c.draw_mode and window.actions_by_name["draw"].isChecked()
    qtbot.keyClick(c, Qt.Key.Key_Escape)  # the canvas leaves draw mode; the action follows
    assert not c.draw_mode and not window.actions_by_name["draw"].isChecked()
    qtbot.keyClick(c, Qt.Key.Key_D)
    assert ss.index == 1 and window.panels.file_list.current_index() == 1
    qtbot.keyClick(c, Qt.Key.Key_A)
    assert ss.index == 0


def test_space_marks_verified_once_per_press_stays_and_never_pans(window, qtbot):
    """Space is labelImg's "verified" toggle, wherever the focus is: one press marks the
    item, a second takes the mark back; it never moves to another item and a held
    Space with a drag neither verifies again nor pans (the view stays put)."""
    ss, c = window.session, window.canvas
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_Space)
    assert ss.item_state(0) is ItemState.VERIFIED and ss.index == 0
    assert window.actions_by_name["undo"].text() == "&Undo mark verified"
    qtbot.keyClick(c, Qt.Key.Key_Space)
    assert ss.item_state(0) is ItemState.DETECTED and ss.index == 0  # no boxes of a person's: back to detected
    window.panels.file_list.setFocus()  # from the file list too (a list would take Space for itself)
    qtbot.keyClick(window.panels.file_list, Qt.Key.Key_Space)
    assert ss.item_state(0) is ItemState.VERIFIED and ss.index == 0
    c.setFocus()
    c.set_zoom(4.0)
    h, v = c.horizontalScrollBar().value(), c.verticalScrollBar().value()
    qtbot.keyPress(c, Qt.Key.Key_Space)
    qtbot.mousePress(c.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(50, 50))
    qtbot.mouseMove(c.viewport(), QPoint(120, 90))
    qtbot.mouseRelease(c.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(120, 90))
    qtbot.keyRelease(c, Qt.Key.Key_Space)
    assert (c.horizontalScrollBar().value(), c.verticalScrollBar().value()) == (h, v)
    assert ss.index == 0 and ss.item_state(0) is ItemState.DETECTED  # the press toggled once, nothing else
    qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ss.item_state(0) is ItemState.VERIFIED


def test_keys_that_change_data_do_not_repeat_when_held(window):
    """A held key auto-repeats (the window system sends presses marked auto-repeat):
    Qt's shortcut map drops those for actions whose autoRepeat is off. Only moving
    through items / frames and undo / redo repeat."""
    repeating = {n for n, a in window.actions_by_name.items() if a.autoRepeat()}
    assert repeating == {"prev_item", "next_item", "prev_frame", "next_frame", "undo", "redo"}
    for name in ("verify", "accept", "accept_all", "delete", "copy_previous", "detect", "play"):
        assert not window.actions_by_name[name].autoRepeat(), name


def test_verified_next_button_marks_and_moves(window, qtbot):
    ss = window.session
    window.actions_by_name["verify_next"].trigger()
    assert ss.item_state(0) is ItemState.VERIFIED and ss.index == 1
    assert window.actions_by_name["verify_next"].shortcuts() == []  # Space is "verified" alone: no key does two things


def test_file_list_filter_and_click(window, qtbot):
    p, ss = window.panels, window.session
    ss.verify_and_next()
    p.file_list.set_filter(ItemState.VERIFIED)
    assert p.file_list.visible_names() == ["img0.png"]
    p.file_list.set_filter(None)
    p.file_list.itemActivated.emit(2)
    assert ss.index == 2 and ss.key == "img2.png"


def test_worker_error_reaches_status_bar_and_log_and_app_survives(window, qtbot, fake_model):
    fake_model.fail = True
    window.actions_by_name["detect"].trigger()
    qtbot.waitUntil(lambda: bool(window.panels.log.errors()), timeout=5000)
    assert "CUDA out of memory (simulated)" in window.statusBar().currentMessage()
    assert window.panels.log.errors()[-1] == "img0.png: RuntimeError: CUDA out of memory (simulated)"
    assert window.worker.isRunning()
    fake_model.fail = False
    calls = fake_model.calls
    window.session.go_to(1)
    qtbot.waitUntil(lambda: fake_model.calls > calls and window.session.trace is not None, timeout=5000)


def test_ui_stays_responsive_while_the_model_is_slow(window, qtbot, fake_model):
    """The model runs off the GUI thread: a 10 ms timer ticks inside every 0.5 s model call
    (a call on the GUI thread would leave none), and moving on during a call shows the new
    image's trace. How long the loop may pause is measured by benchmarks/bench_gui.py."""
    fake_model.delay = 0.5
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    calls = fake_model.calls
    window.session.go_to(1)
    # img1 running before moving on: a request that has not started would be replaced by img2's
    qtbot.waitUntil(lambda: fake_model.calls == calls + 1, timeout=10000)
    window.session.go_to(2)
    qtbot.waitUntil(lambda: fake_model.calls >= calls + 2 and window.session.trace is not None
                    and window.session.trace_key == "img2.png", timeout=10000)
    timer.stop()
    spans = fake_model.spans[calls:]
    assert len(spans) >= 2
    for start, end in spans:
        assert any(start < t < end for t in ticks), "the event loop stood still while the model ran"


def test_settings_are_saved_on_close(qtbot, tmp_path, fake_model):
    worker = InferenceWorker()
    worker.set_detector(fake_model, ModelInfo("fake", list(fake_model.trace.class_names)))
    settings = Settings(tmp_path / "settings.json")
    win = MainWindow(worker=worker, settings=settings)
    qtbot.addWidget(win)
    win.panels.score.setValue(30)
    win.actions_by_name["overlay_grid"].trigger()
    win.close()
    worker.stop()
    again = Settings(tmp_path / "settings.json")
    assert again.get("score_thresh") == pytest.approx(0.3)
    assert again.get("overlays")["grid"] is True


def test_real_tiny_model_end_to_end(qtbot, tmp_path):
    """A random-weight ``small`` checkpoint loaded by the worker, 128x96 images."""
    ckpt = make_tiny_checkpoint(tmp_path / "tiny.pt")
    folder = write_images(tmp_path / "proj", 2, (128, 96))
    win = MainWindow(model=str(ckpt), device="cpu", settings=Settings(tmp_path / "s.json"))
    qtbot.addWidget(win)
    win.show()
    win.open_initial([str(folder)])
    qtbot.waitUntil(lambda: win.session.trace is not None, timeout=30000)
    trace = win.session.trace
    assert trace.image_size == (96, 128) and trace.class_names == ["__background__", "cat", "dog"]
    assert win.panels.model_label.text() == "tiny.pt (cpu)"
    assert win.panels.model_picker.current_model() == str(ckpt)
    assert win.canvas.overlays.trace is trace
    assert win.panels.stepper.current() == 0 and trace.num_proposals > 0
    win.close()
    assert not win.worker.isRunning()


def test_no_arguments_open_the_samples_with_the_bundled_model(qtbot, tmp_path, monkeypatch):
    """``detector-app gui`` with no paths: a copy of resources/samples, models/default.pt."""
    from detector_app.detection import hub

    bundled = make_tiny_checkpoint(tmp_path / "models" / "default.pt")
    monkeypatch.setattr(hub, "bundled_model_path", lambda: bundled)
    win = MainWindow(device="cpu", settings=Settings(tmp_path / "s.json"))
    qtbot.addWidget(win)
    win.show()
    win.open_initial([])
    qtbot.waitUntil(lambda: "default.pt" in win.panels.model_label.text(), timeout=30000)
    assert win.panels.model_label.text() == "default.pt (cpu)" and not win.panels.log.errors()
    assert win.panels.model_picker.current_model() is None  # "Bundled default"
    samples = sorted(p.name for p in (Path(__file__).parents[2] / "resources" / "samples" / "images").iterdir())
    assert win.panels.file_list.visible_names()[:len(samples)] == [f"images/{n}" for n in samples]
    assert win.session.key == f"images/{samples[0]}"
    assert Path(win.session.store.root).parent == Path(os.environ["DETECTOR_APP_CONFIG_DIR"])  # a copy
    win.close()


def test_a_vanished_last_model_falls_back_to_the_bundled_one(qtbot, tmp_path, monkeypatch):
    from detector_app.detection import hub

    bundled = make_tiny_checkpoint(tmp_path / "models" / "default.pt")
    monkeypatch.setattr(hub, "bundled_model_path", lambda: bundled)
    settings = Settings(tmp_path / "s.json")
    settings.set("model", str(tmp_path / "deleted.pt"))
    win = MainWindow(device="cpu", settings=settings)
    qtbot.addWidget(win)
    win.open_initial([str(write_images(tmp_path / "proj", 1, (128, 96)))])
    qtbot.waitUntil(lambda: win.panels.model_label.text() == "default.pt (cpu)", timeout=30000)
    assert win.panels.log.entries[0][0] == "warning" and "deleted.pt, is gone" in win.panels.log.entries[0][1]
    assert not win.panels.log.errors() and win.model_spec is None
    win.close()


def test_missing_bundled_model_runs_an_untrained_one_and_says_so(qtbot, tmp_path, monkeypatch):
    from detector_app.app import jobs
    from detector_app.detection import hub

    monkeypatch.setattr(hub, "bundled_model_path", lambda: tmp_path / "nope" / "default.pt")
    win = MainWindow(device="cpu", settings=Settings(tmp_path / "s.json"))
    qtbot.addWidget(win)
    win.refresh_models()
    entries = win.panels.model_picker.model_entries()
    assert entries[1] == ("Untrained (random weights)", jobs.UNTRAINED)
    win.load_model(None)
    assert "nope/default.pt is missing" in win.statusBar().currentMessage()
    assert "nope/default.pt" in win.panels.log.errors()[0]
    qtbot.waitUntil(lambda: "untrained" in win.panels.model_label.text(), timeout=30000)
    info = win.worker.info
    assert info.class_names == ["__background__", "circle", "square", "triangle", "bar", "star"]
    assert info.meta["random_weights"] and "RANDOM weights" in win.statusBar().currentMessage()
    assert win.panels.model_label.text() == "\u26a0 untrained (random weights) (cpu)"
    assert win.panels.model_picker.current_model() == jobs.UNTRAINED
    assert win.model_spec is None  # the saved choice stays "bundled": it loads once it exists
    bundled = make_tiny_checkpoint(tmp_path / "nope" / "default.pt")  # trained meanwhile
    combo = win.panels.model_picker._model  # noqa: SLF001
    assert not combo.model().item(0).isEnabled()
    combo.showPopup()  # opening the list looks again
    assert combo.model().item(0).isEnabled() and combo.currentData() == jobs.UNTRAINED
    combo.hidePopup()
    win.panels.model_picker.choose_model(None)
    qtbot.waitUntil(lambda: win.panels.model_label.text() == "default.pt (cpu)", timeout=30000)
    assert win.worker.info.path == str(bundled)
    win.close()
    assert Settings(tmp_path / "s.json").get("model") is None


@pytest.fixture
def video_window(qtbot, tmp_path: Path, fake_model: FakeModel):
    """Factory: the real window (fake model) on ``vid/clip.avi`` of ``frames`` MJPG
    frames at 20 fps, frame i filled with grey ``step * i``; closed afterwards."""
    made: list[tuple[MainWindow, InferenceWorker]] = []

    def make(frames: int, step: int) -> MainWindow:
        root = tmp_path / "vid"
        write_video(root / "clip.avi", frames, (W, H), fps=20.0, frame=lambda i: np.full((H, W, 3), step * i, np.uint8))
        worker = InferenceWorker()
        worker.set_detector(fake_model, ModelInfo("fake", list(fake_model.trace.class_names)))
        win = MainWindow(worker=worker, settings=Settings(tmp_path / "s.json"))
        qtbot.addWidget(win)
        win.show()
        made.append((win, worker))
        assert win.open_paths([str(root / "clip.avi")])
        return win

    yield make
    for win, worker in made:
        win.close()
        worker.stop()


def test_open_video_step_play_and_annotate_frames(qtbot, video_window, fake_model):
    win = video_window(8, 25)
    worker = win.worker
    video, ss, c = win.panels.video, win.session, win.canvas
    assert not video.isHidden() and video.frame_count == 8 and video.fps == pytest.approx(20.0)
    assert video.label_text().startswith("frame 1 / 8")
    qtbot.waitUntil(lambda: ss.trace is not None, timeout=5000)
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_Period)  # next frame (canvas shortcut)
    assert ss.frame == 1 and ss.key == "clip.avi#1" and video.frame == 1
    qtbot.waitUntil(lambda: ss.trace is not None, timeout=5000)
    c.annotationDrawn.emit(Box(10, 10, 90, 80))  # annotate frame 1
    assert ss.store.frames_of("clip.avi") == [1]
    assert win.panels.file_list.summary() == "1 of 1 shown \u2014 1 edited"
    qtbot.keyClick(c, Qt.Key.Key_Comma)
    assert ss.frame == 0 and ss.record.annotations == []
    seen = fake_model.calls
    video.play()
    qtbot.waitUntil(lambda: not video.playing, timeout=5000)  # plays to the last frame and stops
    assert ss.frame == 7 and video.label_text().startswith("frame 8 / 8")
    qtbot.waitUntil(lambda: not worker.is_busy(), timeout=5000)
    assert fake_model.calls > seen  # frames were detected while playing (newest wins)
    ss.go_frame(1)
    assert [a.box for a in ss.record.annotations] == [Box(10, 10, 90, 80)]
    assert c.overlays.annotations.box_of(ss.record.annotations[0].id) == Box(10, 10, 90, 80)


def test_pausing_a_video_on_a_slow_model_shows_the_paused_frames_own_detections(qtbot, video_window, fake_model):
    """A model slower than the frame rate (0.25 s per frame at 20 fps): after P, and
    after playback reaches the end, the frame on screen gets its own detections
    (not cancelled with the skipped frames, which would leave an earlier frame's
    boxes up for good); until they arrive, Shift+Enter says why it accepts nothing."""
    win = video_window(30, 8)
    video, ss, c = win.panels.video, win.session, win.canvas
    qtbot.waitUntil(lambda: ss.trace is not None, timeout=5000)
    fake_model.delay = 0.25
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: ss.frame is not None and ss.frame >= 10, timeout=5000)
    qtbot.keyClick(c, Qt.Key.Key_P)  # pause, a real key on the canvas
    assert not video.playing
    paused = ss.key
    if ss.trace_key != paused:  # an earlier frame's boxes are gone, and Shift+Enter says why
        assert ss.trace is None and ss.result is None
        qtbot.keyClick(c, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        assert win.statusBar().currentMessage().startswith(
            f"accepted nothing: no detections of clip.avi, frame {ss.frame + 1} yet")
    qtbot.waitUntil(lambda: ss.trace_key == paused and ss.trace is not None, timeout=5000)
    assert ss.key == paused and len(c.overlays.layers["detections"].tags) == len(ss.result.scores) > 0
    qtbot.keyClick(c, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert len(ss.record.annotations) == len(ss.result.scores)  # now they can be accepted
    video.play()  # to the end: the last frame's own detections arrive too
    qtbot.waitUntil(lambda: not video.playing, timeout=10000)
    assert ss.frame == 29
    qtbot.waitUntil(lambda: ss.trace_key == "clip.avi#29", timeout=5000)
    assert ss.trace is not None


def _drag(qtbot, canvas, start: tuple[float, float], end: tuple[float, float], steps: int = 4) -> None:
    vp = canvas.viewport()
    a, b = canvas.image_to_view(*start).toPoint(), canvas.image_to_view(*end).toPoint()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    for i in range(1, steps + 1):
        qtbot.mouseMove(vp, a + (b - a) * (i / steps))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=b)


def test_draw_and_move_with_the_mouse_then_undo(window, qtbot):
    ss, c = window.session, window.canvas
    c.set_zoom(2.0)
    c.centerOn(100, 80)
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_2)  # the next box is a dog
    qtbot.keyClick(c, Qt.Key.Key_W)
    _drag(qtbot, c, (60, 50), (120, 110))
    (ann,) = ss.record.annotations
    assert ann.label == "dog"
    assert ann.box.to_tuple() == pytest.approx((60, 50, 120, 110), abs=1.0)
    qtbot.keyClick(c, Qt.Key.Key_W)  # leave draw mode; drag the box by its middle
    _drag(qtbot, c, (90, 80), (100, 90))
    moved = ss.record.annotations[0].box
    assert (moved.x1 - ann.box.x1, moved.y1 - ann.box.y1) == pytest.approx((10, 10), abs=1.0)
    assert ss.undo_text == "move box"
    qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ss.record.annotations[0].box == ann.box


def test_anchor_scale_and_ratio_filters(window, qtbot):
    p, c, trace = window.panels, window.canvas, window.session.trace
    assert [p.anchor_scale.itemText(i) for i in range(p.anchor_scale.count())] == ["all scales", "32 px", "64 px"]
    assert [p.anchor_ratio.itemText(i) for i in range(p.anchor_ratio.count())] == [
        "all ratios", "h/w 0.5", "h/w 1", "h/w 2"]
    window.session.set_overlay("anchors", True)
    p.anchor_mode.setCurrentText("grid")
    every = c.shown_anchor_indices()
    p.anchor_scale.setCurrentIndex(2)  # 64 px only
    p.anchor_ratio.setCurrentIndex(1)  # h/w 0.5 only
    shown = c.shown_anchor_indices()
    assert 0 < len(shown) < len(every)
    assert set(trace.anchor_scale_index[shown].tolist()) == {1}
    assert set(trace.anchor_ratio_index[shown].tolist()) == {0}
    p.anchor_scale.setCurrentIndex(0)
    p.anchor_ratio.setCurrentIndex(0)
    assert len(c.shown_anchor_indices()) == len(every)


def test_excepthook_routes_bugs_to_the_log(window, monkeypatch):
    import sys

    from detector_app.qt.app import install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook(window)
    try:
        raise ZeroDivisionError("division by zero in a slot")
    except ZeroDivisionError:
        sys.excepthook(*sys.exc_info())
    assert window.panels.log.errors()[-1] == "internal error: ZeroDivisionError: division by zero in a slot"
    assert "internal error" in window.statusBar().currentMessage()


def test_suggestions_and_annotations_look_apart_and_accept_delete_show_on_screen(window, qtbot):
    """A detection is a dashed suggestion with "class score"; accepted, it is drawn only
    as the solid annotation with the class alone; deleting that annotation brings the
    suggestion back; Del on a suggestion says why nothing is deleted. Real clicks and keys."""
    ss, c = window.session, window.canvas
    det_layer = c.overlays.layers["detections"]
    n = len(ss.result.scores)
    assert len(det_layer.tags) == n and all(" 0." in t for t in det_layer.tags)  # "class score"
    d = 1
    x1, y1, x2, y2 = (float(v) for v in ss.result.boxes[d])
    name = ss.trace.class_names[int(ss.result.labels[d])]
    c.setFocus()
    qtbot.mouseClick(c.viewport(), Qt.MouseButton.LeftButton, pos=c.image_to_view((x1 + x2) / 2, y1).toPoint())
    assert ss.selected_detection == d
    qtbot.keyClick(c, Qt.Key.Key_Delete)  # a suggestion: nothing deleted, and the status bar says why
    assert ss.record is None or ss.record.annotations == []
    assert "is the model's suggestion, not a box of yours" in window.statusBar().currentMessage()
    qtbot.keyClick(c, Qt.Key.Key_Return)  # accept it
    (ann,) = ss.record.annotations
    assert c.overlays.annotations.views()[0].tag == name  # the class only
    assert len(det_layer.tags) == n - 1 and d not in c.overlays.suggestion_indices().tolist()
    assert c.overlays.pick_detection((x1 + x2) / 2, y1, 2.0) != d  # and it cannot be picked as a suggestion
    qtbot.keyClick(c, Qt.Key.Key_Delete)  # the accepted annotation is selected: deleted
    assert ss.record.annotations == []
    assert len(det_layer.tags) == n and d in c.overlays.suggestion_indices().tolist()  # the suggestion is back


def test_switching_projects_leaves_no_undo_step_of_the_previous_one(window, qtbot, tmp_path):
    """After opening another project, Undo offered "Undo mark verified" of the previous
    project and did nothing."""
    c = window.canvas
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_Space)
    assert window.actions_by_name["undo"].isEnabled() and window.actions_by_name["undo"].text() == "&Undo mark verified"
    assert window.open_paths([str(write_images(tmp_path / "other", 2))])
    assert not window.actions_by_name["undo"].isEnabled() and window.actions_by_name["undo"].text() == "&Undo"


def test_video_keys_work_without_a_click_and_frames_count_from_one_everywhere(qtbot, video_window):
    """"," and "." step through frames without a click on the canvas first, and the video
    bar and the status bar both count frames from one."""
    win = video_window(5, 40)
    qtbot.waitUntil(lambda: win.session.trace is not None, timeout=5000)
    qtbot.keyClick(QApplication.focusWidget() or win, Qt.Key.Key_Period)  # no click on the canvas first
    assert win.session.frame == 1
    assert win.panels.video.label_text().startswith("frame 2 / 5")
    qtbot.waitUntil(lambda: "clip.avi, frame 2:" in win.statusBar().currentMessage(), timeout=5000)
    view = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    submenus = [a.text() for a in view.actions() if a.menu() is not None]
    assert submenus == ["&Panels and toolbars"]  # a titled submenu, not an untitled entry


def test_f1_shows_the_keys_and_mouse_as_a_table(window, qtbot):
    from PySide6.QtWidgets import QMessageBox

    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_F1)
    box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
    assert box.textFormat() == Qt.TextFormat.RichText and "<table" in box.text() and "Mouse" in box.text()
    box.close()


def test_a_toggled_overlay_button_looks_toggled(window, qtbot):
    """A checked toolbar toggle is filled, not marked only by a faint frame."""
    from PySide6.QtWidgets import QToolButton

    act = window.actions_by_name["overlay_grid"]
    button = next(b for b in window.findChildren(QToolButton) if b.defaultAction() is act)

    def mean_colour() -> np.ndarray:
        image = button.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        arr = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(
            image.height(), image.bytesPerLine())[:, :image.width() * 3].reshape(image.height(), image.width(), 3)
        return arr.reshape(-1, 3).mean(0)

    act.setChecked(False)
    off = mean_colour()
    act.setChecked(True)
    on = mean_colour()
    assert np.abs(on - off).sum() > 100 and on[2] - on[0] > 50  # clearly different, and blue, when on
    act.setChecked(False)


def test_zoom_to_the_selected_box_and_open_recent(window, qtbot, tmp_path):
    """Shift+F zooms to the selected box; File > Open recent lists what was opened (from
    the settings) and opens it."""
    from detector_app.domain.boxes import Box

    ss, c = window.session, window.canvas
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)  # nothing selected: says so
    assert window.statusBar().currentMessage() == "select a box first (click one)"
    ss.choose_label("cat")
    assert ss.add_box(Box(100, 60, 140, 100)) is not None  # drawn boxes are selected
    before = c.zoom
    qtbot.keyClick(c, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    assert c.zoom > before
    centre = c.mapToScene(c.viewport().rect().center())
    assert abs(centre.x() - 120) < 3 and abs(centre.y() - 80) < 3
    other = write_images(tmp_path / "other", 2)
    assert window.open_paths([str(other)])
    window._fill_recent()  # what showing the menu does  # noqa: SLF001
    entries = [a.text() for a in window.recent_menu.actions()]
    assert entries[0] == str(other.resolve()) and len(entries) == 2
    window.recent_menu.actions()[1].trigger()  # the first project again
    assert ss.store.root == Path(entries[1])


def test_turning_anchors_on_shows_a_cell_at_once(window):
    """Turning the anchors on in cell mode shows a cell at once, without a mouse move:
    the cell of the stepper's proposal's source anchor, pinned."""
    ss, c = window.session, window.canvas
    p = window.panels.stepper.current()
    a = int(ss.trace.proposal_anchor_index[p])
    assert c.shown_anchor_indices().size == 0
    window.actions_by_name["overlay_anchors"].trigger()
    shown = c.shown_anchor_indices().tolist()
    assert a in shown and len(shown) == ss.trace.levels[0].num_anchors_per_cell
    assert window.statusBar().currentMessage().startswith(f"Anchors: showing the cell of proposal {p}'s source anchor")


def test_video_slider_marks_annotated_and_verified_frames(qtbot, video_window):
    """The slider did not mark annotated or verified frames: ticks in the file list's colours."""
    from detector_app.qt.file_list import STATE_COLORS

    win = video_window(8, 25)
    ss, c, video = win.session, win.canvas, win.panels.video
    qtbot.waitUntil(lambda: ss.trace is not None, timeout=5000)
    assert video.marks() == {}
    ss.go_frame(2)
    ss.choose_label("cat")
    c.annotationDrawn.emit(Box(10, 10, 60, 50))  # frame 2 annotated
    ss.go_frame(5)
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_Space)  # frame 5 verified
    assert video.marks() == {2: STATE_COLORS[ItemState.EDITED], 5: STATE_COLORS[ItemState.VERIFIED]}
    image = video.grab().toImage()  # the ticks are painted in those colours
    colours = {image.pixelColor(x, y).rgb() for x in range(image.width()) for y in range(image.height())}
    assert STATE_COLORS[ItemState.VERIFIED].rgb() in colours and STATE_COLORS[ItemState.EDITED].rgb() in colours


def test_slow_model_navigation_replaces_the_pending_detection_and_the_status_shows_timing(window, fake_model, qtbot):
    """A model that takes seconds (ResNet-50 on a CPU): moving on through images does not queue a
    detection per image passed; the status bar shows detection at work and how long the last one took."""
    win, ss, p = window, window.session, window.panels
    qtbot.waitUntil(lambda: p.busy_label.text().startswith("last detection"), timeout=5000)
    fake_model.delay = 0.6
    ss.forget_traces()  # img0 again: now running
    qtbot.waitUntil(lambda: p.busy_label.text().startswith("\u23f3 detecting"), timeout=5000)
    calls = fake_model.calls
    ss.step(1)  # img1: queued behind img0
    ss.step(1)  # img2 replaces img1's pending request
    assert ss.key == "img2.png" and win.worker.pending() == 1
    qtbot.waitUntil(lambda: ss.trace is not None, timeout=10000)
    assert fake_model.calls == calls + 1  # img0 (running) and img2; img1 never ran
    assert "img1.png" not in ss.cached_traces()
    qtbot.waitUntil(lambda: p.busy_label.text().startswith("last detection"), timeout=5000)
    import re

    assert re.fullmatch(r"last detection (6\d\d ms|[0-9.]+ s)", p.busy_label.text())


def test_misses_panel_explains_misses_and_false_positives_and_shows_the_culprit(window, qtbot):
    """The fake trace (score 0.5): cat 0.90 at p0's box and dog 0.80 at p1's are detected; p5 is
    background 0.68 / cat 0.30. Boxes of the user's: a cat on detection 0 (found), a cat on p5's
    proposal (missed: the RoI head called it background) and a dog where no anchor fits."""
    ss, p, c = window.session, window.panels, window.canvas
    misses = p.misses
    assert misses.findings() == [] and "Draw or accept boxes" in misses.header.text()
    trace = ss.trace
    ss.choose_label("cat")
    ss.add_box(Box(40, 40, 120, 140))
    # not verified yet: the unmatched dog may be a suggestion not reviewed, so it is no false positive
    assert misses.findings() == [] and "listed once the image is verified" in misses.header.text()
    ss.store.set_state(ss.key, ItemState.VERIFIED)
    found = misses.findings()
    assert [f.title for f in found] == ["false positive: dog 0.80 (detection 1)"]
    p5 = Box(*map(float, trace.proposals[5]))
    missed_id = ss.add_box(p5)
    ss.select_annotation(None)  # (choosing a label relabels the selected box)
    ss.choose_label("dog")
    far_id = ss.add_box(Box(2, 180, 14, 198))
    titles = [f.title for f in misses.findings()]
    assert titles[:2] == ["missed cat (box 2): RoI head: background", titles[1]] and titles[1].startswith("missed dog")
    assert titles[2] == "false positive: dog 0.80 (detection 1)"
    assert "2 missed, 1 false positive(s)" in misses.header.text()
    # choosing the miss selects the box and moves the stepper (and its highlight) to proposal 5
    misses.list.setCurrentRow(0)
    assert ss.selected_annotation == missed_id and p.stepper.current() == 5
    assert "background 0.68" in misses.details_text() and "class probabilities" in misses.details_text()
    # clicking a missed box on the canvas shows its explanation too
    misses.list.setCurrentRow(-1)
    ss.select_annotation(None)
    c.annotationSelected.emit(missed_id)
    assert misses.list.currentRow() == 0 and p.stepper.current() == 5
    # a miss with no proposal: the anchors of the best anchor's cell are shown
    misses.list.setCurrentRow(1)
    e = misses.findings()[1].explanation
    assert ss.selected_annotation == far_id and e.anchor >= 0 and ss.overlays["anchors"]
    assert e.anchor in c.shown_anchor_indices().tolist()
    # the false positive selects its detection
    misses.list.setCurrentRow(2)
    assert ss.selected_detection == 1
    # the score slider changes the findings: at 0.95 the cat on detection 0 is missed too
    ss.set_thresholds(score_thresh=0.95)
    assert [f.title.split(":")[0] for f in misses.findings()] == ["missed cat (box 1)", "missed cat (box 2)",
                                                                 "missed dog (box 3)"]


def test_file_list_marks_an_unreadable_file(window, qtbot, tmp_path):
    from PySide6.QtCore import Qt as QtNs

    root = window.session.store.root
    (root / "img1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    fl = window.panels.file_list
    window.session.go_to(1)
    assert fl.problem(1) is not None and "img1.png" in fl.problem(1)
    model = fl._model  # noqa: SLF001
    tip = model.data(model.index(model.row_of(1)), QtNs.ItemDataRole.ToolTipRole)
    assert tip.startswith("img1.png: cannot be read")
    assert "1 unreadable" in fl.summary()


def test_box_list_shows_yours_and_the_suggestions_apart_and_selects(window, qtbot):
    ss, boxes = window.session, window.panels.boxes
    assert boxes.rows() == [("Suggestions, not accepted (2)", "cat 0.90", "suggestion"),
                            ("Suggestions, not accepted (2)", "dog 0.80", "suggestion")]
    ss.select_detection(0)
    ss.accept_detection()
    ss.select_annotation(None)  # (choosing a label relabels the selected box)
    ss.choose_label("dog")
    drawn = ss.add_box(Box(5, 5, 45, 25))
    rows = boxes.rows()
    assert rows[:2] == [("Your boxes (2)", "cat", "accepted (0.90)"), ("Your boxes (2)", "dog", "drawn")]
    assert rows[2:] == [("Suggestions, not accepted (1)", "dog 0.80", "suggestion")]
    assert boxes.selected() == ("annotation", drawn)  # the canvas selection is mirrored
    # a click on a row selects on the canvas: the suggestion, then the accepted box
    group = boxes.tree.topLevelItem(1)
    boxes.tree.itemClicked.emit(group.child(0), 0)
    assert ss.selected_detection == 1 and boxes.selected() == ("detection", 1)
    first = boxes.tree.topLevelItem(0).child(0)
    boxes.tree.itemClicked.emit(first, 0)
    assert ss.selected_annotation == ss.record.annotations[0].id


def test_box_list_hide_and_lock_check_boxes(window, qtbot):
    from PySide6.QtCore import QPoint
    from PySide6.QtCore import Qt as QtNs

    ss, boxes = window.session, window.panels.boxes
    layer = window.canvas._overlays.annotations  # noqa: SLF001
    ss.choose_label("dog")
    ident = ss.add_box(Box(5, 5, 45, 25))
    assert layer.box_of(ident) is not None and boxes.flags_of(ident) == (False, False)
    row = boxes.tree.topLevelItem(0).child(0)
    row.setCheckState(1, QtNs.CheckState.Checked)  # what a click on the "hide" box does
    qtbot.waitUntil(lambda: ident in ss.box_flags.hidden, timeout=2000)  # once the click is over
    assert ident in ss.box_flags.hidden and layer.box_of(ident) is None
    assert boxes.flags_of(ident) == (True, False)  # the rebuilt row keeps its tick
    boxes.tree.topLevelItem(0).child(0).setCheckState(2, QtNs.CheckState.Checked)
    qtbot.waitUntil(lambda: ident in ss.box_flags.locked, timeout=2000)
    ss.delete_annotation(ident)
    assert [a.id for a in ss.record.annotations] == [ident]
    assert "locked" in window.statusBar().currentMessage()
    # a real click on the lock box: the rows are rebuilt after it, not under it
    row = boxes.tree.topLevelItem(0).child(0)
    rect = boxes.tree.visualRect(boxes.tree.indexFromItem(row, 2))
    for x in range(rect.left() + 2, rect.left() + 24, 2):  # the indicator's place depends on the style
        qtbot.mouseClick(boxes.tree.viewport(), QtNs.MouseButton.LeftButton, pos=QPoint(x, rect.center().y()))
        qtbot.wait(20)
        if ident not in ss.box_flags.locked:
            break
    assert ident not in ss.box_flags.locked and boxes.flags_of(ident) == (True, False)
