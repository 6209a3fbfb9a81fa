"""``trace`` against torchvision itself: same detections, proposals, anchors,
for every builder, plus hand-checked coordinate mapping and fates."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import boxes as box_ops

from detector_app.detection.builders import BUILDERS, build_model
from detector_app.detection.config import ModelConfig
from detector_app.detection.tracing import compute_fates, image_to_tensor, trace
from detector_app.domain.errors import UserError
from detector_app.domain.trace import DetectionTrace, Fate
from tests.helpers.models import tiny_builder_config

#: Seed per builder for random weights (chosen so no two detection scores tie).
SEED = 3


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_MODELS: dict[str, torch.nn.Module] = {}


def _model(builder: str) -> torch.nn.Module:
    if builder not in _MODELS:
        torch.manual_seed(SEED)
        _MODELS[builder] = build_model(tiny_builder_config(builder))
    return _MODELS[builder]


def _image(h: int = 75, w: int = 110, seed: int = 0) -> np.ndarray:
    """Smooth random blobs (more structure than white noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    big = np.kron(small, np.ones((8, 8, 1), np.float32))[:h, :w]
    return np.clip(big + rng.normal(0, 10, big.shape), 0, 255).astype(np.uint8)


def _reference(model: torch.nn.Module, img: np.ndarray) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model([image_to_tensor(img)])[0]


def _assert_same_detections(tr: DetectionTrace, ref: dict[str, torch.Tensor]) -> None:
    torch.testing.assert_close(torch.from_numpy(tr.detection_boxes), ref["boxes"])
    torch.testing.assert_close(torch.from_numpy(tr.detection_scores), ref["scores"])
    np.testing.assert_array_equal(tr.detection_labels, ref["labels"].numpy())


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_detections_equal_torchvision_forward(builder: str) -> None:
    model = _model(builder)
    img = _image()
    tr = trace(model, img)
    ref = _reference(model, img)
    assert len(ref["boxes"]) > 0, "test needs some detections to compare"
    _assert_same_detections(tr, ref)
    assert tr.image_size == (75, 110)
    assert set(tr.timings_ms) == {"transform", "backbone", "rpn", "roi_heads", "postprocess", "total"}
    assert tr.timings_ms["total"] >= tr.timings_ms["backbone"] > 0

    # each detection is the class box of the proposal it names
    rows, labels = tr.detection_proposal_index, tr.detection_labels
    np.testing.assert_allclose(tr.refined_boxes[rows, labels], tr.detection_boxes, rtol=0, atol=1e-6)
    np.testing.assert_allclose(tr.class_probs[rows, labels], tr.detection_scores, rtol=0, atol=1e-7)
    np.testing.assert_allclose(tr.class_probs.sum(1), 1.0, atol=1e-5)
    assert (tr.proposal_fate[rows] == Fate.DETECTED).all()
    first = {}
    for d, p in enumerate(rows.tolist()):
        first.setdefault(p, d)
    assert {p: int(tr.proposal_fate_detection[p]) for p in first} == first

    # the numpy re-post-processing reproduces detections and fates
    pp = tr.postprocess()
    np.testing.assert_allclose(pp.boxes, tr.detection_boxes, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(pp.labels, tr.detection_labels)
    np.testing.assert_array_equal(pp.proposal_index, tr.detection_proposal_index)
    np.testing.assert_array_equal(pp.fate, tr.proposal_fate)
    np.testing.assert_array_equal(pp.fate_detection, tr.proposal_fate_detection)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_anchors_and_proposals_equal_torchvision(builder: str) -> None:
    model = _model(builder)
    img = _image(seed=1)
    tr = trace(model, img)
    with torch.no_grad():
        images, _ = model.transform([image_to_tensor(img)])
        feats = model.backbone(images.tensors)
        feat_list = list(feats.values())
        tv_anchors = model.rpn.anchor_generator(images, feat_list)[0]
        tv_props = model.rpn(images, feats)[0][0]
    resized = list(images.image_sizes[0])
    assert tr.resized_size == tuple(resized)

    # count: sum over levels of H * W * k, and torchvision's own anchor list
    counts = [f.shape[-2] * f.shape[-1] * model.rpn.head.cls_logits.out_channels for f in feat_list]
    assert tr.num_anchors == sum(counts) == len(tv_anchors)
    assert [lv.num_anchors for lv in tr.levels] == counts
    assert [lv.offset for lv in tr.levels] == list(np.cumsum([0, *counts[:-1]]))
    assert tr.objectness_logits.shape == (tr.num_anchors,) and tr.rpn_deltas.shape == (tr.num_anchors, 4)

    # mapped back with torchvision's resize_boxes
    back = resize_boxes(tv_anchors, resized, list(tr.image_size)).numpy()
    np.testing.assert_allclose(tr.anchors, back, rtol=0, atol=1e-4)
    props = resize_boxes(tv_props, resized, list(tr.image_size)).numpy()
    np.testing.assert_allclose(tr.proposals, props, rtol=0, atol=1e-4)

    # index tracking: each proposal is its anchor's decoded, clipped box, scored by its logit
    idx = tr.proposal_anchor_index
    decoded = model.rpn.box_coder.decode_single(torch.from_numpy(tr.rpn_deltas[idx]), tv_anchors[idx])
    decoded = box_ops.clip_boxes_to_image(decoded, tuple(resized))
    np.testing.assert_allclose(resize_boxes(decoded, resized, list(tr.image_size)).numpy(), tr.proposals, atol=1e-3)
    np.testing.assert_allclose(tr.proposal_scores, tr.objectness()[idx], atol=1e-6)
    # proposals are a subset of the pre-NMS candidates
    assert set(idx.tolist()) <= set(tr.pre_nms_anchor_index.tolist())
    np.testing.assert_allclose(tr.pre_nms_scores, tr.objectness()[tr.pre_nms_anchor_index], atol=1e-6)


def test_anchor_positions_hand_checked() -> None:
    """64x64 image, model resizes to 128x128 (scale 2), stride 16, grid 8x8."""
    cfg = ModelConfig(builder="small", num_classes=3, min_size=128, max_size=128,
                      anchor_sizes=((32.0, 64.0, 128.0),), aspect_ratios=((0.5, 1.0, 2.0),))
    torch.manual_seed(0)
    model = build_model(cfg)
    tr = trace(model, _image(64, 64))
    assert tr.resized_size == (128, 128) and tr.scale == (2.0, 2.0)
    (lv,) = tr.levels
    assert lv.grid_size == (8, 8) and lv.stride == (16.0, 16.0) and lv.num_anchors_per_cell == 9
    assert lv.sizes == (32.0, 64.0, 128.0)
    # cell (row 2, col 3), ratio 1.0 (index 1), size 32 (index 0): a = 1 * 3 + 0
    i = (2 * 8 + 3) * 9 + 3
    assert tr.anchor_cell(i) == (2, 3)
    assert tr.anchor_scale_index[i] == 0 and tr.anchor_ratio_index[i] == 1 and tr.anchor_level[i] == 0
    # resized: centre (3*16, 2*16) = (48, 32), half-size 16 -> [32, 16, 64, 48]; original = / 2
    np.testing.assert_allclose(tr.anchors[i], [16, 8, 32, 24])
    # ratio 2.0 (h/w), size 64 at cell (0, 0): w = 64/sqrt2 = 45.25 -> half 22.6 -> round 23; h half 45.25 -> 45
    j = 2 * 3 + 1
    np.testing.assert_allclose(tr.anchors[j], [-23 / 2, -45 / 2, 23 / 2, 45 / 2])
    assert tr.anchors_at_cell(0, 2, 3).tolist() == list(range(i - 3, i + 6))

    # the same picture at twice the size: same resized image, anchors twice as far apart in original pixels
    big = np.kron(_image(64, 64), np.ones((2, 2, 1), np.uint8))
    tr2 = trace(model, big)
    np.testing.assert_allclose(tr2.anchors, tr.anchors * 2)


def test_postprocess_other_thresholds_matches_torchvision() -> None:
    model = _model("small")
    img = _image(seed=2)
    tr = trace(model, img)
    rh = model.roi_heads
    saved = rh.score_thresh, rh.nms_thresh, rh.detections_per_img
    try:
        rh.score_thresh, rh.nms_thresh, rh.detections_per_img = 0.34, 0.3, 7
        ref = _reference(model, img)
    finally:
        rh.score_thresh, rh.nms_thresh, rh.detections_per_img = saved
    pp = tr.postprocess(score_thresh=0.34, nms_thresh=0.3, detections_per_img=7)
    assert 0 < len(ref["boxes"]) <= 7
    torch.testing.assert_close(torch.from_numpy(pp.boxes), ref["boxes"], atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.from_numpy(pp.scores), ref["scores"])
    np.testing.assert_array_equal(pp.labels, ref["labels"].numpy())


def test_no_proposals_gives_empty_trace() -> None:
    model = _model("small")
    img = _image()
    model.rpn.score_thresh = 1.5  # no objectness probability reaches it
    try:
        tr = trace(model, img)
        ref = _reference(model, img)
    finally:
        model.rpn.score_thresh = 0.0
    assert tr.num_proposals == 0 == tr.num_detections == len(ref["boxes"])
    assert tr.num_anchors > 0 and len(tr.pre_nms_boxes) > 0
    assert tr.class_probs.shape == (0, 3) and tr.refined_boxes.shape == (0, 3, 4)


def test_tensor_input_training_mode_and_bad_input() -> None:
    model = _model("small")
    img = _image()
    a = trace(model, img)
    model.train()
    try:
        b = trace(model, image_to_tensor(img))
        assert model.training, "trace must restore training mode"
    finally:
        model.eval()
    np.testing.assert_array_equal(a.detection_boxes, b.detection_boxes)
    with pytest.raises(UserError, match="RGB"):
        trace(model, np.zeros((10, 10), np.uint8))
    with pytest.raises(UserError, match="uint8"):
        trace(model, np.zeros((10, 10, 3), np.float64))


def test_trace_round_trips_through_bytes() -> None:
    tr = trace(_model("small"), _image())
    back = DetectionTrace.from_bytes(tr.to_bytes())
    np.testing.assert_array_equal(back.anchors, tr.anchors)
    np.testing.assert_array_equal(back.proposal_fate, tr.proposal_fate)
    assert back.levels == tr.levels and back.class_names == tr.class_names


def test_compute_fates_hand_case() -> None:
    """Proposal 0 detected; 1 suppressed by it; 2 survives NMS past the cap of 1;
    3 too small; 4 below the score threshold."""
    boxes = torch.tensor([[0, 0, 10, 10], [1, 0, 11, 10], [1, 0, 11, 10], [5, 5, 5.001, 9]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    labels = torch.tensor([1, 1, 2, 1])
    prop = torch.tensor([0, 1, 2, 3])
    big = box_ops.remove_small_boxes(boxes, 1e-2)
    assert big.tolist() == [0, 1, 2]
    keep = box_ops.batched_nms(boxes[big], scores[big], labels[big], 0.5)
    assert keep.tolist() == [0, 2]
    fate, det = compute_fates(boxes, scores, labels, prop, big, keep, cap=1, nms_thresh=0.5, num_proposals=5)
    assert fate.tolist() == [Fate.DETECTED, Fate.SUPPRESSED, Fate.OVER_CAP, Fate.TOO_SMALL, Fate.BELOW_SCORE]
    assert det.tolist() == [0, 0, -1, -1, -1]


def test_fates_agree_with_numpy_postprocess_without_score_threshold() -> None:
    """Every class box of every proposal enters NMS: many suppressions, and a cap of 10."""
    model = _model("small")
    rh = model.roi_heads
    saved = rh.score_thresh, rh.detections_per_img
    rh.score_thresh, rh.detections_per_img = 0.0, 10
    try:
        img = _image(seed=4)
        tr = trace(model, img)
        ref = _reference(model, img)
    finally:
        rh.score_thresh, rh.detections_per_img = saved
    _assert_same_detections(tr, ref)
    counts = np.bincount(tr.proposal_fate, minlength=5)
    assert counts[Fate.SUPPRESSED] > 0 and counts[Fate.OVER_CAP] > 0 and counts[Fate.DETECTED] > 0
    pp = tr.postprocess()
    np.testing.assert_array_equal(pp.fate, tr.proposal_fate)
    np.testing.assert_array_equal(pp.fate_detection, tr.proposal_fate_detection)
    # a suppressed proposal's suppressor is a detection of one of its classes that overlaps it
    for p in np.nonzero((tr.proposal_fate == Fate.SUPPRESSED) & (tr.proposal_fate_detection >= 0))[0][:20]:
        d = tr.proposal_fate_detection[p]
        label = tr.detection_labels[d]
        a, b = tr.refined_boxes[p, label], tr.detection_boxes[d]
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        assert inter / union > tr.nms_thresh - 1e-4


def _model_and_huge_image(seed: int) -> tuple[torch.nn.Module, np.ndarray]:
    """A tiny model with ``max_size`` 128 (any box kept) and a 1000 x 750 image of
    25-pixel blocks: far over twice its input size."""
    import cv2

    cfg = ModelConfig(builder="small", num_classes=3, min_size=96, max_size=128, representation_size=64,
                      extra={"channels": 32}, rpn_post_nms_top_n_test=50, box_detections_per_img=20,
                      box_score_thresh=0.0)
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    blocks = np.random.default_rng(seed).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    return model, cv2.resize(blocks, (1000, 750), interpolation=cv2.INTER_NEAREST)


def test_a_huge_image_is_downscaled_before_the_model_and_mapped_back() -> None:
    """Over 2x the model's max_size on the long side, the image is area-downscaled in uint8
    first (a 9999 x 9999 photo peaked at 4.5 GB in the model's own float copies); the
    trace and detect_images map everything back to the file's pixels, and the trace
    still equals the model's forward on what it was fed."""
    from detector_app.detection.tracing import OVERSIZE_FACTOR, model_input

    model, big = _model_and_huge_image(0)
    rng = np.random.default_rng(0)
    fed = model_input(big, model)
    assert fed.shape == (192, 256, 3) and max(fed.shape[:2]) == OVERSIZE_FACTOR * 128
    small = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    assert model_input(small, model) is small  # under the limit: untouched, bit-exact path
    tr = trace(model, big)
    assert tr.image_size == (750, 1000)
    with torch.no_grad():
        (ref,) = model([image_to_tensor(fed)])
    sx, sy = 1000 / 256, 750 / 192
    want = ref["boxes"].numpy() * np.array([sx, sy, sx, sy], np.float32)
    np.testing.assert_allclose(tr.detection_boxes, want, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(tr.detection_labels, ref["labels"].numpy())
    assert tr.anchors[:, 2].max() > 900  # anchors cover the whole original width


def test_detect_images_maps_a_downscaled_huge_image_back_like_the_trace(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from detector_app.detection.inference import detect_images
    from detector_app.media.images import read_image, write_image

    model, big = _model_and_huge_image(1)
    path = tmp_path / "big.png"
    write_image(path, big)
    (res,) = list(detect_images(model, [path], device="cpu"))
    tr = trace(model, read_image(path))
    assert (res.width, res.height) == (1000, 750) and len(res.boxes) == len(tr.detection_boxes) > 0
    np.testing.assert_allclose(res.boxes, tr.detection_boxes, rtol=1e-5, atol=1e-2)
