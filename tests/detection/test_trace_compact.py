"""Compact traces on disk: anchors recomputed bitwise, deltas kept where they are read."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.app.trace_store import TraceStore
from detector_app.detection.builders import BUILDERS, build_model
from detector_app.detection.tracing import trace
from detector_app.domain.trace import DetectionTrace
from detector_app.domain.trace_compact import compact, expand, grid_anchors
from tests.helpers.models import tiny_builder_config
from tests.helpers.traces import make_fake_trace

pytestmark = pytest.mark.usefixtures("one_thread")

#: Original image sizes (H, W): downscaled, upscaled, square, and a tall one.
SIZES = [(75, 110), (131, 64), (64, 64), (40, 150)]


def _traces(builder: str) -> list[DetectionTrace]:
    torch.manual_seed(3)
    model = build_model(tiny_builder_config(builder)).eval()
    rng = np.random.default_rng(0)
    return [trace(model, rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in SIZES]


def _assert_same_but_deltas(a: DetectionTrace, b: DetectionTrace) -> None:
    for f in fields(a):
        if f.name in ("rpn_deltas", "timings_ms"):
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and np.array_equal(va, vb), f.name
        else:
            assert va == vb, f.name


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_recomputed_anchors_equal_torchvisions_bitwise(builder: str) -> None:
    for t in _traces(builder):
        assert t.resized_size != t.image_size or t.image_size == (64, 64)
        got = grid_anchors(t.levels, t.image_size, t.resized_size)
        assert got.dtype == np.float32 and np.array_equal(got, t.anchors), (builder, t.image_size)


@pytest.mark.parametrize("builder", ["lite", "resnet50_fpn"])
def test_compact_round_trip_through_bytes(builder: str) -> None:
    for t in _traces(builder):
        c = compact(t)
        assert c.anchors.size == 0  # recomputable: not stored
        back = expand(DetectionTrace.from_bytes(c.to_bytes()))
        _assert_same_but_deltas(back, t)
        candidates = np.union1d(t.pre_nms_anchor_index, t.proposal_anchor_index)
        np.testing.assert_array_equal(back.rpn_deltas[candidates], t.rpn_deltas[candidates])
        others = np.setdiff1d(np.arange(len(t.rpn_deltas)), candidates)
        assert np.isnan(back.rpn_deltas[others]).all()


def test_anchors_of_another_rule_are_kept() -> None:
    t = make_fake_trace()
    t.anchors = t.anchors + np.float32(0.5)  # no AnchorGenerator makes these
    c = compact(t)
    assert np.array_equal(c.anchors, t.anchors)
    assert np.array_equal(expand(DetectionTrace.from_bytes(c.to_bytes())).anchors, t.anchors)


def test_bundled_models_trace_is_stored_in_a_quarter_of_the_bytes(tmp_path: Path) -> None:
    """The store holds the compact form; what it returns is the trace as the stepper reads it."""
    from detector_app.detection.checkpoints import load_checkpoint
    from detector_app.detection.hub import bundled_model_path
    from detector_app.media.images import read_image

    root = Path(__file__).resolve().parents[2]
    image = read_image(root / "resources" / "samples" / "images" / "000000.jpg")
    t = trace(load_checkpoint(bundled_model_path()).model, image)
    store = TraceStore(tmp_path, "m")
    store.put("000000.jpg", t)
    assert store.size_bytes() * 4 < len(t.to_bytes())
    back = store.get("000000.jpg")
    assert back is not None
    _assert_same_but_deltas(back, t)
    for a in t.proposal_anchor_index:  # the stepper's "regressed from" numbers
        np.testing.assert_array_equal(back.rpn_deltas[a], t.rpn_deltas[a])
