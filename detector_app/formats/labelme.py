"""LabelMe JSON import (rectangles, and polygons as their bounding boxes).

A LabelMe file describes one image: ``imagePath`` (relative to the JSON
file), ``imageWidth``/``imageHeight`` and ``shapes``; a shape with
``shape_type: "rectangle"`` has two corner ``points`` ``[[x, y], [x, y]]``
in any order, in continuous pixel coordinates, which become one box. A
``polygon`` (three points or more) becomes the box around its points; each such
conversion is counted in ``Dataset.warnings``, as are the shapes with no box
(points, lines, circles), which are skipped. The class order is the order
labels first appear.
"""

from __future__ import annotations

from pathlib import Path

from detector_app.domain.annotations import ImageRecord
from detector_app.domain.errors import FormatError
from detector_app.domain.labels import LabelMap
from detector_app.formats.coco import load_json
from detector_app.formats.dataset import (
    Dataset,
    check_size,
    dataset_jsons,
    is_number,
    make_annotation,
    make_box,
    relpath_posix,
)


def parse_labelme(path: Path, root: Path, warnings: list[str]) -> ImageRecord:
    """One LabelMe JSON file as a record whose path is relative to ``root``."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise FormatError(f"{path}: a LabelMe file is a JSON object, found {type(data).__name__}")
    image_path = data.get("imagePath")
    if not isinstance(image_path, str) or not image_path.strip():
        raise FormatError(f"{path}: missing 'imagePath'")
    width, height = check_size(str(path), data.get("imageWidth"), data.get("imageHeight"))
    shapes = data.get("shapes", [])
    if not isinstance(shapes, list):
        raise FormatError(f"{path}: 'shapes' must be a list")
    rec = ImageRecord(path=relpath_posix(path.parent / image_path.replace("\\", "/"), root),
                      width=width, height=height)
    skipped = polygons = 0
    for k, shape in enumerate(shapes):
        where = f"{path}: shapes[{k}]"
        if not isinstance(shape, dict):
            raise FormatError(f"{where}: must be an object")
        kind = shape.get("shape_type") or "polygon"  # LabelMe writes null for polygons in old files
        if kind not in ("rectangle", "polygon"):
            skipped += 1
            continue
        label = shape.get("label")
        if not isinstance(label, str) or not label.strip():
            raise FormatError(f"{where}: missing or empty 'label'")
        points = shape.get("points")
        need = 2 if kind == "rectangle" else 3
        if (not isinstance(points, list) or len(points) < need or (kind == "rectangle" and len(points) != 2)
                or not all(isinstance(p, list) and len(p) == 2 and all(is_number(v) for v in p) for p in points)):
            what = "[[x1, y1], [x2, y2]]" if kind == "rectangle" else "three [x, y] points or more"
            raise FormatError(f"{where}: a {kind} needs 'points' {what}, got {points!r:.80}")
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        box = make_box(where, min(xs), min(ys), max(xs), max(ys), width, height)
        rec.annotations.append(make_annotation(where, box, label.strip()))
        polygons += kind == "polygon"
    if polygons:
        warnings.append(f"{path}: {polygons} polygon(s) imported as their bounding box")
    if skipped:
        warnings.append(f"{path}: {skipped} shape(s) without a box (points, lines, circles) skipped")
    return rec


def read_labelme(path: str | Path) -> Dataset:
    """Read a folder of LabelMe JSON files (or one file)."""
    path = Path(path)
    files = [path] if path.is_file() else dataset_jsons(path)
    if not files:
        raise FormatError(f"{path}: no LabelMe .json files found")
    root = path.parent if path.is_file() else path
    warnings: list[str] = []
    records = [parse_labelme(f, root, warnings) for f in files]
    seen: dict[str, Path] = {}
    for rec, f in zip(records, files):
        if rec.path in seen:
            raise FormatError(f"{f}: image {rec.path} is already annotated by {seen[rec.path].name}")
        seen[rec.path] = f
    label_map = LabelMap()
    for rec in records:
        for ann in rec.annotations:
            label_map.add(ann.label)
    return Dataset(root=root, label_map=label_map, images=records, format="labelme", source=path,
                   warnings=warnings)


__all__ = ["parse_labelme", "read_labelme"]
