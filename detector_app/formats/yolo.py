"""YOLO (ultralytics) detection datasets: one label ``.txt`` per image.

Each label line is ``class cx cy w h``, normalised (``formats.yolo_labels``).
Layout (written and read)::

    data.yaml            path (absolute), train/val folders, nc, names
    classes.txt          one class name per line
    images/train/a.jpg   labels/train/a.txt    (the label of .../images/... is
    images/val/b.jpg     labels/val/b.txt       the same path under .../labels/)

Without a split, ``images/`` and ``labels/`` directly. Reading also accepts a
folder with only ``classes.txt`` and images with their ``.txt`` beside them, and
the Darknet layout CVAT writes as "YOLO 1.1" (``formats.darknet``). ``data.yaml``
is read by ``formats.yolo_yaml``. Image sizes (needed to un-normalise) come from
the image file headers (``detector_app.domain.imageheader``) or a ``size_of`` callable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from detector_app.domain.annotations import ImageRecord
from detector_app.domain.errors import FormatError
from detector_app.domain.imageheader import read_header_size
from detector_app.domain.labels import LabelError, LabelMap
from detector_app.formats.darknet import SplitImages, darknet_image_dir, read_darknet_layout, write_darknet
from detector_app.formats.dataset import (
    Dataset,
    read_nonempty_lines,
    relpath_posix,
    unique_stems,
    write_text_file,
)
from detector_app.formats.yolo_labels import (
    MAX_LABEL_BYTES,
    TOLERANCE,
    YOLO_IMAGE_EXTENSIONS,
    images_under,
    label_path_of,
    parse_label_file,
    yolo_lines,
)
from detector_app.formats.yolo_yaml import names_from_yaml, parse_data_yaml

SizeFn = Callable[[Path], "tuple[int, int] | None"]


@dataclass
class _Layout:
    """What a YOLO folder says before any label is read: the folder image paths are
    relative to, the class names and the file that lists them, and the images per split."""

    root: Path
    names: list[str]
    names_file: Path
    sources: list[SplitImages]
    warnings: list[str] = field(default_factory=list)


def read_yolo(path: str | Path, size_of: SizeFn | None = None) -> Dataset:
    """Read a YOLO dataset folder (or its ``data.yaml`` / ``classes.txt``).

    ``size_of(image_path) -> (w, h) | None`` gives image sizes (default: the
    file header). Raises :class:`FormatError` naming ``file:line`` on bad input.
    """
    path = Path(path)
    folder = path.parent if path.is_file() else path
    layout = _find_layout(path)
    names_file = layout.names_file
    if len(set(layout.names)) != len(layout.names) or any(not n.strip() for n in layout.names):
        raise FormatError(f"{names_file}: class names must be unique and non-empty")
    try:
        label_map = LabelMap(layout.names)
    except LabelError as exc:
        raise FormatError(f"{names_file}: {exc}") from None
    records, split = _read_records(layout, size_of or read_header_size)
    # the images must stay within the folder the dataset was given as: a ``path:`` naming another
    # folder (a YAML kept apart from its data, or a crafted one naming someone's photos) takes its
    # images from outside, which an export leaves out unless allowed (``ExportOptions.allow_outside``)
    return Dataset(root=layout.root, label_map=label_map, images=records, format="yolo", source=path,
                   split=split, warnings=layout.warnings, base=folder if layout.root != folder else None)


def _find_layout(path: Path) -> _Layout:
    """The layout of a YOLO dataset given by its folder or a file in it: ``data.yaml``
    (Ultralytics), ``obj.data`` / ``obj.names`` (Darknet) or ``classes.txt``."""
    folder = path.parent if path.is_file() else path
    yaml_path = path if path.is_file() and path.suffix in (".yaml", ".yml") else next(
        (folder / n for n in ("data.yaml", "data.yml") if (folder / n).is_file()), None)
    classes_txt = folder / "classes.txt"
    if yaml_path is not None:
        return _yaml_layout(yaml_path, folder)
    if (folder / "obj.data").is_file() or (folder / "obj.names").is_file():
        names, names_file, sources = read_darknet_layout(folder)
        return _Layout(folder, names, names_file, sources)
    if classes_txt.is_file():
        names = read_nonempty_lines(classes_txt)
        if not names:
            raise FormatError(f"{classes_txt}: empty class list")
        return _Layout(folder, names, classes_txt, _classes_txt_sources(folder))
    raise FormatError(f"{folder}: not a YOLO dataset (no data.yaml, obj.data / obj.names or classes.txt)")


def _yaml_layout(yaml_path: Path, folder: Path) -> _Layout:
    """The layout a ``data.yaml`` in ``folder`` describes."""
    data = parse_data_yaml(yaml_path)
    names = names_from_yaml(yaml_path, data)
    root = folder
    base = data.get("path")
    if isinstance(base, str) and base:  # absolute, or relative to the data.yaml's folder
        p = Path(base)
        cand = p if p.is_absolute() else folder / p
        root = cand if cand.is_dir() else folder  # a dataset moved since: its own folder
    warnings: list[str] = []
    sources = _split_sources(root, data, yaml_path, warnings)
    if not sources:
        raise FormatError(f"{yaml_path}: no 'train' or 'val' entry")
    return _Layout(root, names, yaml_path, sources, warnings)


def _read_records(layout: _Layout, size_of: SizeFn) -> tuple[list[ImageRecord], dict[str, str]]:
    """One record per image of ``layout`` (an image listed twice is read once) and the
    split of each (``train`` / ``val``; none for an image listed in both)."""
    records: list[ImageRecord] = []
    split: dict[str, str] = {}
    seen: set[str] = set()
    for part, images in layout.sources:
        for image in images:
            rel = relpath_posix(image, layout.root)
            if rel in seen:
                if split.get(rel) != part:
                    split.pop(rel, None)  # listed in train and val: no split
                continue
            seen.add(rel)
            rec = _read_record(image, rel, layout, size_of)
            records.append(rec)
            if part in ("train", "val"):
                split[rec.key] = part
    return records, split


def _read_record(image: Path, rel: str, layout: _Layout, size_of: SizeFn) -> ImageRecord:
    """The record of one image (path ``rel``): its label file's boxes, none without one."""
    label = label_path_of(image)
    if not label.is_file() and image.with_suffix(".txt").is_file():  # Darknet: beside the image
        label = image.with_suffix(".txt")
    try:
        size = size_of(image)
    except OSError as exc:
        raise FormatError(f"{image}: cannot read the image ({exc.strerror or exc})") from None
    if size is None:
        raise FormatError(f"{image}: cannot read the image size (needed to convert normalised boxes)")
    if label.is_file():
        return parse_label_file(label, layout.names, size[0], size[1], rel, layout.names_file)
    return ImageRecord(path=rel, width=size[0], height=size[1])


def _list_entry(listing: Path, root: Path, line: str) -> Path:
    """An image path in a ``.txt`` list: absolute as it is; ``./x`` relative to the list's
    folder (Ultralytics' rule, as in ``coco/train2017.txt``); any other relative path from
    the list's folder when it is there, else from the dataset root."""
    q = Path(line)
    if q.is_absolute():
        return q
    if line.startswith("./"):
        return listing.parent / q
    near = listing.parent / q
    return near if near.exists() or not (root / q).exists() else root / q


def _split_sources(root: Path, data: dict[str, object], yaml_path: Path,
                   warnings: list[str]) -> list[SplitImages]:
    """The images of each of ``train`` / ``val`` / ``test``: a folder, a ``.txt`` list of
    image paths, or a YAML list of either, relative to ``root`` (``path:``); an entry
    ``../x`` that is not there is looked for as ``x`` (Ultralytics' rule: Roboflow writes
    ``train: ../train/images`` beside a ``train/`` folder). A ``test`` entry that is not
    there is optional (Roboflow names one it did not write): noted in ``warnings``."""
    out: list[SplitImages] = []
    for part in ("train", "val", "test"):
        value = data.get(part)
        if value is None or value == []:
            continue
        entries = value if isinstance(value, list) else [value]
        images: list[Path] = []
        for entry in entries:
            if not isinstance(entry, str) or not entry.strip():
                raise FormatError(f"{yaml_path}: '{part}' must be a folder, a .txt list or a list of them")
            p = Path(entry) if Path(entry).is_absolute() else root / entry
            if not p.exists() and entry.startswith("../"):
                p = root / entry[3:]
            if p.is_dir():
                images += images_under(p)
            elif p.is_file() and p.suffix.lower() == ".txt":
                images += [_list_entry(p, root, line) for line in read_nonempty_lines(p)]
            elif part == "test" and not p.exists():
                warnings.append(f"{yaml_path}: 'test' {entry} is not there under {root}; no test images read")
            else:
                raise FormatError(f"{yaml_path}: '{part}' {entry!r} is not a folder or .txt list under {root}")
        out.append((part, images))
    return out


#: Subfolders of ``images/`` (or of the dataset) that name a split, in a folder given by
#: its ``classes.txt`` alone (``valid`` is Roboflow's and Darknet's word for ``val``).
_SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "test": "test"}


def _classes_txt_sources(folder: Path) -> list[SplitImages]:
    """The images of a folder given by its ``classes.txt``: ``images/`` (else the folder),
    one split per ``train`` / ``val`` (``valid``) / ``test`` subfolder when it has them."""
    img_dir = folder / "images" if (folder / "images").is_dir() else folder
    parts = [(_SPLIT_FOLDERS[d.name], d) for d in sorted(img_dir.iterdir())
             if d.is_dir() and d.name in _SPLIT_FOLDERS]
    if not parts:
        return [("", images_under(img_dir))]
    rest = [p for p in images_under(img_dir) if not any(p.is_relative_to(d) for _, d in parts)]
    return [(part, images_under(d)) for part, d in parts] + ([("", rest)] if rest else [])


# -- writing ------------------------------------------------------------------------
def yolo_layout(stem: str, suffix: str, part: str | None) -> tuple[str, str]:
    """``(image, label)`` paths (relative to the dataset folder) of one item."""
    sub = f"{part}/" if part else ""
    return f"images/{sub}{stem}{suffix}", f"labels/{sub}{stem}.txt"


def write_yolo(dataset: Dataset, out_dir: str | Path, stems: list[str] | None = None,
               final_dir: str | Path | None = None, staged: bool = False) -> Path:
    """Write labels, ``classes.txt`` and ``data.yaml`` under ``out_dir``.

    Images must be (or be put, by the exporter) at ``images/<split>/<stem><ext>``;
    the split of a record is ``dataset.split.get(key)`` (no split: ``images/``).
    ``final_dir`` is where the folder will end up (for ``path:`` in
    ``data.yaml``) when ``out_dir`` is a temporary folder renamed later.
    Each file is written atomically, unless ``staged``: ``out_dir`` is then a
    private staging folder the caller syncs and renames as a whole
    (``app.export``) and files are written in place.
    """
    out_dir = Path(out_dir)
    stems = stems or unique_stems(dataset.images)
    parts = sorted({p for p in dataset.split.values() if p}) if dataset.split else []
    made: set[str] = set()
    base = str(out_dir)
    for rec, stem in zip(dataset.images, stems):
        part = dataset.split.get(rec.key) if parts else None
        _, label_rel = yolo_layout(stem, "", part)
        folder = os.path.join(base, os.path.dirname(label_rel))
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        write_text_file(os.path.join(base, label_rel), yolo_lines(rec, dataset.label_map), staged)
    write_text_file(out_dir / "classes.txt", "".join(f"{n}\n" for n in dataset.label_map), staged)
    if parts:
        train, val = "images/train", "images/val"
        for folder in ("images/train", "images/val", "labels/train", "labels/val"):
            (out_dir / folder).mkdir(parents=True, exist_ok=True)  # an empty part stays a part
    else:
        train = val = "images"
    names = ", ".join(json.dumps(n, ensure_ascii=False) for n in dataset.label_map)
    yaml = (
        "# YOLO dataset written by Faster R-CNN Studio\n"
        f"path: {json.dumps(os.path.abspath(final_dir or out_dir), ensure_ascii=False)}\n"
        f"train: {train}\n"
        f"val: {val}\n"
        f"nc: {len(dataset.label_map)}\n"
        f"names: [{names}]\n"
    )
    write_text_file(out_dir / "data.yaml", yaml, staged)
    return out_dir


__all__ = [
    "MAX_LABEL_BYTES", "TOLERANCE", "YOLO_IMAGE_EXTENSIONS", "darknet_image_dir", "label_path_of", "names_from_yaml",
    "parse_data_yaml", "parse_label_file", "read_yolo", "write_darknet", "write_yolo", "yolo_layout", "yolo_lines",
]
