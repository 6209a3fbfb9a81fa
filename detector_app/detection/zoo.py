"""torchvision's COCO-trained Faster R-CNN weights, on disk or to download.

Everything about a model (URL, file name, size, box AP, class names) comes from
torchvision's ``Weights`` enums; nothing is typed here but the display title.
A zoo model is installed where ``torch.hub`` puts it (``hub_dir()/<file name>``),
so torchvision's own ``weights=`` argument finds the same file, and the app's
hub listing (``detection.hub``) shows it once it is there. Nothing downloads
unless :func:`download_model` is called.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from torchvision.models import get_model_weights

from detector_app.detection.config import TORCHVISION_BUILDERS
from detector_app.detection.download import download_file, hash_prefix_of, size_text
from detector_app.detection.hub import hub_dir
from detector_app.domain.errors import UserError
from detector_app.domain.progress import ProgressFn

#: torchvision's metadata has no licence field; this is what its README says of its weights.
LICENCE_NOTE = ("torchvision (BSD-3-Clause) publishes these weights without a separate licence and notes that "
                "pretrained weights may carry the terms of their training data (COCO: annotations CC BY 4.0, "
                "images under their Flickr licences)")

#: Environment variable: a base URL that serves torchvision's weight files by their names
#: (an organisation's mirror), used instead of download.pytorch.org.
MIRROR_ENV = "DETECTOR_APP_MODEL_MIRROR"

_WORDS = {"resnet50": "ResNet-50", "fpn": "FPN", "v2": "v2", "mobilenet": "MobileNetV3-Large",
          "320": "320"}


@dataclass(frozen=True)
class ZooModel:
    """One published weight file: ``name`` is the builder (``resnet50_fpn_v2``)."""

    name: str
    title: str
    url: str
    file_name: str
    size_bytes: int
    box_ap: float | None
    num_params: int
    categories: tuple[str, ...]
    recipe: str

    @property
    def hash_prefix(self) -> str | None:
        return hash_prefix_of(self.file_name)

    def path(self, folder: str | Path | None = None) -> Path:
        """Where the file goes (the torch hub cache unless ``folder``)."""
        return (Path(folder) if folder is not None else hub_dir()) / self.file_name

    def installed(self, folder: str | Path | None = None) -> bool:
        return self.path(folder).is_file()

    def summary(self) -> str:
        """``"167.1 MB, COCO box AP 46.7, 43.7 M parameters"``."""
        ap = f", COCO box AP {self.box_ap:g}" if self.box_ap is not None else ""
        return f"{size_text(self.size_bytes)}{ap}, {self.num_params / 1e6:.1f} M parameters"


def _title(builder: str) -> str:
    words = builder.replace("mobilenet_v3_large", "mobilenet").split("_")
    return "Faster R-CNN " + " ".join(_WORDS.get(w, w) for w in words) + " (COCO)"


def zoo_models() -> list[ZooModel]:
    """torchvision's COCO Faster R-CNN weights (its default ``Weights`` entry per builder),
    from ``$DETECTOR_APP_MODEL_MIRROR/<file name>`` when that variable is set."""
    out = []
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    for builder in TORCHVISION_BUILDERS:
        enum = get_model_weights(f"fasterrcnn_{builder}")
        w = enum.DEFAULT
        meta = w.meta
        file_name = w.url.rsplit("/", 1)[-1]
        ap = meta.get("_metrics", {}).get("COCO-val2017", {}).get("box_map")
        out.append(ZooModel(
            name=builder, title=_title(builder), url=f"{mirror.rstrip('/')}/{file_name}" if mirror else w.url,
            file_name=file_name,
            # torchvision records _file_size in MiB
            size_bytes=int(round(float(meta.get("_file_size", 0.0)) * 1024 * 1024)),
            box_ap=float(ap) if ap is not None else None, num_params=int(meta.get("num_params", 0)),
            categories=tuple(meta["categories"]), recipe=str(meta.get("recipe", "")),
        ))
    return out


def find_zoo_model(name: str, models: list[ZooModel] | None = None) -> ZooModel:
    """The zoo entry called ``name`` (builder name, file name, or ``fasterrcnn_<builder>``)."""
    models = zoo_models() if models is None else models
    key = name.strip()
    for m in models:
        if key in (m.name, m.file_name, f"fasterrcnn_{m.name}", m.title):
            return m
    raise UserError(f"no zoo model {name!r}; choose one of {', '.join(m.name for m in models)}")


def download_model(model: ZooModel, folder: str | Path | None = None, progress: ProgressFn | None = None,
                   cancel: threading.Event | None = None, timeout: float | None = None) -> Path:
    """Download ``model`` into the hub cache (or ``folder``); return its path. An
    installed file is kept as it is. See :func:`detection.download.download_file`."""
    dest = model.path(folder)
    if dest.is_file():
        return dest
    kwargs = {} if timeout is None else {"timeout": timeout}
    return download_file(model.url, dest, hash_prefix=model.hash_prefix, progress=progress, cancel=cancel, **kwargs)


__all__ = ["LICENCE_NOTE", "MIRROR_ENV", "ZooModel", "download_model", "find_zoo_model", "zoo_models"]
