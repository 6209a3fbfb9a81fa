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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detector_app.domain.boxes import MIN_BOX_SIZE
from detector_app.domain.errors import FormatError
from detector_app.formats.dataset import Dataset
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


def _from_formats(path: Path) -> DetectionData:
    """Any dataset the formats layer reads (COCO, including video-frame COCO files;
    VOC; YOLO; LabelMe) as training data."""
    from detector_app.formats import load_dataset

    try:
        ds = load_dataset(path)
    except DatasetError:
        raise
    except FormatError as exc:
        raise DatasetError(str(exc)) from None
    return detection_data(ds, path)


def detection_data(ds: Dataset, source: Path) -> DetectionData:
    """A formats ``Dataset`` (a file read, or a project's records) as training / evaluation
    data: class ids are the label map's, images at ``ds.root / record.path``."""
    names = list(ds.label_map.names)
    samples = []
    for k, rec in enumerate(ds.images):
        boxes = np.asarray([a.box.to_tuple() for a in rec.annotations], np.float32).reshape(-1, 4)
        labels = np.asarray([ds.label_map.id_of(a.label) for a in rec.annotations], np.int64)
        _check_boxes(f"{source}: image {rec.path}", boxes, rec.width, rec.height)
        img_path = Path(ds.root) / rec.path
        samples.append(Sample(img_path, rec.width, rec.height, boxes, labels, k + 1, rec.frame_index))
    return DetectionData(Path(source), names, samples)


def load_detection_data(path: str | Path) -> DetectionData:
    """Read a dataset for training/evaluation; raises :class:`DatasetError` (or
    the formats layer's ``FormatError``) naming the file and problem."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset file or folder")
    data = _from_formats(path)
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
