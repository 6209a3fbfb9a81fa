"""YOLO (ultralytics) detection labels: one ``.txt`` per image.

Each line is ``class cx cy w h``: a 0-based class index into the class list
(``data.yaml`` ``names`` or ``classes.txt``) and the box centre and size
*normalised* by the image width/height (all in ``0..1``). So on a 100x50
image the line ``0 0.5 0.5 1 1`` is the box ``x1=0, y1=0, x2=100, y2=50``.

Layout (written and read)::

    data.yaml            path (absolute), train/val folders, nc, names
    classes.txt          one class name per line
    images/train/a.jpg   labels/train/a.txt    (the label of .../images/... is
    images/val/b.jpg     labels/val/b.txt       the same path under .../labels/)

Without a split, ``images/`` and ``labels/`` directly. Reading also accepts a
folder with only ``classes.txt`` and images with their ``.txt`` beside them, and
the Darknet layout CVAT writes as "YOLO 1.1"::

    obj.data             classes = 2 / train = data/train.txt / names = data/obj.names
    obj.names            one class name per line
    train.txt            data/obj_train_data/a.jpg (one image per line)
    obj_train_data/      a.jpg with a.txt beside it
Image sizes (needed to un-normalise) come from the image file headers
(``detector_app.domain.imageheader``) or a ``size_of`` callable.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from detector_app.domain.annotations import ImageRecord
from detector_app.domain.errors import FormatError
from detector_app.domain.imageheader import read_header_size
from detector_app.domain.labels import LabelError, LabelMap
from detector_app.domain.media_types import IMAGE_EXTENSIONS
from detector_app.formats.dataset import (
    Dataset,
    make_annotation,
    make_box,
    read_nonempty_lines,
    read_text_file,
    reference_inside,
    relpath_posix,
    unique_stems,
    write_text_file,
)

#: Image files YOLO folders are searched for (same list as ``detector_app.media``).
YOLO_IMAGE_EXTENSIONS = IMAGE_EXTENSIONS
#: Normalised values may overshoot 0..1 by this much (float noise from other tools).
TOLERANCE = 1e-6

SizeFn = Callable[[Path], "tuple[int, int] | None"]


# -- data.yaml (the small subset of YAML it uses) ---------------------------------
def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return str(json.loads(text))
        except ValueError:
            return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return text


def _unquoted(text: str) -> Iterator[tuple[int, str]]:
    """``(index, character)`` of ``text`` outside YAML quotes ('...' or "..." with
    backslash escapes)."""
    quote = None
    escaped = False
    for i, ch in enumerate(text):
        if quote:
            if escaped:  # the character after a backslash in "..." (e.g. \") ends nothing
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        else:
            yield i, ch


def _strip_comment(line: str) -> str:
    for i, ch in _unquoted(line):
        if ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _flow_list(where: str, text: str) -> list[str]:
    inner = text.strip()[1:-1]
    items = re.findall(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^,]+)\s*(?:,|$)""", inner)
    return [_scalar(i) for i in items if i.strip()]


def _flow_map(where: str, key: str, text: str) -> dict[int, str] | str:
    """An inline mapping ``{0: a, 1: b}``: ``names`` as ``{index: name}``; under any other
    key the text as it is (this reader uses no other mapping)."""
    if key != "names":
        return text
    out: dict[int, str] = {}
    for item in _flow_list(where, text):  # the same splitting on commas outside quotes
        k, sep, v = item.partition(":")
        if not sep:
            raise FormatError(f"{where}: expected 'index: name' items in {{...}}, got {item!r:.40}")
        out[_class_index(where, k)] = _scalar(v)
    return out


def _class_index(where: str, text: str) -> int:
    try:
        return int(_scalar(text))
    except ValueError:
        raise FormatError(f"{where}: class index {text.strip()!r:.20} is not an integer") from None


#: The most classes ``nc`` may declare (without ``names`` it names them all, ``class0``, ``class1``...):
#: the largest public detection datasets have a few thousand; more is a damaged or crafted file.
MAX_CLASSES = 100_000

#: ``data.yaml`` keys whose indented lines this reader reads (as ``- item`` or ``index: name``);
#: those of any other key (Roboflow's ``roboflow:`` block, ``download:`` scripts) are passed by.
_LIST_KEYS = ("names", "train", "val", "test")


def _brackets_closed(text: str) -> bool:
    """Whether every ``[`` / ``{`` of a flow value outside quotes is closed."""
    depth = 0
    for _i, ch in _unquoted(text):
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth <= 0


def parse_data_yaml(path: Path) -> dict[str, object]:
    """``data.yaml`` as a dict of str / list[str] / dict[int, str] (``names``).

    The YAML that Ultralytics' dataset files use: ``key: value`` lines, lists as
    ``[a, b]`` (over several lines too) or ``- item`` lines, ``names`` also as
    ``index: name`` lines or ``{0: a, 1: b}``; block scalars (``download: |``) and
    nested blocks of other keys (Roboflow's ``roboflow:``) are passed by.
    Raises :class:`FormatError` with ``file:line`` for lines it cannot read.
    """
    lines = read_text_file(path).splitlines()
    out: dict[str, object] = {}
    current: str | None = None
    skip_indented = False  # inside a block scalar or a block this reader does not use
    pending: tuple[str, int, str] | None = None  # a flow value continued on the next lines
    for n, raw in enumerate(lines, start=1):
        line = _strip_comment(raw).rstrip()
        if pending is not None:
            key, first, text = pending
            if line.strip() and line[0] not in " \t" and not line.strip().startswith(("]", "}")):
                raise FormatError(f"{path}:{first}: unterminated list")
            text += " " + line.strip()
            if not _brackets_closed(text):
                pending = (key, first, text)
                continue
            pending = None
            where = f"{path}:{first}"
            out[key] = _flow_list(where, text) if text.startswith("[") else _flow_map(where, key, text)
            continue
        if not line.strip() or line.strip() == "---":
            continue
        where = f"{path}:{n}"
        if line[0] not in " \t-":
            key, sep, value = line.partition(":")
            if not sep or not key.strip():
                raise FormatError(f"{where}: expected 'key: value', got {raw.strip()!r:.60}")
            current = _scalar(key)
            value = value.strip()
            skip_indented = current not in _LIST_KEYS
            if value.startswith(("[", "{")):
                if not _brackets_closed(value):
                    pending = (current, n, value)
                    continue
                if not value.endswith(("]", "}")):
                    raise FormatError(f"{where}: unterminated list")
                out[current] = _flow_list(where, value) if value.startswith("[") else _flow_map(where, current, value)
            elif value[:1] in ("|", ">"):  # a block scalar: its indented lines are its text
                out[current] = value
                skip_indented = True
            else:
                out[current] = _scalar(value) if value else None
            continue
        if skip_indented:
            continue
        item = line.strip()
        if current is None:
            raise FormatError(f"{where}: indented line without a key above it")
        if item.startswith("- ") or item == "-":
            prev = out.get(current)
            if prev is None:
                prev = out[current] = []
            if not isinstance(prev, list):
                raise FormatError(f"{where}: list item under {current!r}, which is not a list")
            prev.append(_scalar(item[1:]))
        else:
            k, sep, v = item.partition(":")
            prev = out.get(current)
            if prev is None:
                prev = out[current] = {}
            if not sep or not isinstance(prev, dict):
                raise FormatError(f"{where}: expected '- item' or 'index: name' under {current!r}")
            index = _class_index(where, k)
            if index in prev:
                raise FormatError(f"{where}: class index {index} given twice")
            prev[index] = _scalar(v)
    if pending is not None:
        raise FormatError(f"{path}:{pending[1]}: unterminated list")
    return out


def _names_from_yaml(path: Path, data: dict[str, object]) -> list[str]:
    names = data.get("names")
    nc = data.get("nc")
    count: int | None = None
    if nc is not None:
        try:
            count = int(str(nc))
        except ValueError:
            raise FormatError(f"{path}: 'nc' must be an integer (the number of classes), got {nc!r:.20}") from None
        if count > MAX_CLASSES:  # nc alone would name them all: nc 10**9 took gigabytes before any check
            raise FormatError(f"{path}: nc = {count} classes is more than this app reads ({MAX_CLASSES})")
    if isinstance(names, dict):
        if names and sorted(names) != list(range(len(names))):
            # the gaps below len(names) (there is one): never a range up to the largest index (10**12 in a crafted file)
            missing = [i for i in range(len(names)) if i not in names]
            shown = ", ".join(str(i) for i in missing[:10]) + (", ..." if len(missing) > 10 else "")
            raise FormatError(f"{path}: 'names' must give every class index from 0 to {len(names) - 1} once; "
                              f"{'it has ' + str(min(names)) + ' and ' if min(names) < 0 else ''}it skips {shown}"
                              if missing else f"{path}: 'names' indices must be 0..{len(names) - 1}")
        names = [names[i] for i in range(len(names))]
    if names is None and count is not None:  # Ultralytics' rule: nc alone names the classes class0, class1...
        names = [f"class{i}" for i in range(count)]
    if not isinstance(names, list):  # an empty list is fine: a dataset of negatives only
        raise FormatError(f"{path}: missing 'names' (the class list)")
    if count is not None and count != len(names):
        raise FormatError(f"{path}: nc = {count}, but 'names' lists {len(names)} classes")
    return [str(n) for n in names]


# -- reading ------------------------------------------------------------------------
def label_path_of(image: Path) -> Path:
    """The label file of an image: ``.../images/...`` -> ``.../labels/...``, ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def _images_under(folder: Path) -> list[Path]:
    found = [p for p in folder.rglob("*") if p.suffix.lower() in YOLO_IMAGE_EXTENSIONS and p.is_file()]
    return sorted(found)


#: A label file larger than this is refused before it is read: 10,000 boxes take about 400 KB, and a
#: million-line file took 75 s and 0.93 GB to import.
MAX_LABEL_BYTES = 4 * 1024 * 1024


def parse_label_file(path: Path, names: list[str], width: int, height: int, rel: str,
                     names_from: Path | None = None) -> ImageRecord:
    """One YOLO label file for a ``width x height`` image as a record (path ``rel``);
    ``names_from``: the file the class list came from (named when an index is past it)."""
    rec = ImageRecord(path=rel, width=width, height=height)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size > MAX_LABEL_BYTES:
        raise FormatError(f"{path}: {size / 2**20:.0f} MiB is not a label file of one image "
                          f"(over {MAX_LABEL_BYTES // 2**20} MiB, about 100,000 boxes)")
    text = read_text_file(path)
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{n}"
        if len(fields) != 5:
            raise FormatError(f"{where}: expected 5 fields 'class cx cy w h', found {len(fields)}")
        try:
            cls = int(fields[0])
        except ValueError:
            raise FormatError(f"{where}: class index {fields[0]!r:.20} is not an integer") from None
        if not 0 <= cls < len(names):
            listed = f" ({names_from.name} lists {len(names)} names)" if names_from is not None else ""
            raise FormatError(f"{where}: class index {cls} out of range 0..{len(names) - 1}{listed}" if names
                              else f"{where}: class index {cls}, but the class list is empty{listed}")
        try:
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            raise FormatError(f"{where}: box values must be numbers, got {' '.join(fields[1:])!r:.60}") from None
        for name, v, raw in zip(("cx", "cy", "w", "h"), (cx, cy, w, h), fields[1:]):
            if not math.isfinite(v) or not -TOLERANCE <= v <= 1 + TOLERANCE:
                raise FormatError(f"{where}: {name}={raw:.20} is outside 0..1 (YOLO values are normalised)")
        box = make_box(where, (cx - w / 2) * width, (cy - h / 2) * height,
                       (cx + w / 2) * width, (cy + h / 2) * height, width, height)
        rec.annotations.append(make_annotation(where, box, names[cls]))
    return rec


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
                   warnings: list[str]) -> list[tuple[str, list[Path]]]:
    """The images of each of ``train`` / ``val`` / ``test``: a folder, a ``.txt`` list of
    image paths, or a YAML list of either, relative to ``root`` (``path:``); an entry
    ``../x`` that is not there is looked for as ``x`` (Ultralytics' rule: Roboflow writes
    ``train: ../train/images`` beside a ``train/`` folder). A ``test`` entry that is not
    there is optional (Roboflow names one it did not write): noted in ``warnings``."""
    out: list[tuple[str, list[Path]]] = []
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
                images += _images_under(p)
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


def _classes_txt_sources(folder: Path) -> list[tuple[str, list[Path]]]:
    """The images of a folder given by its ``classes.txt``: ``images/`` (else the folder),
    one split per ``train`` / ``val`` (``valid``) / ``test`` subfolder when it has them."""
    img_dir = folder / "images" if (folder / "images").is_dir() else folder
    parts = [(_SPLIT_FOLDERS[d.name], d) for d in sorted(img_dir.iterdir())
             if d.is_dir() and d.name in _SPLIT_FOLDERS]
    if not parts:
        return [("", _images_under(img_dir))]
    rest = [p for p in _images_under(img_dir) if not any(p.is_relative_to(d) for _, d in parts)]
    return [(part, _images_under(d)) for part, d in parts] + ([("", rest)] if rest else [])


def _darknet_path(folder: Path, entry: str) -> Path:
    """A path written in ``obj.data`` / ``train.txt``: Darknet resolves them from its own
    folder, where the dataset sits in ``data/`` (CVAT writes ``data/obj_train_data/a.jpg``)."""
    p = Path(entry.strip())
    if p.is_absolute():
        return p
    direct = folder / p
    if not direct.exists() and p.parts[:1] == ("data",) and len(p.parts) > 1:
        return folder / Path(*p.parts[1:])
    return direct


def parse_obj_data(path: Path) -> dict[str, str]:
    """``obj.data``: ``key = value`` lines (``classes``, ``train``, ``valid``, ``names``, ...)."""
    out: dict[str, str] = {}
    for n, line in enumerate(read_nonempty_lines(path), start=1):
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise FormatError(f"{path}:{n}: expected 'key = value', got {line.strip()!r:.60}")
        out[key.strip()] = value.strip()
    return out


#: Darknet / CVAT split names -> this project's (``valid`` is Darknet's word for ``val``).
_DARKNET_SPLITS = {"train": "train", "valid": "val", "val": "val", "test": "test"}


def _darknet(folder: Path) -> tuple[list[str], Path, list[tuple[str, list[Path]]]]:
    """Names, the file they came from, and the images per split of a Darknet / CVAT
    "YOLO 1.1" folder: ``obj.data``, ``obj.names``, ``obj_<split>_data/`` (images with
    their ``.txt`` beside them), ``<split>.txt`` lists."""
    data_file = folder / "obj.data"
    data = parse_obj_data(data_file) if data_file.is_file() else {}
    names_file = _darknet_path(folder, data["names"]) if data.get("names") else folder / "obj.names"
    if not reference_inside(folder, folder, str(names_file)):
        # its lines would become the class names written into every converted file and the project
        raise FormatError(f"{data_file}: the class list {names_file} is outside the dataset folder {folder}; "
                          "copy it into the folder and name it there")
    if not names_file.is_file():
        raise FormatError(f"{data_file if data else folder}: the class list {names_file} does not exist")
    names = read_nonempty_lines(names_file)
    if data.get("classes"):
        try:
            declared = int(data["classes"])
        except ValueError:
            raise FormatError(f"{data_file}: 'classes' must be an integer, got {data['classes']!r:.20}") from None
        if declared != len(names):
            raise FormatError(f"{data_file}: classes = {declared}, but {names_file.name} lists {len(names)} names")
    sources: list[tuple[str, list[Path]]] = []
    for key, part in _DARKNET_SPLITS.items():
        if data.get(key):
            listing = _darknet_path(folder, data[key])
            if not listing.is_file():
                raise FormatError(f"{data_file}: '{key}' list {listing} does not exist")
            sources.append((part, [_darknet_path(folder, line) for line in read_nonempty_lines(listing)]))
    if not sources:
        for sub in sorted(folder.glob("obj_*_data")):
            part = sub.name[len("obj_"):-len("_data")]
            sources.append((_DARKNET_SPLITS.get(part, part), _images_under(sub)))
    if not sources:
        sources = [("", _images_under(folder))]
    return names, names_file, sources


def read_yolo(path: str | Path, size_of: SizeFn | None = None) -> Dataset:
    """Read a YOLO dataset folder (or its ``data.yaml`` / ``classes.txt``).

    ``size_of(image_path) -> (w, h) | None`` gives image sizes (default: the
    file header). Raises :class:`FormatError` naming ``file:line`` on bad input.
    """
    path = Path(path)
    folder = path.parent if path.is_file() else path
    size_of = size_of or read_header_size
    yaml_path = path if path.is_file() and path.suffix in (".yaml", ".yml") else next(
        (folder / n for n in ("data.yaml", "data.yml") if (folder / n).is_file()), None)
    classes_txt = folder / "classes.txt"
    root = folder
    warnings: list[str] = []
    if yaml_path is not None:
        data = parse_data_yaml(yaml_path)
        names = _names_from_yaml(yaml_path, data)
        base = data.get("path")
        if isinstance(base, str) and base:  # absolute, or relative to the data.yaml's folder
            p = Path(base)
            cand = p if p.is_absolute() else folder / p
            root = cand if cand.is_dir() else folder  # a dataset moved since: its own folder
        sources = _split_sources(root, data, yaml_path, warnings)
        if not sources:
            raise FormatError(f"{yaml_path}: no 'train' or 'val' entry")
    elif (folder / "obj.data").is_file() or (folder / "obj.names").is_file():
        names, classes_txt, sources = _darknet(folder)
    elif classes_txt.is_file():
        names = read_nonempty_lines(classes_txt)
        if not names:
            raise FormatError(f"{classes_txt}: empty class list")
        sources = _classes_txt_sources(folder)
    else:
        raise FormatError(f"{folder}: not a YOLO dataset (no data.yaml, obj.data / obj.names or classes.txt)")
    if len(set(names)) != len(names) or any(not n.strip() for n in names):
        raise FormatError(f"{yaml_path or classes_txt}: class names must be unique and non-empty")
    try:
        label_map = LabelMap(names)
    except LabelError as exc:
        raise FormatError(f"{yaml_path or classes_txt}: {exc}") from None
    records: list[ImageRecord] = []
    split: dict[str, str] = {}
    seen: set[str] = set()
    for part, images in sources:
        for image in images:
            rel = relpath_posix(image, root)
            if rel in seen:
                if split.get(rel) != part:
                    split.pop(rel, None)  # listed in train and val: no split
                continue
            seen.add(rel)
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
                rec = parse_label_file(label, names, size[0], size[1], rel, yaml_path or classes_txt)
            else:
                rec = ImageRecord(path=rel, width=size[0], height=size[1])
            records.append(rec)
            if part in ("train", "val"):
                split[rec.key] = part
    # the images must stay within the folder the dataset was given as: a ``path:`` naming another
    # folder (a YAML kept apart from its data, or a crafted one naming someone's photos) takes its
    # images from outside, which an export leaves out unless allowed (``ExportOptions.allow_outside``)
    return Dataset(root=root, label_map=label_map, images=records, format="yolo", source=path,
                   split=split, warnings=warnings, base=folder if root != folder else None)


# -- writing ------------------------------------------------------------------------
def _num(v: float) -> str:
    """Shortest text that reads back as exactly ``v`` (``1`` rather than ``1.0``)."""
    return str(int(v)) if v == int(v) else repr(v)


def yolo_lines(record: ImageRecord, label_map: LabelMap) -> str:
    """The label file text of one record (empty for no boxes)."""
    if record.width is None or record.height is None:
        raise FormatError(f"{record.key}: image size unknown; cannot normalise YOLO boxes")
    w, h = float(record.width), float(record.height)
    lines = []
    for ann in record.annotations:
        if ann.label not in label_map:
            raise FormatError(f"{record.key}: label {ann.label!r} is not in the label map")
        cx, cy = ann.box.center
        values = (cx / w, cy / h, ann.box.width / w, ann.box.height / h)
        lines.append(f"{label_map.id_of(ann.label) - 1} " + " ".join(_num(v) for v in values) + "\n")
    return "".join(lines)


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


def darknet_image_dir(part: str | None) -> str:
    """Where the Darknet / CVAT "YOLO 1.1" layout keeps one split's images and labels."""
    return f"obj_{'valid' if part == 'val' else (part or 'train')}_data"


def write_darknet(dataset: Dataset, out_dir: str | Path, stems: list[str] | None = None,
                  staged: bool = False) -> Path:
    """Write ``dataset`` in the Darknet layout CVAT imports as "YOLO 1.1": a label
    ``.txt`` beside each image (the images must be, or be put by the exporter, at
    ``obj_<split>_data/<name>``: ``record.path``), ``obj.names``, ``obj.data`` and
    ``train.txt`` (``valid.txt`` with a val split) listing ``data/<image>``, the
    paths Darknet resolves from its own folder. ``val`` is written as ``valid``."""
    out_dir = Path(out_dir)
    stems = stems or unique_stems(dataset.images)
    lists: dict[str, list[str]] = {}
    for rec, stem in zip(dataset.images, stems):
        part = dataset.split.get(rec.key) or "train"
        folder = out_dir / darknet_image_dir(part)
        folder.mkdir(parents=True, exist_ok=True)
        write_text_file(folder / f"{stem}.txt", yolo_lines(rec, dataset.label_map), staged)
        lists.setdefault("valid" if part == "val" else part, []).append(f"data/{rec.path}")
    write_text_file(out_dir / "obj.names", "".join(f"{n}\n" for n in dataset.label_map), staged)
    data = [f"classes = {len(dataset.label_map)}"]
    for name, entries in sorted(lists.items()):
        write_text_file(out_dir / f"{name}.txt", "".join(f"{e}\n" for e in entries), staged)
        data.append(f"{name} = data/{name}.txt")
    data += ["names = data/obj.names", "backup = backup/"]
    write_text_file(out_dir / "obj.data", "\n".join(data) + "\n", staged)
    return out_dir


__all__ = [
    "YOLO_IMAGE_EXTENSIONS", "darknet_image_dir", "label_path_of", "parse_data_yaml", "parse_label_file",
    "read_yolo", "write_darknet", "write_yolo", "yolo_layout", "yolo_lines",
]
