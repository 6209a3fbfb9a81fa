"""Synthetic shapes generator: determinism, exact visible-mask boxes, COCO layout, video."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.cli import main
from detector_app.detection.synthetic import (
    CLASS_NAMES,
    SHAPES,
    SynthError,
    compose,
    generate_image,
    write_dataset,
    write_video,
)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_class_names_are_fixed() -> None:
    assert CLASS_NAMES == ("circle", "square", "triangle", "bar", "star")


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    write_dataset(tmp_path / "a", 3, seed=11, size=128)
    write_dataset(tmp_path / "b", 3, seed=11, size=128)
    write_dataset(tmp_path / "c", 3, seed=12, size=128)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a.keys() == b.keys() == {"annotations.json", "images/000000.jpg", "images/000001.jpg", "images/000002.jpg"}
    assert a == b
    assert a["images/000000.jpg"] != c["images/000000.jpg"]


def test_coco_layout_ids_from_one(tmp_path: Path) -> None:
    path = write_dataset(tmp_path, 4, seed=3, size=128, fmt="png")
    coco = json.loads(path.read_text())
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3, 4, 5]
    assert [c["name"] for c in coco["categories"]] == list(CLASS_NAMES)
    assert [im["id"] for im in coco["images"]] == [1, 2, 3, 4]
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))
    for im in coco["images"]:
        assert (tmp_path / im["file_name"]).is_file()
        rgb = cv2.imread(str(tmp_path / im["file_name"]))
        assert rgb.shape == (128, 128, 3)
    # the annotations are the generator's visible boxes, converted to xywh
    for im in coco["images"]:
        sample = generate_image(3, im["id"] - 1, 128)
        anns = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
        assert len(anns) == len(sample.objects) >= 1
        for ann, obj in zip(anns, sample.objects):
            x1, y1, x2, y2 = obj.box
            assert ann["bbox"] == [x1, y1, x2 - x1, y2 - y1]
            assert ann["category_id"] == obj.class_index + 1
    # png is lossless: pixels equal the generator's
    png = cv2.cvtColor(cv2.imread(str(tmp_path / "images/000000.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(png, generate_image(3, 0, 128).image)


@pytest.mark.parametrize("index", range(6))
def test_boxes_are_tight_boxes_of_visible_masks(index: int) -> None:
    sample = generate_image(5, index, 256)
    assert 1 <= len(sample.objects) <= 12
    covered = np.zeros((256, 256), bool)
    for obj in sample.objects:
        ys, xs = np.nonzero(obj.mask)
        assert obj.box == (xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0)
        assert obj.area == len(xs)
        assert not (covered & obj.mask).any(), "visible masks must not overlap"
        covered |= obj.mask


def test_occluded_object_box_shrinks_and_hidden_object_is_dropped() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((128, 128, 3), 40.0)
    # circle 0 (diameter 40, centre 30,64) partly covered by the later big circle 1
    # (diameter 100, centre 80,64); circle 2 (diameter 20) fully under circle 3.
    shapes = [(0, 40.0, 30.0, 64.0), (0, 100.0, 80.0, 64.0), (0, 20.0, 100.0, 20.0), (0, 60.0, 100.0, 20.0)]
    out = compose(rng, 128, 128, shapes, background=flat, noise=False)
    assert len(out.objects) == 3  # circle 2 is hidden
    first = out.objects[0]
    yy, xx = np.mgrid[0:128, 0:128] + 0.5
    full0 = (xx - 30) ** 2 + (yy - 64) ** 2 <= 20**2
    later = ((xx - 80) ** 2 + (yy - 64) ** 2 <= 50**2) | ((xx - 100) ** 2 + (yy - 20) ** 2 <= 30**2)
    ys, xs = np.nonzero(full0 & ~later)
    expected = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert np.allclose(first.box, expected, atol=1.0)  # polygonal circle vs exact disc
    assert first.box[2] < 45  # much narrower than the full circle (x2 = 50)
    # the visible object pixels carry the object's fill, not the background
    assert (out.image[first.mask] != 40).any(axis=1).all()


def test_object_sizes_span_small_to_large() -> None:
    sides = []
    for i in range(40):
        for obj in generate_image(9, i, 512).objects:
            x1, y1, x2, y2 = obj.box
            sides.append(max(x2 - x1, y2 - y1))
    assert min(sides) < 24 and max(sides) > 200
    assert max(sides) <= 258  # 256 px plus rasterisation
    # log-uniform sizes: each anchor scale's range (small / medium / large) gets a good share
    sides_arr = np.array(sides)
    for lo, hi in ((0, 45), (45, 128), (128, 300)):
        assert np.mean((sides_arr >= lo) & (sides_arr < hi)) > 0.15


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="--images"):
        write_dataset(tmp_path, 0, seed=1)
    with pytest.raises(SynthError, match="mp4"):
        write_video(tmp_path / "v.txt", seed=1)


def test_video_frames_and_ground_truth(tmp_path: Path) -> None:
    json_path = write_video(tmp_path / "clip.mp4", seed=4, seconds=1.0, fps=10, width=160, height=120)
    coco = json.loads(json_path.read_text())
    cap = cv2.VideoCapture(str(tmp_path / "clip.mp4"))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (120, 160, 3)
    assert n == 10 == len(coco["images"])
    assert [im["frame_index"] for im in coco["images"]] == list(range(10))
    assert coco["annotations"], "moving shapes must be annotated"
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        assert x >= 0 and y >= 0 and x + w <= 160 and y + h <= 120 and w > 0 and h > 0
    # the ground truth loads as a dataset of video frames (for evaluate / train)
    from detector_app.detection.datasets import load_detection_data, load_sample_image

    data = load_detection_data(json_path)
    assert [s.frame_index for s in data.samples] == list(range(10))
    assert load_sample_image(data.samples[5]).shape == (120, 160, 3)
    assert data.num_boxes() == len(coco["annotations"])


def test_cli_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--out", str(tmp_path / "d"), "--images", "2", "--seed", "1", "--size", "96"]) == 0
    assert len(json.loads((tmp_path / "d" / "annotations.json").read_text())["images"]) == 2
    assert main(["synth"]) == 2
    assert "--out" in capsys.readouterr().err


def _single(cls: int, i: int, size: float = 120.0):  # type: ignore[no-untyped-def]
    """One shape of class ``cls`` alone at the centre of a flat 256 x 256 image (no noise)."""
    flat = np.full((256, 256, 3), 40.0)
    out = compose(np.random.default_rng([cls, i]), 256, 256, [(cls, size, 128.0, 128.0)], background=flat,
                  noise=False)
    assert len(out.objects) == 1
    return out.objects[0]


def _orientation_bins(obj) -> int:  # type: ignore[no-untyped-def]
    """In how many 30-degree sectors lies the pixel farthest from the shape's centroid?"""
    ys, xs = np.nonzero(obj.mask)
    dx, dy = xs - xs.mean(), ys - ys.mean()
    k = int(np.argmax(dx * dx + dy * dy))
    return int(np.degrees(np.arctan2(dy[k], dx[k])) % 360 // 30)


@pytest.mark.parametrize("name", ["square", "triangle", "star"])
def test_squares_triangles_and_stars_are_rotated(name: str) -> None:
    cls = CLASS_NAMES.index(name)
    objs = [_single(cls, i) for i in range(16)]
    assert len({_orientation_bins(o) for o in objs}) >= 4, "corners should point in many directions"
    if name == "square":  # an axis-aligned square fills its box; rotated ones fill 50 % at 45 degrees
        fill = [o.area / ((o.box[2] - o.box[0]) * (o.box[3] - o.box[1])) for o in objs]
        assert min(fill) < 0.6 and max(fill) > 0.8


def test_bars_are_axis_aligned_1_to_4_up_to_1_to_2_both_ways() -> None:
    cls = CLASS_NAMES.index("bar")
    ratios = []
    for i in range(30):
        o = _single(cls, i)
        w, h = o.box[2] - o.box[0], o.box[3] - o.box[1]
        assert o.area == w * h  # a filled axis-aligned rectangle: the box is the shape
        ratios.append(w / h)
        short, long_ = min(w, h), max(w, h)
        assert 0.25 - 1.5 / long_ <= short / long_ <= 0.5 + 1.5 / long_
    assert min(ratios) < 0.5 and max(ratios) > 2.0, "horizontal and vertical bars"


def test_circles_are_round() -> None:
    o = _single(CLASS_NAMES.index("circle"), 0)
    w, h = o.box[2] - o.box[0], o.box[3] - o.box[1]
    assert abs(w - 120) <= 1 and abs(h - 120) <= 1
    assert o.area / (w * h) == pytest.approx(np.pi / 4, abs=0.02)


def _background_of_kind(kind: str, h: int = 96, w: int = 128) -> np.ndarray:
    from detector_app.detection.synthetic_shapes import random_background

    for seed in range(200):
        img, got = random_background(np.random.default_rng(seed), h, w)
        if got == kind:
            return img
    raise AssertionError(f"no {kind} background in 200 seeds")


def test_each_background_kind_looks_like_its_name() -> None:
    from detector_app.detection.synthetic import BACKGROUNDS

    assert BACKGROUNDS == ("flat", "gradient", "noise", "stripes", "clutter")
    flat = _background_of_kind("flat")
    assert np.ptp(flat.reshape(-1, 3), axis=0).max() == 0
    # gradient: every channel is an affine function of (x, y), and not constant
    grad = _background_of_kind("gradient")
    yy, xx = np.mgrid[0:96, 0:128]
    design = np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)], 1).astype(np.float64)
    for c in range(3):
        coef, *_ = np.linalg.lstsq(design, grad[..., c].ravel(), rcond=None)
        assert np.abs(design @ coef - grad[..., c].ravel()).max() < 0.01
    assert np.ptp(grad) > 10
    # smooth noise: varies over the image but only a little from one pixel to the next
    noise = _background_of_kind("noise")
    assert np.ptp(noise) > 30 and np.abs(np.diff(noise, axis=1)).max() < 0.25 * np.ptp(noise)
    # stripes: two colours, both covering a good part of the image
    stripes = _background_of_kind("stripes")
    colours, counts = np.unique(stripes.reshape(-1, 3), axis=0, return_counts=True)
    assert len(colours) == 2 and counts.min() > 0.2 * counts.sum()
    # clutter: a flat colour crossed by lines
    clutter = _background_of_kind("clutter")
    _, counts = np.unique(clutter.reshape(-1, 3), axis=0, return_counts=True)
    assert 0.4 * counts.sum() < counts.max() < 0.99 * counts.sum()


def test_backgrounds_fills_noise_and_blur_all_occur() -> None:
    from detector_app.detection.synthetic import BACKGROUNDS, FILLS

    images = [generate_image(9, i, 128) for i in range(40)]
    assert {s.background for s in images} == set(BACKGROUNDS)
    assert {o.fill for s in images for o in s.objects} == set(FILLS)
    assert {(s.noise_sigma > 0, s.blur > 0) for s in images} == {(a, b) for a in (False, True) for b in (False, True)}
    colours = {tuple(s.image[o.mask].mean(axis=0).round()) for s in images for o in s.objects}
    assert len(colours) > 100, "object colours vary"


def test_image_noise_has_the_recorded_sigma() -> None:
    from detector_app.detection.synthetic import _sample_shapes

    index, sample = next((i, s) for i, s in ((i, generate_image(9, i, 128)) for i in range(40))
                         if s.noise_sigma >= 5 and not s.blur)
    rng = np.random.default_rng([9, index])  # the same draws as generate_image, minus the noise
    shapes = _sample_shapes(rng, 128, 128, int(rng.integers(1, 13)), 4.0, 64.0)
    clean = compose(rng, 128, 128, shapes, noise=False)
    assert [o.box for o in clean.objects] == [o.box for o in sample.objects]
    diff = sample.image.astype(float) - clean.image.astype(float)
    inside = (clean.image > 30).all(axis=2) & (clean.image < 225).all(axis=2)  # not clipped at 0 / 255
    assert diff[inside].std() == pytest.approx(sample.noise_sigma, rel=0.15)


def test_bundled_samples_are_the_generators_seed_4242(tmp_path: Path) -> None:
    """resources/samples was written by `synth --seed 4242`; the generator still writes the same."""
    samples = Path(__file__).resolve().parents[2] / "resources" / "samples"
    coco = json.loads((samples / "annotations.json").read_text())
    write_dataset(tmp_path / "s", len(coco["images"]), seed=4242, size=512)
    assert json.loads((tmp_path / "s" / "annotations.json").read_text()) == coco
    for im in coco["images"]:
        assert (tmp_path / "s" / im["file_name"]).read_bytes() == (samples / im["file_name"]).read_bytes()
    video = json.loads((samples / "shapes.json").read_text())
    gt = write_video(tmp_path / "shapes.mp4", seed=4242, seconds=len(video["images"]) / video["info"]["fps"],
                     fps=video["info"]["fps"], width=video["images"][0]["width"], height=video["images"][0]["height"])
    assert json.loads(gt.read_text()) == video


def test_the_five_class_datasets_keep_their_objects_when_new_shapes_exist() -> None:
    """Adding shapes must not move a single draw of the default generator: image 0 of
    the holdout seed has these objects (the bundled model's card was measured on them)."""
    sample = generate_image(3000, 0)
    assert [(o.class_index, o.box) for o in sample.objects] == [
        (2, (207.0, 89.0, 238.0, 106.0)), (4, (301.0, 438.0, 326.0, 463.0)), (1, (165.0, 105.0, 290.0, 230.0)),
        (4, (10.0, 53.0, 28.0, 71.0)), (3, (206.0, 134.0, 271.0, 154.0)), (4, (151.0, 17.0, 173.0, 37.0)),
        (0, (12.0, 257.0, 198.0, 444.0)), (1, (151.0, 23.0, 170.0, 43.0)), (4, (352.0, 169.0, 482.0, 298.0))]
    explicit = generate_image(3000, 0, classes=CLASS_NAMES)
    assert np.array_equal(explicit.image, sample.image)


def test_crosses_and_hexagons_have_their_shapes() -> None:
    cross = [_single(SHAPES.index("cross"), i) for i in range(12)]
    hexagon = [_single(SHAPES.index("hexagon"), i) for i in range(12)]
    for o in cross:  # arms 0.22-0.36 of the half-size wide: the centre is filled, the box's corners empty
        x1, y1, x2, y2 = (int(v) for v in o.box)
        assert o.mask[(y1 + y2) // 2, (x1 + x2) // 2]
        assert 0.25 < o.area / ((x2 - x1) * (y2 - y1)) < 0.75
    assert len({_orientation_bins(o) for o in cross}) >= 3, "crosses are rotated"
    fill = [o.area / ((o.box[2] - o.box[0]) * (o.box[3] - o.box[1])) for o in hexagon]
    assert all(0.6 < f < 0.9 for f in fill)  # a regular hexagon fills 65-75 % of its box


def test_a_dataset_with_a_new_class_lists_categories_in_the_given_order(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "d", images=6, seed=5, size=128, fmt="png", classes=("cross", "circle"))
    coco = json.loads(path.read_text())
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [(1, "cross"), (2, "circle")]
    ids = {a["category_id"] for a in coco["annotations"]}
    assert ids == {1, 2}
    first = generate_image(5, 0, 128, classes=("cross", "circle"))
    want = [(1 if o.class_index == SHAPES.index("cross") else 2, list(o.box)) for o in first.objects]
    got = [(a["category_id"], [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]])
           for a in coco["annotations"] if a["image_id"] == 1]
    assert got == want
    with pytest.raises(SynthError, match="distinct names"):
        write_dataset(tmp_path / "e", images=1, seed=5, classes=("cross", "kite"))


def test_visible_objects_hides_what_later_shapes_cover_and_drops_the_mostly_hidden() -> None:
    """Three 10x10 squares drawn back to front: the first is half covered by the second (box
    shrinks to its visible half), the third hides the second entirely (dropped)."""
    from detector_app.detection.synthetic_shapes import visible_objects

    def square(x: int, y: int) -> np.ndarray:
        mask = np.zeros((40, 40), bool)
        mask[y:y + 10, x:x + 10] = True
        return mask

    objs = visible_objects([(0, square(0, 0), "flat"), (1, square(5, 0), "flat"), (2, square(5, 0), "speckle")], 40, 40)
    assert [(o.class_index, o.box, o.area, o.fill) for o in objs] == [
        (0, (0.0, 0.0, 5.0, 10.0), 50, "flat"), (2, (5.0, 0.0, 15.0, 10.0), 100, "speckle")]
    assert not (objs[0].mask & objs[1].mask).any()


def test_synth_classes_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--out", str(tmp_path / "d"), "--images", "2", "--seed", "1", "--size", "96",
                 "--classes", "star, cross"]) == 0
    coco = json.loads((tmp_path / "d" / "annotations.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["star", "cross"]
    assert main(["synth", "--out", str(tmp_path / "e"), "--classes", "star,kite"]) == 2
    assert "kite" in capsys.readouterr().err
