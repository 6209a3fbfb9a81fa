"""Putting each exported record's image into the staging folder.

Files are copied (contents only) or linked (``symlink``), or referred to where
they are (``relative``); video frames are always written out as PNG files. The
folder an image goes to depends on the format, its layout and the record's split.
Plain string paths and one ``os`` call per file where possible: this runs once per
image (the benchmarks export 10,000).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from detector_app.app.export_options import ExportOptions
from detector_app.domain.annotations import ImageRecord
from detector_app.domain.errors import MediaError
from detector_app.domain.imageheader import read_header_size
from detector_app.formats.darknet import darknet_image_dir
from detector_app.formats.yolo import yolo_layout
from detector_app.media.images import write_image
from detector_app.media.imagesize import image_size
from detector_app.media.video import VideoReader


class ImageStager:
    """Writes the images of one export into its staging folder ``tmp``: each record's
    image under ``<format's image folder>/<stem><ext>`` (``.png`` for a video frame).
    ``trust_sizes``: the records' sizes came from the image headers (a project);
    otherwise (a dataset being converted) each declared size is checked against the
    image's header, and an image whose size differs is refused, since its boxes
    (YOLO's normalised ones above all) would be moved or collapsed."""

    def __init__(self, tmp: Path, src_root: Path, fmt: str, options: ExportOptions, trust_sizes: bool) -> None:
        self.tmp, self.tmp_base, self.src_base = tmp, str(tmp), str(src_root)
        self.mode = options.image_mode
        self.trust_sizes = trust_sizes
        self.frames = RecordFrames(src_root)
        self.placer = _Placer(options.image_mode)
        self.image_dirs = {part: image_dir(fmt, part, options.yolo_layout, options.coco_layout)
                           for part in (None, "train", "val")}

    def stage(self, rec: ImageRecord, stem: str, part: str | None) -> tuple[str, int, int]:
        """Put ``rec``'s image in place: ``(path relative to tmp, width, height)``.
        Raises :class:`MediaError` for an image that cannot be exported (missing, unreadable,
        not the size declared)."""
        if rec.frame_index is not None:
            rgb = self.frames.read(rec)
            rel = f"{self.image_dirs[part]}/{stem}.png"
            (self.tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            write_image(self.tmp / rel, rgb)
            return rel, int(rgb.shape[1]), int(rgb.shape[0])
        src = os.path.join(self.src_base, rec.path)
        if not os.path.isfile(src):
            raise MediaError(f"{src}: no such file")
        if rec.width and rec.height and self.trust_sizes:
            width, height = rec.width, rec.height
        else:
            width, height = real_size(src, rec)
        if self.mode == "relative":
            rel = os.path.relpath(os.path.abspath(src), self.tmp)  # same depth as the final folder
        else:
            name = f"{stem}{os.path.splitext(src)[1].lower()}"
            rel = f"{self.image_dirs[part]}/{name}"
            self.placer.place(src, os.path.join(self.tmp_base, self.image_dirs[part]), name)
        return rel, width, height

    def close(self) -> None:
        """Close the video being read."""
        self.frames.close()


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

    def read(self, rec: ImageRecord) -> np.ndarray:
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


def image_dir(fmt: str, part: str | None, yolo: str = "ultralytics", coco: str = "flat") -> str:
    """The folder (relative to the export) of the images of split ``part`` (None: no split)."""
    if fmt == "coco" and coco == "standard":
        return f"images/{part or 'default'}"
    if fmt == "voc":
        return "JPEGImages"
    if fmt == "yolo" and yolo == "darknet":
        return darknet_image_dir(part)
    if fmt == "yolo":
        return str(Path(yolo_layout("x", ".png", part)[0]).parent)
    return f"{part}/images" if part else "images"


def renamed(rec: ImageRecord, new_path: str, image_mode: str) -> bool:
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


def real_size(src: str, rec: ImageRecord) -> tuple[int, int]:
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


__all__ = ["ImageStager", "RecordFrames", "image_dir", "real_size", "renamed"]
