"""Model checkpoints: models saved to and built from the project's one-file format,
and from plain torchvision weight files.

Project format (a ``dict`` written with ``torch.save``)::

    {"format": "detector_app.checkpoint", "version": 1,
     "config": ModelConfig.to_dict(), "class_names": ["__background__", ...],
     "state_dict": {...}, "meta": {...}}            # meta optional

Reading, recognising and validating the files without building a model is
``detection.checkpoint_files`` (its names are importable from here too).
"""

from __future__ import annotations

import io
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN

from detector_app.detection.builders import build_model
from detector_app.detection.checkpoint_files import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    COCO_CATEGORIES,
    CheckpointError,
    CheckpointInfo,
    detect_torchvision_builder,
    is_bare_state_dict,
    peek_checkpoint,
    read_file,
    torchvision_class_names,
    validate_checkpoint,
)
from detector_app.detection.config import ConfigError, ModelConfig
from detector_app.domain.fsutil import atomic_write_bytes

#: Buffers older / frozen-BN weight files do not carry; harmless when absent.
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)


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


# -- loading -----------------------------------------------------------------
def _names(keys: list[str], n: int = 4) -> str:
    """The first ``n`` of ``keys`` for a message, with how many more there are."""
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
    # load_state_dict casts integer, bool or complex tensors into float parameters
    # silently (a model of garbage); a float weight stored so is a damaged or foreign file
    wrong = [f"{k} is {str(v.dtype).removeprefix('torch.')}" for k, v in state.items()
             if k in own and torch.is_tensor(v) and own[k].is_floating_point() and not v.is_floating_point()]
    if wrong:
        raise CheckpointError(f"{where}: weights do not fit the model: floating-point weights stored as other "
                              f"types: {_names(wrong, 3)}")
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


def _place(model: FasterRCNN, device: torch.device | str | None) -> FasterRCNN:
    """``model`` on ``device`` (None: where it is), in eval mode."""
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
        config, names, state, meta = validate_checkpoint(obj, where)
        kind = "checkpoint"
    elif is_bare_state_dict(obj):
        try:
            builder, num_classes = detect_torchvision_builder(obj, path.name)
        except CheckpointError as exc:
            raise CheckpointError(f"{where}: {exc}") from None
        config = ModelConfig(builder=builder, num_classes=num_classes)
        state, meta, kind = obj, {"source": "torchvision state dict"}, "torchvision"
        names = torchvision_class_names(num_classes)
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
    "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "COCO_CATEGORIES", "INFERENCE_FIELDS", "CheckpointError",
    "CheckpointInfo", "LoadedModel", "atomic_torch_save", "checkpoint_dict", "compact_checkpoint",
    "detect_torchvision_builder", "load_checkpoint", "load_state_into", "model_from_builder", "peek_checkpoint",
    "read_file", "save_checkpoint",
]
