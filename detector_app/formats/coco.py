"""COCO detection JSON: read any valid file, write one ``pycocotools`` loads.

Conventions (what :func:`write_coco` writes, what :func:`read_coco` expects):

* ``bbox`` is ``[x, y, width, height]`` as floats in original-image pixels
  (top-left corner plus size), so ``x1 = x``, ``x2 = x + width``.
* image ids and annotation ids start at 1; category ids are ``1..C`` in
  :class:`LabelMap` order, i.e. equal to the model's class ids.
* every annotation has ``area = width * height`` and ``iscrowd = 0``;
  accepted model boxes carry ``score`` and ``attributes.source``.
* ``file_name`` is the image path relative to the JSON file's folder.

On reading, categories are mapped by *name* (ids need not be contiguous),
crowd boxes (``iscrowd = 1``) are skipped unless ``keep_crowd``, boxes are
clipped to the image, and every problem raises :class:`FormatError` naming
the file and the entry (JSON line/column for syntax errors).
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from detector_app.domain.annotations import Annotation, AnnotationSource, ImageRecord
from detector_app.domain.errors import FormatError
from detector_app.domain.labels import LabelError, LabelMap, check_class_name
from detector_app.formats.dataset import (
    Dataset,
    check_size,
    dataset_jsons,
    is_number,
    make_annotation,
    make_box,
    record_relpaths,
    write_text_file,
)

#: File names looked for when a COCO dataset is given as a folder.
COCO_JSON_NAMES = ("annotations.json", "instances.json", "_annotations.coco.json")


def find_coco_json(path: Path) -> Path | None:
    """The COCO JSON file of ``path`` (the file itself, or one inside a folder)."""
    if path.is_file():
        return path
    if path.is_dir():
        for name in COCO_JSON_NAMES:
            if (path / name).is_file():
                return path / name
        if (path / "annotations").is_dir():
            found = dataset_jsons(path / "annotations")
            if len(found) == 1:
                return found[0]
        found = dataset_jsons(path)
        if len(found) == 1 and not _has_shapes(found[0]):
            return found[0]
    return None


def split_jsons(path: Path) -> dict[str, Path]:
    """The standard layout's files, ``{split: annotations/instances_<split>.json}``, of a
    dataset folder (or of its ``annotations/`` folder); empty when there are none."""
    folder = path / "annotations" if (path / "annotations").is_dir() else path
    out = {}
    for f in sorted(folder.glob("instances_*.json")):
        split = f.stem[len("instances_"):]
        if split:
            out[split] = f
    return out


def _split_prefixes(split: str) -> tuple[str, ...]:
    """Where a split's images are, relative to the dataset's top folder: CVAT's
    ``images/<split>/``, COCO's own ``<split>2017/``, then the flat forms."""
    bare = split.rstrip("0123456789") or split
    out = [f"images/{split}/", f"{split}/", f"images/{bare}/", f"{bare}2017/", "images/", "annotations/", ""]
    return tuple(dict.fromkeys(out))


def _has_shapes(path: Path) -> bool:
    """Whether a JSON file looks like LabelMe (has ``"shapes"``, no ``"images"``)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return b'"shapes"' in head and b'"images"' not in head


def load_json(path: Path) -> Any:
    """Parse a JSON file; :class:`FormatError` with line/column on bad syntax."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise FormatError(f"{path}: invalid JSON ({str(exc)[:120]})") from None
    except RecursionError:
        raise FormatError(f"{path}: invalid JSON (nested too deeply)") from None


def _req(where: str, obj: dict[str, Any], key: str, kind: str) -> Any:
    """``obj[key]`` checked to be of ``kind`` ('int', 'str', 'list', 'number')."""
    if key not in obj:
        raise FormatError(f"{where}: missing key {key!r}")
    v = obj[key]
    ok = {
        "int": isinstance(v, int) and not isinstance(v, bool),
        "str": isinstance(v, str),
        "list": isinstance(v, list),
        "number": is_number(v),
    }[kind]
    if not ok:
        raise FormatError(f"{where}: {key!r} must be {'an' if kind == 'int' else 'a'} {kind}, got {v!r:.60}")
    return v


def _image_prefix(root: Path, images: list[dict[str, Any]],
                  prefixes: tuple[str, ...] = ("", "images/", "../images/", "../")) -> str:
    """Where image files are relative to ``root`` (the first of ``prefixes`` under
    which the first named images exist)."""
    for img in images[:20]:
        name = img.get("file_name") if isinstance(img, dict) else None
        if not isinstance(name, str) or not name:
            continue
        for prefix in prefixes:
            try:
                if (root / (prefix + name)).is_file():
                    return prefix
            except (OSError, ValueError):
                break
    return prefixes[0] if prefixes and prefixes[0] not in ("", "../images/", "../") else ""


def read_coco(path: str | Path, keep_crowd: bool = False, images: str | Path | None = None) -> Dataset:
    """Read a COCO detection dataset: a JSON file, a folder holding one
    (``annotations.json`` ...), or the standard layout of CVAT's "COCO 1.0" and
    COCO itself: ``annotations/instances_<split>.json`` with the images in
    ``images/<split>/``, ``<split>2017/``, ``images/`` or beside the JSON. Every
    split found is read, into one dataset with ``split`` kept.

    ``images``: the folder the ``file_name`` entries are relative to, for any
    other layout (CLI ``--images``). Crowd boxes are skipped (counted in
    ``warnings``) unless ``keep_crowd``.
    """
    given = Path(path)
    if images is not None:
        jpath = find_coco_json(given)
        if jpath is None:
            raise FormatError(f"{given}: no COCO annotation file found (expected {COCO_JSON_NAMES[0]})")
        folder = Path(images)
        if not folder.is_dir():
            raise FormatError(f"{folder}: the images folder given does not exist")
        return _read_file(jpath, folder, ("",), keep_crowd)
    splits = split_jsons(given) if given.is_dir() else {}
    if given.is_file() and given.parent.name == "annotations" and given.name.startswith("instances_"):
        splits = {given.stem[len("instances_"):]: given}
    if splits:
        top = next(iter(splits.values())).parent.parent
        parts = []
        for split, f in splits.items():
            ds = _read_file(f, top, _split_prefixes(split), keep_crowd)
            if ds.images and not any((top / r.path).is_file() for r in ds.images[:20]):
                looked = ", ".join(p or "./" for p in _split_prefixes(split))
                raise FormatError(f"{f}: its images are in none of {looked} under {top}; "
                                  "give their folder with --images DIR")
            parts.append((split, ds))
        return _merge_splits(top, parts)
    jpath = find_coco_json(given)
    if jpath is None:
        raise FormatError(f"{given}: no COCO annotation file found (expected {COCO_JSON_NAMES[0]}, or "
                          "annotations/instances_<split>.json)")
    return _read_file(jpath, jpath.parent, ("", "images/", "../images/", "../"), keep_crowd)


def _merge_splits(top: Path, parts: list[tuple[str, Dataset]]) -> Dataset:
    """One dataset of several splits' files: classes by name (in the first file's
    order, then new ones), every image with its split."""
    names: list[str] = []
    images: list[ImageRecord] = []
    split: dict[str, str] = {}
    warnings: list[str] = []
    for name, ds in parts:
        names += [n for n in ds.label_map.names if n not in names]
        for rec in ds.images:
            if rec.key in split:
                raise FormatError(f"{ds.source}: image {rec.path} is also in split {split[rec.key]!r}")
            split[rec.key] = name
            images.append(rec)
        warnings += ds.warnings
    return Dataset(root=top, label_map=LabelMap(names), images=images, format="coco",
                   source=parts[0][1].source, split=split, warnings=warnings)


def _read_file(jpath: Path, root: Path, prefixes: tuple[str, ...], keep_crowd: bool) -> Dataset:
    """One COCO JSON file; image paths relative to ``root``, under the first of
    ``prefixes`` where its images are."""
    data = load_json(jpath)
    if not isinstance(data, dict):
        raise FormatError(f"{jpath}: a COCO file is a JSON object, found {type(data).__name__}")
    images = _req(str(jpath), data, "images", "list")
    anns = data.get("annotations", [])
    cats = data.get("categories", [])
    if not isinstance(anns, list):
        raise FormatError(f"{jpath}: 'annotations' must be a list")
    if not isinstance(cats, list):
        raise FormatError(f"{jpath}: 'categories' must be a list")
    cat_name = _read_categories(jpath, cats)
    label_map = LabelMap([cat_name[c] for c in sorted(cat_name)])
    prefix = _image_prefix(root, images, prefixes)
    records = _read_images(jpath, images, prefix)
    warnings = _read_annotations(jpath, anns, records, cat_name, keep_crowd)
    return Dataset(root=root, label_map=label_map, images=list(records.values()), format="coco",
                   source=jpath, warnings=warnings, base=root.parent if prefix.startswith("../") else None)


def _read_categories(jpath: Path, cats: list[Any]) -> dict[int, str]:
    """``categories``: class name by category id (ids and names unique, names usable as classes)."""
    cat_name: dict[int, str] = {}
    for k, cat in enumerate(cats):
        where = f"{jpath}: categories[{k}]"
        if not isinstance(cat, dict):
            raise FormatError(f"{where}: must be an object")
        cid = _req(where, cat, "id", "int")
        name = _req(where, cat, "name", "str").strip()
        if not name:
            raise FormatError(f"{where}: empty category name")
        try:
            check_class_name(name)
        except LabelError as exc:
            raise FormatError(f"{where}: {exc}") from None
        if cid in cat_name:
            raise FormatError(f"{where}: duplicate category id {cid}")
        if name in cat_name.values():
            raise FormatError(f"{where}: duplicate category name {name!r}")
        cat_name[cid] = name
    return cat_name


def _read_images(jpath: Path, images: list[Any], prefix: str) -> dict[int, ImageRecord]:
    """``images``: an empty record by image id, its path ``prefix + file_name`` (one
    record per file, or per frame of a video)."""
    records: dict[int, ImageRecord] = {}
    seen_paths: set[str] = set()
    for k, img in enumerate(images):
        where = f"{jpath}: images[{k}]"
        if not isinstance(img, dict):
            raise FormatError(f"{where}: must be an object")
        iid = _req(where, img, "id", "int")
        name = _req(where, img, "file_name", "str")
        if not name.strip():
            raise FormatError(f"{where}: empty file_name")
        if iid in records:
            raise FormatError(f"{where}: duplicate image id {iid}")
        rel = prefix + name.replace("\\", "/")
        frame = img.get("frame_index")  # a video frame: file_name is the video (``synth --video``)
        if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int) or frame < 0):
            raise FormatError(f"{where}: frame_index must be a whole number >= 0, got {frame!r:.40}")
        seen = rel if frame is None else f"{rel}#{frame}"
        if seen in seen_paths:
            raise FormatError(f"{where}: duplicate file_name {name!r}" + ("" if frame is None else f" frame {frame}"))
        seen_paths.add(seen)
        width, height = check_size(where, img.get("width"), img.get("height"))
        records[iid] = ImageRecord(path=rel, width=width, height=height, frame_index=frame)
    return records


def _read_annotations(jpath: Path, anns: list[Any], records: dict[int, ImageRecord], cat_name: dict[int, str],
                      keep_crowd: bool) -> list[str]:
    """Add each box of ``annotations`` to its image's record; crowd boxes only when
    ``keep_crowd``. Returns the warnings (one per crowd box skipped)."""
    warnings: list[str] = []
    ann_ids: set[int] = set()
    for k, ann in enumerate(anns):
        where = f"{jpath}: annotations[{k}]"
        if not isinstance(ann, dict):
            raise FormatError(f"{where}: must be an object")
        aid = _req(where, ann, "id", "int")
        if aid in ann_ids:
            raise FormatError(f"{where}: duplicate annotation id {aid}")
        ann_ids.add(aid)
        where = f"{jpath}: annotation id {aid}"
        iid = _req(where, ann, "image_id", "int")
        cid = _req(where, ann, "category_id", "int")
        if iid not in records:
            raise FormatError(f"{where}: unknown image_id {iid}")
        if cid not in cat_name:
            raise FormatError(f"{where}: unknown category_id {cid}")
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1):
            raise FormatError(f"{where}: 'iscrowd' must be 0 or 1, got {crowd!r:.40}")
        if crowd == 1 and not keep_crowd:
            warnings.append(f"{where}: crowd box skipped")
            continue
        rec = records[iid]
        rec.annotations.append(_read_box(where, ann, rec, cat_name[cid]))
    return warnings


def _read_box(where: str, ann: dict[str, Any], rec: ImageRecord, label: str) -> Annotation:
    """One annotation's ``bbox`` (``[x, y, width, height]``), ``score`` and ``attributes.source``
    (``where``: the annotation; errors about its values name its image too)."""
    bbox = _req(where, ann, "bbox", "list")
    if len(bbox) != 4 or not all(is_number(v) for v in bbox):
        raise FormatError(f"{where}: 'bbox' must be 4 numbers [x, y, width, height], got {bbox!r:.80}")
    x, y, w, h = (float(v) for v in bbox)
    where = f"{where} (image {rec.path})"
    box = make_box(where, x, y, x + w, y + h, rec.width, rec.height)
    score = ann.get("score")
    if score is not None and not is_number(score):
        raise FormatError(f"{where}: 'score' must be a number, got {score!r:.40}")
    attrs = ann.get("attributes")
    source = attrs.get("source") if isinstance(attrs, dict) else None
    if not isinstance(source, str) or source not in {s.value for s in AnnotationSource}:
        source = None
    return make_annotation(where, box, label, score, source)


def coco_dict(dataset: Dataset, json_dir: str | Path) -> dict[str, Any]:
    """The COCO JSON object for ``dataset`` with ``file_name`` relative to ``json_dir``.

    Raises :class:`FormatError` for records with an unknown size or a label
    missing from the label map.
    """
    json_dir = Path(json_dir)
    label_map = dataset.label_map
    categories = [{"id": label_map.id_of(n), "name": n, "supercategory": "none"} for n in label_map]
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    file_names = record_relpaths(dataset.root, [r.path for r in dataset.images], json_dir)
    for image_id, (rec, file_name) in enumerate(zip(dataset.images, file_names), start=1):
        if rec.width is None or rec.height is None:
            raise FormatError(f"{rec.key}: image size unknown; cannot write COCO width/height")
        entry_image: dict[str, Any] = {
            "id": image_id,
            "file_name": file_name,
            "width": int(rec.width),
            "height": int(rec.height),
        }
        if rec.frame_index is not None:  # a frame of the video file_name names
            entry_image["frame_index"] = int(rec.frame_index)
        images.append(entry_image)
        for ann in rec.annotations:
            if ann.label not in label_map:
                raise FormatError(f"{rec.key}: label {ann.label!r} is not in the label map")
            x, y, w, h = ann.box.to_xywh()
            entry: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": label_map.id_of(ann.label),
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
            }
            if ann.score is not None:
                entry["score"] = ann.score
            if ann.source is not AnnotationSource.MANUAL:
                entry["attributes"] = {"source": ann.source.value}
            annotations.append(entry)
    return {
        "info": {
            "description": "exported by Faster R-CNN Studio (detector_app)",
            "date_created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def write_coco(dataset: Dataset, json_path: str | Path, staged: bool = False,
               image_base: str | Path | None = None) -> Path:
    """Write ``dataset`` as COCO JSON to ``json_path`` (atomically, unless ``staged``:
    see :func:`~detector_app.formats.dataset.write_text_file`); returns the path.
    ``file_name`` entries are relative to ``image_base`` (default: the JSON's folder;
    the standard layout's ``images/<split>/``)."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(coco_dict(dataset, Path(image_base) if image_base is not None else json_path.parent),
                      ensure_ascii=False)
    write_text_file(json_path, text + "\n", staged)
    return json_path


__all__ = ["COCO_JSON_NAMES", "coco_dict", "find_coco_json", "load_json", "read_coco", "write_coco"]
