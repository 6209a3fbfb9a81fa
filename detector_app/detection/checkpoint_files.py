"""Model files as data: read safely, recognise torchvision's, validate the project's.

Nothing here builds a model (``detection.checkpoints`` does). Two kinds of file:

* the project's checkpoint, a ``dict`` with ``format`` / ``version`` / ``config`` /
  ``class_names`` / ``state_dict`` / ``meta`` (see ``detection.checkpoints``);
* a bare torchvision state dict (e.g. ``fasterrcnn_resnet50_fpn_coco-258fb6c6.pth``
  from the torch hub cache): the builder is recognised from the keys (and the file
  name for the 320 px MobileNet), the class count from the predictor's shape, and a
  91-class model gets torchvision's COCO category names.

Everything is read with ``torch.load(weights_only=True)``: a file that would run
code when unpickled is refused with a :class:`CheckpointError`.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

from detector_app.detection.config import TORCHVISION_BUILDERS, ConfigError, ModelConfig
from detector_app.domain.errors import UserError
from detector_app.domain.labels import NOT_LABELS, LabelError, check_class_name

CHECKPOINT_FORMAT = "detector_app.checkpoint"
CHECKPOINT_VERSION = 1

#: torchvision's COCO category list (from its weights' metadata): 91 entries, background
#: first, "N/A" for the ids COCO leaves unused, so index == COCO category id.
COCO_CATEGORIES: list[str] = list(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])

PREDICTOR_KEY = "roi_heads.box_predictor.cls_score.weight"


class CheckpointError(UserError):
    """A model file that cannot be used (names the file and the problem)."""


def read_file(path: str | Path, mmap: bool = False) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with clear errors.

    ``mmap`` maps tensor data instead of reading it (cheap peeking; zip-format files only).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a model file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    try:
        if mmap:
            with open(path, "rb") as fh:
                mmap = fh.read(2) == b"PK"
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Unsupported global" in text or "GLOBAL" in text:  # a class or function to import: code
            first = next((ln.strip() for ln in text.splitlines() if "Unsupported" in ln or "GLOBAL" in ln), "")
            raise CheckpointError(
                f"{path}: refused: the file holds Python objects that could run code when loaded, "
                f"not just weights ({first[:160]}); only load checkpoints you trust, re-saved as plain weights"
            ) from None
        detail = next(
            (ln.strip() for ln in text.splitlines() if "Unsupported" in ln), text.splitlines()[0] if text else ""
        )
        raise CheckpointError(f"{path}: not a checkpoint (corrupt or not a PyTorch file: {detail[:160]})") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file; all are the file's fault
        with open(path, "rb") as fh:
            head = fh.read(4)
        detail = (str(exc).split(". ")[0] or type(exc).__name__)[:120]
        if head.startswith(b"PK"):
            problem = f"truncated or corrupt PyTorch archive ({detail})"
        elif head[:1] == b"\x80":
            problem = f"corrupt or truncated legacy PyTorch file ({detail})"
        else:
            problem = "not a PyTorch checkpoint (unknown file type)"
        raise CheckpointError(f"{path}: cannot read model file: {problem}") from None


def detect_torchvision_builder(state: Mapping[str, Any], filename: str = "") -> tuple[str, int]:
    """``(builder, num_classes)`` of a bare torchvision Faster R-CNN state dict.

    Recognised from the keys: ResNet-50 body (``backbone.body.conv1``) vs
    MobileNetV3 body (``backbone.body.0.0``), v2 box head
    (``roi_heads.box_head.0.0``) vs two-layer MLP (``roi_heads.box_head.fc6``);
    the two MobileNet variants share weights, so ``320`` in the file name picks
    the low-resolution one. Raises :class:`CheckpointError` when no builder fits.
    """
    keys = set(state)
    pred = state.get(PREDICTOR_KEY)
    if pred is None or not hasattr(pred, "shape") or len(pred.shape) != 2:
        raise CheckpointError(
            f"weights do not match any torchvision Faster R-CNN builder: no box predictor ({PREDICTOR_KEY!r})"
        )
    num_classes = int(pred.shape[0])
    v2_head = "roi_heads.box_head.0.0.weight" in keys
    mlp_head = "roi_heads.box_head.fc6.weight" in keys
    if "backbone.body.conv1.weight" in keys and "backbone.body.layer4.0.conv1.weight" in keys:
        if v2_head:
            return "resnet50_fpn_v2", num_classes
        if mlp_head:
            return "resnet50_fpn", num_classes
    if "backbone.body.0.0.weight" in keys and any(k.startswith("backbone.fpn.") for k in keys) and mlp_head:
        return ("mobilenet_v3_large_320_fpn" if "320" in filename else "mobilenet_v3_large_fpn"), num_classes
    raise CheckpointError(
        "weights do not match any torchvision Faster R-CNN builder "
        f"({', '.join(TORCHVISION_BUILDERS)}); first keys: {', '.join(sorted(keys)[:3])}"
    )


def torchvision_class_names(num_classes: int) -> list[str]:
    """The class names of a bare torchvision state dict predicting ``num_classes`` classes
    (background included): COCO's for 91, else placeholders ``class 1``, ``class 2``, ..."""
    if num_classes == len(COCO_CATEGORIES):
        return list(COCO_CATEGORIES)
    return ["__background__", *(f"class {i}" for i in range(1, num_classes))]


def _config_from(data: Any, where: str) -> ModelConfig:
    if not isinstance(data, dict):
        raise CheckpointError(f"{where}: checkpoint 'config' is not a mapping")
    try:
        return ModelConfig.from_dict(dict(data))
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{where}: checkpoint config is invalid: {exc}") from None


def validate_checkpoint(ckpt: dict[str, Any], where: str
                        ) -> tuple[ModelConfig, list[str], dict[str, Any], dict[str, Any]]:
    """``(config, class_names, state_dict, meta)`` of a project checkpoint ``dict``, each
    checked (format tag, version, class counts that agree); ``where`` names the file."""
    fmt = ckpt.get("format")
    if fmt != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{where}: unknown checkpoint format {fmt!r} (expected {CHECKPOINT_FORMAT!r})")
    version = ckpt.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{where}: checkpoint version {version!r} is not valid")
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{where}: checkpoint version {version} is newer than this app reads ({CHECKPOINT_VERSION}); update the app"
        )
    missing = [k for k in ("config", "class_names", "state_dict") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{where}: checkpoint lacks {', '.join(repr(k) for k in missing)}")
    config = _config_from(ckpt["config"], where)
    names = ckpt["class_names"]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{where}: checkpoint 'class_names' must be a list of strings")
    for n in names[1:]:  # they become the project's labels (the background and COCO's "N/A" do not)
        if n not in NOT_LABELS:
            try:
                check_class_name(n)
            except LabelError as exc:
                raise CheckpointError(f"{where}: checkpoint 'class_names': {exc}") from None
    state = ckpt["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: checkpoint 'state_dict' is not a mapping")
    if len(names) != config.num_classes:
        raise CheckpointError(
            f"{where}: class count mismatch: {len(names)} class names but config num_classes={config.num_classes}"
        )
    pred = state.get(PREDICTOR_KEY)
    if pred is not None and hasattr(pred, "shape") and int(pred.shape[0]) != config.num_classes:
        raise CheckpointError(
            f"{where}: class count mismatch: the weights predict {int(pred.shape[0])} classes, "
            f"the checkpoint names {len(names)}"
        )
    meta = ckpt.get("meta") or {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: checkpoint 'meta' is not a mapping")
    return config, list(names), state, dict(meta)


def is_bare_state_dict(obj: Any) -> bool:
    """Whether ``obj`` is a plain ``{name: tensor}`` dict (a torchvision weight file)."""
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) for k in obj) and all(
        torch.is_tensor(v) for v in obj.values()
    )


@dataclass
class CheckpointInfo:
    """What a model file holds, read without loading the weights into a model."""

    path: Path
    kind: str  # "checkpoint" | "torchvision"
    builder: str
    num_classes: int
    class_names: list[str]
    meta: dict[str, Any]
    size_bytes: int


def peek_checkpoint(path: str | Path) -> CheckpointInfo:
    """Builder, classes and meta of a model file (tensor data memory-mapped, not read)."""
    path = Path(path)
    obj = read_file(path, mmap=True)
    size = path.stat().st_size
    if isinstance(obj, dict) and "format" in obj:
        config, names, _state, meta = validate_checkpoint(obj, str(path))
        return CheckpointInfo(path, "checkpoint", config.builder, config.num_classes, names, meta, size)
    if is_bare_state_dict(obj):
        try:
            builder, n = detect_torchvision_builder(obj, path.name)
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        return CheckpointInfo(path, "torchvision", builder, n, torchvision_class_names(n), {}, size)
    raise CheckpointError(f"{path}: not a model checkpoint")


__all__ = [
    "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "COCO_CATEGORIES", "PREDICTOR_KEY", "CheckpointError", "CheckpointInfo",
    "detect_torchvision_builder", "is_bare_state_dict", "peek_checkpoint", "read_file", "torchvision_class_names",
    "validate_checkpoint",
]
