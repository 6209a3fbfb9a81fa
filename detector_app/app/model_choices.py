"""What the model picker offers: the bundled model, recent and configured checkpoints,
torchvision's weights in the hub cache, and zoo models to download.

Never loads a model or runs torch (safe on the GUI thread); ``app.jobs.load_detector``
loads what is chosen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from detector_app.domain.errors import UserError
from detector_app.domain.progress import ProgressFn

if TYPE_CHECKING:
    from detector_app.detection.zoo import ZooModel

#: Model spec of a random-weight model with the bundled model's configuration and
#: classes: what the app runs while ``models/default.pt`` is missing, so that
#: anchors, proposals and the stepper still work (their boxes mean nothing).
UNTRAINED = "untrained"


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
    """The zoo model called ``name`` (``detection.zoo.find_zoo_model``)."""
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


__all__ = [
    "UNTRAINED", "ZOO_PREFIX", "ModelChoice", "bundled_model_path", "configured_models", "download_job",
    "find_zoo_model", "hub_model_files", "model_choices", "model_spec_exists", "zoo_models",
]
