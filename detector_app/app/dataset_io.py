"""Bring annotations from a dataset file into a project, and a project's
records out as a :class:`Dataset` (the in-memory form the formats write).

``import_annotations(store, path)`` reads any supported dataset
(:func:`detector_app.formats.load_dataset`) and gives each image of it that
lies inside the project folder its boxes, either replacing what the image had
(``mode="replace"``) or adding to it (``"append"``); the image becomes
``edited`` (a ``verified`` one stays verified). Images outside the project are
skipped and listed. Each image is one store edit, saved like any other.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from detector_app.domain.annotations import Annotation, ImageRecord, ItemState
from detector_app.domain.errors import UserError
from detector_app.domain.progress import ProgressFn, check_cancel, report
from detector_app.formats import Dataset, load_dataset

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
        return text + (f"; {len(self.skipped)} images outside the project skipped" if self.skipped else "")


def project_key(store_root: Path, dataset: Dataset, record: ImageRecord) -> str | None:
    """The project key of a dataset record's image, or ``None`` if outside the project."""
    image = os.path.realpath(dataset.root / record.path)
    rel = os.path.relpath(image, os.path.realpath(store_root))
    if rel.startswith(".."):
        return None
    rel = Path(rel).as_posix()
    return rel if record.frame_index is None else f"{rel}#{record.frame_index}"


def import_annotations(
    store: object,
    path: str | Path,
    fmt: str | None = None,
    mode: str = "replace",
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> ImportResult:
    """Import the boxes of dataset ``path`` into ``store`` (a ProjectStore or Project).

    Raises ``FormatError`` for a malformed dataset (nothing is changed then:
    the file is read completely before the first edit).
    """
    if mode not in IMPORT_MODES:
        raise UserError(f"unknown import mode {mode!r}; use one of {', '.join(IMPORT_MODES)}")
    store = getattr(store, "store", store)
    dataset = load_dataset(path, fmt)
    result = ImportResult(warnings=list(dataset.warnings))
    for name in dataset.label_map:
        store.add_label(name)  # type: ignore[attr-defined]
    total = len(dataset.images)
    for i, rec in enumerate(dataset.images):
        check_cancel(cancel)
        report(progress, i, total, f"importing {rec.path}")
        key = project_key(store.root, dataset, rec)  # type: ignore[attr-defined]
        if key is None or not (store.root / key.split("#")[0]).exists():  # type: ignore[attr-defined]
            result.skipped.append(str(dataset.root / rec.path))
            continue
        target = store.record(key)  # type: ignore[attr-defined]
        if rec.width and rec.height and (target.width, target.height) != (rec.width, rec.height):
            store.set_size(key, rec.width, rec.height)  # type: ignore[attr-defined]
        fresh = [Annotation(a.box, a.label, a.source, a.score) for a in rec.annotations]
        new = fresh if mode == "replace" else [*target.annotations, *fresh]
        store.set_annotations(key, new)  # type: ignore[attr-defined]
        if target.state in (ItemState.NOT_SEEN, ItemState.DETECTED):
            store.set_state(key, ItemState.EDITED)  # type: ignore[attr-defined]
        result.images += 1
        result.annotations += len(fresh)
    report(progress, total, total, "imported")
    return result


def project_as_dataset(store: object, reviewed_only: bool = True) -> Dataset:
    """The project's records as a :class:`Dataset` rooted at the project folder
    (``reviewed_only``: records edited, verified or with boxes)."""
    store = getattr(store, "store", store)
    records = [r for r in store.records()  # type: ignore[attr-defined]
               if not reviewed_only or r.annotations or r.state in (ItemState.EDITED, ItemState.VERIFIED)]
    from detector_app.domain.labels import LabelMap

    return Dataset(Path(store.root), LabelMap(list(store.label_map.names)), records,  # type: ignore[attr-defined]
                   format="project", source=Path(store.root))  # type: ignore[attr-defined]


__all__ = ["IMPORT_MODES", "ImportResult", "import_annotations", "project_as_dataset", "project_key"]
