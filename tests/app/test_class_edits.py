"""Project-wide class edits: rename, merge, delete, reorder, a classes file; each one
undo step, saved to disk, exported ids following the new order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector_app.app.class_edits import ClassEditError, DeleteClass, RenameClass, ReorderClasses, classes_file_order
from detector_app.app.ranking import class_counts
from detector_app.app.store import ProjectStore
from detector_app.app.undo import UndoStack
from detector_app.domain import Annotation, AnnotationSource, Box, ItemState
from detector_app.domain.errors import FormatError
from detector_app.formats.classes_file import read_classes_file, write_classes_file

KEYS = ("img1.png", "img2.png", "sub/img10.png")


@pytest.fixture
def store(project_dir: Path):  # type: ignore[no-untyped-def]
    s = ProjectStore(project_dir, autosave_interval=None)
    for key in KEYS:
        s.set_size(key, 60, 40)
    s.set_labels(["cat", "dog", "fox"])
    s.add_annotation(KEYS[0], Annotation(Box(1, 1, 10, 10), "cat"))
    s.add_annotation(KEYS[0], Annotation(Box(2, 2, 20, 20), "dog", AnnotationSource.MODEL, 0.9))
    s.add_annotation(KEYS[1], Annotation(Box(3, 3, 30, 30), "cat"))
    s.add_annotation(KEYS[2], Annotation(Box(4, 4, 12, 12), "fox"))
    s.set_state(KEYS[1], ItemState.VERIFIED)
    yield s
    s.close()


def _all(store: ProjectStore) -> dict[str, list[tuple[str, str, str]]]:
    return {k: [(a.id, a.label, a.source.value) for a in store.record(k).annotations] for k in KEYS}


def _undo_redo_round_trip(store: ProjectStore, command) -> tuple[dict, list[str]]:  # type: ignore[no-untyped-def]
    stack = UndoStack(store)
    before, names, aliases = _all(store), list(store.label_map.names), dict(store.aliases)
    stack.push(command)
    after, after_names = _all(store), list(store.label_map.names)
    stack.undo()
    assert (_all(store), store.label_map.names, store.aliases) == (before, names, aliases)
    stack.redo()
    assert (_all(store), store.label_map.names) == (after, after_names)
    return after, after_names


def test_rename_keeps_position_ids_sources_and_states(store: ProjectStore) -> None:
    after, names = _undo_redo_round_trip(store, RenameClass(old="cat", new="kitten"))
    assert names == ["kitten", "dog", "fox"]
    assert [lab for _, lab, _ in after[KEYS[0]]] == ["kitten", "dog"]
    assert after[KEYS[0]][1][2] == "model"  # renaming a class is not correcting a box
    assert store.record(KEYS[1]).state is ItemState.VERIFIED


def test_rename_into_an_existing_class_merges(store: ProjectStore) -> None:
    after, names = _undo_redo_round_trip(store, RenameClass(old="fox", new="dog"))
    assert names == ["cat", "dog"]
    assert after[KEYS[2]][0][1] == "dog" and class_counts(store.records()) == {"cat": 2, "dog": 2}


def test_renaming_a_model_class_records_an_alias_saved_with_the_project(store: ProjectStore,
                                                                         project_dir: Path) -> None:
    stack = UndoStack(store)
    stack.push(RenameClass(old="dog", new="hound", model_classes=["__background__", "cat", "dog"]))
    assert store.aliases == {"dog": "hound"}
    stack.push(RenameClass(old="hound", new="wolf", model_classes=["__background__", "cat", "dog"]))
    assert store.aliases == {"dog": "wolf"}  # the model's name follows the class
    store.close()
    again = ProjectStore(project_dir, autosave_interval=None)
    try:
        assert again.aliases == {"dog": "wolf"} and again.label_map.names == ["cat", "wolf", "fox"]
        assert [a.label for a in again.record(KEYS[0]).annotations] == ["cat", "wolf"]
    finally:
        again.close()


def test_delete_removes_every_box_and_undo_puts_them_back_in_place(store: ProjectStore) -> None:
    after, names = _undo_redo_round_trip(store, DeleteClass(name="cat"))
    assert names == ["dog", "fox"]
    assert [lab for _, lab, _ in after[KEYS[0]]] == ["dog"] and after[KEYS[1]] == []


def test_reorder_changes_the_exported_ids(store: ProjectStore, tmp_path: Path) -> None:
    from detector_app.app.export import ExportOptions, export_dataset

    assert not store.user_order
    _undo_redo_round_trip(store, ReorderClasses(names=["fox", "cat"]))
    assert store.label_map.names == ["fox", "cat", "dog"] and store.user_order  # kept: nothing reorders it
    export_dataset(store.records(), "coco", tmp_path / "out", ExportOptions(verified_only=False, coco_layout="flat"),
                   root=store.root, label_map=store.label_map)
    coco = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [(1, "fox"), (2, "cat"), (3, "dog")]


def test_a_classes_file_orders_the_classes(store: ProjectStore, tmp_path: Path) -> None:
    path = tmp_path / "predefined_classes.txt"
    path.write_text("\ufeffdog\n\nbird\ncat\n", encoding="utf-8")  # labelImg's file, with a BOM and a blank line
    UndoStack(store).push(classes_file_order(path))
    assert store.label_map.names == ["dog", "bird", "cat", "fox"]
    yaml = tmp_path / "data.yaml"
    yaml.write_text("names:\n  0: fox\n  1: cat\n", encoding="utf-8")
    assert read_classes_file(yaml) == ["fox", "cat"]
    write_classes_file(tmp_path / "classes.txt", store.label_map.names)
    assert read_classes_file(tmp_path / "classes.txt") == ["dog", "bird", "cat", "fox"]


@pytest.mark.parametrize("text, message", [("", "no class names"), ("a\nb\na\n", "duplicate class name 'a'")])
def test_bad_classes_files_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "classes.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=message) as info:
        read_classes_file(path)
    assert str(path) in str(info.value)


def test_edits_that_make_no_sense_are_refused(store: ProjectStore) -> None:
    stack = UndoStack(store)
    with pytest.raises(ClassEditError, match="already has that name"):
        RenameClass(old="cat", new="cat")
    with pytest.raises(ClassEditError):
        RenameClass(old="cat", new="  ")
    with pytest.raises(ClassEditError, match="no class 'owl'"):
        stack.push(DeleteClass(name="owl"))
    assert not stack.can_undo and store.label_map.names == ["cat", "dog", "fox"]
