"""Batch detection over image files (the ``detect`` command's engine).

``detect_images`` is a long job in the project's sense: it takes ``progress``
and ``cancel``, reads each file with ``media.read_image``, runs the model and
yields one :class:`ImageResult` per input in input order. A file that cannot
be read is yielded with ``error`` set (and skipped), never fatal.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.models.detection import FasterRCNN

from detector_app.detection.builders import select_device
from detector_app.detection.checkpoints import LoadedModel
from detector_app.detection.precision import set_cpu_precision
from detector_app.detection.tracing import image_to_tensor, model_input
from detector_app.domain.errors import MediaError, UserError
from detector_app.domain.progress import ProgressFn, check_cancel, report
from detector_app.media.images import IMAGE_EXTENSIONS, read_image


@dataclass
class ImageResult:
    """Detections for one input file (original-image pixels), or why it was skipped."""

    path: Path
    image_id: int  # 1-based, input order (skipped files keep their id)
    width: int = 0
    height: int = 0
    boxes: np.ndarray | None = None  # float32[D, 4] x1, y1, x2, y2
    labels: np.ndarray | None = None  # int64[D], index into class_names
    scores: np.ndarray | None = None  # float32[D]
    seconds: float = 0.0
    error: str | None = None
    image: np.ndarray | None = None  # uint8[H, W, 3] RGB when ``keep_images``

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def num_detections(self) -> int:
        return 0 if self.boxes is None else int(len(self.boxes))


def collect_images(inputs: Iterable[str | Path], recursive: bool = False) -> list[Path]:
    """Expand files and folders into image paths, in the order given.

    A folder contributes its image files (by extension, sorted by name);
    a named file is kept whatever its extension, so a bad one is reported
    later by name. Raises :class:`UserError` when nothing is found.
    """
    out: list[Path] = []
    given = list(inputs)
    for item in given:
        p = Path(item)
        if p.is_dir():
            found = p.rglob("*") if recursive else p.iterdir()
            out.extend(sorted(f for f in found if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS))
        else:
            out.append(p)
    if not out:
        raise UserError(f"no images found in {', '.join(str(g) for g in given) or 'the inputs'}")
    return out


@contextlib.contextmanager
def _score_thresh(model: FasterRCNN, value: float | None) -> Iterator[None]:
    """Temporarily set the RoI head's ``score_thresh`` (torchvision's own filter)."""
    if value is None:
        yield
        return
    saved = model.roi_heads.score_thresh
    model.roi_heads.score_thresh = float(value)
    try:
        yield
    finally:
        model.roi_heads.score_thresh = saved


def _unpack(model_or_loaded: FasterRCNN | LoadedModel) -> tuple[FasterRCNN, list[str]]:
    if isinstance(model_or_loaded, LoadedModel):
        return model_or_loaded.model, list(model_or_loaded.class_names)
    model = model_or_loaded
    names = list(getattr(model, "class_names", None) or [])
    if not names:
        n = int(model.roi_heads.box_predictor.cls_score.out_features)
        names = ["__background__", *(f"class {i}" for i in range(1, n))]
    return model, names


def detect_images(
    model_or_loaded: FasterRCNN | LoadedModel,
    paths: Sequence[str | Path],
    *,
    score_thresh: float | None = None,
    device: torch.device | str | None = None,
    amp: bool = False,
    precision: str | None = None,
    keep_images: bool = False,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    image_ids: Sequence[int] | None = None,
) -> Iterator[ImageResult]:
    """Run the detector on each file; yield results in input order.

    Args:
        model_or_loaded: a ``FasterRCNN`` or a :class:`LoadedModel`.
        paths: image files (see :func:`collect_images` for folders).
        score_thresh: the RoI head's score threshold for this run (``None``: the model's).
        device: ``"cpu"``, ``"cuda"``, ...; default: CUDA when available.
        amp: fp16 autocast; used only when the device is CUDA.
        precision: ``"fp32"`` or ``"bf16"`` (CPU only: the backbone channels-last
            under bfloat16 autocast, see :mod:`detection.precision`); set on the
            model in place before the first image. ``None``: leave it as it is.
            ``"bf16"`` on a CUDA device raises ``ConfigError``.
        keep_images: attach the decoded RGB image to each result (for overlays).
        progress / cancel: the long-job contract; cancelling raises ``Cancelled``
            between images.
        image_ids: the results' ``image_id`` per path (default 1, 2, ...): a process
            of a distributed run keeps the ids of the whole input list.
    """
    model, _ = _unpack(model_or_loaded)
    dev = select_device(None if device is None else str(device))
    model.to(dev).eval()
    if precision is not None:
        set_cpu_precision(model, precision)
    use_amp = bool(amp) and dev.type == "cuda"
    total = len(paths)
    report(progress, 0, total, "starting")
    for i, raw in enumerate(paths):
        check_cancel(cancel)
        path = Path(raw)
        result = ImageResult(path=path, image_id=int(image_ids[i]) if image_ids is not None else i + 1)
        start = time.perf_counter()
        try:
            rgb = read_image(path)
            fed = model_input(rgb, model, f"{path}: ")  # a huge photo: downscaled first (the model shrinks it)
        except MediaError as exc:
            result.error = str(exc)
        else:
            result.height, result.width = int(rgb.shape[0]), int(rgb.shape[1])
            result.boxes, result.labels, result.scores = _detect_rgb(model, rgb, fed, dev, use_amp, score_thresh)
            if keep_images:
                result.image = rgb
        result.seconds = time.perf_counter() - start
        report(progress, i + 1, total, path.name)
        yield result


def _detect_rgb(model: FasterRCNN, rgb: np.ndarray, fed: np.ndarray, dev: torch.device, use_amp: bool,
                score_thresh: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detections of one ``uint8[H, W, 3]`` image, given ``fed`` (``model_input`` of it):
    ``(boxes float32[D, 4] in its pixels, labels int64[D], scores float32[D])``."""
    tensor = image_to_tensor(fed, dev)
    autocast: Any = torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext()
    with torch.inference_mode(), autocast, _score_thresh(model, score_thresh):
        out = model([tensor])[0]
    boxes = out["boxes"].float().cpu().numpy()
    if fed is not rgb:  # back to the file's pixels
        boxes *= np.array([int(rgb.shape[1]) / fed.shape[1], int(rgb.shape[0]) / fed.shape[0]] * 2, np.float32)
    return boxes, out["labels"].cpu().numpy().astype(np.int64), out["scores"].float().cpu().numpy()


def coco_results(results: Iterable[ImageResult], class_names: Sequence[str]) -> list[dict[str, Any]]:
    """COCO detection-results records, one per box (``bbox`` is ``[x, y, w, h]``).

    ``category_id`` is the model's class index (equal to the COCO id for
    torchvision's 91-class models and to ``LabelMap.id_of`` for project models).
    """
    out: list[dict[str, Any]] = []
    for r in results:
        if not r.ok or r.boxes is None:
            continue
        if r.labels is None or r.scores is None:
            continue
        for box, label, score in zip(r.boxes.tolist(), r.labels.tolist(), r.scores.tolist()):
            x1, y1, x2, y2 = box
            out.append({
                "file_name": r.path.name,
                "image_id": r.image_id,
                "category_id": int(label),
                "category_name": class_names[label] if 0 <= label < len(class_names) else f"class {label}",
                "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                "score": round(float(score), 5),
            })
    return out


__all__ = ["ImageResult", "coco_results", "collect_images", "detect_images"]
