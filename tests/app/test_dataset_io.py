"""Importing a dataset's boxes into a project, and the project as a Dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector_app.app.dataset_io import import_annotations, project_as_dataset
from detector_app.app.export import ExportOptions, export_dataset
from detector_app.app.store import ProjectStore
from detector_app.domain import Annotation, Box, ItemState
from detector_app.domain.errors import FormatError


def _coco(project_dir: Path, tmp_path: Path) -> Path:
    data = {
        "images": [{"id": 1, "file_name": "img1.png", "width": 60, "height": 40},
                   {"id": 2, "file_name": "../elsewhere.png", "width": 10, "height": 10}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20]},
                        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    path = project_dir / "gt.json"
    path.write_text(json.dumps(data))
    return path


def test_import_replace_and_append(project_dir: Path, tmp_path: Path) -> None:
    gt = _coco(project_dir, tmp_path)
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.add_annotation("img1.png", Annotation(Box(30, 5, 40, 15), "dog"))
        store.set_state("img1.png", ItemState.VERIFIED)
        result = import_annotations(store, gt, mode="append")
        assert (result.images, result.annotations) == (1, 1) and len(result.skipped) == 1
        rec = store.record("img1.png")
        assert [a.label for a in rec.annotations] == ["dog", "cat"] and rec.state is ItemState.VERIFIED
        import_annotations(store, gt)  # replace
        assert [a.box for a in store.record("img1.png").annotations] == [Box(1, 2, 11, 22)]
        assert store.label_map.names == ["dog", "cat"]


def test_import_bad_file_changes_nothing(project_dir: Path) -> None:
    (project_dir / "bad.json").write_text('{"images": [{"id": 1}]}')
    with ProjectStore(project_dir, autosave_interval=None) as store:
        seq = store.seq
        with pytest.raises(FormatError, match="missing key 'file_name'"):
            import_annotations(store, project_dir / "bad.json")
        assert store.seq == seq


def test_export_then_import_round_trip(project_dir: Path, tmp_path: Path) -> None:
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.ensure_size("img2.png")
        store.add_annotation("img2.png", Annotation(Box(5, 5, 50, 25), "emu"))
        ds = project_as_dataset(store)
        assert [r.path for r in ds.images] == ["img2.png"]
        export_dataset(store, "voc", tmp_path / "voc_out", ExportOptions(image_mode="relative"))
        store.set_annotations("img2.png", [])
        result = import_annotations(store, tmp_path / "voc_out")
        assert (result.images, result.skipped) == (1, [])  # the XML points at the original image
        assert [(a.box, a.label) for a in store.record("img2.png").annotations] == [(Box(5, 5, 50, 25), "emu")]
