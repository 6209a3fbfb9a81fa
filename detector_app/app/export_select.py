"""Choosing what an export writes: which records, with which boxes, in which split.

Records a person touched (``edited`` / ``verified``, or with annotations);
``verified_only`` keeps only ``verified`` ones; unverified model boxes are dropped
unless ``include_model_boxes``; image references leaving the dataset's folder stay
out unless ``allow_outside``; ``split`` draws a seeded train/val assignment.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

from detector_app.app.export_options import ExportError, ExportOptions
from detector_app.app.project import Project
from detector_app.app.store import ProjectStore
from detector_app.domain.annotations import AnnotationSource, ImageRecord, ItemState
from detector_app.domain.labels import LabelMap
from detector_app.formats import Dataset
from detector_app.formats.dataset import reference_inside

#: What can be exported: a project (its store or the ``Project``), a ``Dataset``, or records
#: (with the folder their paths are relative to).
ExportSource = ProjectStore | Project | Dataset | Sequence[ImageRecord]


def source_records(source: ExportSource, root: Path | None, label_map: LabelMap | None
                   ) -> tuple[Path, Path, LabelMap, list[ImageRecord], bool]:
    """``(root, home, labels, records, from_project)`` of a store, a Project, a Dataset
    or records; ``home`` is the folder their image references must stay within."""
    store = source.store if isinstance(source, Project) else source
    if isinstance(store, ProjectStore):
        return Path(store.root), Path(store.root), LabelMap(list(store.label_map.names)), list(store.records()), True
    if isinstance(store, Dataset):
        return Path(store.root), store.home, LabelMap(list(store.label_map.names)), list(store.images), False
    if root is None:
        raise ExportError("exporting plain records needs root= (the folder their paths are relative to)")
    records = list(store)
    lm = LabelMap(list(label_map.names)) if label_map is not None else LabelMap()
    for rec in records:
        for ann in rec.annotations:
            lm.add(ann.label)
    return Path(root), Path(root), lm, records, False


def contained_records(records: Sequence[ImageRecord], root: Path, home: Path, image_mode: str,
                      skipped: list[str]) -> list[ImageRecord]:
    """The records whose image may go into the export: those whose reference stays
    inside ``home`` (``reference_inside``), and with ``image_mode="relative"`` also
    those outside whose pixels are not written (the export then holds only the path,
    as that mode's own outputs do; video frames are always written, so checked).
    Each left out is listed in ``skipped`` with the way out (``--allow-outside``)."""
    out = []
    real_dirs: dict[str, str] = {}
    for rec in records:
        if ((image_mode == "relative" and rec.frame_index is None)
                or reference_inside(home, root, rec.path, real_dirs)):
            out.append(rec)
        else:
            where = rec.path if root == home else os.path.join(root, rec.path)
            skipped.append(f"{where}: outside {home} (an image reference or link leaving the dataset's folder "
                           "is not exported; --allow-outside, or the export dialog's \"Include images linked from "
                           "outside the project\", exports it)")
    return out


def select_records(records: Sequence[ImageRecord], options: ExportOptions, from_project: bool,
                   skipped: list[str] | None = None) -> list[ImageRecord]:
    """The records to export, with the boxes to export (copies; inputs untouched).

    An image whose boxes are all left out (unverified model boxes without
    ``include_model_boxes``) is left out too, never written as an image with no
    objects (a false negative in a training set); ``skipped`` gets why."""
    out = []
    for rec in records:
        if options.verified_only and rec.state is not ItemState.VERIFIED:
            continue
        reviewed = rec.state in (ItemState.EDITED, ItemState.VERIFIED) or bool(rec.annotations)
        if from_project and not reviewed:
            continue
        anns = [a for a in rec.annotations
                if options.include_model_boxes or rec.state is ItemState.VERIFIED
                or a.source is not AnnotationSource.MODEL]
        if rec.annotations and not anns:
            if skipped is not None:
                skipped.append(f"{rec.key}: only unverified model boxes (verify the image, or include model boxes)")
            continue
        out.append(ImageRecord(rec.path, rec.width, rec.height, anns, rec.state, rec.frame_index))
    return out


def split_keys(keys: Sequence[str], train_fraction: float, seed: int) -> dict[str, str]:
    """Seeded train/val assignment; both parts non-empty when there are >= 2 keys."""
    order = sorted(keys)
    random.Random(seed).shuffle(order)
    n_train = int(round(len(order) * train_fraction))
    if len(order) >= 2:
        n_train = min(max(n_train, 1), len(order) - 1)
    return {k: ("train" if i < n_train else "val") for i, k in enumerate(order)}


__all__ = ["contained_records", "select_records", "source_records", "split_keys"]
