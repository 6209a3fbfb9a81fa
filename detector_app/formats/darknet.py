"""The Darknet layout, which CVAT reads and writes as "YOLO 1.1".

::

    obj.data             classes = 2 / train = data/train.txt / names = data/obj.names
    obj.names            one class name per line
    train.txt            data/obj_train_data/a.jpg (one image per line; valid.txt for val)
    obj_train_data/      a.jpg with its label a.txt beside it

Darknet resolves the paths in ``obj.data`` and the lists from its own folder, where
the dataset sits in ``data/``. Label files are YOLO's (``formats.yolo_labels``).
"""

from __future__ import annotations

from pathlib import Path

from detector_app.domain.errors import FormatError
from detector_app.formats.dataset import Dataset, read_nonempty_lines, reference_inside, unique_stems, write_text_file
from detector_app.formats.yolo_labels import images_under, yolo_lines

#: One split of a dataset: its name (``train``, ``val``, ``test``; ``""`` for none) and its images.
SplitImages = tuple[str, list[Path]]


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


def read_darknet_layout(folder: Path) -> tuple[list[str], Path, list[SplitImages]]:
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
    sources: list[SplitImages] = []
    for key, part in _DARKNET_SPLITS.items():
        if data.get(key):
            listing = _darknet_path(folder, data[key])
            if not listing.is_file():
                raise FormatError(f"{data_file}: '{key}' list {listing} does not exist")
            sources.append((part, [_darknet_path(folder, line) for line in read_nonempty_lines(listing)]))
    if not sources:
        for sub in sorted(folder.glob("obj_*_data")):
            part = sub.name[len("obj_"):-len("_data")]
            sources.append((_DARKNET_SPLITS.get(part, part), images_under(sub)))
    if not sources:
        sources = [("", images_under(folder))]
    return names, names_file, sources


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


__all__ = ["SplitImages", "darknet_image_dir", "parse_obj_data", "read_darknet_layout", "write_darknet"]
