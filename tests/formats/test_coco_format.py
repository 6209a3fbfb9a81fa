"""COCO reader/writer: conventions, pycocotools compatibility, malformed input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pycocotools.coco import COCO

from detector_app.domain import Annotation, AnnotationSource, Box, ImageRecord, LabelMap
from detector_app.domain.errors import FormatError
from detector_app.formats import Dataset, load_dataset, read_coco, write_coco


def _dataset(root: Path) -> Dataset:
    return Dataset(root, LabelMap(["cat", "dog"]), [
        ImageRecord("a.jpg", 100, 50, [Annotation(Box(1.5, 2, 30, 40), "dog"),
                                       Annotation(Box(0, 0, 100, 50), "cat", AnnotationSource.MODEL, 0.75)]),
        ImageRecord("sub/b.png", 64, 64, []),
    ])


def _valid(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "images": [{"id": 7, "file_name": "x.jpg", "width": 100, "height": 50}],
        "annotations": [{"id": 3, "image_id": 7, "category_id": 12, "bbox": [10, 5, 20, 10], "iscrowd": 0}],
        "categories": [{"id": 12, "name": "dog"}, {"id": 4, "name": "cat"}],
    }
    data.update(over)
    return data


def test_ids_start_at_one_and_category_ids_follow_label_map(tmp_path: Path) -> None:
    path = write_coco(_dataset(tmp_path), tmp_path / "annotations.json")
    data = json.loads(path.read_text())
    assert [i["id"] for i in data["images"]] == [1, 2]
    assert [a["id"] for a in data["annotations"]] == [1, 2]
    assert data["categories"] == [{"id": 1, "name": "cat", "supercategory": "none"},
                                  {"id": 2, "name": "dog", "supercategory": "none"}]
    first = data["annotations"][0]
    assert first["category_id"] == 2 and first["bbox"] == [1.5, 2.0, 28.5, 38.0]
    assert first["area"] == 28.5 * 38.0 and first["iscrowd"] == 0
    assert data["images"][1] == {"id": 2, "file_name": "sub/b.png", "width": 64, "height": 64}


def test_pycocotools_loads_export_and_round_trip(tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    path = write_coco(ds, tmp_path / "annotations.json")
    coco = COCO(str(path))
    assert sorted(coco.getCatIds()) == [1, 2]
    assert len(coco.getAnnIds(imgIds=[1])) == 2
    back = load_dataset(tmp_path)
    assert back.format == "coco" and back.label_map.names == ["cat", "dog"]
    assert [r.path for r in back.images] == ["a.jpg", "sub/b.png"]
    got = [(a.box, a.label, a.source, a.score) for a in back.images[0].annotations]
    assert got == [(Box(1.5, 2, 30, 40), "dog", AnnotationSource.MANUAL, None),
                   (Box(0, 0, 100, 50), "cat", AnnotationSource.MODEL, 0.75)]


def test_reads_noncontiguous_categories_by_name(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_valid()))
    ds = read_coco(tmp_path / "a.json")
    assert ds.label_map.names == ["cat", "dog"]  # ordered by category id (4, 12)
    (ann,) = ds.images[0].annotations
    assert ann.label == "dog" and ann.box == Box(10, 5, 30, 15)


def test_images_in_sibling_images_folder_are_resolved(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.jpg").write_bytes(b"")
    (tmp_path / "annotations" / "instances_val.json").write_text(json.dumps(_valid()))
    ds = load_dataset(tmp_path)
    assert (ds.root / ds.images[0].path).resolve() == (tmp_path / "images" / "x.jpg").resolve()


def test_crowd_boxes_skipped_or_kept(tmp_path: Path) -> None:
    data = _valid()
    data["annotations"].append({"id": 4, "image_id": 7, "category_id": 4, "bbox": [0, 0, 5, 5], "iscrowd": 1})
    (tmp_path / "a.json").write_text(json.dumps(data))
    skipped = read_coco(tmp_path / "a.json")
    assert len(skipped.images[0].annotations) == 1 and "crowd" in skipped.warnings[0]
    kept = read_coco(tmp_path / "a.json", keep_crowd=True)
    assert len(kept.images[0].annotations) == 2


def test_box_partly_outside_is_clipped(tmp_path: Path) -> None:
    data = _valid()
    data["annotations"][0]["bbox"] = [90, -5, 30, 20]
    (tmp_path / "a.json").write_text(json.dumps(data))
    assert read_coco(tmp_path / "a.json").images[0].annotations[0].box == Box(90, 0, 100, 15)


def _bad(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(FormatError) as info:
        read_coco(path)
    msg = str(info.value)
    assert "bad.json" in msg
    return msg


def _mutated(fn: Any) -> str:
    data = _valid()
    fn(data)
    return json.dumps(data)


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d.pop("images"), "missing key 'images'"),
    (lambda d: d.update(annotations={}), "'annotations' must be a list"),
    (lambda d: d["images"][0].pop("file_name"), r"images\[0\]: missing key 'file_name'"),
    (lambda d: d["images"][0].update(id="7"), r"'id' must be an int"),
    (lambda d: d["images"][0].update(width=-3), "width must be a positive integer"),
    (lambda d: d["images"].append(dict(d["images"][0], file_name="y.jpg")), "duplicate image id 7"),
    (lambda d: d["annotations"].append(dict(d["annotations"][0])), "duplicate annotation id 3"),
    (lambda d: d["annotations"][0].update(category_id=99), "annotation id 3.*unknown category_id 99"),
    (lambda d: d["annotations"][0].update(image_id=8), "unknown image_id 8"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "'bbox' must be 4 numbers"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, "3", 4]), "'bbox' must be 4 numbers"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 0, 4]), r"x\.jpg.*degenerate box"),
    (lambda d: d["annotations"][0].update(bbox=[200, 2, 5, 4]), "outside the 100x50 image"),
    (lambda d: d["categories"].append({"id": 5, "name": "dog"}), "duplicate category name 'dog'"),
    (lambda d: d["categories"].append({"id": 4, "name": "emu"}), "duplicate category id 4"),
    (lambda d: d["annotations"][0].update(iscrowd=2), "'iscrowd' must be 0 or 1"),
])
def test_malformed_entries_name_the_problem(tmp_path: Path, mutate: Any, expected: str) -> None:
    assert re.search(expected, _bad(tmp_path, _mutated(mutate)))


def test_bad_json_gives_line_and_column(tmp_path: Path) -> None:
    msg = _bad(tmp_path, '{\n  "images": [\n    {"id": 1,,}\n  ]\n}')
    assert "line 3, column" in msg


def test_not_an_object_and_not_utf8(tmp_path: Path) -> None:
    assert "JSON object" in _bad(tmp_path, "[1, 2]")
    (tmp_path / "bad.json").write_bytes(b'{"images": ["\xff"]}')
    with pytest.raises(FormatError, match="not UTF-8"):
        read_coco(tmp_path / "bad.json")


def test_missing_path_and_folder_without_json(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such dataset"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(FormatError, match="no COCO annotation file"):
        read_coco(tmp_path)


def test_writer_refuses_unknown_size_and_label(tmp_path: Path) -> None:
    ds = Dataset(tmp_path, LabelMap(["cat"]), [ImageRecord("a.jpg", None, None, [])])
    with pytest.raises(FormatError, match="a.jpg: image size unknown"):
        write_coco(ds, tmp_path / "x.json")
    ds = Dataset(tmp_path, LabelMap(["cat"]), [ImageRecord("a.jpg", 9, 9, [Annotation(Box(0, 0, 1, 1), "dog")])])
    with pytest.raises(FormatError, match="label 'dog' is not in the label map"):
        write_coco(ds, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_category_name_with_line_break_is_a_format_error(tmp_path: Path) -> None:
    msg = _bad(tmp_path, _mutated(lambda d: d["categories"].append({"id": 5, "name": "two\u2028lines"})))
    assert re.search(r"categories\[2\]: class name .* contains a line separator \(U\+2028\)", msg)


def test_video_frames_round_trip_with_their_frame_index(tmp_path: Path) -> None:
    """One COCO reader for images and video frames (``frame_index``: many images, one video file)."""
    from detector_app.domain import Annotation, Box, ImageRecord
    from detector_app.domain.labels import LabelMap

    recs = [ImageRecord("clip.mp4", 64, 48, [Annotation(Box(1, 2, 10, 12), "a")], frame_index=f) for f in (0, 7)]
    ds = Dataset(tmp_path, LabelMap(["a"]), recs)
    write_coco(ds, tmp_path / "a.json")
    back = read_coco(tmp_path / "a.json")
    assert [(r.path, r.frame_index, r.key) for r in back.images] == [("clip.mp4", 0, "clip.mp4#0"),
                                                                    ("clip.mp4", 7, "clip.mp4#7")]
    assert [a.box.to_tuple() for a in back.images[1].annotations] == [(1.0, 2.0, 10.0, 12.0)]
    data = json.loads((tmp_path / "a.json").read_text())
    data["images"][1]["frame_index"] = 0  # the same frame twice
    (tmp_path / "b.json").write_text(json.dumps(data))
    with pytest.raises(FormatError, match=r"duplicate file_name 'clip.mp4' frame 0"):
        read_coco(tmp_path / "b.json")
    data["images"][1]["frame_index"] = -1
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(FormatError, match="frame_index must be a whole number >= 0, got -1"):
        read_coco(tmp_path / "c.json")
