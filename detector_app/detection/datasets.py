"""Datasets for training and evaluation.

:func:`load_detection_data` reads a dataset (a COCO JSON file or a folder
holding one; VOC/YOLO too once ``detector_app.formats.load_dataset`` is
available) into :class:`DetectionData`: class names plus one
:class:`Sample` per image with ``boxes float32[N, 4]`` (x1, y1, x2, y2,
original pixels) and ``labels int64[N]`` (1-based, 0 is background).
Degenerate boxes are rejected up front with the file and the box named.

:class:`TorchDetectionDataset` turns it into torchvision's detection
inputs: ``image float32[3, H, W]`` in 0..1 and a target
``{"boxes": float32[N, 4], "labels": int64[N]}``, with a seeded horizontal
flip (the same flips for the same seed, epoch and index).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detector_app.domain.boxes import MIN_BOX_SIZE
from detector_app.domain.errors import FormatError
from detector_app.media.images import read_image


class DatasetError(FormatError):
    """A dataset that cannot be used for training or evaluation."""


@dataclass
class Sample:
    """One image: path (absolute), size, ground truth, optional video frame index."""

    path: Path
    width: int | None
    height: int | None
    boxes: np.ndarray  # float32[N, 4]
    labels: np.ndarray  # int64[N], 1-based
    image_id: int = 0
    frame_index: int | None = None


@dataclass
class DetectionData:
    """Class names (background excluded) and samples."""

    source: Path
    class_names: list[str]
    samples: list[Sample] = field(default_factory=list)

    @property
    def model_classes(self) -> list[str]:
        """Background first, as models and checkpoints list them."""
        return ["__background__", *self.class_names]

    def num_boxes(self) -> int:
        return int(sum(len(s.boxes) for s in self.samples))


def _check_boxes(where: str, boxes: np.ndarray, width: int | None, height: int | None) -> None:
    for b in boxes:
        x1, y1, x2, y2 = (float(v) for v in b)
        if not all(np.isfinite([x1, y1, x2, y2])):
            raise DatasetError(f"{where}: box {b.tolist()} has non-finite coordinates")
        if x2 - x1 < MIN_BOX_SIZE or y2 - y1 < MIN_BOX_SIZE:
            raise DatasetError(
                f"{where}: degenerate box x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g} (zero or negative size)"
            )
        if width is not None and height is not None and (
            x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height
        ):
            raise DatasetError(f"{where}: box {b.tolist()} lies outside the {width}x{height} image")


def _coco_json_path(path: Path) -> Path:
    if path.is_file():
        return path
    if path.is_dir():
        for name in ("annotations.json", "instances.json", "_annotations.coco.json"):
            if (path / name).is_file():
                return path / name
        found = sorted(path.glob("*.json"))
        if len(found) == 1:
            return found[0]
    raise DatasetError(f"{path}: no COCO annotation file found (expected annotations.json)")


def read_coco(path: str | Path) -> DetectionData:
    """Minimal COCO detection reader (``bbox`` xywh -> x1y1x2y2).

    Category ids need not be contiguous; classes are ordered by category id.
    Image ``file_name`` is relative to the JSON file's folder.
    """
    jpath = _coco_json_path(Path(path))
    try:
        data = json.loads(jpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{jpath}: not valid JSON ({exc})") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{jpath}: not a UTF-8 text file") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(f"{jpath}: not a COCO file (no 'images' list)")
    cats = sorted(data.get("categories") or [], key=lambda c: int(c["id"]))
    if not cats:
        raise DatasetError(f"{jpath}: no 'categories'")
    cat_to_label = {int(c["id"]): i + 1 for i, c in enumerate(cats)}
    names = [str(c["name"]) for c in cats]
    per_image: dict[int, list[dict[str, Any]]] = {}
    for k, ann in enumerate(data.get("annotations") or []):
        try:
            per_image.setdefault(int(ann["image_id"]), []).append(ann)
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{jpath}: annotation #{k} has no valid image_id") from None
    root = jpath.parent
    samples = []
    for img in data["images"]:
        try:
            image_id = int(img["id"])
            file_name = str(img["file_name"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{jpath}: image entry {img!r} lacks id or file_name") from None
        width = int(img["width"]) if img.get("width") else None
        height = int(img["height"]) if img.get("height") else None
        boxes, labels = [], []
        for ann in per_image.get(image_id, []):
            if ann.get("iscrowd"):
                continue
            try:
                x, y, w, h = (float(v) for v in ann["bbox"])
                label = cat_to_label[int(ann["category_id"])]
            except (KeyError, TypeError, ValueError):
                raise DatasetError(
                    f"{jpath}: annotation id {ann.get('id')} of {file_name} has a bad bbox or category_id"
                ) from None
            boxes.append((x, y, x + w, y + h))
            labels.append(label)
        arr = np.asarray(boxes, np.float32).reshape(-1, 4)
        _check_boxes(f"{jpath}: image {file_name}", arr, width, height)
        samples.append(Sample(root / file_name, width, height, arr, np.asarray(labels, np.int64),
                              image_id, img.get("frame_index")))
    return DetectionData(jpath, names, samples)


def _from_formats(path: Path) -> DetectionData | None:
    """Use the formats layer's reader (COCO/VOC/YOLO) when it exists."""
    try:
        from detector_app.formats import load_dataset
    except ImportError:
        return None
    try:
        ds = load_dataset(path)
    except DatasetError:
        raise
    except FormatError as exc:
        raise DatasetError(str(exc)) from None
    names = list(ds.label_map.names)
    samples = []
    for k, rec in enumerate(ds.images):
        boxes = np.asarray([a.box.to_tuple() for a in rec.annotations], np.float32).reshape(-1, 4)
        labels = np.asarray([ds.label_map.id_of(a.label) for a in rec.annotations], np.int64)
        _check_boxes(f"{path}: image {rec.path}", boxes, rec.width, rec.height)
        img_path = Path(ds.root) / rec.path
        samples.append(Sample(img_path, rec.width, rec.height, boxes, labels, k + 1, rec.frame_index))
    return DetectionData(Path(path), names, samples)


def _is_video_coco(path: Path) -> bool:
    """A COCO file whose images are video frames (``frame_index``, as ``synth --video``
    writes): read here, since one video file holds many images."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    images = data.get("images") if isinstance(data, dict) else None
    return isinstance(images, list) and bool(images) and isinstance(images[0], dict) and "frame_index" in images[0]


def load_detection_data(path: str | Path) -> DetectionData:
    """Read a dataset for training/evaluation; raises :class:`DatasetError` (or
    the formats layer's ``FormatError``) naming the file and problem."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset file or folder")
    data = None if _is_video_coco(path) else _from_formats(path)
    if data is None:
        data = read_coco(path)
    if not data.samples:
        raise DatasetError(f"{path}: the dataset has no images")
    if not data.class_names:
        raise DatasetError(f"{path}: the dataset has no classes")
    return data


def load_sample_image(sample: Sample) -> np.ndarray:
    """``uint8[H, W, 3]`` RGB of a sample (a video frame when ``frame_index`` is set)."""
    if sample.frame_index is None:
        return read_image(sample.path)
    import cv2

    cap = cv2.VideoCapture(str(sample.path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(sample.frame_index))
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok:
        raise DatasetError(f"{sample.path}: cannot read frame {sample.frame_index}")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


class TorchDetectionDataset(torch.utils.data.Dataset[tuple[torch.Tensor, dict[str, Any]]]):
    """Torch view of :class:`DetectionData` with a seeded horizontal flip.

    ``dataset[i] -> (image float32[3, H, W] in 0..1, target)`` with target
    ``{"boxes": float32[N, 4], "labels": int64[N], "image_id": int}``.
    Call :meth:`set_epoch` so every epoch flips differently but reproducibly.
    """

    def __init__(self, data: DetectionData, hflip: bool = False, seed: int = 0) -> None:
        self.data = data
        self.hflip = hflip
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.data.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        sample = self.data.samples[index]
        rgb = load_sample_image(sample)
        h, w = rgb.shape[:2]
        boxes = sample.boxes.copy()
        if sample.width and sample.height and (sample.width, sample.height) != (w, h):
            raise DatasetError(
                f"{sample.path}: image is {w}x{h} but the annotations say {sample.width}x{sample.height}"
            )
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, w)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, h)
        if self.hflip:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            if rng.random() < 0.5:
                rgb = rgb[:, ::-1]
                boxes = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
        image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
        target = {
            "boxes": torch.from_numpy(boxes.astype(np.float32)).reshape(-1, 4),
            "labels": torch.from_numpy(sample.labels.astype(np.int64)),
            "image_id": torch.tensor(sample.image_id),
        }
        return image, target


def collate(batch: list[Any]) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Detection batches are lists (images differ in size)."""
    images, targets = zip(*batch)
    return list(images), list(targets)
