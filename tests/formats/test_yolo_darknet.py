"""Darknet / CVAT "YOLO 1.1" folders (``obj.data``, ``obj.names``, ``obj_<split>_data/``,
``train.txt`` with CVAT's ``data/`` prefix), written to the layout's published form and
read back with the boxes they hold; bad ones get one line naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector_app.cli import main
from detector_app.domain.errors import FormatError
from detector_app.formats import detect_format, load_dataset
from detector_app.media.images import write_image


def _cvat_yolo(root: Path, names: str = "cat\ndog\n", classes: int = 2, with_data: bool = True) -> Path:
    for split, items in (("train", [("a", 100, 50, "0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.1 0.1\n")]),
                         ("valid", [("b", 40, 40, "1 0.5 0.5 0.5 0.5\n")])):
        folder = root / f"obj_{split}_data"
        folder.mkdir(parents=True)
        for stem, w, h, lines in items:
            write_image(folder / f"{stem}.jpg", np.full((h, w, 3), 128, np.uint8))
            (folder / f"{stem}.txt").write_text(lines)
        (root / f"{split}.txt").write_text("".join(f"data/obj_{split}_data/{s}.jpg\n" for s, *_ in items))
    (root / "obj.names").write_text(names)
    if with_data:
        (root / "obj.data").write_text(f"classes = {classes}\ntrain = data/train.txt\nvalid = data/valid.txt\n"
                                       "names = data/obj.names\nbackup = backup/\n")
    return root


def test_cvat_yolo_1_1_reads_with_boxes_and_splits(tmp_path: Path) -> None:
    root = _cvat_yolo(tmp_path / "cvat")
    assert detect_format(root) == "yolo"
    ds = load_dataset(root)
    assert ds.label_map.names == ["cat", "dog"]
    got = {r.path: [(a.label, tuple(round(v, 9) for v in a.box.to_tuple())) for a in r.annotations]
           for r in ds.images}
    assert got == {"obj_train_data/a.jpg": [("cat", (40.0, 15.0, 60.0, 35.0)), ("dog", (5.0, 2.5, 15.0, 7.5))],
                   "obj_valid_data/b.jpg": [("dog", (10.0, 10.0, 30.0, 30.0))]}
    assert ds.split == {"obj_train_data/a.jpg": "train", "obj_valid_data/b.jpg": "val"}
    only_names = _cvat_yolo(tmp_path / "bare", with_data=False)  # obj.names and the folders alone
    assert len(load_dataset(only_names).images) == 2


def test_convert_cvat_yolo_to_coco(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`convert` takes CVAT's YOLO 1.1 folder (obj.data, obj.names; no data.yaml or
    classes.txt) as a YOLO dataset and writes it as COCO."""
    root = _cvat_yolo(tmp_path / "cvat")
    assert main(["convert", str(root), "--to", "coco", str(tmp_path / "out"), "--copy"]) == 0
    assert "wrote 2 images, 3 boxes" in capsys.readouterr().out


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"names": "cat\n", "classes": 1}, r"obj_train_data/a\.txt:2: class index 1 out of range 0\.\.0"),
    ({"classes": 3}, r"obj\.data: classes = 3, but obj\.names lists 2 names"),
])
def test_bad_darknet_folders_name_the_file(tmp_path: Path, kwargs: dict, message: str) -> None:
    root = _cvat_yolo(tmp_path / "cvat", **kwargs)
    with pytest.raises(FormatError, match=message):
        load_dataset(root)


@pytest.mark.parametrize("split", [None, "0.5"])
def test_export_in_the_darknet_layout_reads_back_as_cvat_yolo(tmp_path: Path, split: str | None,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`--yolo-layout darknet` writes what CVAT imports as "YOLO 1.1": obj.data / obj.names,
    images with their .txt in obj_<split>_data/, train.txt (valid.txt) listing data/<image>."""
    src = _cvat_yolo(tmp_path / "cvat")
    out = tmp_path / "dark"
    argv = ["convert", str(src), "--to", "yolo", str(out), "--yolo-layout", "darknet"]
    assert main(argv + (["--split", split, "--seed", "1"] if split else [])) == 0
    assert "wrote 2 images, 3 boxes" in capsys.readouterr().out
    data = (out / "obj.data").read_text().splitlines()
    assert data[0] == "classes = 2" and "names = data/obj.names" in data
    assert (out / "obj.names").read_text() == "cat\ndog\n"
    listed = [line for f in sorted(out.glob("*.txt")) for line in f.read_text().splitlines()]
    assert sorted(listed) == sorted(f"data/{p.relative_to(out).as_posix()}" for p in out.glob("obj_*_data/*.jpg"))
    for image in out.glob("obj_*_data/*.jpg"):
        assert image.with_suffix(".txt").is_file()  # each label beside its image
    if split:
        assert {p.name for p in out.glob("obj_*_data")} == {"obj_train_data", "obj_valid_data"}
        assert "valid = data/valid.txt" in data
    back = load_dataset(out)
    def boxes(ds):  # type: ignore[no-untyped-def]
        return sorted((Path(r.path).name, a.label, tuple(round(v, 6) for v in a.box.to_tuple()))
                      for r in ds.images for a in r.annotations)
    assert boxes(back) == boxes(load_dataset(src))
