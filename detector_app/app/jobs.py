"""Job functions the GUI runs off its thread: load a model, detect one image.

Plain Python (torch imported lazily inside the functions), so the CLI and the
tests call the same code the window does. The model picker's entries are
``app.model_choices``, the device list ``app.device_choices``, the fine-tune job
``app.finetune_job`` (their names are importable from here too).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detector_app.app.device_choices import CPU_BF16, SLOW_MARK, DeviceChoice, device_choices, split_device
from detector_app.app.finetune_job import (
    FEW_IMAGES,
    FinetuneSettings,
    finetune_images,
    finetune_output,
    finetune_records,
    run_finetune,
)
from detector_app.app.model_choices import (
    UNTRAINED,
    ZOO_PREFIX,
    ModelChoice,
    bundled_model_path,
    configured_models,
    download_job,
    find_zoo_model,
    hub_model_files,
    model_choices,
    model_spec_exists,
    zoo_models,
)
from detector_app.domain.labels import label_names
from detector_app.domain.trace import DetectionTrace, Detector

if TYPE_CHECKING:
    import torch
    from torchvision.models.detection import FasterRCNN

    from detector_app.detection.checkpoints import LoadedModel
    from detector_app.detection.training import TrainResult as TrainResult  # (named by qt/finetune_dialog)
    from detector_app.detection.zoo import ZooModel as ZooModel  # the type of zoo_models() entries


@dataclass
class ModelInfo:
    """What the window shows about the model in use."""

    name: str  # short display name
    class_names: list[str]  # background first (the trace's class list)
    device: str = "cpu"
    path: str | None = None  # checkpoint file, when there is one
    builder: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # e.g. "random weights"
    cache_id: str = ""  # names this model as run, for stored traces (``trace_store.model_id``)

    @property
    def label_names(self) -> list[str]:
        """Class names without the background (the project's label list)."""
        return label_names(self.class_names)


def detect_item(model: FasterRCNN, rgb: np.ndarray, device: torch.device | str | None = None) -> DetectionTrace:
    """One forward pass with every intermediate kept.

    ``rgb``: ``uint8[H, W, 3]``; returns a :class:`DetectionTrace` in
    original-image pixels (``detection.tracing.trace``).
    """
    import torch

    from detector_app.detection.tracing import trace

    with torch.inference_mode():
        return trace(model, rgb, device=device)


def bundled_config_path() -> Path:
    """``<repo>/models/default_config.json``: the bundled model's configuration."""
    return Path(__file__).resolve().parents[2] / "models" / "default_config.json"


def untrained_model(device: torch.device | str | None = None) -> LoadedModel:
    """A ``LoadedModel`` with random weights (seed 0) built from the bundled model's
    config (the ``small`` builder when that file is missing) and the synthetic
    shapes' classes when the class counts agree."""
    import torch

    from detector_app.detection.builders import build_model
    from detector_app.detection.checkpoints import LoadedModel
    from detector_app.detection.config import ModelConfig
    from detector_app.detection.synthetic import CLASS_NAMES

    path = bundled_config_path()
    cfg = ModelConfig.from_json(path.read_text(encoding="utf-8")) if path.is_file() else ModelConfig("small")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    if cfg.num_classes == len(CLASS_NAMES) + 1:
        names = ["__background__", *CLASS_NAMES]
    else:
        names = ["__background__", *(f"class {i}" for i in range(1, cfg.num_classes))]
    model.class_names = names  # what tracing labels the classes with
    if device is not None:
        model.to(device)
    return LoadedModel(model, cfg, names, {"random_weights": True, "seed": 0}, None, "builder")


def load_detector(spec: str | None, device: str | None = None) -> tuple[Detector, ModelInfo]:
    """Load the model ``spec`` names (``detection.hub.load_model``: ``None`` /
    ``"default"`` the bundled model, a checkpoint or torchvision file, a hub
    file name, a builder name with random weights; :data:`UNTRAINED` the bundled
    configuration with random weights) on ``device`` (``None`` / ``"auto"``:
    CUDA when present). Raises a ``UserError`` subclass with a clear message
    when it cannot."""
    from detector_app.detection.builders import select_device
    from detector_app.detection.hub import load_model
    from detector_app.detection.precision import bf16_probe, cpu_supports_fast_bf16, set_cpu_precision

    device, precision = split_device(device)
    dev = select_device(device)
    if dev.type == "cpu" and cpu_supports_fast_bf16():
        bf16_probe()  # once per process, here in the worker: device_choices() can then mark CPU bf16
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if spec == UNTRAINED:
            loaded = untrained_model(dev)
            warnings.warn(f"untrained model: the bundled configuration with RANDOM weights (boxes are "
                          f"meaningless); {bundled_model_path()} is missing: train it (docs/training.md) "
                          "or pick a checkpoint", UserWarning, stacklevel=1)
        else:
            loaded = load_model(spec, dev)
    model = loaded.model.to(dev).eval()
    if precision == "bf16":
        set_cpu_precision(model, "bf16")
    path = getattr(loaded, "path", None)
    config = getattr(loaded, "config", None)
    info = ModelInfo(
        name=Path(str(path)).name if path else ("untrained (random weights)" if spec == UNTRAINED
                                                else str(spec or "default")),
        class_names=list(loaded.class_names),
        device=str(dev) + (" bf16" if precision == "bf16" else ""),
        path=None if path is None else str(path),
        builder=getattr(config, "builder", None),
        meta=dict(getattr(loaded, "meta", None) or {}),
        warnings=[str(w.message) for w in caught],
    )
    from detector_app.app.trace_store import model_id

    info.cache_id = model_id(info.path, info.builder, info.device, info.name)
    return functools.partial(detect_item, model, device=dev), info



def __getattr__(name: str) -> str:
    """``ZOO_LICENCE_NOTE``: ``detection.zoo.LICENCE_NOTE``, read when first asked for
    (this module imports torch only inside its functions)."""
    if name == "ZOO_LICENCE_NOTE":
        from detector_app.detection.zoo import LICENCE_NOTE

        return LICENCE_NOTE
    raise AttributeError(name)


__all__ = [
    "CPU_BF16", "FEW_IMAGES", "SLOW_MARK", "UNTRAINED", "ZOO_PREFIX", "DeviceChoice", "Detector", "FinetuneSettings",
    "ModelChoice", "ModelInfo", "bundled_config_path", "bundled_model_path",
    "configured_models", "detect_item", "device_choices", "download_job", "finetune_images", "finetune_output",
    "finetune_records", "find_zoo_model", "hub_model_files", "load_detector", "model_choices", "model_spec_exists",
    "run_finetune", "split_device", "untrained_model", "zoo_models",
]
