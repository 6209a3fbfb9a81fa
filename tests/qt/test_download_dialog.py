"""Getting a COCO model from the app: the model list offers torchvision's weights,
choosing one opens a non-modal dialog that asks once, downloads (from a local
server) with a byte progress bar and Cancel, then loads the model; detections
on a sample photograph carry COCO's names. Failures keep nothing and say why."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from local_server import LocalServer, Route, free_port

from detector_app.app import jobs
from detector_app.app.settings import Settings
from detector_app.detection import zoo
from detector_app.detection.hub import hub_dir
from detector_app.qt.main_window import MainWindow
from tests.helpers.models import make_tiny_checkpoint

PHOTOS = Path(__file__).resolve().parents[2] / "resources" / "samples" / "photos"


def _entry(server: LocalServer, weights: Path, route: Route | None = None) -> zoo.ZooModel:
    base = zoo.find_zoo_model("mobilenet_v3_large_320_fpn")
    server.routes["/models/" + weights.name] = route or Route(weights.read_bytes())
    return dataclasses.replace(base, url=server.url("/models/" + weights.name), file_name=weights.name)


@pytest.fixture
def window(qtbot, tmp_path: Path):
    ckpt = make_tiny_checkpoint(tmp_path / "tiny.pt")
    photos = tmp_path / "photos"
    shutil.copytree(PHOTOS, photos)
    win = MainWindow(model=str(ckpt), device="cpu", settings=Settings(tmp_path / "s.json"))
    qtbot.addWidget(win)
    win.show()
    win.open_initial([str(photos)])
    qtbot.waitUntil(lambda: win.session.trace is not None, timeout=30000)
    yield win
    win.close()


def _choose_zoo_entry(win: MainWindow, name: str) -> None:
    """Pick the entry as a person does: the combo's ``activated`` signal."""
    win.refresh_models()
    combo = win.panels.model_picker._model  # noqa: SLF001 (the widget a person clicks)
    index = combo.findData(jobs.ZOO_PREFIX + name)
    assert index >= 0, [combo.itemText(i) for i in range(combo.count())]
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_choosing_a_zoo_model_asks_once_downloads_and_detects_with_coco_names(window, qtbot, local_server,
                                                                              zoo_weights, monkeypatch):
    win = window
    entry = _entry(local_server, zoo_weights)
    monkeypatch.setattr(zoo, "zoo_models", lambda: [entry])
    before = win.panels.model_picker.current_model()
    _choose_zoo_entry(win, entry.name)
    dialog = win.dialogs.download
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert win.panels.model_picker.current_model() == before  # nothing chosen until it is there
    assert local_server.requests == []  # asks first
    assert entry.url in dialog.about.text() and str(hub_dir() / entry.file_name) in dialog.about.text()
    dialog.start_button.click()
    qtbot.waitUntil(lambda: win.panels.model_label.text() == f"{entry.file_name} (cpu)", timeout=60000)
    assert dialog.progress.value() == dialog.progress.maximum() == zoo_weights.stat().st_size // 1000
    assert dialog.message.text().startswith("installed ")
    assert (hub_dir() / entry.file_name).read_bytes() == zoo_weights.read_bytes()
    labels = [t for t, _ in win.panels.model_picker.model_entries()]
    assert entry.title in labels and not [t for t in labels if "\u2193 download" in t]
    # the photograph is detected again with the COCO model
    qtbot.waitUntil(lambda: win.session.trace is not None and len(win.session.trace.class_names) == 91,
                    timeout=60000)
    trace = win.session.trace
    assert trace.class_names[17] == "cat" and trace.class_names[12] == "N/A"
    assert {trace.class_names[int(c)] for c in trace.detection_labels} == {"cat"}
    labels = win.panels.label_list.labels()
    assert len(labels) == 80 and labels[:2] == ["person", "bicycle"] and "N/A" not in labels
    win.session.accept_all()  # accepting keeps the COCO class name
    assert {a.label for a in win.session.record.annotations} == {"cat"}


def test_cancel_keeps_nothing_and_the_window_stays_usable(window, qtbot, local_server, zoo_weights, monkeypatch):
    win = window
    entry = _entry(local_server, zoo_weights, Route(zoo_weights.read_bytes(), mode="slow"))
    monkeypatch.setattr(zoo, "zoo_models", lambda: [entry])
    _choose_zoo_entry(win, entry.name)
    dialog = win.dialogs.download
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() > 3, timeout=20000)
    assert "kB of 77" in dialog.message.text() and "/s" in dialog.message.text()
    key = win.session.key
    win.session.step(1)  # navigation works meanwhile
    assert win.session.key != key
    assert not dialog.close_button.isEnabled() and dialog.cancel_button.isEnabled()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.job_thread is None, timeout=20000)
    assert dialog.message.text() == "cancelled: nothing was kept"
    assert not hub_dir().exists() or list(hub_dir().iterdir()) == []
    assert win.panels.model_label.text() == "tiny.pt (cpu)"


def test_offline_shows_the_message_in_the_dialog(window, qtbot, monkeypatch):
    win = window
    entry = dataclasses.replace(zoo.find_zoo_model("resnet50_fpn_v2"),
                                url=f"http://127.0.0.1:{free_port()}/fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth")
    monkeypatch.setattr(zoo, "zoo_models", lambda: [entry])
    _choose_zoo_entry(win, entry.name)
    dialog = win.dialogs.download
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.job_thread is None, timeout=20000)
    text = dialog.message.text()
    assert text.startswith("\u26a0 cannot reach 127.0.0.1") and "put it at" in text and "bundled model" in text
    assert dialog.start_button.isEnabled() and dialog.close_button.isEnabled()  # may retry or close
    dialog.close()
    qtbot.waitUntil(lambda: win.dialogs.download is None, timeout=5000)
