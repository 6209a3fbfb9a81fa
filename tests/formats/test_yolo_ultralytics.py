"""Ultralytics YOLO datasets as its documentation describes them (docs.ultralytics.com,
"Object Detection Datasets Overview" and the dataset YAMLs it ships): ``data.yaml`` with
``names`` as a list or as ``{index: name}``, ``path`` absolute, relative or absent,
``train`` / ``val`` / ``test`` as folders, ``.txt`` lists of image paths, or YAML lists of
either; Roboflow's export (``train: ../train/images``, a ``roboflow:`` block); COCO's
``download: |`` script; a folder with only ``classes.txt``. Each fixture is also parsed
with PyYAML (what Ultralytics reads it with) to check it says what the test thinks."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.cli import main
from detector_app.domain.errors import FormatError
from detector_app.formats import detect_format, load_dataset
from detector_app.formats.yolo import parse_data_yaml
from tests.helpers.files import grey_png

#: image name -> (width, height, label file text, the boxes it means: (class, x1, y1, x2, y2))
IMAGES = {
    "a.png": (20, 10, "0 0.5 0.5 0.5 0.5\n", [("cat", 5.0, 2.5, 15.0, 7.5)]),
    "b.png": (40, 20, "1 0.25 0.5 0.5 1\n0 0.75 0.5 0.5 1\n", [("dog", 0.0, 0.0, 20.0, 20.0),
                                                              ("cat", 20.0, 0.0, 40.0, 20.0)]),
    "c.png": (16, 16, "", []),  # a negative: no boxes
}
SPLITS = {"train": ["a.png", "b.png"], "val": ["c.png"]}


def _images(root: Path, image_dir: str = "images/{split}", label_dir: str = "labels/{split}") -> Path:
    """The three images and their labels under ``root`` (``{split}`` filled in)."""
    for split, names in SPLITS.items():
        for name in names:
            w, h, text, _ = IMAGES[name]
            grey_png(root / image_dir.format(split=split) / name, w, h)
            label = root / label_dir.format(split=split) / (Path(name).stem + ".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(text)
    return root


def _yaml(path: Path, text: str) -> Path:
    """Write a YAML file, checking with PyYAML that our reader takes from it what Ultralytics would."""
    yaml = pytest.importorskip("yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    ours, theirs = parse_data_yaml(path), yaml.safe_load(text)
    for key in ("path", "train", "val", "test", "names"):
        assert ours.get(key) == theirs.get(key), key
    return path


def _read(ds) -> dict[str, tuple[str, list[tuple[str, float, float, float, float]]]]:  # type: ignore[no-untyped-def]
    """``{image name: (split, boxes)}`` of a dataset, every image file checked to exist."""
    out = {}
    for rec in ds.images:
        assert (ds.root / rec.path).is_file(), rec.path
        out[Path(rec.path).name] = (ds.split.get(rec.key, ""),
                                    [(a.label, *a.box.to_tuple()) for a in rec.annotations])
    return out


WANT = {name: (split, IMAGES[name][3]) for split, names in SPLITS.items() for name in names}


NAMES = {
    "block list": "names:\n  - cat\n  - dog\n",
    "flow list": "names: ['cat', \"dog\"]\n",
    "block dict": "names:\n  0: cat\n  1: dog\n",
    "flow dict": "names: {0: cat, 1: dog}\n",
    "flow list over lines": "names: [\n  cat,\n  dog\n]\n",
    "nc and list": "nc: 2\nnames: [cat, dog]\n",
}


@pytest.mark.parametrize("names", NAMES.values(), ids=list(NAMES))
def test_names_as_a_list_or_a_dict(tmp_path: Path, names: str) -> None:
    root = _images(tmp_path / "ds")
    _yaml(root / "data.yaml", "path: .\ntrain: images/train\nval: images/val\n" + names)
    ds = load_dataset(root)
    assert ds.format == "yolo" and ds.label_map.names == ["cat", "dog"]
    assert _read(ds) == WANT


def test_path_absolute_relative_or_absent(tmp_path: Path) -> None:
    root = _images(tmp_path / "datasets" / "toy")
    body = "train: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n"
    # absolute, the YAML kept elsewhere (as Ultralytics' own cfg/datasets/*.yaml are)
    cfg = _yaml(tmp_path / "cfg" / "toy.yaml", f"path: {root}\n" + body)
    assert _read(load_dataset(cfg)) == WANT
    # relative to the YAML's folder
    cfg = _yaml(tmp_path / "cfg" / "rel.yaml", "path: ../datasets/toy  # dataset root dir\n" + body)
    assert _read(load_dataset(cfg)) == WANT
    # absent, or naming a folder that no longer exists (a dataset moved): the YAML's own folder
    _yaml(root / "data.yaml", body)
    assert _read(load_dataset(root)) == WANT
    _yaml(root / "data.yaml", "path: /nowhere/datasets/toy\n" + body)
    assert _read(load_dataset(root / "data.yaml")) == WANT


def test_splits_as_txt_lists_of_image_paths(tmp_path: Path) -> None:
    """COCO's layout: ``train: train2017.txt`` listing ``./images/train2017/x.jpg`` (relative
    to the list's folder); absolute paths and plain relative paths too."""
    root = _images(tmp_path / "coco", "images/{split}2017", "labels/{split}2017")
    (root / "train2017.txt").write_text("./images/train2017/a.png\n./images/train2017/b.png\n")
    (root / "lists").mkdir()
    (root / "lists" / "val.txt").write_text(f"{root / 'images' / 'val2017' / 'c.png'}\n")
    _yaml(root / "data.yaml", f"path: {root}\ntrain: train2017.txt\nval: lists/val.txt\ntest:  # optional\n"
          "names:\n  0: cat\n  1: dog\n")
    assert _read(load_dataset(root)) == WANT
    (root / "lists" / "val.txt").write_text("images/val2017/c.png\n")  # relative to the dataset root
    assert _read(load_dataset(root)) == WANT


def test_splits_as_yaml_lists_of_folders_and_txt_lists(tmp_path: Path) -> None:
    root = _images(tmp_path / "ds", "images/{split}", "labels/{split}")
    grey_png(root / "images" / "extra" / "d.png", 10, 10)
    (root / "labels" / "extra").mkdir()
    (root / "labels" / "extra" / "d.txt").write_text("1 0.5 0.5 1 1\n")
    (root / "val.txt").write_text("./images/val/c.png\n")
    _yaml(root / "data.yaml", "path: .\ntrain: [images/train, images/extra]\nval:\n  - val.txt\n"
          "names: [cat, dog]\n")
    want = dict(WANT, **{"d.png": ("train", [("dog", 0.0, 0.0, 10.0, 10.0)])})
    assert _read(load_dataset(root)) == want
    _yaml(root / "data.yaml", "path: .\ntrain:\n  - images/train\n  - images/extra\nval: [val.txt]\n"
          "names: [cat, dog]\n")
    assert _read(load_dataset(root)) == want


def test_roboflow_export(tmp_path: Path) -> None:
    """Roboflow's "YOLOv8" zip: ``train/images``, ``valid/images``, a data.yaml whose
    ``../train/images`` Ultralytics reads as ``train/images``, and a ``roboflow:`` block."""
    root = _images(tmp_path / "rf", "{split}/images", "{split}/labels")
    (root / "val").rename(root / "valid")
    _yaml(root / "data.yaml", "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 2\n"
          "names: ['cat', 'dog']\n\nroboflow:\n  workspace: me\n  project: pets\n  version: 3\n"
          "  license: CC BY 4.0\n  url: https://universe.roboflow.com/me/pets/dataset/3\n")
    ds = load_dataset(root)
    assert _read(ds) == WANT
    assert any("'test' ../test/images" in w and "not there" in w for w in ds.warnings)  # optional: noted


def test_a_download_script_is_passed_by(tmp_path: Path) -> None:
    root = _images(tmp_path / "ds")
    _yaml(root / "data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n\n"
          "# Download script/URL (optional)\ndownload: |\n  from ultralytics.utils.downloads import download\n"
          "  segments = True  # segment or box labels\n  dir = Path(yaml['path'])  # dataset root dir\n"
          "  urls: ['a', 'b']\n")
    assert _read(load_dataset(root)) == WANT


@pytest.mark.parametrize("layout", ["beside", "images-labels", "split-folders"])
def test_a_bare_classes_txt_folder(tmp_path: Path, layout: str) -> None:
    """No data.yaml: ``classes.txt`` with the images and their labels beside them, in
    ``images/`` + ``labels/``, or in ``images/<split>/`` + ``labels/<split>/`` (splits kept)."""
    root = tmp_path / "ds"
    if layout == "beside":
        _images(root, "", "")
    elif layout == "images-labels":
        _images(root, "images", "labels")
    else:
        _images(root)
    (root / "classes.txt").write_text("cat\ndog\n")
    assert detect_format(root) == "yolo"
    ds = load_dataset(root)
    assert ds.label_map.names == ["cat", "dog"]
    want = WANT if layout == "split-folders" else {k: ("", v) for k, (_, v) in WANT.items()}
    assert _read(ds) == want


def test_convert_an_ultralytics_dataset_and_back(tmp_path: Path) -> None:
    root = _images(tmp_path / "ds")
    _yaml(root / "data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames: {0: cat, 1: dog}\n")
    boxes = {k: v for k, (_, v) in WANT.items()}  # (convert writes a split only when given --split)
    assert main(["convert", str(root), str(tmp_path / "coco"), "--to", "coco"]) == 0
    assert {k: v for k, (_, v) in _read(load_dataset(tmp_path / "coco")).items()} == boxes
    assert main(["convert", str(tmp_path / "coco"), str(tmp_path / "y"), "--to", "yolo"]) == 0
    again = {k: v for k, (_, v) in _read(load_dataset(tmp_path / "y")).items()}
    assert again.keys() == boxes.keys()
    for name, got in again.items():
        assert [g[0] for g in got] == [w[0] for w in boxes[name]]
        assert [g[1:] for g in got] == [pytest.approx(w[1:], abs=1e-9) for w in boxes[name]]


@pytest.mark.parametrize(("text", "message"), [
    ("names: {0: cat, 2: dog}\n", r"data\.yaml: 'names' must give every class index from 0 to 1 once; it skips 1"),
    ("names:\n  0: cat\n  2: dog\n", r"it skips 1"),
    ("nc: 3\nnames: [cat, dog]\n", r"data\.yaml: nc = 3, but 'names' lists 2 classes"),
    ("names:\n  0: cat\n  0: dog\n", r"data\.yaml:5: class index 0 given twice"),
    ("names: {0: cat, x: dog}\n", r"data\.yaml:3: class index 'x' is not an integer"),
])
def test_bad_class_lists_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    root = _images(tmp_path / "ds")
    (root / "data.yaml").write_text("train: images/train\nval: images/val\n" + text)
    with pytest.raises(FormatError, match=message):
        load_dataset(root)
