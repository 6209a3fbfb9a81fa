"""Annotation files the adversarial re-run (scripts/adversarial, probe ``files``) found
mishandled: each gave a traceback, gigabytes, minutes, or a private file's lines in the
output before. One line naming the file now (exit 2), or the right result."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from detector_app.cli import main
from detector_app.domain.labels import LabelMap
from detector_app.formats import load_dataset
from detector_app.media.images import write_image


def _image(path: Path, w: int = 20, h: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, np.zeros((h, w, 3), np.uint8))
    return path


def _coco(folder: Path, image: dict | None = None, ann: dict | None = None) -> Path:
    _image(folder / "a.png")
    (folder / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10, **(image or {})}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], **(ann or {})}],
        "categories": [{"id": 1, "name": "cat"}]}))
    return folder


def _darknet(folder: Path, obj_data: str, train: str = "data/obj_train_data/a.png\n") -> Path:
    _image(folder / "obj_train_data" / "a.png")
    (folder / "obj_train_data" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (folder / "obj.names").write_text("cat\ndog\n")
    (folder / "train.txt").write_text(train)
    (folder / "obj.data").write_text(obj_data)
    return folder


def _yolo(folder: Path, yaml: str) -> Path:
    _image(folder / "images" / "a.png")
    (folder / "labels").mkdir(parents=True)
    (folder / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (folder / "data.yaml").write_text("train: images\nval: images\n" + yaml)
    return folder


def test_a_nul_byte_in_an_image_name_is_a_line_naming_the_file(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """ValueError: embedded null byte escaped the header reader (YOLO / Darknet lists) and the
    import's realpath (COCO file_name, LabelMe imagePath): a traceback."""
    ds = _darknet(tmp_path / "dn", "classes = 2\ntrain = data/train.txt\nnames = data/obj.names\n",
                  train="data/obj_train_data/a.png\ndata/obj_train_data/b\x00.png\n")
    assert main(["convert", str(ds), str(tmp_path / "out"), "--to", "voc"]) == 2
    assert "invalid file name (it holds a NUL byte)" in capsys.readouterr().err
    coco = _coco(tmp_path / "coco", image={"file_name": "a\x00.png"})
    assert main(["import", str(coco), str(coco)]) == 0
    assert "a\x00.png: not a file of the project" in capsys.readouterr().out


def test_a_coco_source_attribute_that_is_not_text_is_ignored(tmp_path: Path) -> None:
    """``attributes: {"source": [...]}``: TypeError (unhashable list) in convert and import."""
    ds = load_dataset(_coco(tmp_path / "c", ann={"attributes": {"source": ["model"]}}))
    assert ds.images[0].annotations[0].source.value == "manual"


@pytest.mark.parametrize(("yaml", "message"), [
    ("nc: 1000000000\n", r"nc = 1000000000 classes is more than this app reads \(100000\)"),
    ("names: {0: cat, 1000000000000: dog}\n", r"'names' must give every class index from 0 to 1 once; it skips 1"),
])
def test_a_yolo_class_list_declaring_billions_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                yaml: str, message: str) -> None:
    """``nc: 10**9`` without names (each named ``classN``) and a names index of 10**12 (a
    range up to it for the message) took gigabytes; 10**7 took over a minute."""
    ds = _yolo(tmp_path / "y", yaml)
    start = time.monotonic()
    assert main(["convert", str(ds), str(tmp_path / "out"), "--to", "coco"]) == 2
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and __import__("re").search(message, err), err


def test_a_long_class_list_takes_linear_time() -> None:
    """A 600 KB classes.txt of 100,000 names: building its LabelMap took 48 s (a list
    search per name), importing it another 50 s (one per added label)."""
    names = [f"c{i}" for i in range(100_000)]
    start = time.monotonic()
    labels = LabelMap(names)
    for name in names:
        assert labels.add(name) == labels.id_of(name)
    assert time.monotonic() - start < 5
    assert labels.id_of("c99999") == 100_000 and "c5" in labels and 5 not in labels
    with pytest.raises(KeyError, match=r"unknown class 'x'; known: c0, c1, .*\(100000 in all\)"):
        labels.id_of("x")


@pytest.mark.parametrize("names", ["ABS", "../private/secret.txt"])
def test_a_darknet_class_list_outside_the_dataset_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             names: str) -> None:
    """``names = /elsewhere/secret.txt`` in obj.data: the file's lines became the class names
    written into every converted file and the project's labels."""
    secret = tmp_path / "private" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("TOKEN_a\nTOKEN_b\n")
    ds = _darknet(tmp_path / "ds", f"classes = 2\ntrain = data/train.txt\nnames = "
                                    f"{secret if names == 'ABS' else names}\n")
    out = tmp_path / "out"
    assert main(["convert", str(ds), str(out), "--to", "voc"]) == 2
    assert "is outside the dataset folder" in capsys.readouterr().err and not out.exists()
    assert main(["import", str(ds), str(ds)]) == 2
    assert "is outside the dataset folder" in capsys.readouterr().err


def test_a_file_name_with_a_lone_surrogate_is_printed_escaped(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """``"file_name": "a\\ud800.png"`` (valid JSON): convert and import did their work, then
    raised UnicodeEncodeError printing the "skipped:" line naming it (exit 1, a traceback)."""
    ds = _coco(tmp_path / "c")
    data = json.loads((ds / "annotations.json").read_text())
    data["images"].append({**data["images"][0], "id": 2, "file_name": "a\ud800.png"})
    (ds / "annotations.json").write_text(json.dumps(data))
    assert main(["convert", str(ds), str(tmp_path / "out"), "--to", "voc"]) == 0
    assert "a\\ud800.png: no such file" in capsys.readouterr().out
    assert main(["import", str(ds), str(ds)]) == 0
    assert "a\\ud800.png: not a file of the project" in capsys.readouterr().out
