"""Pascal VOC: the 1-based inclusive pixel convention, layout, malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.domain import Annotation, Box, ImageRecord, LabelMap
from detector_app.domain.errors import FormatError
from detector_app.formats import Dataset, detect_format, load_dataset, write_voc
from detector_app.formats.voc import box_to_voc, read_voc, voc_to_box, voc_xml

XML = """<annotation>
  <folder>JPEGImages</folder>
  <filename>{filename}</filename>
  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>
  {objects}
</annotation>
"""
OBJ = ("<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
       "</bndbox></object>")


def _write(root: Path, objects: str, name: str = "a.xml", w: int = 100, h: int = 50) -> Path:
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "JPEGImages").mkdir(exist_ok=True)
    (root / "JPEGImages" / "a.jpg").write_bytes(b"")
    path = root / "Annotations" / name
    path.write_text(XML.format(filename="a.jpg", w=w, h=h, objects=objects))
    return path


def test_xmin_one_is_pixel_zero(tmp_path: Path) -> None:
    _write(
        tmp_path, OBJ.format(name="cat", x1=1, y1=1, x2=100, y2=50) + OBJ.format(name="dog", x1=11, y1=6, x2=20, y2=15)
    )
    ds = load_dataset(tmp_path)
    assert ds.format == "voc" and ds.images[0].path == "JPEGImages/a.jpg"
    whole, small = ds.images[0].annotations
    assert whole.box == Box(0, 0, 100, 50)  # the whole 100x50 image
    assert small.box == Box(10, 5, 20, 15)  # pixels 10..19 -> [10, 20)
    assert ds.label_map.names == ["cat", "dog"]


def test_write_convention_and_half_pixel_rounding() -> None:
    assert box_to_voc(0, 0, 100, 50) == (1, 1, 100, 50)
    assert box_to_voc(10, 5, 20, 15) == (11, 6, 20, 15)
    assert box_to_voc(9.5, 4.49, 19.5, 15.5) == (11, 5, 20, 16)  # half rounds up
    assert box_to_voc(3.2, 3.2, 3.4, 3.4) == (4, 4, 4, 4)  # at least one pixel
    assert voc_to_box(4, 4, 4, 4) == (3.0, 3.0, 4.0, 4.0)
    for box in [(0, 0, 100, 50), (10, 5, 20, 15), (7, 3, 8, 4)]:
        assert voc_to_box(*box_to_voc(*box)) == tuple(float(v) for v in box)  # integers: exact


def test_write_layout_round_trip_and_labels_order(tmp_path: Path) -> None:
    recs = [ImageRecord("imgs/a.jpg", 100, 50, [Annotation(Box(0, 0, 100, 50), "zebra"),
                                                Annotation(Box(10.4, 5.6, 20.5, 15), "ant")]),
            ImageRecord("imgs/b.jpg", 30, 30, [])]
    ds = Dataset(tmp_path / "src", LabelMap(["zebra", "ant"]), recs, split={"imgs/a.jpg": "train", "imgs/b.jpg": "val"})
    out = write_voc(ds, tmp_path / "voc")
    assert sorted(p.name for p in (out / "Annotations").iterdir()) == ["a.xml", "b.xml"]  # names kept
    assert (out / "ImageSets" / "Main" / "train.txt").read_text() == "a\n"
    assert (out / "ImageSets" / "Main" / "val.txt").read_text() == "b\n"
    assert (out / "ImageSets" / "Main" / "trainval.txt").read_text() == "a\nb\n"  # always, split or not
    xml = (out / "Annotations" / "a.xml").read_text()
    assert "<xmin>1</xmin>" in xml and "<xmax>100</xmax>" in xml and "<xmin>11</xmin>" in xml
    back = load_dataset(out)
    assert back.label_map.names == ["zebra", "ant"]
    assert [(out / r.path).resolve() for r in back.images] == [(tmp_path / "src" / r.path).resolve() for r in recs]
    assert back.images[0].annotations[1].box == Box(10, 6, 21, 15)
    assert back.split == {back.images[0].key: "train", back.images[1].key: "val"}


def test_float_coordinates_and_clipping(tmp_path: Path) -> None:
    _write(tmp_path, OBJ.format(name="cat", x1="1.5", y1=1, x2="120.0", y2=50))
    (ann,) = read_voc(tmp_path).images[0].annotations
    assert ann.box == Box(0.5, 0, 100, 50)


def test_detect_format(tmp_path: Path) -> None:
    _write(tmp_path, "")
    assert detect_format(tmp_path) == "voc"
    assert detect_format(tmp_path / "Annotations") == "voc"
    assert detect_format(tmp_path / "Annotations" / "a.xml") == "voc"


@pytest.mark.parametrize("objects, expected", [
    (OBJ.format(name="cat", x1=10, y1=1, x2=5, y2=50), r"<object> #1/<bndbox>: degenerate box"),
    (OBJ.format(name="cat", x1="ten", y1=1, x2=5, y2=50), r"<bndbox>/<xmin>: not a number: 'ten'"),
    (OBJ.format(name="cat", x1="nan", y1=1, x2=5, y2=50), r"<xmin>: not a finite number"),
    (OBJ.format(name="cat", x1=200, y1=1, x2=300, y2=50), "outside the 100x50 image"),
    (OBJ.format(name="", x1=1, y1=1, x2=5, y2=5), r"<object> #1: missing <name>"),
    ("<object><name>cat</name></object>", r"<object> #1: missing <bndbox>"),
    ("<object><name>cat</name><bndbox><xmin>1</xmin></bndbox></object>", r"missing <ymin>"),
])
def test_malformed_objects(tmp_path: Path, objects: str, expected: str) -> None:
    _write(tmp_path, objects)
    with pytest.raises(FormatError, match=r"a\.xml: .*" + expected):
        read_voc(tmp_path)


def test_malformed_documents(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    path.write_text("<annotation><filename>a.jpg</filename>\n<size></annotation>")
    with pytest.raises(FormatError, match=r"a\.xml: invalid XML at line 2, column"):
        read_voc(tmp_path)
    path.write_text("<html/>")
    with pytest.raises(FormatError, match="root element is <html>"):
        read_voc(tmp_path)
    path.write_text("<annotation><size><width>10</width><height>-1</height></size><filename>a</filename></annotation>")
    with pytest.raises(FormatError, match="height must be a positive integer"):
        read_voc(tmp_path)
    path.write_text("<annotation><size><width>10</width><height>10</height></size></annotation>")
    with pytest.raises(FormatError, match="missing <filename>"):
        read_voc(tmp_path)
    _write(tmp_path, "", name="b.xml")
    _write(tmp_path, "", name="a.xml")
    with pytest.raises(FormatError, match=r"b\.xml: image JPEGImages/a\.jpg is already annotated by a\.xml"):
        read_voc(tmp_path)
    with pytest.raises(FormatError, match="no VOC .xml files"):
        read_voc(tmp_path / "JPEGImages")


def _voc_xml_elementtree(record: ImageRecord, filename: str, image_path: str) -> str:
    """The reference: the same document built independently, with ElementTree."""
    import xml.etree.ElementTree as ET

    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = filename
    ET.SubElement(root, "path").text = image_path
    ET.SubElement(ET.SubElement(root, "source"), "database").text = "Faster R-CNN Studio"
    size = ET.SubElement(root, "size")
    for tag, v in (("width", record.width), ("height", record.height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(v)
    ET.SubElement(root, "segmented").text = "0"
    for ann in record.annotations:
        obj = ET.SubElement(root, "object")
        for tag, v in (("name", ann.label), ("pose", "Unspecified"), ("truncated", "0"), ("difficult", "0")):
            ET.SubElement(obj, tag).text = v
        bnd = ET.SubElement(obj, "bndbox")
        for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), box_to_voc(*ann.box.to_tuple())):
            ET.SubElement(bnd, tag).text = str(v)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


@pytest.mark.parametrize("label, filename", [
    ("cat", "a.jpg"),
    ("a & b <c> \"d\" 'e'", "x&y<z>.png"),
    ("chat noir \u00e9\u4e2d", "\u00e9t\u00e9 1.jpg"),
    ("two  spaces", "]]>.jpg"),
])
def test_voc_xml_template_matches_elementtree(label: str, filename: str, tmp_path: Path) -> None:
    rec = ImageRecord(f"imgs/{filename}", 640, 480, [Annotation(Box(0, 0, 640, 480), label),
                                                   Annotation(Box(10.4, 5.6, 20.5, 15), "dog"),
                                                   Annotation(Box(3.2, 3.2, 3.4, 3.4), label)])
    text = voc_xml(rec, filename, f"JPEGImages/{filename}")
    assert text == _voc_xml_elementtree(rec, filename, f"JPEGImages/{filename}")
    empty = ImageRecord("b.jpg", 30, 20, [])
    assert voc_xml(empty, "b.jpg", "") == _voc_xml_elementtree(empty, "b.jpg", "")  # <path /> when empty
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text(text, encoding="utf-8")
    back = read_voc(tmp_path).images[0]
    assert [a.label for a in back.annotations] == [label, "dog", label]
    assert back.annotations[1].box == Box(10, 6, 21, 15)  # 20.5 rounds half up


def test_class_name_with_control_character_is_a_format_error(tmp_path: Path) -> None:
    _write(tmp_path, OBJ.format(name="cat\tdog", x1=1, y1=1, x2=5, y2=5))
    with pytest.raises(FormatError, match=r"a\.xml: <object> #1: class name 'cat\\tdog' contains a control"):
        read_voc(tmp_path)
    _write(tmp_path, OBJ.format(name="cat", x1=1, y1=1, x2=5, y2=5))
    (tmp_path / "labels.txt").write_text("cat\nd\x02g\n")
    with pytest.raises(FormatError, match=r"labels\.txt: class name 'd\\x02g' contains a control character"):
        read_voc(tmp_path)


def test_cvat_pascal_voc_1_1_layout_and_images_found_by_stem(tmp_path: Path) -> None:
    """CVAT's "Pascal VOC 1.1": ImageSets/Main/default.txt (the subset, kept as the split)
    and labelmap.txt; an XML whose <filename> says .png for an image saved as .jpg is
    found by its stem (the name as written points at a file that is not there)."""
    import numpy as np

    from detector_app.media.images import write_image

    root = tmp_path / "cvat"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for stem in ("a", "b"):
        write_image(root / "JPEGImages" / f"{stem}.jpg", np.zeros((40, 60, 3), np.uint8))
        (root / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><folder></folder><filename>{stem}.png</filename><size><width>60</width>"
            "<height>40</height><depth>3</depth></size><object><name>cat</name><bndbox><xmin>2</xmin>"
            "<ymin>3</ymin><xmax>20</xmax><ymax>30</ymax></bndbox></object></annotation>")
    (root / "ImageSets" / "Main" / "default.txt").write_text("a\nb\n")
    (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\ncat:250,50,83::\n")
    ds = load_dataset(root)
    assert [r.path for r in ds.images] == ["JPEGImages/a.jpg", "JPEGImages/b.jpg"]
    assert all((root / r.path).is_file() for r in ds.images)
    assert ds.split == {"JPEGImages/a.jpg": "default", "JPEGImages/b.jpg": "default"}
    assert [(a.label, a.box.to_tuple()) for a in ds.images[0].annotations] == [("cat", (1.0, 2.0, 20.0, 30.0))]
