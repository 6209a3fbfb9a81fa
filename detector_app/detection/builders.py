"""Model builders on torchvision's ``FasterRCNN`` classes.

Every builder takes a :class:`ModelConfig` and returns a
``torchvision.models.detection.FasterRCNN`` with random weights. Nothing is
ever downloaded: torchvision builders get ``weights=None, weights_backbone=None``.

Builders:
    paper: VGG-16 up to conv5_3 (stride 16, 512 channels), one feature map,
        anchors 3 scales (128, 256, 512) x 3 ratios (0.5, 1, 2) = 9 per cell,
        RoI *max* pooling to 7x7 (``torchvision.ops.roi_pool``), two 4096-unit
        fully connected layers, sibling class and box layers: the seed's model.
        Also the paper's proposal counts (12000/2000 in training, 6000/300 at
        test time) and its RPN training rules (``seed_rpn``: cross-boundary anchors
        ignored, the seed's loss), each selectable in the config.
    small: ResNet-18 up to layer3 (stride 16, GroupNorm by default) + 1x1 conv
        to 128 channels, one feature map, 3 x 3 anchors, RoIAlign 7x7, a 256-unit two-layer head,
        200 test proposals. CPU-friendly. ``extra={"stride": 8}``: one top-down step
        merges layer2 for a stride-8 map (:class:`TopDownStride8`).
    lite: the ``small`` heads on a ResNet of a quarter of ResNet-18's width at stride 8
        (:class:`~detector_app.detection.lite_backbone.LiteResNet`): 3.7x fewer
        backbone multiply-adds, for CPUs without fast bfloat16.
    resnet50_fpn, resnet50_fpn_v2, mobilenet_v3_large_fpn,
    mobilenet_v3_large_320_fpn: exactly torchvision's architectures.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet18, vgg16
from torchvision.models.detection import faster_rcnn as tv_frcnn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign, roi_pool
from torchvision.ops.poolers import _infer_scale

from detector_app.detection.config import ConfigError, ModelConfig
from detector_app.detection.lite_backbone import LiteResNet, lite_norm
from detector_app.detection.seed_rpn import apply_rpn_options

#: Defaults of the two project builders (torchvision's own builders keep theirs).
PAPER_DEFAULTS: dict[str, Any] = {
    "min_size": 600,
    "max_size": 1000,
    # the paper: 12000 -> NMS -> 2000 proposals in training, 6000 -> NMS -> 300 at test time
    "rpn_pre_nms_top_n_train": 12000,
    "rpn_post_nms_top_n_train": 2000,
    "rpn_pre_nms_top_n_test": 6000,
    "rpn_post_nms_top_n_test": 300,
    "anchor_sizes": ((128.0, 256.0, 512.0),),
    "aspect_ratios": ((0.5, 1.0, 2.0),),
    "representation_size": 4096,
}
SMALL_DEFAULTS: dict[str, Any] = {
    "min_size": 512,
    "max_size": 683,
    "anchor_sizes": ((24.0, 64.0, 160.0),),  # fits 16-256 px objects at 512 px (docs/anchors.md)
    "aspect_ratios": ((0.5, 1.0, 2.0),),
    "representation_size": 256,
    "rpn_pre_nms_top_n_test": 600,
    "rpn_post_nms_top_n_test": 200,
    "rpn_pre_nms_top_n_train": 1200,
    "rpn_post_nms_top_n_train": 600,
}


class RoIMaxPool(MultiScaleRoIAlign):
    """RoI max pooling (Fast R-CNN's layer) on a single feature map.

    A drop-in for ``MultiScaleRoIAlign`` inside ``FasterRCNN``: each proposal's
    region of the feature map is divided into ``output_size`` sub-windows and
    each is max-pooled (``torchvision.ops.roi_pool``).

    Shapes: features ``{name: float[N, Ch, Hf, Wf]}``, boxes ``list[float[R_i, 4]]``
    in resized-image pixels, output ``float[sum R_i, Ch, 7, 7]``.
    """

    def forward(
        self,
        x: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        if len(self.featmap_names) != 1:
            raise ValueError("RoIMaxPool pools a single feature map")
        feature = x[self.featmap_names[0]]
        max_h = max(s[0] for s in image_shapes)
        max_w = max(s[1] for s in image_shapes)
        scale = _infer_scale(feature, [max_h, max_w])
        return roi_pool(feature, boxes, self.output_size, scale)


class _SingleMap(nn.Module):
    """Wraps a feature extractor so it returns ``{"0": float[N, Ch, H, W]}``."""

    def __init__(self, body: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.body = body
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return OrderedDict([("0", self.body(x))])


#: Layers a stride-8 ``small`` model has that a stride-16 one lacks; fine-tuning
#: a stride-8 model from a stride-16 checkpoint keeps their initialisation.
STRIDE8_NEW_LAYERS = ("backbone.body.lateral.", "backbone.body.smooth.")


class TopDownStride8(nn.Sequential):
    """ResNet-18 to layer3 with one FPN-style top-down step to stride 8.

    The children ``0``-``8`` are the stride-16 body (stem, layer1-3, 1x1 conv,
    ReLU), so a stride-16 checkpoint loads into them unchanged; ``lateral``
    (1x1 on layer2's 128 channels) and ``smooth`` (3x3) are new.

    ``p3 = relu(smooth(upsample2x(p4) + lateral(c3)))``, with ``c3`` float[N, 128, H/8, W/8]
    (layer2) and ``p4`` float[N, Ch, H/16, W/16]; output float[N, Ch, H/8, W/8].

    ``lateral`` starts at zero and ``smooth`` at the identity, so before any
    training the output is the stride-16 map upsampled (nearest): a model grown
    from a trained stride-16 one starts from its detections, not from noise.
    """

    def __init__(self, layers: tuple[nn.Module, ...], channels: int) -> None:
        super().__init__(*layers)
        self.lateral = nn.Conv2d(128, channels, kernel_size=1)
        self.smooth = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        with torch.no_grad():
            assert self.lateral.bias is not None and self.smooth.bias is not None  # (Conv2d's default bias=True)
            self.lateral.weight.zero_()
            self.lateral.bias.zero_()
            nn.init.dirac_(self.smooth.weight)  # the identity: out[c] = in[c]
            self.smooth.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        children = list(self.children())
        for layer in children[:6]:  # stem + layer1 + layer2
            x = layer(x)
        c3 = x
        for layer in children[6:9]:  # layer3 + 1x1 + ReLU
            x = layer(x)
        top = nn.functional.interpolate(x, size=c3.shape[-2:], mode="nearest")
        return nn.functional.relu(self.smooth(top + self.lateral(c3)))


def _pick(cfg: ModelConfig, defaults: dict[str, Any], key: str) -> Any:
    value = getattr(cfg, key)
    return defaults.get(key) if value is None else value


def _common_kwargs(cfg: ModelConfig, defaults: dict[str, Any]) -> dict[str, Any]:
    """FasterRCNN keyword arguments the config sets (or the defaults do)."""
    out: dict[str, Any] = {}
    for key in (
        "min_size", "max_size",
        "rpn_pre_nms_top_n_test", "rpn_post_nms_top_n_test",
        "rpn_pre_nms_top_n_train", "rpn_post_nms_top_n_train",
        "box_score_thresh", "box_nms_thresh", "box_detections_per_img",
    ):
        value = _pick(cfg, defaults, key)
        if value is not None:
            out[key] = value
    return out


def _anchor_generator(cfg: ModelConfig, defaults: dict[str, Any]) -> AnchorGenerator:
    sizes = _pick(cfg, defaults, "anchor_sizes")
    ratios = _pick(cfg, defaults, "aspect_ratios")
    if len(sizes) != 1:
        raise ConfigError(f"builder {cfg.builder!r} has one feature map: give one tuple of anchor sizes")
    return AnchorGenerator(sizes=tuple(tuple(s) for s in sizes), aspect_ratios=tuple(tuple(r) for r in ratios))


def build_paper(cfg: ModelConfig) -> FasterRCNN:
    """The seed's Faster R-CNN: VGG-16 conv5_3, 9 anchors, RoI max pooling 7x7."""
    features = vgg16(weights=None).features
    body = nn.Sequential(*list(features.children())[:30])  # through conv5_3 + ReLU, stride 16
    backbone = _SingleMap(body, out_channels=512)
    pool = RoIMaxPool(featmap_names=["0"], output_size=7, sampling_ratio=0)
    return _single_map_detector(backbone, 512, cfg, PAPER_DEFAULTS, pool)


def _single_map_detector(backbone: nn.Module, channels: int, cfg: ModelConfig, defaults: dict[str, Any],
                         roi_pool: nn.Module) -> FasterRCNN:
    """A detector on ``backbone``'s one ``channels``-channel map ``"0"``: 3 x 3 anchors,
    ``roi_pool`` to 7x7, a two-layer head, sibling class and box layers (``defaults`` fill
    what ``cfg`` leaves unset)."""
    rep = int(_pick(cfg, defaults, "representation_size"))
    return FasterRCNN(
        backbone,
        num_classes=None,
        rpn_anchor_generator=_anchor_generator(cfg, defaults),
        box_roi_pool=roi_pool,
        box_head=TwoMLPHead(channels * 7 * 7, rep),
        box_predictor=FastRCNNPredictor(rep, cfg.num_classes),
        **_common_kwargs(cfg, defaults),
    )


def _with_small_heads(backbone: nn.Module, channels: int, cfg: ModelConfig) -> FasterRCNN:
    """The ``small`` / ``lite`` detector: RoIAlign 7x7 and the small builder's defaults."""
    pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    return _single_map_detector(backbone, channels, cfg, SMALL_DEFAULTS, pool)


def _norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """``"group"``: GroupNorm with 32 groups; ``"batch"``: BatchNorm2d."""
    if kind == "group":
        return lambda channels: nn.GroupNorm(32, channels)
    if kind == "batch":
        return nn.BatchNorm2d
    raise ConfigError(f"unknown norm {kind!r} in the small builder's extra; use 'group' or 'batch'")


def build_small(cfg: ModelConfig) -> FasterRCNN:
    """CPU-friendly: ResNet-18 to layer3, 128-channel map, 256-unit head.

    ``cfg.extra["stride"]``: 16 (default; the layer3 map) or 8 (that map
    upsampled and merged with layer2's, :class:`TopDownStride8`: a denser anchor
    grid and finer RoI features for small objects, about 10 % more compute).

    ``cfg.extra["norm"]`` picks the backbone's normalisation: ``"group"``
    (default; GroupNorm behaves the same in training and inference, which
    matters for a backbone trained from scratch with 2-4 images per batch) or
    ``"batch"`` (BatchNorm, as torchvision's ResNet-18).
    """
    net = resnet18(weights=None, norm_layer=_norm_layer(str(cfg.extra.get("norm", "group"))))
    channels = int(cfg.extra.get("channels", 128))
    layers = (
        net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
        nn.Conv2d(256, channels, kernel_size=1),
        nn.ReLU(inplace=True),
    )
    stride = int(cfg.extra.get("stride", 16))
    if stride == 16:
        body: nn.Module = nn.Sequential(*layers)
    elif stride == 8:
        body = TopDownStride8(layers, channels)
    else:
        raise ConfigError(f"the small builder's extra stride must be 16 or 8, got {stride}")
    backbone = _SingleMap(body, out_channels=channels)
    return _with_small_heads(backbone, channels, cfg)


def _three_ints(cfg: ModelConfig, key: str, default: tuple[int, int, int]) -> tuple[int, int, int]:
    value = cfg.extra.get(key, default)
    try:
        a, b, c = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"the lite builder's extra {key!r} must be three whole numbers, got {value!r}") from None
    if min(a, b, c) < 1 or max(a, b, c) > 2048:
        raise ConfigError(f"the lite builder's extra {key!r} must be three whole numbers 1..2048, got {value!r}")
    return a, b, c


def build_lite(cfg: ModelConfig) -> FasterRCNN:
    """A quarter-width ResNet at stride 8 (:class:`LiteResNet`) with the ``small`` heads.

    ``cfg.extra``: ``widths`` (default ``[32, 64, 128]``), ``blocks`` (``[2, 2, 2]``),
    ``channels`` (the feature map's, 64), ``norm`` (``"group"`` or ``"batch"``).
    """
    channels = int(cfg.extra.get("channels", 64))
    if not 1 <= channels <= 2048:
        raise ConfigError(f"the lite builder's extra 'channels' must be 1..2048, got {channels}")
    body = LiteResNet(_three_ints(cfg, "widths", (32, 64, 128)), _three_ints(cfg, "blocks", (2, 2, 2)),
                      channels, lite_norm(str(cfg.extra.get("norm", "group"))))
    return _with_small_heads(body, channels, cfg)


def _replace_anchors(model: FasterRCNN, cfg: ModelConfig) -> None:
    """Give a torchvision model the config's anchors (its builders fix their own
    generator: MobileNet's passes ``rpn_anchor_generator`` itself). The RPN's
    per-anchor output layers are re-created (normal std 0.01, zero bias, as
    ``RPNHead`` does) when the number of anchors per cell changes."""
    levels = len(model.rpn.anchor_generator.sizes)
    sizes, ratios = cfg.anchor_sizes or (), cfg.aspect_ratios or ()
    if len(sizes) != levels:
        raise ConfigError(
            f"builder {cfg.builder!r} has {levels} feature levels, but the config gives anchor sizes for {len(sizes)}"
        )
    generator = AnchorGenerator(sizes, ratios)
    counts = set(generator.num_anchors_per_location())
    if len(counts) != 1:
        raise ConfigError("every feature level needs the same number of anchors (sizes x ratios) for one RPN head")
    k = counts.pop()
    model.rpn.anchor_generator = generator
    head = model.rpn.head
    if head.cls_logits.out_channels != k:
        channels = head.cls_logits.in_channels
        head.cls_logits = nn.Conv2d(channels, k, kernel_size=1)
        head.bbox_pred = nn.Conv2d(channels, 4 * k, kernel_size=1)
        for layer in (head.cls_logits, head.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.constant_(layer.bias, 0)


def _torchvision_builder(fn: Callable[..., FasterRCNN]) -> Callable[[ModelConfig], FasterRCNN]:
    def build(cfg: ModelConfig) -> FasterRCNN:
        model = fn(weights=None, weights_backbone=None, num_classes=cfg.num_classes, **_common_kwargs(cfg, {}))
        if cfg.anchor_sizes is not None:
            _replace_anchors(model, cfg)
        return model

    build.__doc__ = f"torchvision's ``{fn.__name__}`` with random weights (nothing downloaded)."
    return build


BUILDERS: dict[str, Callable[[ModelConfig], FasterRCNN]] = {
    "paper": build_paper,
    "small": build_small,
    "lite": build_lite,
    "resnet50_fpn": _torchvision_builder(tv_frcnn.fasterrcnn_resnet50_fpn),
    "resnet50_fpn_v2": _torchvision_builder(tv_frcnn.fasterrcnn_resnet50_fpn_v2),
    "mobilenet_v3_large_fpn": _torchvision_builder(tv_frcnn.fasterrcnn_mobilenet_v3_large_fpn),
    "mobilenet_v3_large_320_fpn": _torchvision_builder(tv_frcnn.fasterrcnn_mobilenet_v3_large_320_fpn),
}


def build_model(cfg: ModelConfig) -> FasterRCNN:
    """Build the model ``cfg`` describes, random weights, in eval mode."""
    try:
        builder = BUILDERS[cfg.builder]
    except KeyError:
        raise ConfigError(f"unknown model builder {cfg.builder!r}") from None
    model = builder(cfg)
    apply_rpn_options(model, *cfg.seed_rules())
    model.eval()
    return model


def select_device(requested: str | None = None) -> torch.device:
    """CUDA when available, else CPU; ``requested`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``) overrides."""
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is available here")
    return device
