"""Fuzzing: whatever bytes an annotation file holds, importers raise only
FormatError (or succeed) - never another exception."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector_app.domain.errors import FormatError
from detector_app.formats import load_dataset
from tests.helpers.files import grey_png

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID_COCO = json.dumps({
    "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1.5, 2, 10, 12], "iscrowd": 0,
                     "area": 120.0, "score": 0.5, "attributes": {"source": "model"}}],
    "categories": [{"id": 3, "name": "cat"}],
}).encode()
VALID_VOC = (b"<annotation><folder>JPEGImages</folder><filename>a.png</filename><path>a.png</path>"
             b"<size><width>40</width><height>30</height><depth>3</depth></size>"
             b"<object><name>cat</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>11</xmax><ymax>14</ymax>"
             b"</bndbox></object></annotation>")
VALID_YOLO = b"0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.05 0.05\n"
VALID_YAML = b'path: .\ntrain: images\nval: images\nnc: 2\nnames: ["cat", "dog"]\n'
VALID_LABELME = json.dumps({
    "imagePath": "a.png", "imageWidth": 40, "imageHeight": 30,
    "shapes": [{"label": "cat", "points": [[1, 2], [10, 12]], "shape_type": "rectangle"}],
}).encode()

# A JSON value of any shape, to splice into valid documents.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=8,
)


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with random byte flips, deletions, insertions or a truncation, or random bytes."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=200))
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.integers(0, 2))
        if op == 0:
            data[i] = draw(st.integers(0, 255))
        elif op == 1:
            del data[i: i + draw(st.integers(1, 8))]
        else:
            data[i:i] = draw(st.binary(min_size=1, max_size=6))
    if kind == 3:
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@st.composite
def spliced_json(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` JSON with one value somewhere replaced by a random JSON value."""
    doc = json.loads(valid)
    node: Any = doc
    path: list[Any] = []
    for _ in range(draw(st.integers(0, 4))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            key = draw(st.integers(0, len(node) - 1))
        else:
            break
        path.append(key)
        node = node[key]
    value = draw(JSON_VALUES)
    if not path:
        return json.dumps(value).encode()
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return json.dumps(doc).encode()


def _only_format_errors(setup: Callable[[Path], Path], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        grey_png(root / "a.png", 40, 30)
        grey_png(root / "images" / "a.png", 40, 30)
        target = setup(root)
        try:
            ds = load_dataset(target, fmt)
        except FormatError as exc:
            assert str(exc)
        else:
            for rec in ds.images:
                for ann in rec.annotations:
                    assert ann.box.x2 > ann.box.x1 and ann.label in ds.label_map


@SETTINGS
@given(st.one_of(mutated(VALID_COCO), spliced_json(VALID_COCO)))
def test_coco_importer_only_raises_format_error(data: bytes) -> None:
    def setup(root: Path) -> Path:
        (root / "annotations.json").write_bytes(data)
        return root / "annotations.json"
    _only_format_errors(setup, "coco")


@SETTINGS
@given(mutated(VALID_VOC))
def test_voc_importer_only_raises_format_error(data: bytes) -> None:
    def setup(root: Path) -> Path:
        (root / "Annotations").mkdir()
        (root / "Annotations" / "a.xml").write_bytes(data)
        return root
    _only_format_errors(setup, "voc")


@SETTINGS
@given(mutated(VALID_YOLO), st.one_of(st.just(VALID_YAML), mutated(VALID_YAML)))
def test_yolo_importer_only_raises_format_error(labels: bytes, yaml: bytes) -> None:
    def setup(root: Path) -> Path:
        (root / "labels").mkdir()
        (root / "labels" / "a.txt").write_bytes(labels)
        (root / "data.yaml").write_bytes(yaml)
        return root
    _only_format_errors(setup, "yolo")


@SETTINGS
@given(st.one_of(mutated(VALID_LABELME), spliced_json(VALID_LABELME)))
def test_labelme_importer_only_raises_format_error(data: bytes) -> None:
    def setup(root: Path) -> Path:
        (root / "ann").mkdir()
        (root / "ann" / "a.json").write_bytes(data)
        return root / "ann"
    _only_format_errors(setup, "labelme")


@SETTINGS
@given(st.binary(max_size=64), st.sampled_from(["annotations.json", "data.yaml", "classes.txt", "x.xml", "y.json"]))
def test_autodetect_on_garbage_only_raises_format_error(data: bytes, name: str) -> None:
    def setup(root: Path) -> Path:
        (root / name).write_bytes(data)
        return root
    _only_format_errors(setup, None)  # type: ignore[arg-type]
