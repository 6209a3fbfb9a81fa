"""The real MainWindow driven through its actions and keys for the flows that go
through dialogs or other models: File > Export (a modal dialog driven while it
runs) then re-import equal, Model > Fine-tune then "Use the new model", the
model and device pickers, zoom keys, copying boxes from the previous image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from detector_app.app.session import Event
from detector_app.app.settings import Settings
from detector_app.domain.boxes import Box
from detector_app.formats import load_dataset
from detector_app.qt.export_dialog import ExportDialog
from detector_app.qt.finetune_dialog import FinetuneDialog
from detector_app.qt.main_window import MainWindow
from tests.helpers.files import write_images
from tests.helpers.models import make_tiny_checkpoint
from tests.helpers.qt import drive_modal
from tests.helpers.traces import FAKE, TRACE_SIZE, anchor_index

W, H = TRACE_SIZE


def test_export_from_the_file_menu_then_reimport_equal(window, qtbot, tmp_path):
    ss = window.session
    window.canvas.annotationDrawn.emit(Box(10, 20, 60, 90))  # img0: one cat (the current label)
    ss.select_detection(1)
    window.actions_by_name["accept"].trigger()  # and the dog detection
    ss.verify_and_next()
    out = tmp_path / "export"

    def steps(dialog: ExportDialog) -> None:
        dialog.set_format("voc")
        dialog.out_dir.setText(str(out))
        dialog.verified_only.setChecked(True)
        dialog.start()
        qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)
        assert "Exported 1 images, 2 boxes" in dialog.message.text()

    drive_modal(qtbot, window.actions_by_name["export"].trigger, ExportDialog, steps)
    ds = load_dataset(out)
    (rec,) = ds.images
    got = sorted((a.label, a.box.to_tuple()) for a in rec.annotations)
    want = sorted((a.label, a.box.to_tuple()) for a in ss.store.record("img0.png").annotations)
    assert [g[0] for g in got] == [w[0] for w in want] == ["cat", "dog"]
    for (_, a), (_, b) in zip(got, want):
        assert a == pytest.approx(b, abs=1e-6)


def test_zoom_keys_fit_and_one_to_one(window, qtbot):
    c = window.canvas
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert c.zoom == pytest.approx(1.0 / c.devicePixelRatioF())
    c.set_zoom(3.0)
    qtbot.keyClick(c, Qt.Key.Key_F)
    vp = c.viewport()
    assert c.zoom == pytest.approx(min(vp.width() / W, vp.height() / H), rel=0.02)


def test_copy_boxes_from_the_previous_image_with_the_key(window, qtbot):
    ss, c = window.session, window.canvas
    c.annotationDrawn.emit(Box(10, 20, 60, 90))
    ss.step(1)
    assert ss.key == "img1.png" and (ss.record is None or not ss.record.annotations)
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert [(a.label, a.box) for a in ss.record.annotations] == [("cat", Box(10, 20, 60, 90))]
    assert c.overlays.annotations.box_of(ss.record.annotations[0].id) == Box(10, 20, 60, 90)
    qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ss.record.annotations == []


@pytest.fixture
def real_window(qtbot, tmp_path: Path):
    """The window with its own worker and a random-weight tiny checkpoint, 2 images of 128 x 96."""
    ckpt = make_tiny_checkpoint(tmp_path / "tiny.pt")
    win = MainWindow(model=str(ckpt), device="cpu", settings=Settings(tmp_path / "s.json"))
    qtbot.addWidget(win)
    win.show()
    win.open_initial([str(write_images(tmp_path / "proj", 2, (128, 96)))])
    qtbot.waitUntil(lambda: win.session.trace is not None, timeout=30000)
    yield win
    win.close()


def test_model_picker_and_device_picker_reload_the_model(real_window, qtbot, tmp_path):
    win = real_window
    picker = win.panels.model_picker
    assert ("tiny.pt", str(tmp_path / "tiny.pt")) in picker.model_entries()
    assert picker.device_entries()[:2] == ["auto", "cpu"]
    other = make_tiny_checkpoint(tmp_path / "other.pt", seed=1)
    picker.choose_model(str(other))  # as "Open checkpoint..." does
    qtbot.waitUntil(lambda: win.panels.model_label.text() == "other.pt (cpu)", timeout=30000)
    assert win.model_spec == str(other)
    qtbot.waitUntil(lambda: win.session.trace is not None, timeout=30000)  # the image is detected again
    picker.deviceChosen.emit("cpu")
    assert win.device == "cpu" and "loading model" in win.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not win.worker.is_busy(), timeout=30000)
    assert win.worker.info.path == str(other)
    win.close()
    assert Settings(tmp_path / "s.json").get("model") == str(other)


def test_finetune_from_the_model_menu_then_use_the_new_model(real_window, qtbot):
    win = real_window
    ss = win.session
    ss.choose_label("cat")
    win.canvas.annotationDrawn.emit(Box(20, 20, 64, 48))
    ss.verify_and_next()

    def steps(dialog: FinetuneDialog) -> None:
        dialog.iters.setValue(2)
        dialog.batch.setValue(1)
        dialog.epochs.setValue(1)
        dialog.start()
        qtbot.waitUntil(lambda: not dialog.running(), timeout=60000)
        assert dialog.history["loss"] and dialog.use_button.isEnabled()
        dialog.use_button.click()

    (dialog,) = drive_modal(qtbot, win.actions_by_name["finetune"].trigger, FinetuneDialog, steps)
    new = Path(dialog.result.checkpoint)
    assert new.name.startswith("finetune-") and new.is_file()
    qtbot.waitUntil(lambda: win.panels.model_label.text() == f"{new.name} (cpu)", timeout=30000)
    assert win.panels.model_picker.current_model() == str(new)


def test_clicking_boxes_steps_the_stepper_and_looks_up_a_detections_anchor(window, qtbot):
    ss, c, stepper = window.session, window.canvas, window.panels.stepper
    vp = c.viewport()
    ss.set_overlay("detections", False)
    ss.set_overlay("proposals", True)
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=c.image_to_view(63, 161).toPoint())  # inside p4 only
    assert stepper.current() == 4 and c.overlays.highlighted == 4
    assert stepper.fate_text() == "dropped: box too small"
    row, col, a = FAKE[4]
    assert f"#{anchor_index(row, col, a)}" in stepper.info_text()
    ss.set_overlay("detections", True)
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=c.image_to_view(220, 105).toPoint())  # detection 1
    assert ss.selected_detection == 1 and stepper.current() == 1  # its proposal ...
    row, col, a = FAKE[1]
    assert f"#{anchor_index(row, col, a)}" in stepper.info_text()  # ... and its source anchor
    assert f"row {row}, col {col}" in stepper.info_text()
    assert stepper.fate_text() == "became detection 1"


def test_relabel_through_the_label_search(window, qtbot):
    ss, c = window.session, window.canvas
    ll = window.panels.label_list
    c.annotationDrawn.emit(Box(10, 20, 60, 90))
    (ann,) = ss.record.annotations
    assert ann.label == "cat" and ss.selected_annotation == ann.id
    ll._search.setFocus()  # noqa: SLF001
    qtbot.keyClicks(ll._search, "do2")  # digits and letters type into the search, not the shortcuts  # noqa: SLF001
    assert ll._search.text() == "do2" and ss.record.annotations[0].label == "cat"  # noqa: SLF001
    ll._search.setText("do")  # noqa: SLF001
    qtbot.keyClick(ll._search, Qt.Key.Key_Return)  # noqa: SLF001
    assert ss.record.annotations[0].label == "dog" and ll.current() == "dog"
    ll._search.setText("horse")  # noqa: SLF001 - a new class joins the project
    qtbot.keyClick(ll._search, Qt.Key.Key_Return)  # noqa: SLF001
    assert ss.record.annotations[0].label == "horse" and ll.labels() == ["cat", "dog", "horse"]
    window.actions_by_name["undo"].trigger()
    assert ss.record.annotations[0].label == "dog"


def test_enter_in_the_file_list_and_the_stepper_is_theirs_not_accept(window, qtbot):
    ss, p = window.session, window.panels
    ss.select_detection(0)
    view = p.file_list._view  # noqa: SLF001
    view.setFocus()
    view.setCurrentIndex(view.model().index(2, 0))
    qtbot.keyClick(view, Qt.Key.Key_Return)  # Enter opens the item ...
    assert ss.index == 2
    assert ss.store.record("img0.png") is None or ss.store.record("img0.png").annotations == []  # ... accepts nothing
    qtbot.waitUntil(lambda: ss.trace is not None, timeout=5000)
    spin = p.stepper._spin  # noqa: SLF001
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "3")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert p.stepper.current() == 3 and (ss.record is None or ss.record.annotations == [])
    window.canvas.setFocus()
    ss.select_detection(0)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)  # on the canvas Enter accepts
    assert [a.label for a in ss.record.annotations] == ["cat"]


@pytest.mark.parametrize("action, kind", [("export", ExportDialog), ("finetune", FinetuneDialog)])
def test_closed_dialogs_are_deleted_not_kept_by_the_window(window, qtbot, action, kind):
    """Each opening makes a new dialog; once closed it is deleted (it held the
    last job's result), not kept as one more child of the window."""
    for _ in range(3):
        drive_modal(qtbot, window.actions_by_name[action].trigger, kind, lambda dialog: None)
    qtbot.waitUntil(lambda: not window.findChildren(kind), timeout=5000)


def test_device_list_marks_cpu_bf16_slow_once_the_worker_measured_it(real_window, qtbot, monkeypatch):
    """A CPU whose flags list bfloat16 but whose kernels are slow in it (the feature probe
    mocked): the list says "speed not measured yet" until a model load measures it in the
    worker, then "(slow on this CPU)"; a CPU without the flags is marked slow at once."""
    import detector_app.detection.precision as precision

    win, picker = real_window, real_window.panels.model_picker
    monkeypatch.setattr(precision, "cpu_supports_fast_bf16", lambda cpuinfo="": True)
    monkeypatch.setattr(precision, "_TIMES", None)
    monkeypatch.setattr(precision, "_measure_block", lambda: (5.5, 29.2))
    win.refresh_devices()
    assert picker.device_labels()[:3] == ["auto", "CPU", "CPU bf16 (speed not measured yet)"]
    picker.deviceChosen.emit("cpu")  # reloads the model on the worker, which measures
    qtbot.waitUntil(lambda: picker.device_labels()[2] == "CPU bf16 (slow on this CPU)", timeout=30000)
    assert win.worker.info.device == "cpu" and picker.current_device() == "cpu"
    tip = picker._device.itemData(2, Qt.ItemDataRole.ToolTipRole)  # noqa: SLF001
    assert "5.3x slower than fp32" in tip and "auto uses float32" in tip
    monkeypatch.setattr(precision, "cpu_supports_fast_bf16", lambda cpuinfo="": False)
    monkeypatch.setattr(precision, "_TIMES", None)
    win.refresh_devices()
    assert picker.device_labels()[2] == "CPU bf16 (slow on this CPU)"


def test_export_class_ids_follow_the_models_classes_not_the_order_boxes_came_in(window, qtbot, tmp_path):
    """The fake model's classes are cat (1), dog (2). The ids equal the model's in COCO and
    YOLO whatever order boxes came in (accepting only a dog first gives dog id 2, and cat
    is listed), and a person's own class comes after them, with the same ids in the next export."""
    import json

    ss = window.session
    ss.select_detection(1)  # the dog
    window.actions_by_name["accept"].trigger()
    assert [a.label for a in ss.record.annotations] == ["dog"]
    window.actions_by_name["verify"].trigger()

    def export(fmt: str, out: Path) -> None:
        def steps(dialog: ExportDialog) -> None:
            dialog.set_format(fmt)
            dialog.out_dir.setText(str(out))
            dialog.verified_only.setChecked(True)
            dialog.start()
            qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)
            assert "Exported 1 images" in dialog.message.text(), dialog.message.text()

        drive_modal(qtbot, window.actions_by_name["export"].trigger, ExportDialog, steps)

    export("coco", tmp_path / "coco")
    coco = json.loads(next((tmp_path / "coco").rglob("*.json")).read_text())
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [(1, "cat"), (2, "dog")]
    assert [a["category_id"] for a in coco["annotations"]] == [2]
    export("yolo", tmp_path / "yolo")
    ds = load_dataset(tmp_path / "yolo")
    assert ds.label_map.names == ["cat", "dog"]
    label_file = next(p for p in (tmp_path / "yolo").rglob("*.txt") if p.name != "classes.txt")
    assert label_file.read_text().split()[0] == "1"  # dog: index 1 (0-based) in the model's order
    # a class of the person's own comes last; cat and dog keep their ids
    ss.select_annotation(None)
    ss.choose_label("zebra")
    window.canvas.annotationDrawn.emit(Box(5, 5, 40, 40))
    export("coco", tmp_path / "coco2")
    coco2 = json.loads(next((tmp_path / "coco2").rglob("*.json")).read_text())
    assert [(c["id"], c["name"]) for c in coco2["categories"]] == [(1, "cat"), (2, "dog"), (3, "zebra")]


def test_recall_funnel_dialog_runs_off_the_gui_thread_and_draws_the_stages(real_window, qtbot, tmp_path):
    from detector_app.app.diagnose import funnel_job
    from detector_app.domain.funnel import STAGES
    from detector_app.qt.funnel_dialog import FunnelDialog

    win = real_window
    ss = win.session
    assert "funnel" in win.actions_by_name and win.actions_by_name["funnel"].text() == "&Recall funnel\u2026"
    ss.choose_label(ss.labels.names[0])
    ss.add_box(Box(10, 10, 60, 50))
    ss.step(1)
    ss.add_box(Box(30, 20, 90, 80))
    ss.add_box(Box(2, 2, 20, 20))
    cached = ss.cached_traces()
    assert set(cached) <= {"img0.png", "img1.png"}
    job = funnel_job(ss.store, win.models.loaded, "cpu", 0.5, 0.5, cached)
    dialog = FunnelDialog(job, "test", win)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.start_button.click()
    assert dialog.running() and not dialog.close_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.funnel is not None and not dialog.running(), timeout=60000)
    f = dialog.funnel
    assert f.images == 2 and len(f.objects) == 3 and f.thresholds["score"] == 0.5
    series = dialog.series()
    assert [name for name, _ in series] == ["all (3)"] and len(series[0][1]) == len(STAGES)
    assert dialog.table.rowCount() == 1 and dialog.table.columnCount() == len(STAGES)
    assert dialog.table.item(0, len(STAGES) - 1).text() == f"{f.recall()['final']:.3f}"
    dialog.group.setCurrentIndex(1)  # by object size
    assert [name.split(" ")[0] for name, _ in dialog.series()] == [g for g in ("small", "medium", "large")
                                                                   if any(o.size == g for o in f.objects)]
    dialog.group.setCurrentIndex(2)  # by class
    assert dialog.series()[0][0] == f"{ss.labels.names[0]} (3)"
    assert dialog.lost.text().startswith("Missed boxes by the stage that lost them")
    out = tmp_path / "funnel.json"
    dialog.save_json(str(out))
    import json

    assert json.loads(out.read_text())["overall"]["objects"] == 3


def test_detect_all_runs_in_the_background_and_makes_stepping_instant(real_window, qtbot):
    """Model > Detect all with the window's own (tiny) model: not modal, pause / resume, the file
    list follows, and stepping afterwards shows stored traces without asking the worker."""
    from detector_app.domain.annotations import ItemState

    win = real_window
    ss = win.session
    (win.session.store.root / "img2.png").write_bytes((win.session.store.root / "img1.png").read_bytes())
    assert "detect_all" in win.actions_by_name
    win.open_detect_all()
    dialog = win.dialogs.detect_all
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert dialog.message.text().startswith("2 image(s) to detect")  # img2 is not in the open project's list
    dialog.only_unreviewed.setChecked(False)
    done: list[str] = []
    dialog.itemDone.connect(done.append)
    dialog.start_button.click()
    dialog.toggle_pause()  # paused while the job still loads its model: nothing is detected until Resume
    assert dialog.pause_button.text() == "Resume"
    qtbot.wait(300)
    assert done == [] and dialog.running()
    dialog.toggle_pause()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=60000)
    assert sorted(done) == ["img0.png", "img1.png"]
    assert dialog.message.text().startswith("detected") or "already stored" in dialog.message.text()
    stored = ss.view.cache.store
    assert stored is not None and stored.count() == 2
    assert all(ss.item_state(i) is not ItemState.NOT_SEEN for i in range(2))
    asked: list[str] = []
    ss.subscribe(Event.DETECT, lambda key, *_: asked.append(key))
    ss.forget_traces()  # memory emptied: the stored traces remain
    ss.step(1)
    ss.step(-1)
    assert asked == [] and ss.trace is not None
    dialog.close()


def test_most_useful_first_orders_the_file_list_and_the_keys(real_window, qtbot):
    from detector_app.app.ranking import NOT_DETECTED

    win = real_window
    ss, fl = win.session, win.panels.file_list
    fl.sort.setCurrentIndex(fl.sort.findData("useful"))
    assert fl.reason(0) == NOT_DETECTED and fl.reason(1) == NOT_DETECTED  # nothing scored before Detect all
    win.open_detect_all()
    dialog = win.dialogs.detect_all
    dialog.only_unreviewed.setChecked(False)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=60000)
    ranked = ss.rank_useful()
    assert all(r.score is not None for r in ranked)
    order = [r.index for r in ranked]
    assert fl.visible_indices() == order == ss.nav.order  # the list re-sorted when the job finished
    assert fl.reason(order[0]).startswith("usefulness ")
    ss.go_to(order[0])
    ss.step(1)
    assert ss.index == order[1]  # D follows the review order
    fl.sort.setCurrentIndex(fl.sort.findData("folder"))
    assert fl.visible_indices() == [0, 1] and ss.nav.order is None
    dialog.close()


def test_before_and_after_compares_two_models_and_keeps_the_new_one(real_window, qtbot, tmp_path):
    from detector_app.app.compare import compare_job
    from detector_app.domain.annotations import ItemState
    from detector_app.qt.compare_dialog import CompareDialog

    win = real_window
    ss = win.session
    ss.choose_label(ss.labels.names[0])
    ss.add_box(Box(10, 10, 60, 50))
    ss.store.set_state(ss.key, ItemState.VERIFIED)
    new = make_tiny_checkpoint(tmp_path / "new.pt", seed=3)
    from detector_app.domain.errors import UserError

    class NothingVerified:
        root, label_map = tmp_path, ss.store.label_map

        def records(self) -> list:
            return []

    with pytest.raises(UserError, match="no verified images"):
        compare_job(NothingVerified(), None, str(new), "cpu", None)
    dialog = CompareDialog(compare_job(ss.store, str(tmp_path / "tiny.pt"), str(new), "cpu", ss.image, 0.05), win)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.comparison is not None and not dialog.running(), timeout=60000)
    c = dialog.comparison
    assert c.images == 1 and c.old_name == "tiny.pt" and c.new_name == "new.pt"
    assert c.views["old"].shape == c.views["new"].shape == ss.image.shape
    assert not np.array_equal(c.views["old"], c.views["new"])  # different weights, different boxes
    rows = c.per_class()
    assert [r[:2] for r in rows] == [(ss.labels.names[0], 1)]
    assert dialog.table.rowCount() == 2 and dialog.table.item(1, 0).text() == "all classes"
    title = dialog.plot.getPlotItem().titleLabel.text  # the key is above the bars, not over them
    assert "before" in title and "after" in title and dialog.plot.getPlotItem().legend is None
    assert dialog.keep_button.isEnabled() and "verified image(s): AP50" in dialog.message.text()
    with qtbot.waitSignal(dialog.accepted):
        dialog.keep_button.click()
