"""Models for tests that need one but not a trained one: a tiny random-weight
checkpoint, and a fake model that returns the documented trace."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from detector_app.detection.config import ModelConfig
from detector_app.domain.trace import DetectionTrace
from tests.helpers.traces import make_fake_trace

#: The tiny checkpoint's classes (background first).
CLASSES = ["__background__", "cat", "dog"]


def tiny_builder_config(builder: str) -> ModelConfig:
    """``builder`` with 3 classes at a tiny input size, so every builder runs in well under a second."""
    small = {"paper": (96, 128), "small": (96, 128)}.get(builder, (64, 96))
    return ModelConfig(builder=builder, num_classes=3, min_size=small[0], max_size=small[1])


def tiny_checkpoint_config() -> ModelConfig:
    """The ``small`` model at 128 px with few proposals and every detection kept (fast on CPU)."""
    return ModelConfig(
        builder="small", num_classes=len(CLASSES), min_size=128, max_size=128,
        anchor_sizes=((16.0, 32.0, 64.0),), aspect_ratios=((0.5, 1.0, 2.0),),
        rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=50, box_score_thresh=0.0,
    )


def make_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """A random-weight (``seed``) project checkpoint of :func:`tiny_checkpoint_config`
    with classes cat and dog, ``meta == {"test": True}``."""
    import torch

    from detector_app.detection.builders import build_model
    from detector_app.detection.checkpoints import save_checkpoint

    torch.manual_seed(seed)
    model = build_model(tiny_checkpoint_config())
    return save_checkpoint(path, model, tiny_checkpoint_config(), CLASSES, meta={"test": True})


class FakeModel:
    """A detector (``rgb -> DetectionTrace``) that returns the documented fake trace;
    can be told to fail or to take ``delay`` seconds. ``calls`` counts the calls and
    ``spans`` records each call's ``(start, end)`` in ``time.monotonic()`` seconds."""

    def __init__(self) -> None:
        self.trace = make_fake_trace()
        self.fail = False
        self.delay = 0.0
        self.calls = 0
        self.spans: list[tuple[float, float]] = []

    def __call__(self, rgb: np.ndarray) -> DetectionTrace:
        self.calls += 1
        start = time.monotonic()
        time.sleep(self.delay)
        self.spans.append((start, time.monotonic()))
        if self.fail:
            raise RuntimeError("CUDA out of memory (simulated)")
        return self.trace
