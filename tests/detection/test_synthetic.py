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
