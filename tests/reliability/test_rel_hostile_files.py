"""Hostile and odd annotation files through the CLI: one line naming the file, never a
traceback (unchecked, these cases raise OverflowError, ValueError, LookupError, an
OSError from a full disk), and XML entities refused rather than silently rewriting
class names."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from detector_app.cli import main
from tests.helpers.files import write_png


def _coco_with_width(folder: Path, width_literal: str) -> Path:
    write_png(folder / "a.png", 20, 10)
    (folder / "annotations.json").write_text(
        '{"images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}], '
        '"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, ' + width_literal + ', 2]}], '
        '"categories": [{"id": 1, "name": "cat"}]}')
    return folder


def _voc(folder: Path, xml: str) -> Path:
    write_png(folder / "JPEGImages" / "a.png", 20, 10)
    (folder / "Annotations").mkdir(parents=True)
    (folder / "Annotations" / "a.xml").write_text(xml)
    return folder


_BOX = "<size><width>20</width><height>10</height></size><object><name>{name}</name><bndbox><xmin>1</xmin>" \
       "<ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"


def _one_line_error(capsys: pytest.CaptureFixture[str], *parts: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("detector-app convert: error: ")]
    assert len(lines) == 1, err
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("case", "make", "expected"), [
    ("400-digit integer (OverflowError)", lambda d: _coco_with_width(d, "1" + "0" * 400),
     ("annotations.json", "'bbox' must be 4 numbers")),
    ("5000-digit integer (ValueError)", lambda d: _coco_with_width(d, "1" * 5000),
     ("annotations.json", "invalid JSON", "4300 digits")),
    ("unknown XML encoding (LookupError)",
     lambda d: _voc(d, '<?xml version="1.0" encoding="x-nope"?><annotation><filename>a.png</filename>'
                       + _BOX.format(name="cat") + "</annotation>"),
     ("a.xml", "unknown encoding: x-nope")),
    ("internal XML entity (read as 'cat' before)",
     lambda d: _voc(d, '<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY c "cat">]><annotation>'
                       "<filename>a.png</filename>" + _BOX.format(name="&c;") + "</annotation>"),
     ("a.xml", "XML entity declarations are not accepted")),
])
def test_hostile_annotation_file_gives_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          case: str, make, expected) -> None:  # type: ignore[no-untyped-def]
    data = make(tmp_path / "ds")
    assert main(["convert", str(data), "--to", "coco", str(tmp_path / "out"), "--copy"]) == 2, case
    _one_line_error(capsys, *expected)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("code", "text"), [(errno.ENOSPC, "No space left on device"),
                                            (errno.EROFS, "Read-only file system")])
def test_export_on_a_full_or_read_only_disk_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch, code: int, text: str) -> None:
    import shutil

    data = _coco_with_width(tmp_path / "ds", "5")
    out = tmp_path / "out"

    def fail(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(code, text, str(dst))

    monkeypatch.setattr(shutil, "copyfile", fail)
    monkeypatch.setattr(shutil, "copy2", fail)
    monkeypatch.setattr(shutil, "copy", fail)
    assert main(["convert", str(data), "--to", "coco", str(out), "--copy"]) == 2
    line = _one_line_error(capsys, text)
    assert "a.png" in line
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


@pytest.mark.parametrize(("width", "reason"), [(65, "shifts every box by up to 0.6 px"),
                                               (10_000_000_000, "collapses every box to zero width")])
def test_convert_does_not_trust_a_declared_image_size(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      width: int, reason: str) -> None:
    """A COCO file declaring a width the image does not have: converting it to YOLO would
    normalise the boxes by the wrong width (output the app cannot read back). That image
    is skipped with both sizes named; the others convert."""
    ds = tmp_path / "ds"
    write_png(ds / "good.png", 64, 32)
    write_png(ds / "bad.png", 64, 32)
    data = {"images": [{"id": 1, "file_name": "good.png", "width": 64, "height": 32},
                       {"id": 2, "file_name": "bad.png", "width": width, "height": 32}],
            "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [4, 4, 20, 10]} for i in (1, 2)],
            "categories": [{"id": 1, "name": "cat"}]}
    (ds / "annotations.json").write_text(json.dumps(data))
    out = tmp_path / "y"
    assert main(["convert", str(ds), "--to", "yolo", str(out)]) == 0, reason
    text = capsys.readouterr().out
    assert f"bad.png: the dataset says {width}x32, the image is 64x32" in text and "wrote 1 images" in text
    from detector_app.formats import load_dataset

    back = load_dataset(out)
    assert [(r.path.rsplit("/", 1)[-1], [a.box.to_tuple() for a in r.annotations]) for r in back.images] == [
        ("good.png", [pytest.approx((4.0, 4.0, 24.0, 14.0))])]


def test_an_oversized_yolo_label_file_is_refused_before_reading(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A million-line label file (75 s and 0.93 GB to import) is refused at once."""
    ds = tmp_path / "y"
    write_png(ds / "images" / "a.png", 20, 10)
    (ds / "labels").mkdir(parents=True)
    (ds / "classes.txt").write_text("cat\n")
    with open(ds / "labels" / "a.txt", "w") as fh:
        fh.write("0 0.5 0.5 0.1 0.1\n" * 300_000)  # 5.4 MB
    assert main(["convert", str(ds), "--to", "coco", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "a.txt", "is not a label file of one image")
