"""Annotation file formats (COCO, Pascal VOC, YOLO, LabelMe import): pure read/write.

Entry point: :func:`load_dataset` reads any supported dataset into a
:class:`Dataset` (images resolved as ``dataset.root / record.path``).
Every malformed input raises :class:`FormatError` naming the file and problem.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from detector_app.domain.errors import FormatError
from detector_app.formats.coco import _has_shapes, find_coco_json, read_coco, split_jsons, write_coco
from detector_app.formats.dataset import FORMATS, WRITABLE_FORMATS, Dataset, dataset_jsons, unique_stems
from detector_app.formats.labelme import read_labelme
from detector_app.formats.voc import read_voc, write_voc
from detector_app.formats.yolo import read_yolo, write_yolo


def detect_format(path: str | Path) -> str:
    """Guess the format of a dataset file or folder.

    * ``coco``: a ``.json`` file with an ``images`` list, or a folder holding
      ``annotations.json`` (or ``instances.json``, ``annotations/*.json``, the
      standard ``annotations/instances_<split>.json``);
    * ``voc``: a folder with ``Annotations/`` or ``.xml`` files;
    * ``yolo``: a ``.yaml`` file, a folder with ``data.yaml``, ``obj.data`` / ``obj.names`` (Darknet, CVAT
      "YOLO 1.1") or ``classes.txt``;
    * ``labelme``: a folder of LabelMe ``.json`` files (or one such file).
    """
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such dataset file or folder")
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "labelme" if _has_shapes(path) else "coco"
        if path.suffix.lower() == ".xml":
            return "voc"
        if path.suffix.lower() in (".yaml", ".yml") or path.name.lower() in ("classes.txt", "obj.data", "obj.names"):
            return "yolo"  # an Ultralytics dataset YAML has any name (coco8.yaml)
        raise FormatError(f"{path}: unknown dataset file type {path.suffix!r} (give --from FORMAT)")
    if find_coco_json(path) is not None or split_jsons(path):
        return "coco"
    if (path / "Annotations").is_dir():
        return "voc"
    if any((path / n).is_file() for n in ("data.yaml", "data.yml", "classes.txt", "obj.data", "obj.names")):
        return "yolo"
    if any(path.glob("*.xml")):
        return "voc"
    jsons = dataset_jsons(path)
    if jsons:
        return "labelme" if _has_shapes(jsons[0]) else "coco"
    if (path / "labels").is_dir() and (path / "images").is_dir():
        return "yolo"
    raise FormatError(
        f"{path}: cannot tell the dataset format (no annotations.json, Annotations/, "
        "data.yaml/classes.txt or LabelMe .json files); give the format explicitly"
    )


def load_dataset(path: str | Path, fmt: str | None = None, *, keep_crowd: bool = False,
                 size_of: Callable[[Path], tuple[int, int] | None] | None = None,
                 images: str | Path | None = None) -> Dataset:
    """Read a dataset in any supported format (autodetected when ``fmt`` is None).

    Images are at ``dataset.root / record.path``; labels are class names
    (``dataset.label_map.id_of(name)`` is the 1-based class id). ``keep_crowd``
    keeps COCO crowd boxes; ``size_of`` reads image sizes for YOLO (default:
    file headers); ``images``: the folder COCO ``file_name`` entries are
    relative to, where the layout does not say (COCO only).
    Raises :class:`FormatError` naming the file and the problem.
    """
    path = Path(path)
    fmt = (fmt or detect_format(path)).lower()
    if fmt not in FORMATS:
        raise FormatError(f"unknown dataset format {fmt!r}; known: {', '.join(FORMATS)}")
    if not path.exists():
        raise FormatError(f"{path}: no such dataset file or folder")
    if images is not None and fmt != "coco":
        raise FormatError(f"an images folder can be given for COCO only; {path} is {fmt}")
    if fmt == "coco":
        return read_coco(path, keep_crowd=keep_crowd, images=images)
    if fmt == "voc":
        return read_voc(path)
    if fmt == "yolo":
        return read_yolo(path, size_of=size_of)
    return read_labelme(path)


def write_dataset(dataset: Dataset, fmt: str, out: str | Path, stems: list[str] | None = None) -> Path:
    """Write the annotation files of ``dataset`` in ``fmt`` under folder ``out``
    (COCO: ``out/annotations.json``; VOC: ``out/Annotations/*.xml``; YOLO:
    ``out/labels/...``, ``data.yaml``, ``classes.txt``). Images are not copied
    (see ``detector_app.app.export``); ``stems`` names per-image files."""
    fmt = fmt.lower()
    out = Path(out)
    if fmt not in WRITABLE_FORMATS:
        raise FormatError(f"cannot write format {fmt!r}; writable: {', '.join(WRITABLE_FORMATS)}")
    if fmt == "coco":
        return write_coco(dataset, out / "annotations.json" if out.suffix.lower() != ".json" else out)
    if fmt == "voc":
        return write_voc(dataset, out, stems)
    return write_yolo(dataset, out, stems)


__all__ = [
    "FORMATS",
    "WRITABLE_FORMATS",
    "Dataset",
    "FormatError",
    "detect_format",
    "load_dataset",
    "read_coco",
    "read_labelme",
    "read_voc",
    "read_yolo",
    "unique_stems",
    "write_coco",
    "write_dataset",
    "write_voc",
    "write_yolo",
]
