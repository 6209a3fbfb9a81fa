"""File > Import annotations on the real MainWindow: the modal dialog driven
while it runs (file-dialog seam patched), the boxes on the canvas, the file
list and the label list, one undo step; a malformed dataset changes nothing;
the log's hint when a dataset lies next to the opened images."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QPushButton

from detector_app.domain.boxes import Box
from detector_app.qt.import_dialog import ImportDialog
from tests.helpers.files import stored_records, write_images
from tests.helpers.qt import drive_modal


def write_coco(path: Path, prefix: str = "proj/") -> Path:
    data = {
        "images": [{"id": 1, "file_name": f"{prefix}img0.png", "width": 300, "height": 200},
                   {"id": 2, "file_name": f"{prefix}img1.png", "width": 300, "height": 200}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 40, 50]},
                        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [100, 50, 60, 30]},
                        {"id": 3, "image_id": 2, "category_id": 2, "bbox": [5, 5, 20, 20]}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "zebra"}],
    }
    path.write_text(json.dumps(data))
    return path


def _button(dialog: ImportDialog, text: str) -> QPushButton:
    return next(b for b in dialog.findChildren(QPushButton) if b.text() == text)


def test_import_from_the_file_menu_shows_the_boxes(window, qtbot, tmp_path, monkeypatch):
    gt = write_coco(tmp_path / "gt.json")
    asked: list[bool] = []
    monkeypatch.setattr(ImportDialog, "ask_path", lambda self, folder: asked.append(folder) or str(gt))
    ss, c, p = window.session, window.canvas, window.panels
    assert ss.key == "img0.png" and ss.record.annotations == []

    def steps(dialog: ImportDialog) -> None:
        _button(dialog, "File\u2026").click()
        assert dialog.path.text() == str(gt)
        dialog.set_mode("replace")
        dialog.start()
        qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)
        assert "Imported 3 boxes on 2 images" in dialog.message.text()

    drive_modal(qtbot, window.actions_by_name["import"].trigger, ImportDialog, steps)
    assert asked == [False]
    anns = ss.record.annotations
    assert sorted((a.label, a.box) for a in anns) == [("cat", Box(10, 20, 50, 70)), ("zebra", Box(100, 50, 160, 80))]
    for a in anns:  # on the canvas's annotation layer
        assert c.overlays.annotations.box_of(a.id) == a.box
    assert {"cat", "dog", "zebra"} <= set(p.label_list.labels())
    assert p.file_list.summary() == "3 of 3 shown \u2014 1 not seen, 2 edited"
    assert any("imported 3 boxes on 2 images" in m for _, m in p.log.entries)
    qtbot.waitUntil(lambda: len(stored_records(tmp_path / "proj").get("img1.png", {}).get("annotations", [])) == 1,
                    timeout=5000)  # autosaved
    # one undo step takes the whole import back
    assert "import annotations" in window.actions_by_name["undo"].text()
    window.actions_by_name["undo"].trigger()
    assert ss.record.annotations == [] and all(c.overlays.annotations.box_of(a.id) is None for a in anns)
    assert ss.store.record("img1.png").annotations == []
    assert p.file_list.summary() == "3 of 3 shown \u2014 2 not seen, 1 detected"


def test_malformed_dataset_shows_an_error_and_changes_nothing(window, qtbot, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [}')
    ss, p = window.session, window.panels
    summary = p.file_list.summary()

    def steps(dialog: ImportDialog) -> None:
        dialog.path.setText(str(bad))
        dialog.start()
        qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)
        assert dialog.message.text().startswith("\u26a0") and "bad.json: invalid JSON" in dialog.message.text()

    drive_modal(qtbot, window.actions_by_name["import"].trigger, ImportDialog, steps)
    assert any("bad.json" in e and "nothing was changed" in e for e in p.log.errors())
    assert ss.record.annotations == [] and not ss.can_undo
    assert all(not r.annotations for r in ss.store.records())
    assert p.file_list.summary() == summary


def test_opening_images_next_to_a_dataset_suggests_the_import(window, qtbot, tmp_path):
    images = write_images(tmp_path / "ds" / "images")
    write_coco(tmp_path / "ds" / "annotations.json", prefix="images/")
    log = window.panels.log
    before = len(log.entries)
    assert window.open_paths([str(images)])
    hints = [m for _, m in log.entries[before:] if "File > Import annotations" in m]
    assert len(hints) == 1 and "annotations.json" in hints[0]
    assert window.session.record.annotations == []  # suggested, not imported

    def steps(dialog: ImportDialog) -> None:  # the dialog starts with the dataset found
        assert dialog.path.text() == str(tmp_path / "ds" / "annotations.json")
        dialog.start()
        qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)

    drive_modal(qtbot, window.actions_by_name["import"].trigger, ImportDialog, steps)
    assert len(window.session.record.annotations) == 2
    assert window.open_paths([str(tmp_path / "proj")])  # (the open folder cannot be opened again)
    before = len(log.entries)
    assert window.open_paths([str(images)])  # annotated now: no hint
    assert not any("File > Import annotations" in m for _, m in log.entries[before:])


def test_import_with_the_images_folder_field(window, qtbot, tmp_path, monkeypatch):
    """A COCO file kept apart from its images (file_name "img0.png"), whose layout says
    nothing about where they are: the dialog's images folder field places them."""
    (tmp_path / "labels").mkdir()
    gt = write_coco(tmp_path / "labels" / "gt.json", prefix="")
    monkeypatch.setattr(ImportDialog, "ask_images_folder", lambda self: str(tmp_path / "proj"))
    ss = window.session

    def steps(dialog: ImportDialog) -> None:
        dialog.path.setText(str(gt))
        dialog.start()  # without the folder: the images are not found, nothing imported
        qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)
        assert "Imported 0 boxes" in dialog.message.text() or dialog.message.text().startswith("\u26a0")
        _button(dialog, "Browse\u2026").click()
        assert dialog.images_folder() == str(tmp_path / "proj")
        dialog.start()
        qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)
        assert "Imported 3 boxes on 2 images" in dialog.message.text(), dialog.message.text()

    drive_modal(qtbot, window.actions_by_name["import"].trigger, ImportDialog, steps)
    assert sorted(a.label for a in ss.record.annotations) == ["cat", "zebra"]
