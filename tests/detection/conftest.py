"""Fixtures for the detection tests: tiny synthetic datasets and a tiny model config."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from detector_app.detection.config import ModelConfig


@pytest.fixture(scope="session")
def tiny_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 128 x 128 synthetic images (seed 7) as a COCO folder (read-only for tests)."""
    from detector_app.detection.synthetic import write_dataset

    out = tmp_path_factory.mktemp("tiny_coco")
    write_dataset(out, images=2, seed=7, size=128, fmt="png")
    return out


@pytest.fixture(scope="session")
def tiny_coco_two_classes(tmp_path_factory: pytest.TempPathFactory, tiny_coco: Path) -> Path:
    """The same two images, relabelled to two classes (``round``, ``angular``)."""
    data = json.loads((tiny_coco / "annotations.json").read_text())
    data["categories"] = [{"id": 1, "name": "round"}, {"id": 2, "name": "angular"}]
    for ann in data["annotations"]:
        ann["category_id"] = 1 if ann["category_id"] == 1 else 2
    out = tmp_path_factory.mktemp("tiny_two")
    (out / "annotations.json").write_text(json.dumps(data))
    (out / "images").symlink_to(tiny_coco / "images", target_is_directory=True)
    return out


def _tiny_config(num_classes: int = 6) -> ModelConfig:
    return ModelConfig(
        builder="small", num_classes=num_classes, min_size=128, max_size=128,
        anchor_sizes=((16.0, 32.0, 64.0),), aspect_ratios=((0.5, 1.0, 2.0),),
        rpn_pre_nms_top_n_train=200, rpn_post_nms_top_n_train=100,
        rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=50,
    )


@pytest.fixture
def tiny_config() -> Callable[..., ModelConfig]:
    """Factory: the ``small`` model at 128 px with few proposals (a training step ~0.1 s)."""
    return _tiny_config


@pytest.fixture
def tiny_config_json(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_config.json"
    path.write_text(_tiny_config().to_json())
    return path


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch on one thread: on 2 shared cores, OpenMP threads spin while
    other processes hold the CPU (10x slower); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
