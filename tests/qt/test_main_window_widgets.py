"""The main window's smaller widgets on their own: file list (states, filter,
10,000 items), label list (search, Enter, number keys), model picker, video
controls, log panel, actions table."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from detector_app.app.jobs import DeviceChoice, ModelChoice
from detector_app.domain.annotations import ItemState
from detector_app.qt.actions import SPECS, shortcut_help
from detector_app.qt.file_list import FileList
from detector_app.qt.label_list import LabelList
from detector_app.qt.log_panel import LogPanel
from detector_app.qt.model_picker import ModelPicker
from detector_app.qt.video_controls import VideoControls


def test_file_list_states_filter_and_activation(qtbot):
    fl = FileList()
    qtbot.addWidget(fl)
    states = [ItemState.NOT_SEEN, ItemState.DETECTED, ItemState.EDITED, ItemState.VERIFIED, ItemState.NOT_SEEN]
    fl.set_items([f"img{i}.png" for i in range(5)], states)
    assert fl.visible_names() == [f"img{i}.png" for i in range(5)]
    assert fl.summary() == "5 of 5 shown \u2014 2 not seen, 1 detected, 1 edited, 1 verified"
    fired: list = []
    fl.filterChanged.connect(fired.append)
    fl.set_filter(ItemState.NOT_SEEN)
    assert fired == [ItemState.NOT_SEEN] and fl.visible_indices() == [0, 4]
    fl.set_state(4, ItemState.VERIFIED)  # leaves the filter
    assert fl.visible_indices() == [0]
    fl.set_filter(None)
    fl.set_current(3)
    assert fl.current_index() == 3
    with qtbot.waitSignal(fl.itemActivated) as blocker:
        fl._view.activated.emit(fl._model.index(2))  # noqa: SLF001 - a click on row 2
    assert blocker.args == [2]


def test_file_list_lists_ten_thousand_items_fast(qtbot):
    """The list is one model over plain rows: listing, marking and filtering 10,000 items
    are one model reset each (no per-row inserts or widgets)."""
    fl = FileList()
    qtbot.addWidget(fl)
    model = fl._model  # noqa: SLF001 - the view's model, to count its change signals
    events: list[str] = []
    model.modelReset.connect(lambda: events.append("reset"))
    model.rowsInserted.connect(lambda *_: events.append("inserted"))
    model.dataChanged.connect(lambda *_: events.append("changed"))
    names = [f"images/{i:06d}.jpg" for i in range(10_000)]
    t0 = time.perf_counter()
    fl.set_items(names, [ItemState.NOT_SEEN] * len(names))
    fl.set_state(5000, ItemState.VERIFIED)
    fl.set_filter(ItemState.VERIFIED)
    elapsed = time.perf_counter() - t0
    assert fl.visible_names() == ["images/005000.jpg"]
    assert events == ["reset", "changed", "reset"]
    # a person opening a 10,000-image folder waits for this: it takes milliseconds; the bound
    # is loose enough for a loaded machine and only catches a gross slowdown
    assert elapsed < 5.0, f"{elapsed:.2f} s"


def test_label_list_search_enter_and_number_keys(qtbot):
    ll = LabelList()
    qtbot.addWidget(ll)
    ll.set_labels(["circle", "square", "triangle"])
    chosen: list[str] = []
    ll.labelChosen.connect(chosen.append)
    ll._search.setText("tri")  # noqa: SLF001
    assert ll.visible_labels() == ["triangle"]
    qtbot.keyClick(ll._search, Qt.Key.Key_Return)  # noqa: SLF001
    assert chosen == ["triangle"] and ll.current() == "triangle"
    assert ll.visible_labels() == ["circle", "square", "triangle"]  # search cleared
    ll._search.setText("Hexagon")  # noqa: SLF001 - a new class
    qtbot.keyClick(ll._search, Qt.Key.Key_Return)  # noqa: SLF001
    assert chosen[-1] == "Hexagon"
    assert ll.choose_number(2) and chosen[-1] == "square"
    assert not ll.choose_number(7)
    ll._list.setFocus()  # noqa: SLF001
    qtbot.keyClick(ll, Qt.Key.Key_1)
    assert chosen[-1] == "circle"


def test_model_picker_lists_choices_and_browses(qtbot, tmp_path):
    picked = str(tmp_path / "mine.pt")
    mp = ModelPicker(ask_file=lambda parent: picked)
    qtbot.addWidget(mp)
    mp.set_models([ModelChoice("Bundled default", None, "", False),
                   ModelChoice("torchvision: x.pth", "/hub/x.pth")], current="/hub/x.pth")
    mp.set_devices([DeviceChoice("auto", "auto"), DeviceChoice("cpu", "CPU", "float32"),
                    DeviceChoice("cuda:0", "CUDA:0")], "cpu")
    assert [t for t, _ in mp.model_entries()] == ["Bundled default", "torchvision: x.pth", "Open checkpoint\u2026"]
    assert mp.current_model() == "/hub/x.pth" and mp.current_device() == "cpu"
    assert mp.device_entries() == ["auto", "cpu", "cuda:0"] and mp.device_labels() == ["auto", "CPU", "CUDA:0"]
    assert mp._device.itemData(1, Qt.ItemDataRole.ToolTipRole) == "float32"  # noqa: SLF001
    with qtbot.waitSignal(mp.modelChosen) as blocker:
        mp._model.activated.emit(2)  # noqa: SLF001 - "Open checkpoint..."
    assert blocker.args == [picked] and mp.current_model() == picked
    with qtbot.waitSignal(mp.deviceChosen) as blocker:
        mp._device.activated.emit(2)  # noqa: SLF001
    assert blocker.args == ["cuda:0"]
    mp.set_current_model(str(tmp_path / "other.pt"))  # unlisted file: an entry appears
    assert mp.current_model() == str(tmp_path / "other.pt")


def test_video_controls_step_play_and_stop_at_end(qtbot):
    vc = VideoControls()
    qtbot.addWidget(vc)
    asked: list[int] = []

    def follow(i: int) -> None:  # the window shows the frame and tells the bar
        asked.append(i)
        vc.set_frame(i)

    vc.frameRequested.connect(follow)
    vc.set_video(5, 100.0)
    assert vc.label_text() == "frame 1 / 5  (0.00 s)"
    vc.step(-1)
    assert asked == []  # already at the first frame
    vc.step(2)
    assert asked == [2] and vc.frame == 2
    vc.play()
    assert vc.playing
    qtbot.waitUntil(lambda: not vc.playing, timeout=3000)
    assert asked == [2, 3, 4] and vc.frame == 4
    vc.play()  # at the end: starts over
    qtbot.waitUntil(lambda: not vc.playing, timeout=3000)
    assert asked[3] == 0 and asked[-1] == 4


def test_log_panel_keeps_levels_and_details(qtbot):
    log = LogPanel()
    qtbot.addWidget(log)
    log.log("model loaded")
    log.log("a.png: cannot read", "error", "Traceback (most recent call last):\n  boom")
    log.log("odd", "nonsense-level")
    assert log.errors() == ["a.png: cannot read"]
    assert "Traceback" in log.toPlainText() and "boom" in log.toPlainText()
    assert log.entries[-1] == ("info", "odd")


def test_actions_table_has_unique_names_and_shortcuts():
    names = [s.name for s in SPECS]
    assert len(names) == len(set(names))
    keys = [k for s in SPECS for k in s.shortcuts]
    assert len(keys) == len(set(keys)), "two actions share a shortcut"
    page = shortcut_help()
    assert "Space" in page and "Ctrl+Z" in page and "<table" in page
    # every key of the table is a real shortcut, and the mouse gestures are there too
    for spec in SPECS:
        if spec.shortcuts and not spec.name.startswith("label_"):
            keys = " / ".join(dict.fromkeys(k.replace("Return", "Enter") for k in spec.shortcuts))
            assert f"<b>{keys}</b>" in page, spec.name
    assert "<b>Shift+Enter</b>" in page and "Enter / Enter" not in page
    assert "<h3>Mouse</h3>" in page and "Middle or right drag" in page


@pytest.mark.parametrize("key", ["W", "Del", "Space", "Ctrl+Shift+Z", "Return", "A", "D"])
def test_documented_keys_exist(key):
    assert any(key in s.shortcuts for s in SPECS)


def test_gui_command_passes_paths_model_and_device(monkeypatch):
    from detector_app import cli
    from detector_app.qt import app as qt_app

    seen = {}
    monkeypatch.setattr(qt_app, "run_gui", lambda paths, model=None, device=None: seen.update(
        paths=list(paths), model=model, device=device) or 0)
    assert cli.main(["gui", "a.png", "b.png", "--model", "m.pt", "--device", "cpu"]) == 0
    assert seen == {"paths": ["a.png", "b.png"], "model": "m.pt", "device": "cpu"}
    assert cli.main(["gui"]) == 0
    assert seen == {"paths": [], "model": None, "device": None}


def test_file_list_paints_one_highlighted_row(qtbot):
    """Moving the current item highlights the new row and repaints the old one plain:
    one highlighted row, never two."""
    from PySide6.QtGui import QImage

    fl = FileList()
    qtbot.addWidget(fl)
    fl.resize(200, 300)
    fl.show()
    fl.set_items([f"img{i}.png" for i in range(5)], [ItemState.NOT_SEEN] * 5)
    view = fl._view  # noqa: SLF001

    def highlighted_rows() -> list[int]:
        image = view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        arr = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(
            image.height(), image.bytesPerLine())[:, :image.width() * 3].reshape(image.height(), image.width(), 3)
        base = view.palette().base().color()
        rows = []
        for r in range(5):
            rect = view.visualRect(fl._model.index(r))  # noqa: SLF001
            strip = arr[rect.top() + 1:rect.bottom(), rect.right() - 20:rect.right() - 2].reshape(-1, 3).mean(0)
            if np.abs(strip - np.array([base.red(), base.green(), base.blue()])).sum() > 60:
                rows.append(r)
        return rows

    fl.set_current(1)
    qtbot.wait(20)
    assert highlighted_rows() == [1]
    fl.set_current(3)
    qtbot.wait(20)
    assert highlighted_rows() == [3] and view.selectionModel().selectedRows()[0].row() == 3
    fl.set_current(None)
    qtbot.wait(20)
    assert highlighted_rows() == [] and fl.current_index() is None
