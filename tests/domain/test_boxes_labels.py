"""Domain types: Box validation/clipping/conversions, numpy NMS against
torchvision, LabelMap ids from 1, annotation/record serialisation."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from detector_app.domain import Annotation, AnnotationSource, Box, BoxError, ImageRecord, ItemState, LabelMap
from detector_app.domain.boxes import as_box_array, batched_nms, box_iou, clip_boxes, nms
from detector_app.domain.labels import BACKGROUND


def test_box_validation() -> None:
    assert Box(1, 2, 3, 4).to_tuple() == (1.0, 2.0, 3.0, 4.0)
    assert isinstance(Box(1, 2, 3, 4).x1, float)
    for bad in [(5, 0, 5, 1), (0, 0, 1, 0), (3, 0, 1, 1), (0, 0, math.inf, 1), (0, math.nan, 1, 1)]:
        with pytest.raises(BoxError):
            Box(*bad)
    with pytest.raises(BoxError):
        Box("0", 0, 1, 1)  # type: ignore[arg-type]
    assert issubclass(BoxError, ValueError)


def test_conversions() -> None:
    b = Box.from_xywh(10, 20, 30, 40)
    assert b == Box(10, 20, 40, 60) and b.to_xywh() == (10, 20, 30, 40)
    assert (b.width, b.height, b.area, b.center) == (30, 40, 1200, (25, 40))
    assert Box.from_points(5, 9, 1, 2) == Box(1, 2, 5, 9)
    assert Box.from_array(np.array([1, 2, 3, 4])) == Box(1, 2, 3, 4)
    assert b.to_array().dtype == np.float32
    assert b.translated(1, -1) == Box(11, 19, 41, 59) and b.scaled(0.5, 2) == Box(5, 40, 20, 120)
    assert b.contains(10, 60) and not b.contains(9.9, 30)


def test_clipping() -> None:
    assert Box(-5, -5, 50, 20).clipped(40, 30) == Box(0, 0, 40, 20)
    assert Box(10, 10, 20, 20).clipped(40, 30) == Box(10, 10, 20, 20)
    with pytest.raises(BoxError, match="outside the 40x30 image"):
        Box(50, 0, 60, 10).clipped(40, 30)
    with pytest.raises(BoxError):
        Box(-10, 0, 0, 10).clipped(40, 30)  # touches the edge only
    out = clip_boxes(np.array([[-1, -2, 50, 60], [1, 2, 3, 4]]), 40, 30)
    assert out.tolist() == [[0, 0, 40, 30], [1, 2, 3, 4]]
    rec = ImageRecord("a.png", 40, 30)
    assert rec.validated_box(Box(-1, 0, 5, 5)) == Box(0, 0, 5, 5)
    assert ImageRecord("b.png").validated_box(Box(-1, 0, 5, 5)) == Box(-1, 0, 5, 5)  # size unknown


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(1, 40, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def test_iou_matches_torchvision() -> None:
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 30), _random_boxes(rng, 20)
    ref = torchvision.ops.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(box_iou(a, b), ref, atol=1e-6)
    assert Box(0, 0, 2, 2).iou(Box(1, 0, 3, 2)) == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("thresh", [0.3, 0.5, 0.7])
def test_nms_matches_torchvision(seed: int, thresh: float) -> None:
    rng = np.random.default_rng(seed)
    boxes = _random_boxes(rng, 200)
    scores = rng.permutation(200).astype(np.float32) / 200  # distinct: a unique answer
    keep, suppressed_by = nms(boxes, scores, thresh)
    ref = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thresh).numpy()
    assert keep.tolist() == ref.tolist()
    kept = set(keep.tolist())
    iou = box_iou(boxes, boxes)
    for i, j in enumerate(suppressed_by):
        if i in kept:
            assert j == -1
        else:
            assert j in kept and scores[j] > scores[i] and iou[i, j] > thresh


@pytest.mark.parametrize("seed", range(4))
def test_batched_nms_matches_torchvision(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    boxes = _random_boxes(rng, 150)
    scores = rng.permutation(150).astype(np.float32) / 150
    groups = rng.integers(1, 5, 150)
    keep, suppressed_by = batched_nms(boxes, scores, groups, 0.5)
    ref = torchvision.ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                      torch.from_numpy(groups), 0.5).numpy()
    assert keep.tolist() == ref.tolist()
    sup = np.nonzero(suppressed_by >= 0)[0]
    assert (groups[sup] == groups[suppressed_by[sup]]).all()  # only within a class


def test_nms_edge_cases() -> None:
    keep, sup = nms(np.zeros((0, 4)), np.zeros(0), 0.5)
    assert keep.shape == (0,) and sup.shape == (0,)
    same = np.array([[0, 0, 10, 10]] * 3, np.float32)
    keep, sup = nms(same, np.array([0.1, 0.9, 0.5]), 0.5)
    assert keep.tolist() == [1] and sup.tolist() == [1, -1, 1]
    assert as_box_array([Box(0, 0, 1, 1)]).shape == (1, 4) and as_box_array([]).shape == (0, 4)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0, 50), st.floats(0.5, 30), st.floats(0.5, 30)),
                min_size=1, max_size=40),
       st.floats(0.05, 0.95))
def test_nms_property_against_torchvision(raw: list[tuple[float, float, float, float]], thresh: float) -> None:
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in raw], np.float32)
    scores = np.linspace(1.0, 0.01, len(boxes), dtype=np.float32)[
        np.random.default_rng(len(raw)).permutation(len(boxes))
    ]
    keep, _ = nms(boxes, scores, thresh)
    ref = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thresh).numpy()
    assert keep.tolist() == ref.tolist()


def test_label_map_ids_start_at_one() -> None:
    lm = LabelMap(["cat", " dog ", BACKGROUND])
    assert lm.names == ["cat", "dog"] and len(lm) == 2
    assert lm.id_of("cat") == 1 and lm.id_of("dog") == 2
    assert lm.name_of(1) == "cat" and lm.name_of(2) == "dog"
    assert lm.model_classes() == [BACKGROUND, "cat", "dog"]
    assert LabelMap.from_model_classes([BACKGROUND, "a", "b"]).names == ["a", "b"]
    assert lm.add("emu") == 3 and lm.add("cat") == 1
    for bad in (0, 4):
        with pytest.raises(KeyError):
            lm.name_of(bad)
    with pytest.raises(KeyError, match="unknown class 'yak'"):
        lm.id_of("yak")
    with pytest.raises(ValueError, match="duplicate"):
        LabelMap(["a", "a"])
    with pytest.raises(ValueError, match="non-empty"):
        LabelMap(["a", "  "])
    assert "cat" in lm and list(lm) == ["cat", "dog", "emu"]


def test_annotation_and_record_round_trip() -> None:
    a = Annotation(Box(1, 2, 3, 4), "cat", AnnotationSource.MODEL, 0.25)
    moved = a.with_box(Box(0, 0, 3, 4))
    assert moved.source is AnnotationSource.MODEL_CORRECTED and moved.id == a.id and a.box == Box(1, 2, 3, 4)
    assert Annotation(Box(1, 2, 3, 4), "x").with_label("y").source is AnnotationSource.MANUAL
    rec = ImageRecord("v.mp4", 64, 48, [a, moved], ItemState.VERIFIED, frame_index=7)
    assert rec.key == "v.mp4#7" and rec.is_video_frame and rec.verified
    back = ImageRecord.from_dict(rec.to_dict())
    assert back == rec
    assert rec.find(a.id) == 0
    with pytest.raises(KeyError):
        rec.find("nope")
    with pytest.raises(ValueError):
        Annotation(Box(1, 2, 3, 4), " ")
    with pytest.raises(ValueError):
        Annotation(Box(1, 2, 3, 4), "a", score=1.5)


def test_degenerate_box_message_names_the_problem() -> None:
    with pytest.raises(BoxError, match=r"degenerate box \(zero or negative size\): x1=5, y1=0, x2=5, y2=1"):
        Box(5, 0, 5, 1)
    with pytest.raises(BoxError, match=r"degenerate box \(zero or negative size\): x1=0, y1=4, x2=3, y2=2"):
        Box(0, 4, 3, 2)
    with pytest.raises(BoxError, match="must be finite numbers"):
        Box(0, 0, math.inf, 1)
    with pytest.raises(BoxError, match=r"lies outside the 40x30 image"):
        Box(39.9995, 0, 45, 10).clipped(40, 30)  # a sliver thinner than MIN_BOX_SIZE is left


@pytest.mark.parametrize("bad, what", [
    ("a\nb", "control character (U+000A)"), ("a\tb", "control character (U+0009)"),
    ("x\x7fy", "control character (U+007F)"), ("x\x85y", "control character (U+0085)"),
    ("a\u2028b", "line separator (U+2028)"), ("a\u2029b", "paragraph separator (U+2029)"),
    ("\ufeffcat", "byte order mark (U+FEFF)"), ("a\ud800", "lone surrogate (U+D800)"),
])
def test_class_names_are_one_line_of_printable_text(bad: str, what: str) -> None:
    """Names with control characters or line breaks would split VOC labels.txt, YOLO
    classes.txt/data.yaml lines or make invalid XML: refused with a clear message."""
    from detector_app.domain import LabelError
    from detector_app.domain.errors import UserError
    from detector_app.domain.labels import check_class_name

    for make in (lambda: LabelMap(["ok", bad]), lambda: LabelMap(["ok"]).add(bad),
                 lambda: Annotation(Box(0, 0, 1, 1), bad), lambda: check_class_name(bad)):
        with pytest.raises(LabelError, match=re.escape(what)):
            make()
    assert issubclass(LabelError, UserError) and issubclass(LabelError, ValueError)


def test_accepted_names_and_stripping() -> None:
    from detector_app.domain.labels import check_class_name

    for name in ["traffic light", "N/A", "a: b", "#1", "\"q\"", "caf\u00e9", "\u4e2d\u6587", "\U0001f600",
                 "\u05e9\u05dc\u05d5\u05dd\u200f", "a\u200db", "x\u00a0y"]:
        assert check_class_name(name) == name and LabelMap([name]).names == [name]
    assert Annotation(Box(0, 0, 1, 1), "  cat ").label == "cat"  # as the label map keeps it
    assert LabelMap([" cat"]).id_of(Annotation(Box(0, 0, 1, 1), "cat ").label) == 1
