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
sibling folder renamed to ``out_dir`` at the end (over an existing export in
one atomic exchange where the file system has one: a kill at any moment leaves
the old export or the new one); a cancel or an error leaves no partial output
(and an existing ``out_dir`` untouched unless ``overwrite``).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from detector_app.domain.annotations import AnnotationSource, ImageRecord, ItemState
from detector_app.domain.boxes import Box
from detector_app.domain.errors import MediaError, UserError
from detector_app.domain.fsutil import exchange_paths, fsync_dir, process_alive, sync_tree
from detector_app.domain.imageheader import read_header_size
from detector_app.domain.labels import LabelMap
from detector_app.domain.progress import ProgressFn, check_cancel, report
from detector_app.formats import Dataset, unique_stems, write_coco, write_voc, write_yolo
from detector_app.formats.dataset import RENAMED_FILE, WRITABLE_FORMATS, reference_inside, write_text_file
from detector_app.formats.yolo import darknet_image_dir, write_darknet, yolo_layout
from detector_app.media.images import write_image
from detector_app.media.imagesize import image_size
from detector_app.media.video import VideoReader

IMAGE_MODES = ("copy", "symlink", "relative")


class ExportError(UserError):
    """An export that cannot be done as asked (names the folder and the reason)."""


#: How a YOLO export is laid out (``ExportOptions.yolo_layout``).
YOLO_LAYOUTS = ("ultralytics", "darknet")
#: How a COCO export is laid out (``ExportOptions.coco_layout``).
COCO_LAYOUTS = ("flat", "standard")


@dataclass
class ExportOptions:
    """How to export; see the module docstring."""

    split: float | None = None
    seed: int = 0
    verified_only: bool = False
    include_model_boxes: bool = False
    image_mode: str = "copy"
    overwrite: bool = False
    #: Copy / symlink images an annotation file (or project) names outside its own
    #: folder (``../..``, absolute paths, symbolic links leading out of it, a YOLO ``path:``
    #: naming another folder). Off: they are left out and listed, so a
    #: dataset from elsewhere cannot pull other files into an export (``relative``
    #: exports only write the path, and keep such references).
    allow_outside: bool = False
    #: YOLO only: ``"ultralytics"`` (``images/``, ``labels/``, ``data.yaml``) or ``"darknet"``
    #: (``obj.data``, ``obj.names``, ``obj_<split>_data/``: what CVAT imports as "YOLO 1.1").
    yolo_layout: str = "ultralytics"
    #: COCO only: ``"standard"`` (default: ``annotations/instances_<split>.json`` +
    #: ``images/<split>/``, split ``default`` without one: the layout of CVAT's "COCO 1.0")
    #: or ``"flat"`` (``annotations.json`` + ``images/``; with a split, one such in
    #: ``train/`` and ``val/``; the only one for ``image_mode="relative"``).
    coco_layout: str = "standard"

    def validate(self, fmt: str) -> None:
        if self.split is not None and not 0.0 < float(self.split) < 1.0:
            raise ExportError(f"split must be between 0 and 1 (the train fraction), got {self.split}")
        if self.image_mode not in IMAGE_MODES:
            raise ExportError(f"unknown image mode {self.image_mode!r}; use one of {', '.join(IMAGE_MODES)}")
        if self.yolo_layout not in YOLO_LAYOUTS:
            raise ExportError(f"unknown YOLO layout {self.yolo_layout!r}; use one of {', '.join(YOLO_LAYOUTS)}")
        if self.coco_layout not in COCO_LAYOUTS:
            raise ExportError(f"unknown COCO layout {self.coco_layout!r}; use one of {', '.join(COCO_LAYOUTS)}")
        if fmt == "coco" and self.coco_layout == "standard" and self.image_mode == "relative":
            raise ExportError("the standard COCO layout keeps the images in images/<split>/: use copy or symlink "
                              "(or the flat layout, --coco-layout flat, to refer to the images where they are)")
        if fmt == "yolo" and self.image_mode == "relative":
            raise ExportError("YOLO needs the images inside the dataset (labels sit beside them): "
                              "use copy or symlink")


@dataclass
class ExportResult:
    """What an export wrote."""

    out_dir: Path
    format: str
    images: int = 0
    annotations: int = 0
    split_counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    #: Images written under another name than their own (names that collided get their
    #: folders as a prefix; characters a file name should not hold become ``_``; the
    #: extension is lower-cased): ``{path in the export: original path or video#frame}``, also
    #: written to ``RENAMED_FILE`` (``renamed.json``) at the top of the export.
    renamed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.split_counts.items()))
        text = f"{self.images} images, {self.annotations} boxes as {self.format} in {self.out_dir}"
        text += f" ({parts})" if parts else ""
        if self.renamed:
            text += f"; {len(self.renamed)} images renamed (new name -> original in {RENAMED_FILE})"
        return text + (f"; {len(self.skipped)} skipped" if self.skipped else "")


# -- choosing what goes out -----------------------------------------------------------
def _source_records(source: Any, root: Path | None, label_map: LabelMap | None
                    ) -> tuple[Path, Path, LabelMap, list[ImageRecord], bool]:
    """``(root, home, labels, records, from_project)`` of a store, a Project, a Dataset
    or records; ``home`` is the folder their image references must stay within."""
    store = getattr(source, "store", source)
    if hasattr(store, "records") and hasattr(store, "label_map") and hasattr(store, "root"):
        return Path(store.root), Path(store.root), LabelMap(list(store.label_map.names)), list(store.records()), True
    if isinstance(source, Dataset):
        return Path(source.root), source.home, LabelMap(list(source.label_map.names)), list(source.images), False
    if root is None:
        raise ExportError("exporting plain records needs root= (the folder their paths are relative to)")
    records = list(source)
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
                           "is not exported; --allow-outside exports it)")
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


# -- writing ---------------------------------------------------------------------------
class _Placer:
    """Puts image files into the staging folder: ``copy`` (contents only, no
    metadata: ``shutil.copyfile``) or ``symlink`` (a relative link, valid once
    the staging folder, a sibling of the output folder, is renamed to it).
    Folders are created once each, and resolved once each for the links."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.real_dirs: dict[str, str] = {}

    def place(self, src: str, dst_dir: str, name: str) -> None:
        real = self.real_dirs.get(dst_dir)
        if real is None:
            os.makedirs(dst_dir, exist_ok=True)
            real = self.real_dirs[dst_dir] = os.path.realpath(dst_dir)
        dst = os.path.join(dst_dir, name)
        if self.mode == "symlink":
            os.symlink(os.path.relpath(os.path.realpath(src), real), dst)
        else:
            shutil.copyfile(src, dst)


class RecordFrames:
    """Reads video frames for export, one open reader per video at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path: str | None = None
        self.reader: VideoReader | None = None

    def read(self, rec: ImageRecord) -> Any:
        if self.path != rec.path:
            self.close()
            self.reader = VideoReader(self.root / rec.path)
            self.path = rec.path
        assert self.reader is not None and rec.frame_index is not None
        return self.reader.read(rec.frame_index)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        self.reader, self.path = None, None


def _image_dir(fmt: str, part: str | None, yolo: str = "ultralytics", coco: str = "flat") -> str:
    if fmt == "coco" and coco == "standard":
        return f"images/{part or 'default'}"
    if fmt == "voc":
        return "JPEGImages"
    if fmt == "yolo" and yolo == "darknet":
        return darknet_image_dir(part)
    if fmt == "yolo":
        return str(Path(yolo_layout("x", ".png", part)[0]).parent)
    return f"{part}/images" if part else "images"


def export_dataset(
    source: Any,
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
    src_root, home, labels, records, from_project = _source_records(source, Path(root) if root else None,
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
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{os.getpid()}.", suffix=".tmp", dir=str(out_dir.parent)))
    try:
        result = _export_into(tmp, out_dir, fmt, src_root, labels, chosen, options, progress, cancel,
                              trust_sizes=from_project)
        result.skipped[:0] = left_out
        check_cancel(cancel)
        sync_tree(tmp)  # one sync for all files, then the folder appears whole
        _swap_in(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


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


#: Staging folders of an export into ``OUT``: ``.OUT.<pid>.<random>.tmp`` and, while the old
#: ``OUT`` is swapped out, ``.OUT.old.<pid>``.
_STAGING = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)\.[^.]+\.tmp|old\.(?P<old>\d+))$")
#: A staging folder without a pid in its name (written before it had one) counts as left over after this.
_LEGACY_STALE_S = 600.0


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove the staging folders that killed exports into ``out_dir`` left beside it
    (hidden, up to thousands of files each; nothing else ever removes them): those of
    processes that no longer exist, and nameless-pid ones older than ten minutes.
    A live export's folders are left alone. Returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(out_dir.parent))
    except OSError:
        return removed
    for entry in entries:
        m = _STAGING.match(entry.name)
        if m is None or m.group("name") != out_dir.name or not entry.is_dir(follow_symlinks=False):
            continue
        pid = int(m.group("pid") or m.group("old"))
        if pid == os.getpid() or process_alive(pid):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    for entry in entries:  # the pid-less form of earlier versions: .OUT.<random>.tmp
        if (entry.name.startswith(f".{out_dir.name}.") and entry.name.endswith(".tmp")
                and _STAGING.match(entry.name) is None and entry.is_dir(follow_symlinks=False)):
            try:
                old = time.time() - entry.stat(follow_symlinks=False).st_mtime > _LEGACY_STALE_S
            except OSError:
                continue
            if old:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(Path(entry.path))
    return removed


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Put the staged export ``tmp`` at ``out_dir``. Over an existing export, in one
    atomic exchange where the file system has one (a kill at any moment leaves the old
    export or the new one at ``out_dir``; the old one, now at ``tmp``, is removed after,
    or by the next export); elsewhere in two renames, whose gap
    :func:`restore_swapped_out` closes the next time."""
    old = None
    if out_dir.exists():
        if exchange_paths(tmp, out_dir):
            fsync_dir(out_dir.parent)
            shutil.rmtree(tmp, ignore_errors=True)
            return
        old = out_dir.with_name(f".{out_dir.name}.old.{os.getpid()}")
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    fsync_dir(out_dir.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def restore_swapped_out(out_dir: Path) -> Path | None:
    """An export killed between its two renames (no atomic exchange) left ``out_dir``
    missing and the previous export at ``.OUT.old.<pid>``: put it back (before anything
    else looks at ``out_dir``). Returns what was restored."""
    if out_dir.exists():
        return None
    try:
        entries = list(os.scandir(out_dir.parent))
    except OSError:
        return None
    for entry in entries:
        m = _STAGING.match(entry.name)
        if (m is not None and m.group("name") == out_dir.name and m.group("old")
                and not process_alive(int(m.group("old"))) and entry.is_dir(follow_symlinks=False)):
            os.replace(entry.path, out_dir)
            fsync_dir(out_dir.parent)
            return Path(entry.path)
    return None


def _export_into(tmp: Path, final: Path, fmt: str, src_root: Path, labels: LabelMap,
                 chosen: list[ImageRecord], options: ExportOptions,
                 progress: ProgressFn | None, cancel: threading.Event | None,
                 trust_sizes: bool = True) -> ExportResult:
    """Place the images and write the annotation files into ``tmp`` (staged:
    no per-file atomic writes; the caller syncs ``tmp`` once and renames it).
    ``trust_sizes``: the records' sizes came from the image headers (a project);
    otherwise (a dataset being converted) each declared size is checked against
    the image's header, and an image whose size differs is skipped, since its
    boxes (YOLO's normalised ones above all) would be moved or collapsed.
    Plain string paths and one ``os`` call per file where possible: this loop
    runs once per image (the benchmarks export 10,000)."""
    result = ExportResult(final, fmt)
    split = split_keys([r.key for r in chosen], options.split, options.seed) if options.split else {}
    stems = unique_stems(chosen)
    frames = RecordFrames(src_root)
    placer = _Placer(options.image_mode)
    placed: list[tuple[ImageRecord, str, str]] = []  # (record with its new path under tmp, stem, old key)
    src_base, tmp_base = str(src_root), str(tmp)
    image_dirs = {part: _image_dir(fmt, part, options.yolo_layout, options.coco_layout)
                  for part in (None, "train", "val")}
    total = len(chosen)
    try:
        for i, (rec, stem) in enumerate(zip(chosen, stems)):
            check_cancel(cancel)
            report(progress, i, total, f"exporting {rec.key}")
            part = split.get(rec.key)
            src = os.path.join(src_base, rec.path)
            try:
                if rec.frame_index is not None:
                    rgb = frames.read(rec)
                    rel = f"{image_dirs[part]}/{stem}.png"
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    write_image(tmp / rel, rgb)
                    width, height = int(rgb.shape[1]), int(rgb.shape[0])
                else:
                    if not os.path.isfile(src):
                        raise MediaError(f"{src}: no such file")
                    if rec.width and rec.height and trust_sizes:
                        width, height = rec.width, rec.height
                    else:
                        width, height = _real_size(src, rec)
                    if options.image_mode == "relative":
                        rel = os.path.relpath(os.path.abspath(src), tmp)  # same depth as the final folder
                    else:
                        name = f"{stem}{os.path.splitext(src)[1].lower()}"
                        rel = f"{image_dirs[part]}/{name}"
                        placer.place(src, os.path.join(tmp_base, image_dirs[part]), name)
            except MediaError as exc:
                result.skipped.append(str(exc))
                continue
            new = ImageRecord(rel.replace(os.sep, "/"), width, height, [], rec.state, None)
            if _renamed(rec, new.path, options.image_mode):
                result.renamed[new.path] = rec.key
            try:
                new.annotations = [a if _inside(a.box, width, height) else replace(a, box=new.validated_box(a.box))
                                   for a in rec.annotations]
            except UserError as exc:
                result.skipped.append(f"{rec.key}: {exc}")
                continue
            placed.append((new, stem, rec.key))
            if part:
                result.split_counts[part] = result.split_counts.get(part, 0) + 1
    finally:
        frames.close()
    if not placed:
        raise ExportError(f"nothing exported: {'; '.join(result.skipped[:3])}")
    report(progress, total, total, "writing annotation files")
    new_split = {new.key: split[old] for new, _, old in placed if old in split}
    images = [new for new, _, _ in placed]
    stems_out = [stem for _, stem, _ in placed]
    if fmt == "coco" and options.coco_layout == "standard":
        for part in ("train", "val") if split else ("default",):
            sub = [r for r in images if new_split.get(r.key, "default") == part]
            write_coco(Dataset(tmp, labels, sub), tmp / "annotations" / f"instances_{part}.json", staged=True,
                       image_base=tmp / "images" / part)
    elif fmt == "coco":
        if split:
            for part in ("train", "val"):
                sub = [r for r in images if new_split.get(r.key) == part]
                sub_ds = Dataset(tmp / part, labels, [_rebased(r, part) for r in sub])
                write_coco(sub_ds, tmp / part / "annotations.json", staged=True)
        else:
            write_coco(Dataset(tmp, labels, images), tmp / "annotations.json", staged=True)
    elif fmt == "voc":
        write_voc(Dataset(tmp, labels, images, split=new_split), tmp, stems_out, staged=True)
    else:
        if options.yolo_layout == "darknet":
            write_darknet(Dataset(tmp, labels, images, split=new_split), tmp, stems_out, staged=True)
        else:
            write_yolo(Dataset(tmp, labels, images, split=new_split), tmp, stems_out, final_dir=final,
                       staged=True)
    kept = {new.path for new, _, _ in placed}
    result.renamed = {k: v for k, v in result.renamed.items() if k in kept}
    if result.renamed:
        write_text_file(tmp / RENAMED_FILE, json.dumps(dict(sorted(result.renamed.items())), indent=1,
                                                       ensure_ascii=False) + "\n", staged=True)
    result.images = len(images)
    result.annotations = sum(len(r.annotations) for r in images)
    return result


def _renamed(rec: ImageRecord, new_path: str, image_mode: str) -> bool:
    """Whether the export writes ``rec``'s image under another name than its own: an image
    copied or linked under a name other than its file name, a video frame under another
    than ``<video>_f<frame>.png`` (names that collided, above all). Images referred to where
    they are (``relative``) keep their path. (Also a name made portable by ``unique_stems``.)"""
    new_name = new_path.rsplit("/", 1)[-1]
    if rec.frame_index is not None:
        video = rec.path.rsplit("/", 1)[-1]
        stem = video.rsplit(".", 1)[0] if "." in video.strip(".") else video
        return new_name != f"{stem}_f{rec.frame_index:06d}.png"
    if image_mode == "relative":
        return False
    return new_name != rec.path.rsplit("/", 1)[-1]


def _real_size(src: str, rec: ImageRecord) -> tuple[int, int]:
    """The image's size from its header; :class:`MediaError` when the dataset declared another."""
    if not (rec.width and rec.height):
        return image_size(Path(src))
    try:
        real = read_header_size(src)
    except OSError as exc:
        raise MediaError(f"{src}: cannot read ({exc.strerror or exc})") from None
    if real is None:  # a header this reader does not know (TIFF): the declared size stands, nothing decoded
        return rec.width, rec.height
    if (rec.width, rec.height) != tuple(real):
        raise MediaError(f"{src}: the dataset says {rec.width}x{rec.height}, the image is {real[0]}x{real[1]} "
                         "(its boxes would be misplaced); fix the size in the annotation file")
    return int(real[0]), int(real[1])


def _inside(box: Box, width: int, height: int) -> bool:
    """``box`` lies within the image (clipping would not change it)."""
    return box.x1 >= 0.0 and box.y1 >= 0.0 and box.x2 <= width and box.y2 <= height


def _rebased(rec: ImageRecord, part: str) -> ImageRecord:
    """A record whose path is relative to ``tmp/part`` instead of ``tmp``."""
    path = rec.path[len(part) + 1:] if rec.path.startswith(f"{part}/") else f"../{rec.path}"
    return ImageRecord(path, rec.width, rec.height, rec.annotations, rec.state, None)


__all__ = ["ExportError", "ExportOptions", "ExportResult", "IMAGE_MODES", "export_dataset", "select_records",
           "split_keys"]
