"""Job functions the GUI runs off its thread: load a model, detect one image,
fine-tune on the project.

Plain Python (torch imported lazily inside the functions), so the CLI and the
tests call the same code the window does.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detector_app.domain.annotations import ImageRecord
from detector_app.domain.errors import UserError
from detector_app.domain.labels import label_names
from detector_app.domain.progress import ProgressFn
from detector_app.domain.trace import DetectionTrace, Detector

if TYPE_CHECKING:
    import torch
    from torchvision.models.detection import FasterRCNN

    from detector_app.app.store import ProjectStore
    from detector_app.detection.checkpoints import LoadedModel
    from detector_app.detection.training import TrainResult as TrainResult  # (named by qt/finetune_dialog)
    from detector_app.detection.zoo import ZooModel as ZooModel  # (named by qt/download_dialog)



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


#: Model spec of a random-weight model with the bundled model's configuration and
#: classes: what the app runs while ``models/default.pt`` is missing, so that
#: anchors, proposals and the stepper still work (their boxes mean nothing).
UNTRAINED = "untrained"


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


@dataclass
class ModelChoice:
    """One entry of the model picker."""

    label: str
    spec: str | None  # what ``load_detector`` takes (None: the bundled model)
    tooltip: str = ""
    available: bool = True
    download: str | None = None  # a zoo model's name: not on disk, choosing it offers the download


#: Spec prefix of zoo entries that are not downloaded yet (``"zoo:resnet50_fpn_v2"``).
ZOO_PREFIX = "zoo:"


def __getattr__(name: str) -> str:
    """``ZOO_LICENCE_NOTE``: ``detection.zoo.LICENCE_NOTE``, read when first asked for
    (this module imports torch only inside its functions)."""
    if name == "ZOO_LICENCE_NOTE":
        from detector_app.detection.zoo import LICENCE_NOTE

        return LICENCE_NOTE
    raise AttributeError(name)


def bundled_model_path() -> Path:
    """``<repo>/models/default.pt`` (the model trained for this project)."""
    from detector_app.detection.hub import bundled_model_path as bundled

    return bundled()


def hub_model_files() -> list[Path]:
    """torchvision Faster R-CNN weight files in the torch hub cache
    (``$TORCH_HOME/hub/checkpoints``); nothing is downloaded."""
    from detector_app.detection.hub import list_hub_checkpoints

    return [f.path for f in list_hub_checkpoints()]


def configured_models() -> list[Path]:
    """Extra checkpoints listed in ``$DETECTOR_APP_CONFIG_DIR/models.json`` (bad file: none)."""
    from detector_app.detection.hub import configured_checkpoints

    try:
        return configured_checkpoints()
    except UserError:
        return []


def model_choices(recent: Sequence[str] = ()) -> list[ModelChoice]:
    """The bundled model, recently used and configured (models.json) checkpoint
    files, then torchvision files in the hub cache."""
    bundled = bundled_model_path()
    out = [ModelChoice(
        "Bundled default (shapes)", None,
        str(bundled) if bundled.is_file() else f"{bundled} is missing: train it or pick a checkpoint",
        bundled.is_file(),
    )]
    if not bundled.is_file():
        out.append(ModelChoice("Untrained (random weights)", UNTRAINED,
                               "the bundled model's configuration with random weights: anchors, proposals "
                               "and the stepper work, boxes are meaningless"))
    seen = {str(bundled)}
    for spec in [*recent, *(str(p) for p in configured_models())]:
        if spec and spec not in seen and Path(spec).is_file():
            seen.add(spec)
            out.append(ModelChoice(Path(spec).name, spec, spec))
    from detector_app.detection.download import size_text
    from detector_app.detection.zoo import LICENCE_NOTE

    zoo = {z.file_name: z for z in zoo_models()}
    for path in hub_model_files():
        if str(path) not in seen:
            seen.add(str(path))
            known = zoo.get(path.name)
            label = known.title if known else f"torchvision: {path.name}"
            tip = f"{known.summary()}\n{path}" if known else str(path)
            out.append(ModelChoice(label, str(path), tip))
    for z in zoo.values():
        if not z.installed():
            out.append(ModelChoice(
                f"{z.title} \u2193 download {size_text(z.size_bytes)}", ZOO_PREFIX + z.name,
                f"{z.summary()}; not on this computer: choosing it offers to download it from\n{z.url}\n"
                f"into {z.path()}\nLicence: {LICENCE_NOTE}", True, z.name))
    return out


def zoo_models() -> list[ZooModel]:
    """torchvision's COCO Faster R-CNN weights (``detection.zoo``), installed or not."""
    from detector_app.detection import zoo

    return zoo.zoo_models()


def find_zoo_model(name: str) -> ZooModel:
    from detector_app.detection import zoo

    return zoo.find_zoo_model(name)


def download_job(model: ZooModel) -> Callable[[ProgressFn, threading.Event], Path]:
    """A long job that downloads ``model`` into the torch hub cache and returns its path."""
    from detector_app.detection import zoo

    def job(progress: ProgressFn, cancel: threading.Event) -> Path:
        return zoo.download_model(model, progress=progress, cancel=cancel)

    return job


def model_spec_exists(spec: str) -> bool:
    """Whether ``spec`` can still name a model: ``default`` / :data:`UNTRAINED`, a
    builder name, an existing file, or a file name in the torch hub cache."""
    from detector_app.detection.config import ALL_BUILDERS
    from detector_app.detection.hub import hub_dir

    if spec in ("", "default", UNTRAINED) or spec in ALL_BUILDERS:
        return True
    path = Path(spec).expanduser()
    return path.is_file() or (len(path.parts) == 1 and (hub_dir() / spec).is_file())


#: Device choice for CPU inference with the backbone in bfloat16 (``detection.precision``).
CPU_BF16 = "cpu-bf16"


def split_device(device: str | None) -> tuple[str | None, str]:
    """A device choice as (torch device, precision): ``"cpu-bf16"`` is
    ``("cpu", "bf16")``; ``None`` / ``"auto"`` is CUDA when present, else the
    CPU in bf16 where it is measured faster than float32
    (``detection.precision.resolve_precision``; may measure once, so call it off the
    GUI thread), else ``(device, "fp32")``; anything else keeps float32."""
    if device == CPU_BF16:
        return "cpu", "bf16"
    if device in (None, "auto"):
        import torch

        from detector_app.detection.precision import resolve_precision

        if not torch.cuda.is_available() and resolve_precision("auto", "cpu") == "bf16":
            return "cpu", "bf16"
    return device, "fp32"


@dataclass(frozen=True)
class DeviceChoice:
    """One entry of the device list: the value :func:`split_device` takes, the
    text shown and a tooltip."""

    value: str
    label: str
    tooltip: str = ""


SLOW_MARK = "(slow on this CPU)"


def _cpu_bf16_choice() -> DeviceChoice:
    """``CPU bf16``, marked :data:`SLOW_MARK` unless it is known to be fast here:
    the CPU lists native bfloat16 and the probe (measured by the inference worker
    on its first CPU model load, never here) found it faster than float32."""
    from detector_app.detection.precision import cpu_supports_fast_bf16, measured_bf16_probe

    what = "CPU with the backbone and RPN head in bfloat16 (scores differ slightly from float32)"
    native, probe = cpu_supports_fast_bf16(), measured_bf16_probe()
    if probe is not None:
        if native and probe.fast:
            return DeviceChoice(CPU_BF16, "CPU bf16", f"{what}: {probe.reason()}; auto uses it")
        return DeviceChoice(CPU_BF16, f"CPU bf16 {SLOW_MARK}", f"{what}: {probe.reason()}; auto uses float32")
    if not native:
        return DeviceChoice(CPU_BF16, f"CPU bf16 {SLOW_MARK}",
                            f"{what}: this CPU has no AMX / AVX-512-BF16, so bf16 runs 3-20x slower than "
                            "float32 here; auto uses float32")
    return DeviceChoice(CPU_BF16, "CPU bf16 (speed not measured yet)",
                        f"{what}: the CPU lists native bfloat16; its speed is measured when the first "
                        "model loads")


def device_choices() -> list[DeviceChoice]:
    """``auto`` (CUDA, else ``cpu-bf16`` where it is measured fast, else ``cpu``),
    ``cpu``, ``cpu-bf16`` (marked :data:`SLOW_MARK` where it is not known to be
    fast: it is never offered as a plain choice where it is slower than float32),
    and ``cuda:N`` for each visible GPU. Never runs torch (safe on the GUI thread)."""
    import torch

    return [
        DeviceChoice("auto", "auto", "CUDA when present, else the CPU in bf16 where that is measured faster "
                                     "than float32, else the CPU in float32"),
        DeviceChoice("cpu", "CPU", "CPU, float32: the reference arithmetic"),
        _cpu_bf16_choice(),
        *(DeviceChoice(f"cuda:{i}", f"CUDA:{i}", torch.cuda.get_device_name(i))
          for i in range(torch.cuda.device_count())),
    ]


@dataclass
class FinetuneSettings:
    """Fine-tuning on the project's reviewed images (see :func:`run_finetune`)."""

    epochs: int = 5
    lr: float = 0.005
    batch: int = 2
    iters: int | None = None  # cap on iterations (None: epochs decide)
    verified_only: bool = True
    seed: int = 0
    device: str | None = None


def finetune_output(root: Path) -> Path:
    """Where a fine-tuned checkpoint goes: ``<project>/.detector_app/models/finetune-<time>.pt``."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(root) / ".detector_app" / "models" / f"finetune-{stamp}.pt"


#: Fewer images than this to fine-tune on get a warning: the model would memorise them.
FEW_IMAGES = 5


def finetune_records(store: ProjectStore, verified_only: bool) -> list[ImageRecord]:
    """The reviewed (or only verified) records a fine-tune trains on, accepted model boxes included."""
    from detector_app.app.export import ExportOptions, select_records

    return select_records(store.records(), ExportOptions(verified_only=verified_only, include_model_boxes=True),
                          True)


def finetune_images(store: ProjectStore, verified_only: bool) -> int:
    """How many images (frames) with boxes a fine-tune would train on."""
    return sum(1 for r in finetune_records(store, verified_only) if r.annotations)


def run_finetune(store: ProjectStore, base: ModelInfo | None, settings: FinetuneSettings, out: Path,
                 progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> TrainResult:
    """Fine-tune the model in use on the project's boxes (a long job).

    The reviewed (or only verified) images and their boxes, accepted model
    boxes included, are exported as a COCO dataset beside ``out`` (images
    referenced in place; video frames written as PNG), with the classes in
    the model's order so its class head is kept when the classes agree.
    Then ``detection.training.train`` runs from ``base``'s checkpoint (or its
    builder when it has no file). Returns the ``TrainResult``; the dataset
    folder is removed afterwards.
    """
    import shutil

    from detector_app.app.export import ExportOptions, export_dataset
    from detector_app.detection.training import TrainConfig, train
    from detector_app.domain.labels import LabelMap

    out = Path(out)
    chosen = finetune_records(store, settings.verified_only)
    if not any(r.annotations for r in chosen):
        which = "verified " if settings.verified_only else ""
        raise UserError(f"{store.root}: no {which}images with boxes to fine-tune on "
                        "(annotate some images and mark them verified with Space)")
    names = [] if base is None else list(base.label_names)
    labels = LabelMap(names + [n for n in store.label_map.names if n not in names])
    data_dir = out.with_name(out.stem + "-data")
    # the flat layout: annotations.json referring to the project's images where they are
    export_dataset(chosen, "coco", data_dir,
                   ExportOptions(image_mode="relative", overwrite=True, coco_layout="flat"),
                   progress, cancel, root=store.root, label_map=labels)
    try:
        cfg = TrainConfig(
            data=str(data_dir), out=str(out),
            init=base.path if base is not None and base.path else None,
            model=None if base is not None and base.path else (base.builder if base else "small"),
            epochs=settings.epochs, iters=settings.iters, batch=settings.batch, lr=settings.lr,
            warmup_iters=10, seed=settings.seed, device=settings.device, log_every=1,
        )
        return train(cfg, progress, cancel)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
