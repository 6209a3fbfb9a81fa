"""LabelMe import: rectangles (corners in any order), polygons as their bounding
boxes (counted), shapes without a box skipped (counted), errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector_app.domain import Box
from detector_app.domain.errors import FormatError
from detector_app.formats import detect_format, load_dataset


def _file(folder: Path, name: str = "a.json", **over: Any) -> Path:
    data: dict[str, Any] = {
        "version": "5.2.1", "flags": {}, "imagePath": "../pics/a.jpg", "imageData": None,
        "imageWidth": 100, "imageHeight": 50,
        "shapes": [
            {"label": "dog", "points": [[30, 40], [10, 5]], "shape_type": "rectangle", "flags": {}},
            {"label": "cat", "points": [[1, 1], [5, 1], [3, 4]], "shape_type": "polygon"},
            {"label": "cat", "points": [[-5, 1], [20, 60]], "shape_type": "rectangle"},
            {"label": "dog", "points": [[50, 10]], "shape_type": "point"},
        ],
    }
    data.update(over)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def test_rectangles_and_polygons_imported_other_shapes_counted(tmp_path: Path) -> None:
    _file(tmp_path / "ann")
    assert detect_format(tmp_path / "ann") == "labelme"
    ds = load_dataset(tmp_path / "ann")
    assert ds.format == "labelme" and ds.label_map.names == ["dog", "cat"]
    rec = ds.images[0]
    assert (ds.root / rec.path).resolve() == (tmp_path / "pics" / "a.jpg").resolve()
    assert [(a.label, a.box) for a in rec.annotations] == [
        ("dog", Box(10, 5, 30, 40)), ("cat", Box(1, 1, 5, 4)), ("cat", Box(0, 1, 20, 50))]  # the polygon's box
    assert ds.warnings == [f"{tmp_path / 'ann' / 'a.json'}: 1 polygon(s) imported as their bounding box",
                           f"{tmp_path / 'ann' / 'a.json'}: 1 shape(s) without a box (points, lines, circles) skipped"]


@pytest.mark.parametrize(
    "over, expected",
    [
        ({"imagePath": None}, "missing 'imagePath'"),
        ({"imageWidth": "100"}, "width must be a positive integer"),
        ({"shapes": {}}, "'shapes' must be a list"),
        (
            {"shapes": [{"label": "a", "points": [[1, 1]], "shape_type": "rectangle"}]},
            r"shapes\[0\]: a rectangle needs",
        ),
        (
            {"shapes": [{"label": "a", "points": [[1, 1], [4, 4]], "shape_type": "polygon"}]},
            r"a polygon needs 'points' three",
        ),
        ({"shapes": [{"label": "", "points": [[1, 1], [2, 2]], "shape_type": "rectangle"}]}, "empty 'label'"),
        ({"shapes": [{"label": "a", "points": [[1, 1], [1, 5]], "shape_type": "rectangle"}]}, "degenerate box"),
        ({"shapes": [{"label": "a", "points": [[200, 1], [300, 5]], "shape_type": "rectangle"}]}, "outside"),
    ],
)
def test_malformed(tmp_path: Path, over: dict[str, Any], expected: str) -> None:
    _file(tmp_path, **over)
    with pytest.raises(FormatError, match=r"a\.json: .*" + expected):
        load_dataset(tmp_path, "labelme")


def test_bad_json_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"shapes": [\n')
    with pytest.raises(FormatError, match=r"a\.json: invalid JSON at line 2"):
        load_dataset(tmp_path, "labelme")
    _file(tmp_path, "a.json")
    _file(tmp_path, "b.json")
    with pytest.raises(FormatError, match=r"b\.json: image .*a\.jpg is already annotated by a\.json"):
        load_dataset(tmp_path, "labelme")


def test_label_with_newline_is_a_format_error(tmp_path: Path) -> None:
    _file(tmp_path, shapes=[{"label": "a\nb", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"}])
    with pytest.raises(FormatError, match=r"a\.json: shapes\[0\]: class name 'a\\nb' contains a control character"):
        load_dataset(tmp_path, "labelme")


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.integers(2, 300), st.integers(2, 300),
       st.lists(st.tuples(st.floats(-50, 350), st.floats(-50, 350), st.floats(-50, 350), st.floats(-50, 350),
                          st.sampled_from(["cat", "dog", "caf\u00e9 #1"])), max_size=6))
def test_random_rectangles_import_as_clipped_boxes(tmp_path_factory: pytest.TempPathFactory, w: int, h: int,
                                                    rects: list[tuple[float, float, float, float, str]]) -> None:
    """LabelMe is import only, so its property is: whatever rectangles a file holds (corners
    in any order, partly outside), the import gives the box clipped to the image, in the
    file's order, or a FormatError for one with nothing inside (never another exception)."""
    folder = tmp_path_factory.mktemp("lm")
    shapes = [
        {"label": lbl, "points": [[xa, ya], [xb, yb]], "shape_type": "rectangle"} for xa, ya, xb, yb, lbl in rects
    ]
    _file(folder, shapes=shapes, imageWidth=w, imageHeight=h)
    want = []
    for xa, ya, xb, yb, lbl in rects:
        x1, x2 = max(min(xa, xb), 0), min(max(xa, xb), w)
        y1, y2 = max(min(ya, yb), 0), min(max(ya, yb), h)
        want.append((lbl, (x1, y1, x2, y2)) if x2 - x1 >= 1e-3 and y2 - y1 >= 1e-3 else None)
    if None in want:
        k = want.index(None)
        with pytest.raises(FormatError, match=rf"a\.json: shapes\[{k}\]: "):
            load_dataset(folder, "labelme")
        return
    ds = load_dataset(folder, "labelme")
    assert [(a.label, a.box.to_tuple()) for a in ds.images[0].annotations] == want
    assert ds.label_map.names == list(dict.fromkeys(lbl for lbl, _ in want))
