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
