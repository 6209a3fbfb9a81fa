"""The in-memory dataset every format reads into and writes from.

A :class:`Dataset` is a root folder, a :class:`LabelMap` and a list of
:class:`ImageRecord` whose ``path`` is relative to ``root`` (POSIX
separators): the image of ``record`` is ``dataset.root / record.path``.
Boxes are in the project's one convention (float ``x1, y1, x2, y2`` in
original-image pixels); each format converts at its edge.

Also here: the helpers every reader shares to turn bad input into a
:class:`FormatError` naming the file and the element.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector_app.domain.annotations import Annotation, AnnotationSource, ImageRecord
from detector_app.domain.boxes import MIN_BOX_SIZE, Box, BoxError
from detector_app.domain.errors import FormatError
from detector_app.domain.fsutil import atomic_write_bytes
from detector_app.domain.labels import LabelMap

#: Format names accepted by :func:`detector_app.formats.load_dataset` and the writers.
FORMATS = ("coco", "voc", "yolo", "labelme")
#: Formats that can be written (LabelMe is import only).
WRITABLE_FORMATS = ("coco", "voc", "yolo")
#: The file an export writes at its top when it had to rename images (names that
#: collided): ``{new path in the export: original path}``. Not an annotation file:
#: the readers' searches for ``*.json`` pass it by.
RENAMED_FILE = "renamed.json"


def dataset_jsons(folder: Path) -> list[Path]:
    """The ``.json`` files of ``folder`` that may be annotations (sorted; not :data:`RENAMED_FILE`)."""
    return sorted(p for p in folder.glob("*.json") if p.name != RENAMED_FILE)


@dataclass
class Dataset:
    """Images with their boxes, read from or about to be written to a format.

    ``split`` maps a record's ``key`` to ``"train"``/``"val"`` where the
    format recorded one (YOLO folders, VOC image sets); ``warnings`` lists
    things skipped on import (crowd boxes, LabelMe polygons).
    """

    root: Path
    label_map: LabelMap
    images: list[ImageRecord] = field(default_factory=list)
    format: str = ""
    source: Path | None = None
    split: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: The folder the image references must stay within (default: ``root``); a
    #: layout the reader found on its own (COCO images in ``../images``) widens it.
    base: Path | None = None

    @property
    def home(self) -> Path:
        return self.base if self.base is not None else self.root

    def image_path(self, record: ImageRecord) -> Path:
        """Absolute-ish path of a record's image (``root / record.path``)."""
        return self.root / record.path

    def num_annotations(self) -> int:
        return sum(len(r.annotations) for r in self.images)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def reference_inside(home: str | Path, root: str | Path, ref: str,
                     real_dirs: dict[str, str] | None = None) -> bool:
    """Whether image reference ``ref`` (relative to ``root``, or absolute) names a
    file inside ``home``: as written (``..`` and absolute paths resolved lexically)
    and where it really is (symbolic links followed: a link in a dataset leading
    out of it, to a file or through a folder, is outside too), so that neither an
    annotation file nor the links beside it can reach other files.
    ``real_dirs``: a cache of resolved folders, for calls over many records."""
    home_n = os.path.normpath(os.path.abspath(home))
    target = os.path.normpath(os.path.join(os.path.abspath(root), ref))
    if not _within(target, home_n):
        return False
    cache = {} if real_dirs is None else real_dirs
    try:
        real_home = cache.get(home_n) or cache.setdefault(home_n, os.path.realpath(home_n))
        folder, name = os.path.split(target)
        real_folder = cache.get(folder) or cache.setdefault(folder, os.path.realpath(folder))
        real = os.path.join(real_folder, name)
        if os.path.islink(real):
            real = os.path.realpath(real)
    except (OSError, ValueError):  # a NUL byte, a loop: not a file anyone can copy
        return False
    return _within(real, real_home)


# -- shared reader helpers --------------------------------------------------
def is_number(value: Any) -> bool:
    """A JSON number (not a bool), finite as a float (a 400-digit integer is not)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def make_box(where: str, x1: float, y1: float, x2: float, y2: float,
             width: int | None, height: int | None) -> Box:
    """A valid box, clipped to the image when its size is known.

    Raises :class:`FormatError` (prefixed with ``where``) for non-finite or
    degenerate boxes and for boxes with nothing inside the image.
    """
    values = (x1, y1, x2, y2)
    if not all(is_number(v) for v in values):
        shown = ", ".join(f"{v!r:.24}" for v in values)
        raise FormatError(f"{where}: box coordinates must be finite numbers, got [{shown}]")
    if x2 - x1 < MIN_BOX_SIZE or y2 - y1 < MIN_BOX_SIZE:
        raise FormatError(
            f"{where}: degenerate box (zero or negative size) x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g}"
        )
    try:
        box = Box(float(x1), float(y1), float(x2), float(y2))
        if width is not None and height is not None:
            box = box.clipped(width, height)
    except BoxError as exc:
        raise FormatError(f"{where}: {exc}") from None
    return box


def make_annotation(where: str, box: Box, label: str, score: Any = None,
                    source: str | None = None) -> Annotation:
    """An :class:`Annotation`, with bad labels/scores turned into :class:`FormatError`.

    Without an explicit ``source`` a box is a person's (``manual``), scored or not:
    a score alone does not say nobody checked the box (tools export confidences of
    reviewed boxes too), and model boxes are left out of exports until verified."""
    try:
        src = AnnotationSource(source) if source else AnnotationSource.MANUAL
        return Annotation(box, label, source=src, score=None if score is None else float(score))
    except (ValueError, TypeError) as exc:
        raise FormatError(f"{where}: {exc}") from None


def check_size(where: str, width: Any, height: Any) -> tuple[int | None, int | None]:
    """Validate an image size read from a file: positive integers, or both absent."""
    if width is None and height is None:
        return None, None
    for name, v in (("width", width), ("height", height)):
        if not is_number(v) or float(v) != int(v) or int(v) <= 0:
            raise FormatError(f"{where}: image {name} must be a positive integer, got {v!r}")
    return int(width), int(height)


def read_text_file(path: Path) -> str:
    """A dataset text file (UTF-8, a byte-order mark ignored); unreadable or
    non-UTF-8 files raise :class:`FormatError` naming the file."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_nonempty_lines(path: Path) -> list[str]:
    """The stripped, non-empty lines of a text file (a class-name or image list)."""
    return [line.strip() for line in read_text_file(path).splitlines() if line.strip()]


def write_text_file(path: str | Path, text: str, staged: bool = False) -> None:
    """Write one dataset file (UTF-8).

    ``staged=False``: atomically and durably (``fsutil.atomic_write_bytes``).
    ``staged=True``: ``path`` lies in a private staging folder that the caller
    syncs once (``fsutil.sync_tree``) and renames into place as a whole (what
    ``app.export`` does), so the file is written in place: no temporary file,
    rename or fsync of its own (for 10,000 label files that halves the files
    created).
    """
    data = text.encode("utf-8")
    if staged:
        with open(path, "wb") as fh:
            fh.write(data)
    else:
        atomic_write_bytes(path, data)


def relpath_posix(target: Path, start: Path) -> str:
    """``target`` relative to folder ``start`` with POSIX separators."""
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(start))
    return Path(rel).as_posix()


def record_relpaths(root: Path, paths: list[str], start: Path) -> list[str]:
    """``relpath_posix(root / p, start)`` for each record path ``p``, computed on
    strings alone when ``root`` is ``start`` (the exporter's case: thousands of
    records, no file system calls needed)."""
    if os.path.abspath(root) == os.path.abspath(start):
        return [posixpath.normpath(p) if not os.path.isabs(p) else relpath_posix(Path(p), start) for p in paths]
    return [relpath_posix(root / p, start) for p in paths]


#: What a written file name must not hold on any common filesystem (separators, Windows-reserved
#: characters, control characters); everything else, spaces and non-ASCII letters included, is kept.
_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*]+')


#: The longest file stem an export writes (UTF-8 bytes): with an extension, a video frame's
#: ``_f000000`` or a collision's ``_2`` the name stays under the common 255-byte limit (two
#: 250-byte names in two folders made a 262-byte name: "File name too long", no export).
MAX_STEM_BYTES = 200


def _fit(stem: str) -> str:
    """``stem`` cut to :data:`MAX_STEM_BYTES` bytes of UTF-8 (at a character boundary)."""
    data = stem.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_STEM_BYTES:
        return stem
    return data[:MAX_STEM_BYTES].decode("utf-8", "ignore")


def _stem_parts(path: str) -> tuple[list[str], str]:
    """``(parent folder names, stem)`` of a POSIX record path, as ``pathlib`` splits it."""
    pieces = [q for q in path.split("/") if q not in ("", ".")]
    name = pieces[-1] if pieces else ""
    dot = name.rfind(".")
    stem = name[:dot] if 0 < dot < len(name) - 1 else name
    return pieces[:-1], stem


def unique_stems(records: list[ImageRecord]) -> list[str]:
    """A distinct, filesystem-safe file stem per record (same order): the image's own
    name, characters no filesystem takes replaced by ``_``.

    An image keeps its own name (``a/b/cat.jpg`` -> ``cat``) unless another
    record has the same one (case-insensitively): only those get their folders
    as a prefix (``a__b__cat``); video frame 12 of ``v.mp4`` -> ``v_f000012``;
    a clash left after that gets ``_2``, ``_3``... appended.
    """
    def plain(rec: ImageRecord) -> str:
        stem = _fit(_UNSAFE.sub("_", _stem_parts(rec.path)[1]).strip("._")) or "image"
        return stem if rec.frame_index is None else f"{stem}_f{rec.frame_index:06d}"

    counts: dict[str, int] = {}
    for rec in records:
        counts[plain(rec).lower()] = counts.get(plain(rec).lower(), 0) + 1
    seen: set[str] = set()
    out: list[str] = []
    for rec in records:
        stem = plain(rec)
        if counts[stem.lower()] > 1:  # a real collision: the folders tell them apart
            folders, name = _stem_parts(rec.path)
            parts = [*folders, name]
            stem = "__".join(_UNSAFE.sub("_", part) for part in parts if part not in ("", "/", ".."))
            stem = _fit(stem.strip("._")) or "image"
            if rec.frame_index is not None:
                stem = f"{stem}_f{rec.frame_index:06d}"
        candidate, n = stem, 1
        while candidate.lower() in seen:
            n += 1
            candidate = f"{stem}_{n}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


__all__ = [
    "Dataset",
    "FORMATS",
    "RENAMED_FILE",
    "dataset_jsons",
    "WRITABLE_FORMATS",
    "check_size",
    "is_number",
    "make_annotation",
    "reference_inside",
    "make_box",
    "record_relpaths",
    "relpath_posix",
    "unique_stems",
    "write_text_file",
]
