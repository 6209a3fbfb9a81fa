"""Bring annotations from a dataset file into a project, and a project's
records out as a :class:`Dataset` (the in-memory form the formats write).

``import_annotations(store, path)`` reads any supported dataset
(:func:`detector_app.formats.load_dataset`) and gives each image of it that
lies inside the project folder its boxes, either replacing what the image had
(``mode="replace"``) or adding to it (``"append"``); the image becomes
``edited`` (a ``verified`` one stays verified). Images outside the project,
and images whose size in the dataset differs from the real image (the boxes
would be in another frame), are skipped and listed.

All or nothing: the dataset is read and every box checked against its image
before the first edit, so a malformed file, a bad box or a cancel changes
nothing; the edits are then made in one :meth:`ProjectStore.batch` (one
transaction on disk).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from detector_app.app.scan import split_key
from detector_app.domain.annotations import Annotation, ImageRecord, ItemState
from detector_app.domain.boxes import BoxError
from detector_app.domain.errors import FormatError, MediaError, UserError
from detector_app.domain.labels import LabelMap
from detector_app.domain.progress import ProgressFn, check_cancel, report
from detector_app.formats import Dataset, detect_format, load_dataset
from detector_app.formats.coco import COCO_JSON_NAMES, find_coco_json
from detector_app.media.imagesize import image_size

if TYPE_CHECKING:
    from detector_app.app.store import ProjectStore

IMPORT_MODES = ("replace", "append")


@dataclass
class ImportResult:
    """What an import did."""

    images: int = 0
    annotations: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"imported {self.annotations} boxes on {self.images} images"
        return text + (f"; {len(self.skipped)} images skipped" if self.skipped else "")


def project_key(store_root: Path, dataset: Dataset, record: ImageRecord) -> str | None:
    """The project key of a dataset record's image, or ``None`` if outside the project
    (or not a possible file name: one holding a NUL byte)."""
    try:
        image = os.path.realpath(dataset.root / record.path)
    except ValueError:  # an embedded NUL byte
        return None
    rel = os.path.relpath(image, os.path.realpath(store_root))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        return None
    rel = Path(rel).as_posix()
    return rel if record.frame_index is None else f"{rel}#{record.frame_index}"


def _true_size(store_root: Path, target: ImageRecord, rec: ImageRecord) -> tuple[int, int] | None:
    """The project image's size: the store's, else the file header's, else the dataset's."""
    if target.width is not None and target.height is not None:
        return target.width, target.height
    if target.frame_index is None:
        try:
            return image_size(store_root / target.path)
        except MediaError:
            pass
    if rec.width and rec.height:
        return rec.width, rec.height
    return None


def import_annotations(
    store: object,
    path: str | Path,
    fmt: str | None = None,
    mode: str = "replace",
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    images: str | Path | None = None,
) -> ImportResult:
    """Import the boxes of dataset ``path`` into ``store`` (a ProjectStore or Project);
    ``images``: the folder COCO ``file_name`` entries are relative to (``load_dataset``).

    Raises ``FormatError`` for a malformed dataset or a box with nothing inside
    its image (naming the file and the image), ``Cancelled`` on cancel; in
    every such case the project is unchanged.
    """
    if mode not in IMPORT_MODES:
        raise UserError(f"unknown import mode {mode!r}; use one of {', '.join(IMPORT_MODES)}")
    project = cast("ProjectStore", getattr(store, "store", store))
    dataset = load_dataset(path, fmt, images=images)
    result = ImportResult(warnings=list(dataset.warnings))
    plan = _plan_import(project, dataset, dataset.source or Path(path), result, progress, cancel)
    check_cancel(cancel)
    total = len(dataset.images)
    report(progress, total, total, "importing")
    _apply_import(project, dataset.label_map, plan, mode, result)
    report(progress, total, total, "imported")
    return result


#: An import's edits, checked: per project key, the image's true size (None: unknown) and its new boxes.
_Plan = dict[str, tuple[tuple[int, int] | None, list[Annotation]]]


def _plan_import(store: ProjectStore, dataset: Dataset, source: Path, result: ImportResult,
                 progress: ProgressFn | None, cancel: threading.Event | None) -> _Plan:
    """Every check before the first edit: which records of ``dataset`` are images (or frames)
    of the project, of the size the dataset says, and their boxes clipped to them (a box
    with nothing inside raises ``FormatError``). Records left out are listed in ``result``."""
    root = store.root
    plan: _Plan = {}
    total = len(dataset.images)
    for i, rec in enumerate(dataset.images):
        check_cancel(cancel)
        report(progress, i, total, f"reading {rec.path}")
        key = project_key(root, dataset, rec)
        image, frame = split_key(key) if key is not None else (rec.path, None)
        if key is None or not (root / image).is_file():
            result.skipped.append(f"{dataset.root / rec.path}: not a file of the project")
            continue
        if frame is None and store.is_video(image):
            result.skipped.append(f"{dataset.root / rec.path}: a video (boxes belong to its frames)")
            continue
        # the live record if it exists; a new one is only made when applying
        target = store.record(key) if store.has(key) else ImageRecord(image, frame_index=frame)
        size = _true_size(root, target, rec)
        if size is not None and rec.width and rec.height and (rec.width, rec.height) != size:
            result.skipped.append(f"{dataset.root / rec.path}: the dataset says {rec.width}x{rec.height}, "
                                  f"the image is {size[0]}x{size[1]}")
            continue
        width, height = size or (None, None)
        sized = ImageRecord(target.path, width, height, frame_index=target.frame_index)
        fresh = _checked_boxes(source, rec, sized)
        plan[key] = (size, plan.get(key, (size, []))[1] + fresh)  # the same image twice: boxes of both
    return plan


def _checked_boxes(source: Path, rec: ImageRecord, sized: ImageRecord) -> list[Annotation]:
    """The boxes of dataset record ``rec``, each clipped to the image ``sized`` describes;
    ``FormatError`` (naming the file, image and box) for one with nothing inside it."""
    fresh = []
    for k, a in enumerate(rec.annotations, start=1):
        try:
            box = sized.validated_box(a.box)
        except BoxError as exc:
            raise FormatError(f"{source}: image {rec.path}, box #{k} ({a.label}): {exc}") from None
        fresh.append(Annotation(box, a.label, a.source, a.score))
    return fresh


def _apply_import(store: ProjectStore, labels: LabelMap, plan: _Plan, mode: str, result: ImportResult) -> None:
    """Make the planned edits (they cannot fail: checked before) in one transaction on disk."""
    with store.batch():
        for name in labels if plan else ():  # every image skipped: the project is left as it was
            store.add_label(name)
        for key, (size, fresh) in plan.items():
            target = store.record(key)
            if size is not None and (target.width, target.height) != size:
                store.set_size(key, *size)
            new = fresh if mode == "replace" else [*target.annotations, *fresh]
            store.set_annotations(key, new)
            if target.state in (ItemState.NOT_SEEN, ItemState.DETECTED):
                store.set_state(key, ItemState.EDITED)
            result.images += 1
            result.annotations += len(fresh)


def find_dataset(folder: str | Path) -> Path | None:
    """A dataset lying next to the images of project ``folder``, found by names
    only (nothing is parsed): the folder's COCO file (``annotations.json``, ...),
    the folder itself when it holds VOC ``Annotations/`` or XML, YOLO
    ``data.yaml`` / ``classes.txt`` or LabelMe JSON files, else a COCO file
    named like ``annotations.json`` in its parent (a project opened at
    ``images/``). ``None`` when there is none."""
    folder = Path(folder)
    try:
        fmt = detect_format(folder)
    except (FormatError, OSError):
        fmt = None
    if fmt == "coco":
        return find_coco_json(folder) or folder
    if fmt is not None:
        return folder
    for name in COCO_JSON_NAMES:
        if (folder.parent / name).is_file():
            return folder.parent / name
    return None


def project_as_dataset(store: object, reviewed_only: bool = True) -> Dataset:
    """The project's records as a :class:`Dataset` rooted at the project folder
    (``reviewed_only``: records edited, verified or with boxes)."""
    store = getattr(store, "store", store)
    records = [r for r in store.records()  # type: ignore[attr-defined]
               if not reviewed_only or r.annotations or r.state in (ItemState.EDITED, ItemState.VERIFIED)]
    from detector_app.domain.labels import LabelMap

    return Dataset(Path(store.root), LabelMap(list(store.label_map.names)), records,  # type: ignore[attr-defined]
                   format="project", source=Path(store.root))  # type: ignore[attr-defined]


__all__ = ["IMPORT_MODES", "ImportResult", "find_dataset", "import_annotations", "project_as_dataset", "project_key"]
