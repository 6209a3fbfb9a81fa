"""One YOLO label file per image: ``class cx cy w h`` lines, normalised.

``class`` is a 0-based index into the class list; ``cx cy w h`` are the box centre
and size divided by the image width/height (all in ``0..1``). So on a 100x50 image
the line ``0 0.5 0.5 1 1`` is the box ``x1=0, y1=0, x2=100, y2=50``. The label of
``.../images/.../a.jpg`` is ``.../labels/.../a.txt`` (Ultralytics) or ``a.txt``
beside the image (Darknet).
"""

from __future__ import annotations

import math
from pathlib import Path

from detector_app.domain.annotations import ImageRecord
from detector_app.domain.errors import FormatError
from detector_app.domain.labels import LabelMap
from detector_app.domain.media_types import IMAGE_EXTENSIONS
from detector_app.formats.dataset import make_annotation, make_box, read_text_file

#: Image files YOLO folders are searched for (same list as ``detector_app.media``).
YOLO_IMAGE_EXTENSIONS = IMAGE_EXTENSIONS
#: Normalised values may overshoot 0..1 by this much (float noise from other tools).
TOLERANCE = 1e-6

#: A label file larger than this is refused before it is read: 10,000 boxes take about 400 KB, and a
#: million-line file took 75 s and 0.93 GB to import.
MAX_LABEL_BYTES = 4 * 1024 * 1024


def label_path_of(image: Path) -> Path:
    """The label file of an image: ``.../images/...`` -> ``.../labels/...``, ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def images_under(folder: Path) -> list[Path]:
    """The image files anywhere under ``folder``, sorted (the images of a YOLO or Darknet folder)."""
    found = [p for p in folder.rglob("*") if p.suffix.lower() in YOLO_IMAGE_EXTENSIONS and p.is_file()]
    return sorted(found)


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


__all__ = [
    "MAX_LABEL_BYTES", "TOLERANCE", "YOLO_IMAGE_EXTENSIONS", "images_under", "label_path_of", "parse_label_file",
    "yolo_lines",
]
