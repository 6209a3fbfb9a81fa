"""Builders: configs that change torchvision models' anchors, norm choice, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from detector_app.detection.builders import build_model
from detector_app.detection.config import ConfigError, ModelConfig
from detector_app.detection.tracing import trace


@pytest.mark.parametrize("builder,levels", [("mobilenet_v3_large_320_fpn", 3), ("resnet50_fpn", 5)])
def test_torchvision_builders_take_config_anchors(builder: str, levels: int) -> None:
    """MobileNet's builder fixes its own anchor generator; the config's anchors still apply,
    with the RPN output layers sized for 2 anchors per cell."""
    torch.manual_seed(0)
    cfg = ModelConfig(builder=builder, num_classes=3, min_size=160, max_size=160,
                      anchor_sizes=((40.0,),) * levels, aspect_ratios=((0.5, 2.0),) * levels)
    model = build_model(cfg)
    assert model.rpn.head.cls_logits.out_channels == 2
    assert model.rpn.head.bbox_pred.out_channels == 8
    result = trace(model, torch.rand(3, 160, 160))
    assert len(result.levels) == levels
    assert result.anchors.shape[0] == sum(lv.grid_size[0] * lv.grid_size[1] * 2 for lv in result.levels)
    widths = result.anchors[:, 2] - result.anchors[:, 0]
    heights = result.anchors[:, 3] - result.anchors[:, 1]
    assert set(torch.as_tensor(heights / widths).round(decimals=1).tolist()) == {0.5, 2.0}


def test_wrong_number_of_anchor_levels_is_a_config_error() -> None:
    cfg = ModelConfig(builder="mobilenet_v3_large_fpn", num_classes=3,
                      anchor_sizes=((32.0,),), aspect_ratios=((1.0,),))
    with pytest.raises(ConfigError, match="3 feature levels"):
        build_model(cfg)


def test_small_builder_norm_choice() -> None:
    group = build_model(ModelConfig(builder="small", num_classes=3))
    batch = build_model(ModelConfig(builder="small", num_classes=3, extra={"norm": "batch"}))
    assert isinstance(group.backbone.body[1], nn.GroupNorm)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in group.modules())
    assert isinstance(batch.backbone.body[1], nn.BatchNorm2d)
    with pytest.raises(ConfigError, match="unknown norm"):
        build_model(ModelConfig(builder="small", num_classes=3, extra={"norm": "layer"}))


def test_small_stride8_starts_as_the_upsampled_stride16_map() -> None:
    """A stride-8 body holding a stride-16 body's weights returns that body's map,
    upsampled 2x (nearest), until its new layers train; its map has 4x the cells."""
    torch.manual_seed(0)
    s16 = build_model(ModelConfig(builder="small", num_classes=3))
    s8 = build_model(ModelConfig(builder="small", num_classes=3, extra={"stride": 8}))
    missing, unexpected = s8.load_state_dict(s16.state_dict(), strict=False)
    assert sorted(missing) == ["backbone.body.lateral.bias", "backbone.body.lateral.weight",
                               "backbone.body.smooth.bias", "backbone.body.smooth.weight"]
    assert unexpected == []
    x = torch.rand(1, 3, 128, 96)
    with torch.no_grad():
        coarse = s16.backbone(x)["0"]
        fine = s8.backbone(x)["0"]
    assert coarse.shape == (1, 128, 8, 6) and fine.shape == (1, 128, 16, 12)
    torch.testing.assert_close(fine, coarse.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))
    # the whole model runs: 128 x 96 is resized to 683 x 512, padded to 704 x 512, 9 anchors per 8 px cell
    result = trace(s8, x[0])
    assert [(lv.stride, lv.grid_size, lv.num_anchors_per_cell) for lv in result.levels] == [((8.0, 8.0), (88, 64), 9)]
    assert result.num_anchors == 88 * 64 * 9
    with pytest.raises(ConfigError, match="stride must be 16 or 8"):
        build_model(ModelConfig(builder="small", num_classes=3, extra={"stride": 4}))


def _conv_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of every Conv2d in ``model.backbone`` on ``x`` float[1, 3, H, W]."""
    total = 0

    def hook(mod: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(mod, nn.Conv2d)
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total += out.numel() * k

    handles = [m.register_forward_hook(hook) for m in model.backbone.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.backbone(x)
    for h in handles:
        h.remove()
    return total


def test_lite_builder_is_a_quarter_width_resnet_at_stride_8() -> None:
    small = build_model(ModelConfig(builder="small", num_classes=6, extra={"stride": 8}))
    lite = build_model(ModelConfig(builder="lite", num_classes=6))
    x = torch.rand(1, 3, 256, 192)
    feature = lite.backbone(x)["0"]
    assert feature.shape == (1, 64, 32, 24)  # stride 8, 64 channels
    ratio = _conv_macs(small, x) / _conv_macs(lite, x)
    assert 3.5 < ratio < 5.0, ratio
    norms = [m for m in lite.backbone.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and not any(isinstance(m, nn.BatchNorm2d) for m in lite.modules())
    assert {(m.num_groups, m.num_channels) for m in norms} == {(8, 32), (16, 64), (32, 128)}
    result = trace(build_model(ModelConfig(builder="lite", num_classes=6, min_size=160, max_size=160)),
                   torch.rand(3, 160, 160))
    assert result.anchors.shape[0] == 20 * 20 * 9


def test_lite_residual_blocks_start_as_the_identity_and_config_sets_the_widths() -> None:
    from torchvision.models.resnet import BasicBlock

    torch.manual_seed(0)
    model = build_model(ModelConfig(builder="lite", num_classes=3,
                                    extra={"widths": [16, 32, 48], "blocks": [1, 3, 1], "channels": 40,
                                           "norm": "batch"}))
    body = model.backbone
    assert [len(body.layer1), len(body.layer2), len(body.layer3)] == [1, 3, 1]
    assert body.layer3[0].conv2.out_channels == 48 and body.smooth.out_channels == 40
    assert isinstance(body.stem[1], nn.BatchNorm2d)
    block = body.layer2[1]
    assert isinstance(block, BasicBlock)
    x = torch.rand(2, 32, 16, 16)
    with torch.no_grad():
        assert torch.equal(block(x), torch.relu(x))  # zero-scaled last norm: out = relu(x + 0)
    for extra, match in [({"widths": [16, 32]}, "three whole numbers"), ({"blocks": [1, 0, 1]}, "1..2048"),
                         ({"channels": 0}, "channels"), ({"norm": "layer"}, "unknown norm")]:
        with pytest.raises(ConfigError, match=match):
            build_model(ModelConfig(builder="lite", num_classes=3, extra=extra))


def test_the_bundled_config_builds_the_bundled_models_network() -> None:
    """models/default_config.json (what the model card trains from and what "untrained"
    builds) is the configuration the bundled checkpoint carries."""
    from pathlib import Path

    from detector_app.detection.checkpoints import load_checkpoint
    from detector_app.detection.hub import bundled_model_path

    path = Path(__file__).resolve().parents[2] / "models" / "default_config.json"
    cfg = ModelConfig.from_json(path.read_text(encoding="utf-8"))
    model = build_model(cfg)
    assert cfg.builder == "lite" and model.rpn._pre_nms_top_n["testing"] == 1500
    assert model.backbone.out_channels == 64 and model.rpn.anchor_generator.num_anchors_per_location() == [9]
    bundled = load_checkpoint(bundled_model_path())
    assert bundled.config.to_dict() == cfg.to_dict()
    assert list(bundled.model.state_dict()) == list(model.state_dict())
