"""The paper's RPN training rules as options (detection/seed_rpn.py): the seed's loss
against a hand computation, cross-boundary anchors never labelled or sampled, the
paper builder's defaults, state dicts unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from detector_app.detection.builders import build_model
from detector_app.detection.config import ConfigError, ModelConfig
from detector_app.detection.seed_rpn import SeedRPN, crosses_boundary, seed_rpn_loss


def _smooth_l1(x: float, beta: float) -> float:
    return 0.5 * x * x / beta if abs(x) < beta else abs(x) - 0.5 * beta


def test_seed_loss_equals_a_hand_computation() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0, 1.5])
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0, -1.0])
    deltas = torch.tensor([[0.1, -0.2, 1.5, 0.0], [9, 9, 9, 9], [0.0, 0.3, -2.0, 0.05], [9, 9, 9, 9], [9, 9, 9, 9]])
    targets = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0, 0, 0, 0], [0.2, 0.2, 0.2, 0.2], [0, 0, 0, 0], [0, 0, 0, 0]])
    pos, neg = torch.tensor([0, 2]), torch.tensor([1, 3])
    cls, reg = seed_rpn_loss(logits, deltas, labels, targets, pos, neg, num_locations=50)

    def bce(z: float, y: float) -> float:
        p = 1 / (1 + math.exp(-z))
        return -(y * math.log(p) + (1 - y) * math.log(1 - p))

    expect_cls = (bce(2.0, 1) + bce(-1.0, 0) + bce(0.5, 1) + bce(-3.0, 0)) / 4  # Ncls = 4 sampled
    expect_reg = 10 / 50 * sum(_smooth_l1(float(d - t), 1.0) for i in (0, 2)  # lambda / Nreg, positives only
                               for d, t in zip(deltas[i], targets[i]))
    assert cls.item() == pytest.approx(expect_cls, rel=1e-6)
    assert reg.item() == pytest.approx(expect_reg, rel=1e-6)


def _rpn_inputs(model, size=(300, 400), boxes=((5.0, 5.0, 120.0, 100.0), (250.0, 150.0, 398.0, 298.0))):
    torch.manual_seed(0)
    image = torch.rand(3, *size)
    target = {"boxes": torch.tensor(boxes), "labels": torch.ones(len(boxes), dtype=torch.int64)}
    images, targets = model.transform([image], [target])
    feats = model.backbone(images.tensors)
    feats = feats if isinstance(feats, dict) else {"0": feats}
    return images, feats, targets


def test_cross_boundary_anchors_are_never_labelled_or_sampled() -> None:
    model = build_model(ModelConfig(builder="small", num_classes=2, rpn_cross_boundary="ignore"))
    assert isinstance(model.rpn, SeedRPN) and model.rpn.ignore_cross_boundary and not model.rpn.seed_loss
    model.train()
    images, feats, targets = _rpn_inputs(model)
    sampled: list[torch.Tensor] = []
    sampler = model.rpn.fg_bg_sampler
    original = sampler.__call__

    def record(labels):  # the RPN's sampler, watched
        pos, neg = original(labels)
        sampled.append(torch.where(pos[0] | neg[0])[0])
        return pos, neg

    model.rpn.fg_bg_sampler = type("Watch", (), {"__call__": staticmethod(record)})()
    anchors = model.rpn.anchor_generator(images, list(feats.values()))
    for _ in range(5):  # several random samples
        model.rpn(images, feats, targets)
    crossing = crosses_boundary(anchors[0], tuple(images.image_sizes[0]))
    assert 0 < int(crossing.sum()) < len(crossing)
    assert all(not bool(crossing[s].any()) for s in sampled) and all(len(s) > 0 for s in sampled)
    labels, _ = model.rpn.assign_targets_to_anchors(anchors, targets)
    assert bool((labels[0][crossing] == -1).all())
    assert int((labels[0] == 1).sum()) >= 2  # both boxes (one touching the border) still have positives inside
    # torchvision's rule on the same anchors: cross-boundary anchors are labelled
    plain = build_model(ModelConfig(builder="small", num_classes=2))
    tv_labels, _ = plain.rpn.assign_targets_to_anchors(anchors, targets)
    assert bool((tv_labels[0][crossing] >= 0).any())


def test_seed_loss_in_training_and_torchvisions_by_default() -> None:
    seed = build_model(ModelConfig(builder="small", num_classes=2, rpn_loss="seed"))
    plain = build_model(ModelConfig(builder="small", num_classes=2))
    plain.load_state_dict(seed.state_dict())  # no new parameters either way
    assert not isinstance(plain.rpn, SeedRPN)
    losses = {}
    for name, model in (("seed", seed), ("torchvision", plain)):
        model.train()
        images, feats, targets = _rpn_inputs(model)
        torch.manual_seed(1)  # the same sampled anchors in both
        _, losses[name] = model.rpn(images, feats, targets)
    # the same sampled anchors: BCE is a mean either way; the box term differs by its normalisation
    assert losses["seed"]["loss_objectness"].item() == pytest.approx(losses["torchvision"]["loss_objectness"].item(),
                                                                     rel=1e-5)
    assert losses["seed"]["loss_rpn_box_reg"].item() != pytest.approx(losses["torchvision"]["loss_rpn_box_reg"].item())


def test_paper_builder_follows_the_paper_and_others_torchvision() -> None:
    assert ModelConfig(builder="paper").seed_rules() == (True, True)
    assert ModelConfig(builder="paper", rpn_cross_boundary="keep", rpn_loss="torchvision").seed_rules() == (
        False,
        False,
    )
    assert ModelConfig(builder="resnet50_fpn").seed_rules() == (False, False)
    assert ModelConfig(builder="small", rpn_loss="seed").seed_rules() == (False, True)
    with pytest.raises(ConfigError, match="rpn_loss must be one of torchvision, seed"):
        ModelConfig(builder="small", rpn_loss="paper")
    cfg = ModelConfig(builder="paper", num_classes=3)
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    model = build_model(cfg)
    assert isinstance(model.rpn, SeedRPN) and model.rpn.ignore_cross_boundary and model.rpn.seed_loss
    assert model.rpn._post_nms_top_n == {"training": 2000, "testing": 300}  # noqa: SLF001
    assert model.rpn._pre_nms_top_n == {"training": 12000, "testing": 6000}  # noqa: SLF001


def test_crosses_boundary() -> None:
    a = torch.tensor([[0, 0, 10, 10], [-1, 0, 10, 10], [0, 0, 40, 30], [0, 0, 40.5, 30]], dtype=torch.float32)
    assert crosses_boundary(a, (30, 40)).tolist() == [False, True, False, True]
    assert np.array_equal(crosses_boundary(a, (30, 40), border=1).numpy(), [False, False, False, False])
