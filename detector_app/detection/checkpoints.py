"""Model checkpoints: the project's one-file format, and plain torchvision weight files.

Project format (a ``dict`` written with ``torch.save``)::

    {"format": "detector_app.checkpoint", "version": 1,
     "config": ModelConfig.to_dict(), "class_names": ["__background__", ...],
     "state_dict": {...}, "meta": {...}}            # meta optional

Plain torchvision files (e.g. ``fasterrcnn_resnet50_fpn_coco-258fb6c6.pth``
from the torch hub cache) are bare state dicts; the builder is recognised from
the keys (and the file name for the 320 px MobileNet), the class count from the
predictor's shape, and a 91-class model gets torchvision's COCO category names.

Everything is read with ``torch.load(weights_only=True)``: a file that would
run code when unpickled is refused with a :class:`CheckpointError`.
"""

from __future__ import annotations

import io
import pickle
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN, FasterRCNN_ResNet50_FPN_Weights

from detector_app.detection.builders import build_model
from detector_app.detection.config import TORCHVISION_BUILDERS, ConfigError, ModelConfig
from detector_app.domain.errors import UserError
from detector_app.domain.fsutil import atomic_write_bytes
from detector_app.domain.labels import NOT_LABELS, LabelError, check_class_name

CHECKPOINT_FORMAT = "detector_app.checkpoint"
CHECKPOINT_VERSION = 1

#: torchvision's COCO category list (from its weights' metadata): 91 entries, background
#: first, "N/A" for the ids COCO leaves unused, so index == COCO category id.
COCO_CATEGORIES: list[str] = list(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])

_PREDICTOR_KEY = "roi_heads.box_predictor.cls_score.weight"
#: Buffers older / frozen-BN weight files do not carry; harmless when absent.
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)


class CheckpointError(UserError):
    """A model file that cannot be used (names the file and the problem)."""


@dataclass
class LoadedModel:
    """A model ready for inference (eval mode) with what it was saved with."""

    model: FasterRCNN
    config: ModelConfig
    class_names: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    kind: str = "checkpoint"  # "checkpoint" | "torchvision" | "builder"


# -- saving ------------------------------------------------------------------
def checkpoint_dict(
    model: nn.Module, config: ModelConfig, class_names: list[str],
    meta: Mapping[str, Any] | None = None, half: bool = False,
) -> dict[str, Any]:
    """The project checkpoint ``dict`` (weights copied to CPU; fp16 floats when ``half``)."""
    if len(class_names) != config.num_classes:
        raise CheckpointError(
            f"class_names has {len(class_names)} names but the config has num_classes={config.num_classes} "
            "(background included)"
        )
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu")
        state[k] = v.half() if half and v.is_floating_point() else v.clone()
    return {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config.to_dict(),
        "class_names": [str(c) for c in class_names], "state_dict": state, "meta": dict(meta or {}),
    }


def save_checkpoint(
    path: str | Path, model: nn.Module, config: ModelConfig, class_names: list[str],
    meta: Mapping[str, Any] | None = None, half: bool = False,
) -> Path:
    """Write a project checkpoint atomically (temp file + fsync + ``os.replace``).

    ``half`` stores floating-point weights as fp16 (about half the size); they
    load back as fp32. Returns the path written.
    """
    path = Path(path)
    data = checkpoint_dict(model, config, class_names, meta, half)
    atomic_torch_save(data, path)
    return path


#: Config fields that only steer inference: :func:`compact_checkpoint` may change them
#: without retraining (the weights do not depend on them).
INFERENCE_FIELDS = frozenset({
    "min_size", "max_size", "rpn_pre_nms_top_n_test", "rpn_post_nms_top_n_test",
    "box_score_thresh", "box_nms_thresh", "box_detections_per_img",
})


def compact_checkpoint(src: str | Path, dst: str | Path, extra_meta: dict[str, Any] | None = None,
                       config_updates: Mapping[str, Any] | None = None) -> Path:
    """Write ``src`` with float weights as float16 (half the size) to ``dst``.

    Integer buffers (``num_batches_tracked``) stay as they are; loading turns
    the weights back into float32. ``meta["stored_as"]`` records it.
    ``config_updates`` sets inference-only config fields (:data:`INFERENCE_FIELDS`,
    e.g. a pre-NMS proposal count chosen on validation); others raise ``ConfigError``.
    """
    loaded = load_checkpoint(src)
    updates = dict(config_updates or {})
    bad = sorted(set(updates) - INFERENCE_FIELDS)
    if bad:
        raise ConfigError(f"compact_checkpoint can only change inference settings "
                          f"({', '.join(sorted(INFERENCE_FIELDS))}), not {', '.join(bad)}")
    config = ModelConfig.from_dict({**loaded.config.to_dict(), **updates})
    meta = {**dict(loaded.meta or {}), **(extra_meta or {}), "stored_as": "float16"}
    return save_checkpoint(dst, loaded.model, config, list(loaded.class_names), meta, half=True)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj)`` to ``path`` atomically and durably (temp file, fsync,
    rename; :func:`~detector_app.domain.fsutil.atomic_write_bytes`). Creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


# -- reading -----------------------------------------------------------------
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
    pred = state.get(_PREDICTOR_KEY)
    if pred is None or not hasattr(pred, "shape") or len(pred.shape) != 2:
        raise CheckpointError(
            f"weights do not match any torchvision Faster R-CNN builder: no box predictor ({_PREDICTOR_KEY!r})"
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


def _names(keys: list[str], n: int = 4) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_state_into(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Load ``state`` into ``model`` (fp16 weights are cast to fp32), with clear errors.

    Shape mismatches name the parameter and both shapes; missing / unexpected
    keys name a few. torchvision's own legacy-key hooks (old RPN head / FPN
    names) still apply.
    """
    own = model.state_dict()
    bad = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)
    ]
    if bad:
        raise CheckpointError(f"{where}: weights do not fit the model: shape mismatch for {_names(bad, 3)}")
    metadata = getattr(state, "_metadata", None)
    state = OrderedDict((k, v.float() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in state.items())
    if metadata is not None:
        state._metadata = metadata  # type: ignore[attr-defined]  # version info for torchvision's hooks
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{where}: weights do not fit the model: {str(exc).splitlines()[-1][:200]}") from None
    missing = [k for k in result.missing_keys if not k.endswith(_OPTIONAL_SUFFIXES)]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {_names(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {_names(unexpected)})")
        raise CheckpointError(f"{where}: weights do not fit the model: " + "; ".join(parts))


def _config_from(data: Any, where: str) -> ModelConfig:
    if not isinstance(data, dict):
        raise CheckpointError(f"{where}: checkpoint 'config' is not a mapping")
    try:
        return ModelConfig.from_dict(dict(data))
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{where}: checkpoint config is invalid: {exc}") from None


def _validate(ckpt: dict[str, Any], where: str) -> tuple[ModelConfig, list[str], dict[str, Any], dict[str, Any]]:
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
    pred = state.get(_PREDICTOR_KEY)
    if pred is not None and hasattr(pred, "shape") and int(pred.shape[0]) != config.num_classes:
        raise CheckpointError(
            f"{where}: class count mismatch: the weights predict {int(pred.shape[0])} classes, "
            f"the checkpoint names {len(names)}"
        )
    meta = ckpt.get("meta") or {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: checkpoint 'meta' is not a mapping")
    return config, list(names), state, dict(meta)


def _is_bare_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) for k in obj) and all(
        torch.is_tensor(v) for v in obj.values()
    )


def _place(model: FasterRCNN, device: torch.device | str | None) -> FasterRCNN:
    if device is not None:
        model.to(torch.device(device))
    return model.eval()


def _check_finite(state: Mapping[str, Any], where: str) -> None:
    """Refuse weights that are not dense tensors (a sparse one made ``isfinite`` raise a
    NotImplementedError: a traceback) or hold NaN or inf (a diverged run, or bytes
    damaged on disk): such a model would only ever output NaN."""
    odd = [k for k, v in state.items() if torch.is_tensor(v) and v.layout != torch.strided]
    if odd:
        raise CheckpointError(f"{where}: weights must be dense tensors; {_names(odd, 2)} "
                              f"{'is' if len(odd) == 1 else 'are'} stored {state[odd[0]].layout}")
    bad = [k for k, v in state.items()
           if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f"{where}: {len(bad)} weight tensors hold NaN or infinite values (e.g. {_names(bad, 2)}); "
            "the file is damaged or comes from a training run that diverged"
        )


def load_checkpoint(path: str | Path, device: torch.device | str | None = None) -> LoadedModel:
    """Load a project checkpoint or a bare torchvision state-dict file, in eval mode.

    fp16-stored weights come back as fp32. ``device`` (default CPU) is where the
    model is placed. ``model.class_names`` is set too (the tracer reads it).
    Raises :class:`CheckpointError` naming the file and the problem.
    """
    path = Path(path)
    where = str(path)
    obj = read_file(path)
    if isinstance(obj, dict) and "format" in obj:
        config, names, state, meta = _validate(obj, where)
        kind = "checkpoint"
    elif _is_bare_state_dict(obj):
        try:
            builder, num_classes = detect_torchvision_builder(obj, path.name)
        except CheckpointError as exc:
            raise CheckpointError(f"{where}: {exc}") from None
        config = ModelConfig(builder=builder, num_classes=num_classes)
        state, meta, kind = obj, {"source": "torchvision state dict"}, "torchvision"
        if num_classes == len(COCO_CATEGORIES):
            names = list(COCO_CATEGORIES)
        else:
            names = ["__background__", *(f"class {i}" for i in range(1, num_classes))]
    elif isinstance(obj, dict) and "state_dict" in obj:
        raise CheckpointError(f"{where}: unknown checkpoint format (a dict with 'state_dict' but no 'format' tag)")
    else:
        raise CheckpointError(f"{where}: not a model checkpoint (holds a {type(obj).__name__}, not weights)")
    _check_finite(state, where)
    # the weights are checked against a model on the meta device first (shapes, no memory): a config
    # naming a huge model with few or no weights (10,000 classes, 8192-wide head) took gigabytes before
    # the mismatch was found
    skeleton = _build(config, where, "meta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "copying ... to a meta parameter ... is a no-op": what it is for
        load_state_into(skeleton, state, where)
    del skeleton
    model = _build(config, where, "cpu")
    load_state_into(model, state, where)
    model.class_names = list(names)
    return LoadedModel(_place(model, device), config, names, meta, path, kind)


def _build(config: ModelConfig, where: str, device: str) -> FasterRCNN:
    """``build_model(config)`` on ``device``, its refusals as :class:`CheckpointError`."""
    try:
        with torch.device(device):
            return build_model(config)
    except ConfigError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:  # a config torchvision's builder rejects
        raise CheckpointError(f"{where}: the checkpoint's model config cannot be built "
                              f"(builder {config.builder!r}: {str(exc)[:160]})") from None


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
        config, names, _state, meta = _validate(obj, str(path))
        return CheckpointInfo(path, "checkpoint", config.builder, config.num_classes, names, meta, size)
    if _is_bare_state_dict(obj):
        try:
            builder, n = detect_torchvision_builder(obj, path.name)
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        names = list(COCO_CATEGORIES) if n == len(COCO_CATEGORIES) else [
            "__background__", *(f"class {i}" for i in range(1, n))]
        return CheckpointInfo(path, "torchvision", builder, n, names, {}, size)
    raise CheckpointError(f"{path}: not a model checkpoint")


def model_from_builder(builder: str, num_classes: int | None = None,
                       device: torch.device | str | None = None, seed: int = 0) -> LoadedModel:
    """A model with random weights (seeded), for experiments; class names are placeholders."""
    cfg = ModelConfig(builder=builder) if num_classes is None else ModelConfig(builder=builder, num_classes=num_classes)
    torch.manual_seed(seed)
    model = build_model(cfg)
    names = ["__background__", *(f"class {i}" for i in range(1, cfg.num_classes))]
    model.class_names = names
    return LoadedModel(_place(model, device), cfg, names, {"random_weights": True, "seed": seed}, None, "builder")


__all__ = [
    "CHECKPOINT_FORMAT", "COCO_CATEGORIES", "INFERENCE_FIELDS", "CheckpointError", "CheckpointInfo", "LoadedModel",
    "checkpoint_dict", "compact_checkpoint",
    "detect_torchvision_builder", "load_checkpoint", "load_state_into", "model_from_builder", "peek_checkpoint",
    "read_file", "save_checkpoint",
]
