"""Class list files: the ordered class names other tools keep beside a dataset.

Read: labelImg's ``predefined_classes.txt``, YOLO's ``classes.txt``, Darknet's
``obj.names`` (one name per line; blank lines skipped) and an Ultralytics
``data.yaml`` (its ``names``). Written: one name per line, UTF-8, atomically.
The order is the class ids' order (line 1 is id 1 in COCO, 0 in YOLO).
"""

from __future__ import annotations

from pathlib import Path

from detector_app.domain.errors import FormatError, UserError
from detector_app.domain.labels import LabelMap
from detector_app.formats.dataset import read_nonempty_lines, write_text_file
from detector_app.formats.yolo_yaml import names_from_yaml, parse_data_yaml

#: A class list file larger than this is not one (100,000 names of 10 characters).
MAX_CLASSES_BYTES = 1024 * 1024


def read_classes_file(path: str | Path) -> list[str]:
    """The class names of ``path``, in order; :class:`FormatError` naming the file
    when it is unreadable, too large, empty or lists a name twice."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size > MAX_CLASSES_BYTES:
        raise FormatError(f"{path}: {size} bytes is too large for a list of class names")
    if path.suffix.lower() in (".yaml", ".yml"):
        names = names_from_yaml(path, parse_data_yaml(path))
    else:
        names = read_nonempty_lines(path)
    if not names:
        raise FormatError(f"{path}: no class names in it")
    try:
        return LabelMap(names).names
    except (UserError, ValueError) as exc:
        raise FormatError(f"{path}: {exc}") from None


def write_classes_file(path: str | Path, names: list[str]) -> None:
    """Write ``names`` one per line (atomic)."""
    write_text_file(path, "".join(f"{n}\n" for n in LabelMap(list(names)).names))


__all__ = ["MAX_CLASSES_BYTES", "read_classes_file", "write_classes_file"]
