"""How a training run starts: its model config, and a checkpoint's weights
copied into a model whose classes or anchors may differ (fine-tuning).

Checkpoint dicts are the project's (``checkpoints.checkpoint_dict``):
``{"config": dict, "class_names": [str, ...] (background first), "state_dict": {name: Tensor}, ...}``.
"""

from __future__ import annotations

from typing import Any

import torch

from detector_app.detection.builders import STRIDE8_NEW_LAYERS
from detector_app.detection.config import ModelConfig
from detector_app.detection.datasets import DetectionData
from detector_app.detection.training_config import TrainConfig, TrainingError
from detector_app.domain.labels import label_names

#: RPN layers whose shape depends on the number of anchors per cell.
RPN_ANCHOR_LAYERS = ("rpn.head.cls_logits.", "rpn.head.bbox_pred.")


def resolve_model_config(cfg: TrainConfig, data: DetectionData, init: dict[str, Any] | None) -> ModelConfig:
    """The model a run trains, with one output per class of ``data`` plus background.

    First of: ``cfg.model_config``, ``cfg.model`` (a builder name or config file),
    the config of the ``init`` checkpoint, the ``small`` builder.
    """
    num_classes = len(data.class_names) + 1
    if cfg.model_config is not None:
        mc = ModelConfig.from_dict(cfg.model_config.to_dict())
        mc.num_classes = num_classes
        return mc
    if cfg.model:
        return ModelConfig.from_arg(cfg.model, num_classes=num_classes)
    if init is not None:
        mc = ModelConfig.from_dict(dict(init["config"]))
        mc.num_classes = num_classes
        return mc
    return ModelConfig(builder="small", num_classes=num_classes)


#: ``head_plan`` row of a target class the checkpoint does not know: its rows keep their fresh start.
NEW_ROW = -1


def head_plan(source: list[str], target: list[str]) -> tuple[list[int] | None, str]:
    """How the class head of a checkpoint with classes ``source`` starts a model
    with classes ``target`` (both background first): ``(rows, note)``.

    ``rows[i]`` is the checkpoint class whose predictor rows start target class
    ``i``: the identity when the lists agree, a selection when every target
    class is one of the checkpoint's (a COCO model fine-tuned on a project with
    some COCO classes keeps what it knows of them). A target class the checkpoint
    lacks gets :data:`NEW_ROW` (a fresh start for that class alone), so adding a
    class keeps what the head knows of the others. ``None`` when no target class
    is known: the head is replaced by a fresh one. ``note`` says which, for a person.
    """
    if list(source) == list(target):
        return list(range(len(target))), f"class head kept: the checkpoint's {len(target) - 1} classes"
    known = [n for n in target[1:] if n in source]
    new = [n for n in target[1:] if n not in source]
    dropped = len([n for n in label_names(source) if n not in target])
    if source and not new:
        rows = [0, *(source.index(name) for name in target[1:])]
        return rows, (f"class head kept for the {len(target) - 1} classes of the data ({_names(target[1:])}), "
                      f"taken from the checkpoint's head; its other {dropped} classes are dropped")
    if source and known:
        rows = [0, *(source.index(name) if name in source else NEW_ROW for name in target[1:])]
        return rows, (f"class head extended: {_names(known)} kept from the checkpoint's head, new "
                      f"{_names(new)} start fresh" + (f"; its other {dropped} classes are dropped" if dropped else ""))
    return None, (f"class head replaced by a new one (random start): the data's classes {_names(new)} are not "
                  f"classes of the checkpoint ({_names(label_names(source))})")


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _predictor_rows(key: str, value: torch.Tensor, rows: list[int], fresh: torch.Tensor) -> torch.Tensor:
    """The box predictor tensor for the classes ``rows`` (bbox_pred: 4 rows per class):
    ``value``'s rows where ``rows`` names a checkpoint class, ``fresh``'s (the new
    model's own start, same shape as the result) for :data:`NEW_ROW`."""
    per_class = 4 if ".bbox_pred." in key else 1
    src = value.reshape(-1, per_class, *value.shape[1:])
    out = fresh.reshape(len(rows), per_class, *fresh.shape[1:]).clone().to(value.dtype)
    for i, row in enumerate(rows):
        if row != NEW_ROW:
            out[i] = src[row]
    return out.reshape(len(rows) * per_class, *value.shape[1:])


def load_init_weights(model: torch.nn.Module, ckpt: dict[str, Any], class_names: list[str]) -> list[str]:
    """Copy a checkpoint's weights into ``model`` (fine-tuning).

    The box predictor (``roi_heads.box_predictor.*``) follows :func:`head_plan`:
    kept, cut down to the classes of ``class_names`` (background first), extended
    (a new class's rows keep the model's fresh start, the known classes' rows are
    copied) or left at its fresh initialisation when no class is known. When the number of anchors
    per cell differs, so do the RPN's per-anchor output layers
    (``rpn.head.cls_logits``, ``rpn.head.bbox_pred``); a stride-8 ``small``
    model started from a stride-16 checkpoint keeps its new top-down layers
    (``builders.STRIDE8_NEW_LAYERS``). Returns the names of the parameters *not* copied.
    Raises :class:`TrainingError` when the rest of the architecture differs.
    """
    state = ckpt["state_dict"]
    rows, _note = head_plan(list(ckpt.get("class_names") or []), list(class_names))
    own = model.state_dict()
    skipped = []
    load = {}
    for key, value in state.items():
        if key.startswith("roi_heads.box_predictor."):
            if rows is None:
                skipped.append(key)
                continue
            if key not in own:
                raise TrainingError(f"--init checkpoint has a layer this model lacks: {key}")
            value = _predictor_rows(key, value, rows, own[key])
        if key not in own:
            raise TrainingError(f"--init checkpoint has a layer this model lacks: {key}")
        if key.startswith(RPN_ANCHOR_LAYERS) and tuple(own[key].shape) != tuple(value.shape):
            skipped.append(key)  # another number of anchors per cell: fresh RPN output layers
            continue
        if tuple(own[key].shape) != tuple(value.shape):
            raise TrainingError(
                f"--init checkpoint layer {key} has shape {tuple(value.shape)}, "
                f"the model needs {tuple(own[key].shape)} (different architecture?)"
            )
        load[key] = value.to(own[key].dtype)
    missing = [k for k in own if k not in load and k not in skipped]
    fresh_ok = ("roi_heads.box_predictor.", *RPN_ANCHOR_LAYERS, *STRIDE8_NEW_LAYERS)
    if [k for k in missing if not k.startswith(fresh_ok)]:
        raise TrainingError(f"--init checkpoint lacks layers: {', '.join(missing[:5])}")
    model.load_state_dict(load, strict=False)
    return skipped or missing
