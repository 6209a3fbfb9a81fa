"""YOLO: normalised centre convention, data.yaml, layout, malformed label lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.domain import Annotation, Box, ImageRecord, LabelMap
from detector_app.domain.errors import FormatError
from detector_app.formats import Dataset, detect_format, load_dataset, write_yolo
from detector_app.formats.yolo import label_path_of, parse_data_yaml, read_yolo, yolo_lines
from tests.helpers.files import grey_png


def _flat(tmp_path: Path, lines: str, names: str = "cat\ndog\n") -> Path:
    grey_png(tmp_path / "images" / "a.png", 100, 50)
    (tmp_path / "labels").mkdir(exist_ok=True)
    (tmp_path / "labels" / "a.txt").write_text(lines)
    (tmp_path / "classes.txt").write_text(names)
    return tmp_path


def test_whole_image_line_on_100x50(tmp_path: Path) -> None:
    ds = load_dataset(_flat(tmp_path, "0 0.5 0.5 1 1\n1 0.25 0.2 0.1 0.2\n"))
    assert ds.format == "yolo" and ds.label_map.names == ["cat", "dog"]
    rec = ds.images[0]
    assert rec.path == "images/a.png" and (rec.width, rec.height) == (100, 50)
    whole, small = rec.annotations
    assert (whole.label, whole.box) == ("cat", Box(0, 0, 100, 50))
    assert small.label == "dog"
    assert small.box.to_tuple() == pytest.approx((20, 5, 30, 15))


def test_writer_normalises_by_width_and_height() -> None:
    rec = ImageRecord("a.png", 100, 50, [Annotation(Box(0, 0, 100, 50), "cat"), Annotation(Box(20, 5, 30, 15), "dog")])
    assert yolo_lines(rec, LabelMap(["cat", "dog"])) == "0 0.5 0.5 1 1\n1 0.25 0.2 0.1 0.2\n"


def test_label_path_rule() -> None:
    assert label_path_of(Path("/d/images/train/x.jpg")) == Path("/d/labels/train/x.txt")
    assert label_path_of(Path("/images/d/images/x.png")) == Path("/images/d/labels/x.txt")
    assert label_path_of(Path("/d/pics/x.png")) == Path("/d/pics/x.txt")


def test_write_with_split_and_read_back(tmp_path: Path) -> None:
    out = tmp_path / "yolo"
    recs = [ImageRecord("a.png", 100, 50, [Annotation(Box(10, 5, 40, 45), "dog")]),
            ImageRecord("b.png", 64, 32, [])]
    ds = Dataset(tmp_path, LabelMap(["cat", "dog"]), recs, split={"a.png": "train", "b.png": "val"})
    write_yolo(ds, out)
    grey_png(out / "images" / "train" / "a.png", 100, 50)
    grey_png(out / "images" / "val" / "b.png", 64, 32)
    yaml = (out / "data.yaml").read_text()
    assert "train: images/train\nval: images/val\nnc: 2\nnames: [\"cat\", \"dog\"]\n" in yaml
    assert (out / "labels" / "val" / "b.txt").read_text() == ""
    assert detect_format(out) == "yolo"
    back = load_dataset(out)
    assert [r.path for r in back.images] == ["images/train/a.png", "images/val/b.png"]
    assert back.split == {"images/train/a.png": "train", "images/val/b.png": "val"}
    assert back.images[0].annotations[0].box.to_tuple() == pytest.approx((10, 5, 40, 45), rel=1e-9)


def test_data_yaml_variants(tmp_path: Path) -> None:
    y = tmp_path / "data.yaml"
    y.write_text(
        "# comment\npath: ../elsewhere  # moved\ntrain: images\nval: [images]\n"
        "names:\n  - 'cat # not a comment'\n  - \"d\\u00f6g\"\n"
    )
    assert parse_data_yaml(y) == {"path": "../elsewhere", "train": "images", "val": ["images"],
                                  "names": ["cat # not a comment", "dög"]}
    y.write_text("train: images\nnames:\n  0: cat\n  1: dog\n")
    assert parse_data_yaml(y)["names"] == {0: "cat", 1: "dog"}
    grey_png(tmp_path / "images" / "a.png", 10, 10)
    ds = read_yolo(tmp_path)  # 'path' missing -> the yaml's folder
    assert ds.label_map.names == ["cat", "dog"] and ds.images[0].annotations == []


@pytest.mark.parametrize("line, expected", [
    ("0 0.5 0.5 1", "expected 5 fields 'class cx cy w h', found 4"),
    ("0 0.5 0.5 1 1 0.9", "expected 5 fields.*found 6"),
    ("x 0.5 0.5 1 1", "class index 'x' is not an integer"),
    ("2 0.5 0.5 1 1", r"class index 2 out of range 0\.\.1"),
    ("-1 0.5 0.5 1 1", "class index -1 out of range"),
    ("0 0.5 abc 1 1", "box values must be numbers"),
    ("0 1.5 0.5 0.2 0.2", r"cx=1\.5 is outside 0\.\.1"),
    ("0 0.5 0.5 0.2 -0.1", r"h=-0\.1 is outside 0\.\.1"),
    ("0 0.5 0.5 nan 0.2", "w=nan is outside"),
    ("0 0.5 0.5 0 0.2", "degenerate box"),
])
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, expected: str) -> None:
    _flat(tmp_path, "0 0.5 0.5 1 1\n\n" + line + "\n")
    with pytest.raises(FormatError, match=r"labels/a\.txt:3: " + expected):
        load_dataset(tmp_path)


def test_box_over_the_edge_is_clipped(tmp_path: Path) -> None:
    ds = load_dataset(_flat(tmp_path, "0 0.95 0.5 0.2 0.2\n"))
    assert ds.images[0].annotations[0].box.to_tuple() == pytest.approx((85, 20, 100, 30))


def test_bad_yaml_and_class_lists(tmp_path: Path) -> None:
    grey_png(tmp_path / "images" / "a.png", 10, 10)
    y = tmp_path / "data.yaml"
    y.write_text("train: images\nnames: [a, b\n")
    with pytest.raises(FormatError, match=r"data\.yaml:2: unterminated list"):
        read_yolo(tmp_path)
    y.write_text("train images\n")
    with pytest.raises(FormatError, match=r"data\.yaml:1: expected 'key: value'"):
        read_yolo(tmp_path)
    y.write_text("train: images\n")
    with pytest.raises(FormatError, match="missing 'names'"):
        read_yolo(tmp_path)
    y.write_text("train: images\nnames: []\n")  # no classes: a dataset of negatives (what we write then)
    assert read_yolo(tmp_path).label_map.names == []
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 1 1\n")
    with pytest.raises(FormatError, match=r"a\.txt:1: class index 0, but the class list is empty"):
        read_yolo(tmp_path)
    (tmp_path / "labels" / "a.txt").unlink()
    y.write_text("train: nowhere\nnames: [a]\n")
    with pytest.raises(FormatError, match="'train' 'nowhere' is not a folder"):
        read_yolo(tmp_path)
    y.write_text("train: images\nnames: [a, a]\n")
    with pytest.raises(FormatError, match="unique"):
        read_yolo(tmp_path)
    y.unlink()
    (tmp_path / "classes.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(FormatError, match=r"classes\.txt: not UTF-8"):
        read_yolo(tmp_path)


def test_unreadable_image_size(tmp_path: Path) -> None:
    _flat(tmp_path, "0 0.5 0.5 1 1\n")
    (tmp_path / "images" / "a.png").write_bytes(b"not a png")
    with pytest.raises(FormatError, match=r"a\.png: cannot read the image size"):
        load_dataset(tmp_path)
    assert load_dataset(tmp_path, "yolo", size_of=lambda p: (20, 10)).images[0].annotations[0].box == Box(0, 0, 20, 10)


def test_awkward_class_names_in_data_yaml_and_classes_txt(tmp_path: Path) -> None:
    """Names with quotes, backslashes, '#', ': ', brackets survive data.yaml (JSON-quoted,
    which YAML reads too) and classes.txt; a backslash-escaped quote is not the end of a
    string for the comment rule (which would then see an unterminated list)."""
    names = ['"', "0 #", "a: b", "back\\slash", "[x]", "{y}", "- z", "null", "it's", "caf\u00e9 \U0001f600"]
    out = tmp_path / "y"
    write_yolo(Dataset(tmp_path, LabelMap(names), [ImageRecord("a.png", 4, 4, [])]), out)
    assert (out / "classes.txt").read_text(encoding="utf-8").splitlines() == names
    assert parse_data_yaml(out / "data.yaml")["names"] == names
    assert f"nc: {len(names)}\n" in (out / "data.yaml").read_text(encoding="utf-8")
    grey_png(out / "images" / "a.png", 4, 4)
    assert load_dataset(out).label_map.names == names
    (tmp_path / "c.yaml").write_text('names: ["a \\" # b", \'c \'\' # d\']  # comment\n')
    assert parse_data_yaml(tmp_path / "c.yaml")["names"] == ['a " # b', "c ' # d"]
    yaml = pytest.importorskip("yaml")  # what ultralytics reads data.yaml with
    data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert data["names"] == names and data["nc"] == len(names) and data["path"] == str(out.absolute())


@pytest.mark.parametrize("where, text", [
    ("data.yaml", 'train: images\nnames: ["cat", "a\\u2028b"]\n'),
    ("classes.txt", "cat\nx\x01y\n"),
])
def test_class_name_with_control_character_is_a_format_error(tmp_path: Path, where: str, text: str) -> None:
    grey_png(tmp_path / "images" / "a.png", 10, 10)
    (tmp_path / where).write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=rf"{where.replace('.', '[.]')}: class name .* contains a"):
        read_yolo(tmp_path)
