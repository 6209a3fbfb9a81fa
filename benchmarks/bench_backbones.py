"""Backbone designs for the CPU, side by side: latency of the feature extractor alone
(random weights, 512 x 512, batch 1) against the stride-8 ResNet-18 with GroupNorm
(the ``small`` builder of the previous bundled model), in interleaved rounds.

What it answers: how much of the time is the normalisation (GroupNorm against
BatchNorm, and against none at all, which is what a BatchNorm folded into its
convolutions costs), and how much a narrower network saves.

    python benchmarks/bench_backbones.py [--rounds 6] [--json OUT]

Run it as ``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python ...`` to see an
AVX2-only CPU on a larger one (docs/cpu_and_gpu.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from _common import Row, add_common_args, finish, median  # noqa: E402
from torch import nn  # noqa: E402

from detector_app.detection.builders import build_model  # noqa: E402
from detector_app.detection.config import ModelConfig  # noqa: E402


def _without_norm(model: nn.Module) -> nn.Module:
    """Every normalisation layer replaced by the identity: the cost of a folded BatchNorm."""
    for name, child in model.named_children():
        if isinstance(child, (nn.GroupNorm, nn.BatchNorm2d)):
            setattr(model, name, nn.Identity())
        else:
            _without_norm(child)
    return model


def _backbone(builder: str, extra: dict[str, object]) -> Callable[[], nn.Module]:
    return lambda: build_model(ModelConfig(builder=builder, num_classes=6, extra=extra)).backbone.eval()


CANDIDATES: dict[str, Callable[[], nn.Module]] = {
    "ResNet-18 s8, GroupNorm (reference)": _backbone("small", {"stride": 8, "norm": "group"}),
    "ResNet-18 s8, BatchNorm (not folded)": _backbone("small", {"stride": 8, "norm": "batch"}),
    "ResNet-18 s8, no norm (= BatchNorm folded)": lambda: _without_norm(_backbone("small", {"stride": 8})()),
    "lite 32/64/128, GroupNorm": _backbone("lite", {}),
    "lite 32/64/128, BatchNorm (not folded)": _backbone("lite", {"norm": "batch"}),
    "lite 32/64/128, no norm (= BatchNorm folded)": lambda: _without_norm(_backbone("lite", {})()),
    "lite 48/96/192, 96 channels, GroupNorm": _backbone("lite", {"widths": [48, 96, 192], "channels": 96}),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 6; --quick 1)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 6)
    size = 128 if args.quick else 512
    torch.manual_seed(0)
    nets = {name: make() for name, make in CANDIDATES.items()}
    x = torch.rand(1, 3, size, size)
    times: dict[str, list[float]] = {name: [] for name in nets}
    with torch.inference_mode():
        for net in nets.values():
            net(x)
        for _ in range(rounds):
            for name, net in nets.items():
                t0 = time.perf_counter()
                for _ in range(3):
                    net(x)
                times[name].append((time.perf_counter() - t0) / 3 * 1000.0)
    ref = median(times[next(iter(nets))])
    rows = [Row("backbone", name, f"{median(t):.1f} ms ({ref / median(t):.2f}x)",
                note=f"{sum(p.numel() for p in nets[name].parameters()) / 1e6:.2f} M parameters")
            for name, t in times.items()]
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "unset")
    finish("bench_backbones", rows, args,
           [f"{size}x{size}, batch 1, {torch.get_num_threads()} threads, {rounds} rounds of 3, medians; ATen "
            f"{torch.backends.cpu.get_cpu_capability()}, ONEDNN_MAX_CPU_ISA={isa}"])


if __name__ == "__main__":
    main()
