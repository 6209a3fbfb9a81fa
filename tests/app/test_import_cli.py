"""``detector-app import`` end to end, and the Session's import (job thread,
one undo step, reload, the "a dataset lies here" hint)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from detector_app.app.dataset_io import find_dataset
from detector_app.app.session import Event, Session
from detector_app.app.store import ProjectStore
from detector_app.cli import main
from detector_app.domain import Annotation, Box, ItemState


def _saved(root: Path) -> dict[str, tuple[list[tuple[str, tuple]], str]]:
    with ProjectStore(root, read_only=True, autosave_interval=None) as store:
        return {r.key: ([(a.label, a.box.to_tuple()) for a in r.annotations], r.state.value)
                for r in store.records()}


def _exported_coco(project_dir: Path, tmp_path: Path) -> Path:
    """Boxes on two images, exported as COCO (images referred in place), then removed."""
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.ensure_size("img1.png")
        store.ensure_size("img2.png")
        store.add_annotation("img1.png", Annotation(Box(1, 2, 11, 22), "cat"))
        store.add_annotation("img2.png", Annotation(Box(10, 5, 40, 25), "dog"))
        store.add_annotation("img2.png", Annotation(Box(0, 0, 5, 5), "cat"))
        store.set_state("img2.png", ItemState.VERIFIED)
    assert main(["export", str(project_dir), str(tmp_path / "coco"), "--format", "coco", "--relative"]) == 0
    with ProjectStore(project_dir, autosave_interval=None) as store:
        for key in ("img1.png", "img2.png"):
            store.set_annotations(key, [])
            store.set_state(key, ItemState.NOT_SEEN)
    return tmp_path / "coco" / "annotations.json"


def test_import_command_brings_the_exported_boxes_back(project_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    coco = _exported_coco(project_dir, tmp_path)
    capsys.readouterr()
    assert main(["import", str(project_dir), str(coco)]) == 0
    out = capsys.readouterr().out
    assert "imported 3 boxes on 2 images" in out
    saved = _saved(project_dir)
    assert saved["img1.png"] == ([("cat", (1.0, 2.0, 11.0, 22.0))], "edited")
    assert sorted(saved["img2.png"][0]) == [("cat", (0.0, 0.0, 5.0, 5.0)), ("dog", (10.0, 5.0, 40.0, 25.0))]
    # append doubles the boxes; --format names the format explicitly
    assert main(["import", str(project_dir), str(coco), "--format", "coco", "--mode", "append"]) == 0
    assert len(_saved(project_dir)["img2.png"][0]) == 4


def test_import_command_reports_skipped_images(project_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data = {"images": [{"id": 1, "file_name": "img1.png", "width": 60, "height": 40},
                       {"id": 2, "file_name": "../elsewhere.png", "width": 10, "height": 10}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20]}],
            "categories": [{"id": 1, "name": "cat"}]}
    (project_dir / "gt.json").write_text(json.dumps(data))
    assert main(["import", str(project_dir), str(project_dir / "gt.json")]) == 0
    out = capsys.readouterr().out
    assert "skipped: " in out and "elsewhere.png: not a file of the project" in out
    assert "imported 1 boxes on 1 images; 1 images skipped" in out


@pytest.mark.parametrize("content, args, message", [
    ('{"images": [}', [], "bad.json: invalid JSON at line 1"),
    ('{"images": [{"id": 1}]}', [], "missing key 'file_name'"),
    ('{"images": []}', ["--format", "voc"], "bad.json"),
])
def test_import_command_bad_input_exit_2_project_unchanged(project_dir: Path, tmp_path: Path, content: str,
                                                           args: list[str], message: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.ensure_size("img1.png")
        store.add_annotation("img1.png", Annotation(Box(1, 1, 9, 9), "emu"))
    before = _saved(project_dir)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["import", str(project_dir), str(bad), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("detector-app import: error: ") and message in err and "Traceback" not in err
    assert _saved(project_dir) == before


def test_import_command_missing_dataset_or_project(project_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(project_dir), str(tmp_path / "nope.json")]) == 2
    assert "nope.json: no such dataset file or folder" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "no-project"), str(tmp_path / "nope.json")]) == 2
    assert "no-project: not a project folder" in capsys.readouterr().err


def test_session_import_on_a_thread_is_one_undo_step(project_dir: Path, tmp_path: Path) -> None:
    coco = _exported_coco(project_dir, tmp_path)
    ss = Session(detect_on_open=False)
    ss.open_paths([project_dir])
    try:
        ss.choose_label("emu")
        ss.go_to(ss.items.index("img1.png"))
        ss.add_box(Box(30, 5, 40, 15))  # one manual edit before the import
        seen: list[tuple[str, object]] = []
        for event in (Event.ANNOTATIONS, Event.ITEM_STATE, Event.LABELS):
            ss.subscribe(event, lambda *args, e=event: seen.append((e, threading.get_ident())))
        job = ss.import_job(coco, mode="replace")
        box: list = []
        t = threading.Thread(target=lambda: box.append(job(None, threading.Event())))
        t.start()
        t.join()
        assert seen == []  # no events from the job thread
        ss.import_finished(box[0])
        assert {e for e, _ in seen} == {Event.ANNOTATIONS, Event.ITEM_STATE, Event.LABELS}
        assert all(ident == threading.get_ident() for _, ident in seen)
        assert [(a.label, a.box) for a in ss.record.annotations] == [("cat", Box(1, 2, 11, 22))]
        assert {"cat", "dog", "emu"} <= set(ss.labels.names)
        assert ss.undo_text == "import annotations"
        ss.undo()
        assert [(a.label, a.box) for a in ss.record.annotations] == [("emu", Box(30, 5, 40, 15))]
        assert ss.store.record("img2.png").annotations == [] and ss.item_state(ss.items.index("img2.png")) \
            is ItemState.NOT_SEEN
        ss.redo()
        assert len(ss.store.record("img2.png").annotations) == 2
        ss.undo()
        ss.undo()  # the manual box too: the stack before the import is intact
        assert ss.store.record("img1.png").annotations == []
    finally:
        ss.close()


def test_failed_import_changes_nothing_and_pushes_no_step(project_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"images": [}')
    ss = Session(detect_on_open=False)
    ss.open_paths([project_dir])
    try:
        job = ss.import_job(tmp_path / "bad.json")
        with pytest.raises(Exception, match="invalid JSON"):
            job(None, threading.Event())
        ss.import_finished(None)
        assert not ss.can_undo and all(not r.annotations for r in ss.store.records())
    finally:
        ss.close()


def test_dataset_hint_only_while_the_project_has_no_annotations(project_dir: Path, tmp_path: Path) -> None:
    assert find_dataset(project_dir) is None
    (project_dir / "annotations.json").write_text('{"images": []}')
    assert find_dataset(project_dir) == project_dir / "annotations.json"
    images = project_dir / "sub"
    assert find_dataset(images) == project_dir / "annotations.json"  # a project opened at images/
    ss = Session(detect_on_open=False)
    ss.open_paths([project_dir])
    try:
        hint = ss.import_suggestion()
        assert hint is not None and "annotations.json" in hint and "File > Import annotations" in hint
        ss.choose_label("emu")
        ss.add_box(Box(2, 2, 8, 8))
        assert ss.import_suggestion() is None
    finally:
        ss.close()


def _labels(root: Path) -> list[str]:
    with ProjectStore(root, read_only=True, autosave_interval=None) as store:
        return list(store.label_map.names)


def _bad_layout(project_dir: Path, case: str, fixed: bool) -> tuple[Path, str]:
    """A dataset inside the project (its images are the project's) in one of the newer layouts,
    broken unless ``fixed``; returns its folder and the error it gives (a regex)."""
    from tests.helpers.files import grey_png

    if case == "coco-standard-no-images":  # instances_val.json's images folder is missing
        root = project_dir / "coco"
        (root / "annotations").mkdir(parents=True)
        for split, name, (w, h) in (("train", "a.png", (60, 40)), ("val", "b.png", (80, 30))):
            data = {"images": [{"id": 1, "file_name": name, "width": w, "height": h}],
                    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20]}],
                    "categories": [{"id": 1, "name": "cat"}]}
            (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
            if split == "train" or fixed:
                grey_png(root / "images" / split / name, w, h)
        return root, r"annotations/instances_val\.json: its images are in none of images/val/.* --images DIR"
    if case == "darknet-short-obj-names":  # a class index past obj.names
        root = project_dir / "darknet"
        (root / "obj.names").parent.mkdir(parents=True)
        (root / "obj.names").write_text("cat\ndog\n" if fixed else "cat\n")
        (root / "obj.data").write_text(f"classes = {2 if fixed else 1}\ntrain = data/train.txt\n"
                                       "names = data/obj.names\n")
        (root / "train.txt").write_text("data/obj_train_data/a.png\ndata/obj_train_data/b.png\n")
        grey_png(root / "obj_train_data" / "a.png", 60, 40)
        grey_png(root / "obj_train_data" / "b.png", 80, 30)
        (root / "obj_train_data" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
        (root / "obj_train_data" / "b.txt").write_text("0 0.5 0.5 0.5 0.5\n1 0.25 0.5 0.5 1\n")
        return root, r"obj_train_data/b\.txt:2: class index 1 out of range 0\.\.0 \(obj\.names lists 1 names\)"
    root = project_dir / "ultra"  # data.yaml whose names skip an id
    grey_png(root / "images" / "train" / "a.png", 60, 40)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n1 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/train\n"
                                    + ("names: {0: cat, 1: dog}\n" if fixed else "names:\n  0: cat\n  2: dog\n"))
    return root, r"data\.yaml: 'names' must give every class index from 0 to 1 once; it skips 1"


@pytest.mark.parametrize("case", ["coco-standard-no-images", "darknet-short-obj-names", "yaml-names-skip-an-id"])
def test_bad_input_in_the_newer_layouts_one_error_naming_the_file(project_dir: Path, tmp_path: Path, case: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """convert and import stop with one line naming the file (exit 2, no traceback); convert
    writes nothing, import leaves the project exactly as it was (boxes, states, labels)."""
    import re

    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.ensure_size("img1.png")
        store.add_annotation("img1.png", Annotation(Box(1, 1, 9, 9), "emu"))
    root, message = _bad_layout(project_dir, case, fixed=False)
    before, labels = _saved(project_dir), _labels(project_dir)
    capsys.readouterr()
    assert main(["convert", str(root), str(tmp_path / "out"), "--to", "voc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("detector-app convert: error: ") and re.search(message, err), err
    assert str(root) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    assert main(["import", str(project_dir), str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("detector-app import: error: ") and re.search(message, err), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _saved(project_dir) == before and _labels(project_dir) == labels
    # the same dataset once fixed converts and imports: the error was all that stopped it
    _bad_layout(project_dir / "fixed", case, fixed=True)
    fixed = project_dir / "fixed" / root.name
    assert main(["convert", str(fixed), str(tmp_path / "ok"), "--to", "voc"]) == 0
    assert main(["import", str(project_dir), str(fixed)]) == 0
    boxes = {"coco-standard-no-images": "2 boxes on 2 images", "darknet-short-obj-names": "3 boxes on 2 images",
             "yaml-names-skip-an-id": "2 boxes on 1 images"}[case]
    assert f"imported {boxes}" in capsys.readouterr().out
    assert _saved(project_dir) != before
