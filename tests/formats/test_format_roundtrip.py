"""Property tests: random boxes and labels -> write -> read gives them back.

COCO: exact (coordinates on a 1/1024 pixel grid, which float64 ``x + w``
represents exactly); VOC: within 1 px (integer rounding, integer boxes exact);
YOLO: within 1e-6 relative to the image size. Every COCO export loads in
pycocotools.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO

from detector_app.domain import Annotation, AnnotationSource, Box, ImageRecord, LabelMap
from detector_app.domain.labels import LabelError, check_class_name
from detector_app.formats import Dataset, load_dataset, unique_stems, write_dataset
from detector_app.formats.yolo import yolo_layout
from tests.helpers.files import grey_png


def _usable(name: str) -> bool:
    try:
        return check_class_name(name) == name
    except LabelError:
        return False


# Any class name the domain accepts (one line of printable text: quotes, colons, '#',
# '&<>', brackets, emoji, right-to-left marks, "null"...) must survive every format.
# The names it refuses (control characters, line breaks) are drawn too, and filtered.
NAMES = st.lists(
    st.one_of(st.text(min_size=1, max_size=8),
              st.text(st.sampled_from(list("ab :#&<>\"'[]{},-*!|%@`\\/\u00e9\u4e2d\U0001f600\u200f")),
                      min_size=1, max_size=8),
              st.sampled_from(["null", "1", "yes", "- x", "a: b", "#c", "'q'", '"d"', "[e]", "{f}", "g #h"]))
    .map(str.strip).filter(_usable),
    min_size=1, max_size=4, unique=True,
)
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def datasets(draw: st.DrawFn, grid: int = 1024) -> Dataset:
    names = draw(NAMES)
    records = []
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(st.integers(2, 300)), draw(st.integers(2, 300))
        anns = []
        for _ in range(draw(st.integers(0, 4))):
            x1 = draw(st.integers(0, (w - 1) * grid))
            x2 = draw(st.integers(x1 + grid, w * grid))
            y1 = draw(st.integers(0, (h - 1) * grid))
            y2 = draw(st.integers(y1 + grid, h * grid))
            source = draw(st.sampled_from(list(AnnotationSource)))
            score = None if source is AnnotationSource.MANUAL else draw(st.floats(0, 1))
            anns.append(Annotation(Box(x1 / grid, y1 / grid, x2 / grid, y2 / grid), draw(st.sampled_from(names)),
                                   source, score))
        records.append(ImageRecord(f"img{i}.png", w, h, anns))
    split = {r.key: draw(st.sampled_from(["train", "val"])) for r in records}
    return Dataset(Path("."), LabelMap(names), records, split=split)


def _with_images(ds: Dataset, root: Path) -> Dataset:
    ds.root = root
    for rec in ds.images:
        grey_png(root / rec.path, rec.width, rec.height)  # type: ignore[arg-type]
    return ds


def _boxes(ds: Dataset) -> list[list[tuple[str, tuple[float, ...]]]]:
    return [[(a.label, a.box.to_tuple()) for a in r.annotations] for r in ds.images]


@SETTINGS
@given(datasets())
def test_coco_round_trip_is_exact(ds: Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _with_images(ds, Path(tmp) / "src")
        path = write_dataset(ds, "coco", Path(tmp) / "out")
        coco = COCO(str(path))
        assert sorted(coco.getCatIds()) == list(range(1, len(ds.label_map) + 1))
        assert len(coco.getAnnIds()) == ds.num_annotations()
        back = load_dataset(Path(tmp) / "out")
        assert back.label_map.names == ds.label_map.names
        assert _boxes(back) == _boxes(ds)
        assert [[(a.source, a.score) for a in r.annotations] for r in back.images] == \
               [[(a.source, a.score) for a in r.annotations] for r in ds.images]
        assert [(back.root / r.path).resolve() for r in back.images] == \
               [(ds.root / r.path).resolve() for r in ds.images]


@SETTINGS
@given(datasets())
def test_voc_round_trip_within_one_pixel(ds: Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _with_images(ds, Path(tmp) / "src")
        write_dataset(ds, "voc", Path(tmp) / "out")
        back = load_dataset(Path(tmp) / "out")
        assert back.label_map.names == ds.label_map.names
        for got, want in zip(_boxes(back), _boxes(ds)):
            assert [g[0] for g in got] == [w[0] for w in want]
            for (_, g), (_, w) in zip(got, want):
                assert max(abs(a - b) for a, b in zip(g, w)) <= 1.0
                if all(v == int(v) for v in w):
                    assert g == w
        assert [(back.root / r.path).resolve() for r in back.images] == \
               [(ds.root / r.path).resolve() for r in ds.images]


@SETTINGS
@given(datasets(grid=1_000_003))
def test_yolo_round_trip_within_1e_6(ds: Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        ds.root = Path(tmp)
        stems = unique_stems(ds.images)
        write_dataset(ds, "yolo", out, stems)
        for rec, stem in zip(ds.images, stems):
            image_rel, _ = yolo_layout(stem, ".png", ds.split[rec.key])
            grey_png(out / image_rel, rec.width, rec.height)  # type: ignore[arg-type]
        back = load_dataset(out)
        assert back.label_map.names == ds.label_map.names
        by_stem = {Path(r.path).stem: r for r in back.images}
        for rec, stem in zip(ds.images, stems):
            got = by_stem[stem]
            assert back.split[got.key] == ds.split[rec.key]
            assert [a.label for a in got.annotations] == [a.label for a in rec.annotations]
            for a, b in zip(got.annotations, rec.annotations):
                scale = (rec.width, rec.height, rec.width, rec.height)
                for g, w, s in zip(a.box.to_tuple(), b.box.to_tuple(), scale):
                    assert abs(g - w) <= 1e-6 * s


def test_pycocotools_evaluates_an_export_against_itself(tmp_path: Path) -> None:
    from pycocotools.cocoeval import COCOeval

    recs = [ImageRecord(f"i{k}.png", 64, 48, [Annotation(Box(4 + k, 4, 30 + k, 40), "a"),
                                                Annotation(Box(30, 2, 60, 20), "b")]) for k in range(3)]
    ds = Dataset(tmp_path, LabelMap(["a", "b"]), recs)
    gt = COCO(str(write_dataset(ds, "coco", tmp_path)))
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
            for a in gt.dataset["annotations"]]
    ev = COCOeval(gt, gt.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
