"""The generator's ``wide`` style: determinism, exact boxes under occluders, rotations and
proportions the first style never drew, backgrounds, camera effects, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.cli import main
from detector_app.detection.synthetic import CLASS_NAMES, SynthError, generate_image, write_dataset
from detector_app.detection.synthetic_shapes import shape_mask, visible_box
from detector_app.detection.synthetic_wide import WIDE_BACKGROUNDS, camera, compose_wide


def test_same_seed_same_image_and_boxes_other_index_differs() -> None:
    a, b, c = (generate_image(7, i, size=160, style="wide") for i in (3, 3, 4))
    assert np.array_equal(a.image, b.image)
    assert [o.box for o in a.objects] == [o.box for o in b.objects]
    assert not np.array_equal(a.image, c.image)
    # the same draws, another style: another image
    assert not np.array_equal(a.image, generate_image(7, 3, size=160).image)


def test_boxes_are_the_visible_masks_boxes() -> None:
    for i in range(12):
        sample = generate_image(11, i, size=192, style="wide")
        for obj in sample.objects:
            assert obj.box == visible_box(obj.mask)
            assert obj.area == int(obj.mask.sum())
            assert obj.class_index in range(len(CLASS_NAMES))


def test_occluders_in_front_hide_parts_of_objects_and_are_never_objects() -> None:
    """One shape per image, alone: any hidden pixel of it is hidden by an occluder."""
    hidden, objects = 0, 0
    for i in range(40):
        rng = np.random.default_rng([5, i])
        _, objs, *_ = compose_wide(rng, 160, 160, [(0, 90.0, 80.0, 80.0)])
        assert len(objs) <= 1, "clutter and occluders never become objects"
        full = shape_mask(np.random.default_rng(0), 0, 160, 160, 90.0, 80.0, 80.0, wide=True)  # circle: no draws
        for obj in objs:
            objects += 1
            assert not (obj.mask & ~full).any(), "the visible mask lies inside the shape"
            hidden += int(obj.mask.sum()) < int(full.sum())
    assert objects >= 30 and hidden >= 3, (objects, hidden)


def _min_area_rect(mask: np.ndarray) -> tuple[float, float, float]:
    pts = np.argwhere(mask)[:, ::-1].astype(np.float32)
    (_, _), (w, h), angle = cv2.minAreaRect(pts)
    return w, h, angle


def test_bars_turn_to_any_angle_and_reach_1_to_8_and_3_to_5() -> None:
    bar = CLASS_NAMES.index("bar")
    angles, ratios = [], []
    for i in range(60):
        mask = shape_mask(np.random.default_rng([9, i]), bar, 300, 300, 200.0, 150.0, 150.0, wide=True)
        w, h, angle = _min_area_rect(mask)
        ratios.append(min(w, h) / max(w, h))
        angles.append(angle % 90)
    assert sum(5 < a < 85 for a in angles) >= 40, "most bars are not axis-aligned"
    assert min(ratios) < 0.2 and max(ratios) > 0.52, (min(ratios), max(ratios))
    first_style = [shape_mask(np.random.default_rng([9, i]), bar, 300, 300, 200.0, 150.0, 150.0) for i in range(20)]
    for mask in first_style:  # the first style's bars stay axis-aligned rectangles
        box = visible_box(mask)
        assert box is not None and int(mask.sum()) == (box[2] - box[0]) * (box[3] - box[1])


def test_star_points_range_from_thick_to_thin() -> None:
    star = CLASS_NAMES.index("star")
    fills = []
    for i in range(60):
        mask = shape_mask(np.random.default_rng([4, i]), star, 300, 300, 240.0, 150.0, 150.0, wide=True)
        fills.append(mask.sum() / (math.pi * 120.0 ** 2))  # area against the outer circle's
    # inner radius 0.28 of the outer: about 0.26 of the circle; 0.62: about 0.57
    assert min(fills) < 0.30 and max(fills) > 0.50, (min(fills), max(fills))


def test_backgrounds_cover_every_kind() -> None:
    kinds = {generate_image(2, i, size=96, style="wide").background for i in range(120)}
    assert kinds == set(WIDE_BACKGROUNDS)


def test_camera_blurs_adds_noise_and_jpeg_artefacts() -> None:
    flat = np.full((64, 64, 3), 128.0, np.float32)
    flat[:, 32:] = 40.0  # one sharp edge
    outs = [camera(np.random.default_rng([1, i]), flat.copy()) for i in range(30)]
    assert all(o[0].dtype == np.uint8 and o[0].shape == (64, 64, 3) for o in outs)
    assert any(o[2] > 0 for o in outs) and any(o[2] == 0 for o in outs)
    assert any(o[1] > 0 for o in outs)
    # a noiseless, unblurred image that still changed away from its two levels: JPEG or exposure
    assert len({float(o[0][:, :20].std()) for o in outs}) > 10


def test_write_dataset_and_cli_record_the_style(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "w", 2, seed=1, size=96, style="wide")
    assert json.loads(path.read_text())["info"]["version"] == "wide"
    assert json.loads(write_dataset(tmp_path / "v", 1, seed=1, size=96).read_text())["info"]["version"] == "1"
    assert main(["synth", "--out", str(tmp_path / "c"), "--images", "2", "--seed", "1", "--size", "96",
                 "--style", "wide"]) == 0
    assert (tmp_path / "c" / "annotations.json").read_bytes() == path.read_bytes()
    mixed = [generate_image(1, i, size=96, style="mixed").image for i in range(2)]
    assert np.array_equal(mixed[0], generate_image(1, 0, size=96).image)
    assert np.array_equal(mixed[1], generate_image(1, 1, size=96, style="wide").image)
    with pytest.raises(SynthError, match="unknown style"):
        generate_image(0, 0, style="fancy")
