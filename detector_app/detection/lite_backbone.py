"""The ``lite`` builder: a narrow ResNet for CPUs without fast bfloat16.

The ``small`` builder's ResNet-18 (widths 64/128/256 to layer3) spent about
four fifths of the previous bundled model's CPU time in its backbone; ``lite`` is
the bundled model's builder now (models/README.md). ``lite`` keeps its
shape (a 7x7 stem, a max pool, two torchvision ``BasicBlock`` per stage, one
top-down step to stride 8) at a quarter of the width by default, 32/64/128, which
cuts the backbone's multiply-adds by 3.7x (2.2 G against 8.0 G at 512 x 512) and
the feature map to 64 channels, which cuts the RPN head and the RoI head too.

Normalisation is GroupNorm (``min(32, channels // 4)`` groups): batch-independent,
so a backbone trained from scratch on 4 very different synthetic images per
batch behaves the same in training and inference (BatchNorm did not, see
models/previous/README.md). On this network GroupNorm costs no measurable time against a
folded BatchNorm (docs/benchmarks.md).

Config ``extra``: ``widths`` (three ints, default ``[32, 64, 128]``), ``blocks``
(blocks per stage, default ``[2, 2, 2]``), ``channels`` (the feature map, default
64), ``norm`` (``"group"`` or ``"batch"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from detector_app.detection.config import ConfigError

NormFn = Callable[[int], nn.Module]


def lite_norm(kind: str) -> NormFn:
    """``"group"``: GroupNorm with ``min(32, c // 4)`` groups; ``"batch"``: BatchNorm2d."""
    if kind == "group":
        return lambda c: nn.GroupNorm(max(1, min(32, c // 4)), c)
    if kind == "batch":
        return nn.BatchNorm2d
    raise ConfigError(f"unknown norm {kind!r} in the lite builder's extra; use 'group' or 'batch'")


def _stage(inplanes: int, planes: int, blocks: int, stride: int, norm: NormFn) -> nn.Sequential:
    down = None
    if stride != 1 or inplanes != planes:
        down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), norm(planes))
    layers = [BasicBlock(inplanes, planes, stride, down, norm_layer=norm)]
    layers += [BasicBlock(planes, planes, norm_layer=norm) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class LiteResNet(nn.Module):
    """Stem (7x7/2 conv, norm, ReLU, 3x3/2 max pool), three stages of ``BasicBlock``
    (strides 1, 2, 2), then ``p3 = relu(smooth(upsample2x(relu(reduce(c4))) + lateral(c3)))``.

    Input float[N, 3, H, W]; ``c3`` float[N, widths[1], H/8, W/8], ``c4``
    float[N, widths[2], H/16, W/16]; output float[N, channels, H/8, W/8].
    Residual blocks end with their last norm's scale at zero, so each starts as
    the identity (training from scratch starts from a shallow network).
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 128), blocks: Sequence[int] = (2, 2, 2),
                 channels: int = 64, norm: NormFn | None = None) -> None:
        super().__init__()
        norm = norm or lite_norm("group")
        w1, w2, w3 = widths
        self.stem = nn.Sequential(nn.Conv2d(3, w1, 7, 2, 3, bias=False), norm(w1), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        self.layer1 = _stage(w1, w1, blocks[0], 1, norm)
        self.layer2 = _stage(w1, w2, blocks[1], 2, norm)
        self.layer3 = _stage(w2, w3, blocks[2], 2, norm)
        self.reduce = nn.Conv2d(w3, channels, 1)
        self.lateral = nn.Conv2d(w2, channels, 1)
        self.smooth = nn.Conv2d(channels, channels, 3, padding=1)
        self.out_channels = channels
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, BasicBlock):
                last = m.bn2
                if isinstance(last, (nn.GroupNorm, nn.BatchNorm2d)) and last.weight is not None:
                    nn.init.zeros_(last.weight)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c3 = self.layer2(self.layer1(self.stem(x)))
        p4 = nn.functional.relu(self.reduce(self.layer3(c3)))
        top = nn.functional.interpolate(p4, size=c3.shape[-2:], mode="nearest")
        return {"0": nn.functional.relu(self.smooth(top + self.lateral(c3)))}
