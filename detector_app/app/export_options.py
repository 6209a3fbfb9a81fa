"""What an export is asked to do (:class:`ExportOptions`) and what it did (:class:`ExportResult`).

The options are explained in ``app.export``'s module docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from detector_app.domain.errors import UserError
from detector_app.formats.dataset import RENAMED_FILE

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


__all__ = ["COCO_LAYOUTS", "ExportError", "ExportOptions", "ExportResult", "IMAGE_MODES", "YOLO_LAYOUTS"]
