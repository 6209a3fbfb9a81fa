"""``detector-app convert`` and ``detector-app export`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector_app.app.store import ProjectStore
from detector_app.cli import main
from detector_app.domain import Annotation, Box, ItemState
from detector_app.formats import load_dataset




@pytest.fixture
def coco_dir(project_dir: Path) -> Path:
    data = {
        "images": [{"id": 5, "file_name": "img1.png", "width": 60, "height": 40},
                   {"id": 6, "file_name": "img2.png", "width": 80, "height": 30}],
        "annotations": [{"id": 1, "image_id": 5, "category_id": 7, "bbox": [1, 2, 10, 20], "iscrowd": 0},
                        {"id": 2, "image_id": 6, "category_id": 9, "bbox": [10, 5, 30, 20], "iscrowd": 0},
                        {"id": 3, "image_id": 6, "category_id": 9, "bbox": [0, 0, 5, 5], "iscrowd": 1}],
        "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}],
    }
    (project_dir / "annotations.json").write_text(json.dumps(data))
    return project_dir


def test_convert_chain_keeps_boxes(coco_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(coco_dir), "--to", "voc", str(tmp_path / "voc")]) == 0
    assert "wrote 2 images, 2 boxes as voc" in capsys.readouterr().out
    assert main(["convert", str(tmp_path / "voc"), "--from", "voc", "--to", "yolo", str(tmp_path / "yolo"),
                 "--split", "0.5", "--seed", "2"]) == 0
    assert main(["convert", str(tmp_path / "yolo"), "--to", "coco", str(tmp_path / "coco"), "--copy"]) == 0
    ds = load_dataset(tmp_path / "coco")
    assert ds.label_map.names == ["cat", "dog"]
    boxes = sorted((a.label, a.box.to_tuple()) for r in ds.images for a in r.annotations)
    assert [b[0] for b in boxes] == ["cat", "dog"]
    assert boxes[0][1] == pytest.approx((1.0, 2.0, 11.0, 22.0), abs=1e-9)  # via YOLO's normalisation
    assert boxes[1][1] == pytest.approx((10.0, 5.0, 40.0, 25.0), abs=1e-9)
    assert all((ds.root / r.path).is_file() for r in ds.images)


def test_convert_keep_crowd_and_bad_input(coco_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(coco_dir), "--to", "coco", str(tmp_path / "k"), "--keep-crowd"]) == 0
    assert "3 boxes" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text('{"images": [}')
    assert main(["convert", str(tmp_path / "bad.json"), "--to", "voc", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "bad.json: invalid JSON at line 1, column 13" in err and "Traceback" not in err
    assert main(["convert", str(coco_dir), "--to", "yolo", "--relative", str(tmp_path / "y")]) == 2
    assert "YOLO needs the images inside" in capsys.readouterr().err


def test_export_command(project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ProjectStore(project_dir, autosave_interval=None) as store:
        for key in ("img1.png", "img2.png"):
            store.ensure_size(key)
            store.add_annotation(key, Annotation(Box(1, 1, 20, 20), "cat"))
        store.set_state("img2.png", ItemState.VERIFIED)
    # The export reads the store while it is open (no lock taken, read-only).
    with ProjectStore(project_dir) as live:
        live.add_annotation("img1.png", Annotation(Box(2, 2, 9, 9), "dog"))
        live.flush()
        code = main(["export", str(project_dir), "--format", "yolo", str(tmp_path / "y"),
                     "--split", "0.5", "--seed", "1", "--symlink"])
    assert code == 0
    assert "wrote 2 images, 3 boxes as yolo" in capsys.readouterr().out
    assert main(["export", str(project_dir), "--format", "coco", str(tmp_path / "v"), "--verified-only"]) == 0
    assert len(load_dataset(tmp_path / "v").images) == 1
    capsys.readouterr()
    assert main(["export", str(project_dir), "--format", "coco", str(tmp_path / "v")]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nowhere"), "--format", "coco", str(tmp_path / "z")]) == 2
