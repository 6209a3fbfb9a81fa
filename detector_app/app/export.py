"""Export a project (or any records) as a COCO, Pascal VOC or YOLO dataset.

``export_dataset(source, fmt, out_dir, options, progress, cancel)`` is a long
job (see ``domain/progress.py``). What it does, by :class:`ExportOptions`:

* which images: records a person touched (``edited`` / ``verified``, or with
  annotations); ``verified_only`` keeps only ``verified`` ones. Images never
  reviewed are left out. Missing image files are skipped and listed.
* which boxes: all annotations, except that ``include_model_boxes=False``
  drops accepted-but-unchanged model boxes (source ``model``) on images not
  verified (verifying an image confirms its boxes).
* split: ``split=0.8`` puts a seeded random 80 % in ``train``, the rest in
  ``val`` (the same seed gives the same split); ``None`` writes no split.
* images: ``copy`` (default), ``symlink``, or ``relative`` (annotation
  files refer to the originals by relative path; not possible for YOLO,
  whose labels sit beside the images). Video frames are always written out
  as PNG files (``frames/`` or the format's image folder).

Layouts: COCO, by default the standard layout of CVAT's "COCO 1.0"
(``annotations/instances_<split>.json`` + ``images/<split>/``, split ``default``
without one), or ``coco_layout="flat"``: ``annotations.json`` + ``images/`` (with a
split, one such dataset in ``train/`` and one in ``val/``); VOC ``Annotations/``,
``JPEGImages/``, ``ImageSets/Main/``; YOLO ``images/``, ``labels/``,
``data.yaml``, ``classes.txt``.

The export is atomic as a whole: everything is written into a temporary
sibling folder renamed to ``out_dir`` at the end; a cancel or an error
leaves no partial output (and an existing ``out_dir`` untouched unless
``overwrite``).

Pieces: ``export_options`` (options, result), ``export_select`` (which records and
boxes, the split), ``export_images`` (images into the staging folder),
``export_staging`` (the staging folder and the swap); this module runs them and
writes the annotation files.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from detector_app.app.export_images import ImageStager, RecordFrames, renamed
from detector_app.app.export_options import (
    COCO_LAYOUTS,
    IMAGE_MODES,
    YOLO_LAYOUTS,
    ExportError,
    ExportOptions,
    ExportResult,
)
from detector_app.app.export_select import ExportSource, contained_records, select_records, source_records, split_keys
from detector_app.app.export_staging import new_staging_dir, remove_stale_staging, restore_swapped_out, swap_in
from detector_app.domain.annotations import Annotation, ImageRecord
from detector_app.domain.boxes import Box
from detector_app.domain.errors import MediaError, UserError
from detector_app.domain.fsutil import sync_tree
from detector_app.domain.labels import LabelMap
from detector_app.domain.progress import ProgressFn, check_cancel, report
from detector_app.formats import Dataset, unique_stems, write_coco, write_voc, write_yolo
from detector_app.formats.darknet import write_darknet
from detector_app.formats.dataset import RENAMED_FILE, WRITABLE_FORMATS, write_text_file

#: An image put in the staging folder: its record there (new path), its stem, its key in the source.
_Placed = tuple[ImageRecord, str, str]


def export_dataset(
    source: ExportSource,
    fmt: str,
    out_dir: str | Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    *,
    root: str | Path | None = None,
    label_map: LabelMap | None = None,
) -> ExportResult:
    """Export ``source`` (ProjectStore, Project, Dataset, or records with ``root``)
    as ``fmt`` into ``out_dir``. See the module docstring. Raises
    :class:`ExportError` / :class:`Cancelled`; partial output is removed."""
    fmt = fmt.lower()
    options = options or ExportOptions()
    if fmt not in WRITABLE_FORMATS:
        raise ExportError(f"cannot export as {fmt!r}; formats: {', '.join(WRITABLE_FORMATS)}")
    options.validate(fmt)
    out_dir = Path(out_dir).absolute()
    restore_swapped_out(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not options.overwrite:
        raise ExportError(f"{out_dir}: already exists and is not empty (choose another folder or overwrite)")
    src_root, home, labels, records, from_project = source_records(source, Path(root) if root else None,
                                                                   label_map)
    _check_not_a_source(out_dir, (src_root, home))
    left_out: list[str] = []
    if not options.allow_outside:
        records = contained_records(records, src_root, home, options.image_mode, left_out)
    chosen = select_records(records, options, from_project, left_out)
    if not chosen:
        raise ExportError(f"nothing to export from {src_root}: no reviewed images"
                          + (" that are verified" if options.verified_only else "")
                          + (f"; left out: {'; '.join(left_out[:3])}" if left_out else ""))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_dir)
    tmp = new_staging_dir(out_dir)
    try:
        result = _export_into(tmp, out_dir, fmt, src_root, labels, chosen, options, progress, cancel,
                              trust_sizes=from_project)
        result.skipped[:0] = left_out
        check_cancel(cancel)
        sync_tree(tmp)  # one sync for all files, then the folder appears whole
        swap_in(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def _export_into(tmp: Path, final: Path, fmt: str, src_root: Path, labels: LabelMap,
                 chosen: list[ImageRecord], options: ExportOptions,
                 progress: ProgressFn | None, cancel: threading.Event | None,
                 trust_sizes: bool = True) -> ExportResult:
    """Place the images and write the annotation files into ``tmp`` (staged:
    no per-file atomic writes; the caller syncs ``tmp`` once and renames it).
    ``trust_sizes``: see :class:`ImageStager`."""
    result = ExportResult(final, fmt)
    split = split_keys([r.key for r in chosen], options.split, options.seed) if options.split else {}
    stager = ImageStager(tmp, src_root, fmt, options, trust_sizes)
    try:
        placed = _stage_images(stager, chosen, split, options.image_mode, result, progress, cancel)
    finally:
        stager.close()
    if not placed:
        raise ExportError(f"nothing exported: {'; '.join(result.skipped[:3])}")
    report(progress, len(chosen), len(chosen), "writing annotation files")
    new_split = {new.key: split[old] for new, _, old in placed if old in split}
    images = [new for new, _, _ in placed]
    _write_annotation_files(tmp, final, fmt, Dataset(tmp, labels, images, split=new_split),
                            [stem for _, stem, _ in placed], options)
    kept = {new.path for new, _, _ in placed}
    result.renamed = {k: v for k, v in result.renamed.items() if k in kept}
    if result.renamed:
        write_text_file(tmp / RENAMED_FILE, json.dumps(dict(sorted(result.renamed.items())), indent=1,
                                                       ensure_ascii=False) + "\n", staged=True)
    result.images = len(images)
    result.annotations = sum(len(r.annotations) for r in images)
    return result


def _stage_images(stager: ImageStager, chosen: list[ImageRecord], split: dict[str, str], image_mode: str,
                  result: ExportResult, progress: ProgressFn | None,
                  cancel: threading.Event | None) -> list[_Placed]:
    """Put each chosen record's image in the staging folder, its boxes clipped to the image.
    Records that cannot be exported are listed in ``result.skipped``; ``result.renamed``
    and ``result.split_counts`` are filled in."""
    placed: list[_Placed] = []
    total = len(chosen)
    for i, (rec, stem) in enumerate(zip(chosen, unique_stems(chosen))):
        check_cancel(cancel)
        report(progress, i, total, f"exporting {rec.key}")
        part = split.get(rec.key)
        try:
            rel, width, height = stager.stage(rec, stem, part)
        except MediaError as exc:
            result.skipped.append(str(exc))
            continue
        new = ImageRecord(rel.replace(os.sep, "/"), width, height, [], rec.state, None)
        if renamed(rec, new.path, image_mode):
            result.renamed[new.path] = rec.key
        try:
            new.annotations = _clipped(rec.annotations, new, width, height)
        except UserError as exc:
            result.skipped.append(f"{rec.key}: {exc}")
            continue
        placed.append((new, stem, rec.key))
        if part:
            result.split_counts[part] = result.split_counts.get(part, 0) + 1
    return placed


def _clipped(annotations: list[Annotation], rec: ImageRecord, width: int, height: int) -> list[Annotation]:
    """``annotations`` with each box outside ``rec``'s ``width x height`` image clipped to it
    (``rec.validated_box``: :class:`UserError` for a box with nothing left inside)."""
    return [a if _inside(a.box, width, height) else replace(a, box=rec.validated_box(a.box))
            for a in annotations]


def _inside(box: Box, width: int, height: int) -> bool:
    """``box`` lies within the image (clipping would not change it)."""
    return box.x1 >= 0.0 and box.y1 >= 0.0 and box.x2 <= width and box.y2 <= height


def _write_annotation_files(tmp: Path, final: Path, fmt: str, staged: Dataset, stems: list[str],
                            options: ExportOptions) -> None:
    """Write the annotation files of ``staged`` (records with their paths under ``tmp``, the
    split by their keys) in ``fmt`` and its layout; ``final``: where ``tmp`` will be renamed to."""
    images, split, labels = staged.images, staged.split, staged.label_map
    if fmt == "coco" and options.coco_layout == "standard":
        for part in ("train", "val") if split else ("default",):
            sub = [r for r in images if split.get(r.key, "default") == part]
            write_coco(Dataset(tmp, labels, sub), tmp / "annotations" / f"instances_{part}.json", staged=True,
                       image_base=tmp / "images" / part)
    elif fmt == "coco" and split:
        for part in ("train", "val"):
            sub = [r for r in images if split.get(r.key) == part]
            write_coco(Dataset(tmp / part, labels, [_rebased(r, part) for r in sub]), tmp / part / "annotations.json",
                       staged=True)
    elif fmt == "coco":
        write_coco(Dataset(tmp, labels, images), tmp / "annotations.json", staged=True)
    elif fmt == "voc":
        write_voc(staged, tmp, stems, staged=True)
    elif options.yolo_layout == "darknet":
        write_darknet(staged, tmp, stems, staged=True)
    else:
        write_yolo(staged, tmp, stems, final_dir=final, staged=True)


def _rebased(rec: ImageRecord, part: str) -> ImageRecord:
    """A record whose path is relative to ``tmp/part`` instead of ``tmp``."""
    path = rec.path[len(part) + 1:] if rec.path.startswith(f"{part}/") else f"../{rec.path}"
    return ImageRecord(path, rec.width, rec.height, rec.annotations, rec.state, None)


def _check_not_a_source(out_dir: Path, sources: Sequence[Path]) -> None:
    """Refuse an output folder that is the dataset / project being exported or holds it:
    replacing it (``overwrite``) would delete the source, images and project store included."""
    out_real = os.path.realpath(out_dir)
    for src in sources:
        src_real = os.path.realpath(src)
        if src_real == out_real or src_real.startswith(out_real.rstrip(os.sep) + os.sep):
            what = "is" if src_real == out_real else "holds"
            raise ExportError(f"{out_dir}: the output folder {what} the dataset or project being exported "
                              f"({src}); choose a folder outside it")


__all__ = [
    "COCO_LAYOUTS", "ExportError", "ExportOptions", "ExportResult", "IMAGE_MODES", "RecordFrames", "YOLO_LAYOUTS",
    "contained_records", "export_dataset", "remove_stale_staging", "select_records", "split_keys",
]
