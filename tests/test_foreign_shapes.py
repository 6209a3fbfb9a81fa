"""The independent shape drawer the generalisation benchmark judges with: its boxes are
where its anti-aliased shapes are, its files are COCO that pycocotools reads, and its
classes are the bundled model's in the same order."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from foreign_shapes import CLASSES, _draw, _outline, foreign_image, write_foreign  # noqa: E402

from detector_app.detection.synthetic import CLASS_NAMES  # noqa: E402


def test_classes_are_the_bundled_models_in_order() -> None:
    assert CLASSES == CLASS_NAMES


@pytest.mark.parametrize("name", CLASSES)
def test_the_box_of_the_hard_mask_is_where_the_anti_aliased_shape_is(name: str) -> None:
    rng = np.random.default_rng(3)
    for _ in range(10):
        size = float(rng.uniform(20, 150))
        outline = _outline(rng, name, 100.0, 100.0, size)
        hard = np.zeros((200, 200), np.uint8)
        _draw(hard, outline, 100.0, 100.0, size, (1, 1, 1), aa=False)
        soft = np.zeros((200, 200), np.float32)
        _draw(soft, outline, 100.0, 100.0, size, (1.0, 1.0, 1.0), aa=True)
        hy, hx = np.nonzero(hard)
        sy, sx = np.nonzero(soft >= 0.5)
        hard_box = np.array([hx.min(), hy.min(), hx.max() + 1, hy.max() + 1], float)
        soft_box = np.array([sx.min(), sy.min(), sx.max() + 1, sy.max() + 1], float)
        assert np.abs(hard_box - soft_box).max() <= 1.0, (name, hard_box, soft_box)


def test_images_are_deterministic_and_objects_never_overlap() -> None:
    a, objs_a = foreign_image(1, 2, size=256)
    b, objs_b = foreign_image(1, 2, size=256)
    assert np.array_equal(a, b) and objs_a == objs_b
    for i in range(10):
        _, objs = foreign_image(4, i, size=256)
        boxes = [box for _, box in objs]
        for j, p in enumerate(boxes):
            assert 0 <= p[0] < p[2] <= 256 and 0 <= p[1] < p[3] <= 256
            for q in boxes[j + 1:]:
                assert p[2] <= q[0] or q[2] <= p[0] or p[3] <= q[1] or q[3] <= p[1]


def test_the_dataset_is_coco_that_pycocotools_reads(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    path = write_foreign(tmp_path, 4, seed=2, size=192)
    coco = COCO(str(path))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
    assert len(coco.getImgIds()) == 4 and len(coco.getAnnIds()) >= 4
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert ann["area"] == ann["bbox"][2] * ann["bbox"][3]
        assert (tmp_path / coco.loadImgs(ann["image_id"])[0]["file_name"]).is_file()
