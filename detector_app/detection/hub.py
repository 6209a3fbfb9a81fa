"""Where models come from: the bundled model, configured checkpoints, the torch hub cache.

Nothing here downloads anything: the hub cache (``torch.hub.get_dir()/checkpoints``,
i.e. ``$TORCH_HOME/hub/checkpoints``) is only listed, by file name, without
loading the files.

``resolve_model(spec)`` turns what a user types (``--model``) into a file path
or, for a builder name, a randomly initialised :class:`LoadedModel`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from detector_app.detection.checkpoints import CheckpointError, LoadedModel, load_checkpoint, model_from_builder
from detector_app.detection.config import ALL_BUILDERS

MODELS_FILE = "models.json"

#: torchvision's published Faster R-CNN file names -> builder (most specific first).
_HUB_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^fasterrcnn_resnet50_fpn_v2", "resnet50_fpn_v2"),
    (r"^fasterrcnn_resnet50_fpn", "resnet50_fpn"),
    (r"^fasterrcnn_mobilenet_v3_large_320_fpn", "mobilenet_v3_large_320_fpn"),
    (r"^fasterrcnn_mobilenet_v3_large_fpn", "mobilenet_v3_large_fpn"),
)


@dataclass(frozen=True)
class HubFile:
    """A torchvision Faster R-CNN weight file in the hub cache (not loaded)."""

    path: Path
    builder: str
    size_bytes: int

    @property
    def name(self) -> str:
        return self.path.name


def bundled_model_candidates() -> list[Path]:
    """Where the bundled model may be, in order: ``<repo>/models/default.pt`` (a
    source checkout or editable install) and ``<sys.prefix>/share/detector-app/models/default.pt``
    (where a wheel install puts it: ``[tool.setuptools.data-files]`` in pyproject.toml)."""
    return [Path(__file__).resolve().parents[2] / "models" / "default.pt",
            Path(sys.prefix) / "share" / "detector-app" / "models" / "default.pt"]


def bundled_model_path() -> Path:
    """The model trained for this project: the first of :func:`bundled_model_candidates`
    that exists (the first one when none does, so messages name the source location)."""
    candidates = bundled_model_candidates()
    return next((p for p in candidates if p.is_file()), candidates[0])


def hub_dir() -> Path:
    """``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def builder_for_filename(name: str) -> str | None:
    """The torchvision builder a hub file name belongs to, or ``None``."""
    for pattern, builder in _HUB_PATTERNS:
        if re.match(pattern, name):
            return builder
    return None


def list_hub_checkpoints(folder: str | Path | None = None) -> list[HubFile]:
    """torchvision Faster R-CNN files (``.pth``/``.pt``) in the hub cache, by name."""
    folder = Path(folder) if folder is not None else hub_dir()
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        builder = builder_for_filename(p.name)
        if builder and p.suffix in (".pth", ".pt") and p.is_file():
            out.append(HubFile(p, builder, p.stat().st_size))
    return out


def config_dir() -> Path:
    """``$DETECTOR_APP_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/detector_app``, else ``~/.config/detector_app``."""
    env = os.environ.get("DETECTOR_APP_CONFIG_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "detector_app"


def configured_checkpoints(path: str | Path | None = None) -> list[Path]:
    """Extra checkpoint paths listed in ``config_dir()/models.json``.

    The file holds a JSON list of paths, or ``{"checkpoints": [...]}``;
    relative paths are relative to the file's folder. A missing file means
    none; a malformed one raises :class:`CheckpointError` naming it.
    """
    path = Path(path) if path is not None else config_dir() / MODELS_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable JSON model list ({exc})") from None
    items = data.get("checkpoints") if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise CheckpointError(f'{path}: expected a JSON list of checkpoint paths or {{"checkpoints": [...]}}')
    return [(path.parent / Path(i).expanduser()) if not Path(i).expanduser().is_absolute() else Path(i).expanduser()
            for i in items]


def resolve_model(spec: str | Path | None) -> Path | LoadedModel:
    """What ``--model`` names.

    ``None``/``"default"``: the bundled model (a clear error if it is missing);
    an existing file; a file name in the hub cache; or a builder name, which
    gives a model with *random* weights (for experiments; warns).
    """
    if spec is None or str(spec) in ("", "default"):
        path = bundled_model_path()
        if not path.is_file():
            raise CheckpointError(
                f"the bundled model {path} is missing: train it (see docs/training.md) "
                "or pass --model PATH to a checkpoint"
            )
        return path
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.exists():
        what = "is a folder" if path.is_dir() else "is not a regular file (a device, pipe or socket)"
        raise CheckpointError(f"--model {text}: {what}, not a model file")
    cached = hub_dir() / text
    if os.sep not in text and cached.is_file():
        return cached
    if text in ALL_BUILDERS:
        warnings.warn(
            f"--model {text}: a {text} model with RANDOM weights (untrained; detections are meaningless)",
            UserWarning, stacklevel=2,
        )
        return model_from_builder(text)
    raise CheckpointError(
        f"--model {text}: no such file, and not a model builder ({', '.join(ALL_BUILDERS)}) "
        "or a file in the torch hub cache"
    )


def load_model(spec: str | Path | None, device: torch.device | str | None = None) -> LoadedModel:
    """:func:`resolve_model` then :func:`load_checkpoint` (or the built model), on ``device``."""
    resolved = resolve_model(spec)
    if isinstance(resolved, LoadedModel):
        if device is not None:
            resolved.model.to(torch.device(device))
        return resolved
    return load_checkpoint(resolved, device)


__all__ = [
    "HubFile", "bundled_model_path", "builder_for_filename", "config_dir", "configured_checkpoints",
    "hub_dir", "list_hub_checkpoints", "load_model", "resolve_model",
]
