"""CPU inference precision: the backbone in channels-last layout under bfloat16 autocast.

On the bundled model the backbone is 75-90 % of a CPU forward pass (see
``docs/benchmarks.md``). :func:`set_cpu_precision` with ``"bf16"`` makes the
backbone run in channels-last memory layout under ``torch.autocast("cpu",
dtype=torch.bfloat16)`` and hands float32 feature maps (``float32[1, C, H', W']``
per level, standard layout) to the RPN and RoI head; the RPN head's convolutions
(over every feature-map cell: 4x the cells at stride 8) run under the same
autocast and return float32 logits and deltas, so anchors, box decoding, NMS,
the RoI head and scores stay float32. It is fast on CPUs with AMX or
AVX-512-BF16 (:func:`cpu_supports_fast_bf16`); on other CPUs it is correct but
3-20x slower than float32, so ``"auto"`` picks it only where :func:`bf16_probe`
measures it faster.

The model is changed in place without touching its parameters' names or
values: the backbone instance gets its own ``forward`` (an instance attribute,
not a new module), so ``state_dict`` keys stay those of torchvision's model and
checkpoints load and save as without it. ``"fp32"`` removes it again and restores
the standard memory layout, so the model's output is then bit-identical to
torchvision's forward. CUDA models have their own option (fp16 AMP, ``--amp``).
"""

from __future__ import annotations

import threading
import time
import types
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN

from detector_app.detection.config import ConfigError

PRECISIONS = ("fp32", "bf16")
#: What users may ask for: a precision, or ``"auto"`` (:func:`resolve_precision`).
PRECISION_CHOICES = ("auto", *PRECISIONS)
_MARK = "_detector_app_precision"  # attribute on the backbone instance while bf16 is on


def cpu_supports_fast_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU has native bfloat16 matrix instructions (``amx_bf16`` or
    ``avx512_bf16`` in ``/proc/cpuinfo``'s flags); ``False`` when unreadable."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            flags = set(line.split(":", 1)[1].split())
            if flags & {"amx_bf16", "avx512_bf16"}:
                return True
    return False


@dataclass(frozen=True)
class Bf16Probe:
    """What :func:`bf16_probe` measured: whether the CPU has native bfloat16
    instructions, and the time of one small backbone-like block (3x3
    convolution 128 -> 128 channels on ``float32[1, 128, 64, 64]`` channels-last,
    GroupNorm, ReLU: the bundled backbone's widest stage) in float32 and under
    bf16 autocast, best of 5 taken in alternation after a warm-up, in milliseconds. Measured on two
    kinds of CPU: bf16 0.3x fp32's time with AVX-512-BF16, 5.3x without."""

    native: bool
    fp32_ms: float
    bf16_ms: float

    #: bf16 must take at most this fraction of fp32's time to count as fast: the probe is a few
    #: milliseconds, so a near tie is noise, and oneDNN without native bf16 kernels is 3-20x slower.
    FAST_RATIO = 0.8

    @property
    def fast(self) -> bool:
        return self.bf16_ms <= self.FAST_RATIO * self.fp32_ms

    def reason(self) -> str:
        """One line: the measured ratio and what the CPU lacks or has."""
        block = f"a 3x3 convolution block takes {self.bf16_ms:.1f} ms in bf16 vs {self.fp32_ms:.1f} ms in fp32"
        if self.fast:
            return f"bf16 is {self.fp32_ms / self.bf16_ms:.1f}x faster than fp32 on this CPU ({block})"
        why = ("this CPU has no AMX / AVX-512-BF16" if not self.native else
               "the CPU flags list bfloat16 instructions but the kernels in use do not run them "
               "(ONEDNN_MAX_CPU_ISA or a virtual machine may hide them), or other work held the CPU then")
        return f"bf16 is {self.bf16_ms / self.fp32_ms:.1f}x slower than fp32 on this CPU ({block}; {why})"


#: (fp32_ms, bf16_ms) of the probe block, measured once per process.
_TIMES: tuple[float, float] | None = None
_TIMES_LOCK = threading.Lock()


def _best_pair_ms(first: Callable[[], object], second: Callable[[], object], rounds: int = 5) -> tuple[float, float]:
    """Best time of each of two calls, in milliseconds, measured in alternation: on a
    busy machine the load changes from second to second, and taking one call's runs
    all before the other's would compare a quiet moment with a busy one."""
    first()  # the first calls create the oneDNN primitives
    second()
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, fn in enumerate((first, second)):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best[0] * 1000.0, best[1] * 1000.0


def _measure_block() -> tuple[float, float]:
    block = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1), nn.GroupNorm(32, 128), nn.ReLU()).eval()
    block.to(memory_format=torch.channels_last)
    x = torch.rand(1, 128, 64, 64).contiguous(memory_format=torch.channels_last)

    def bf16() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            block(x)

    with torch.inference_mode():
        return _best_pair_ms(lambda: block(x), bf16)


def bf16_probe(cpuinfo: str | Path = "/proc/cpuinfo") -> Bf16Probe:
    """How CPU bf16 autocast compares with float32 here, on one small block (see
    :class:`Bf16Probe`); measured once per process (30-150 ms), later calls reuse
    the times. Runs torch, so call it off the GUI thread (the inference worker
    does on its first CPU model load).

    CPU flags alone are not enough: ``ONEDNN_MAX_CPU_ISA``, a hypervisor or an
    old oneDNN can leave native bfloat16 instructions unused, and then bf16 is
    3-20x slower than float32.
    """
    global _TIMES
    with _TIMES_LOCK:
        if _TIMES is None:
            _TIMES = _measure_block()
        fp32_ms, bf16_ms = _TIMES
    return Bf16Probe(cpu_supports_fast_bf16(cpuinfo), fp32_ms, bf16_ms)


def measured_bf16_probe(cpuinfo: str | Path = "/proc/cpuinfo") -> Bf16Probe | None:
    """:func:`bf16_probe`'s result if it was measured in this process, else ``None``
    (never measures: safe on the GUI thread)."""
    times = _TIMES
    return None if times is None else Bf16Probe(cpu_supports_fast_bf16(cpuinfo), *times)


def bf16_is_fast(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether CPU bf16 inference beats float32 here: the CPU lists native
    bfloat16 instructions (:func:`cpu_supports_fast_bf16`) and :func:`bf16_probe`
    measures bf16 faster. Without the flags nothing is measured."""
    return cpu_supports_fast_bf16(cpuinfo) and bf16_probe(cpuinfo).fast


def bf16_slow_warning(device_type: str, cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """For a user who asked for bf16 explicitly: one line saying, with the
    measured reason, that it is slower than float32 on this CPU; ``None`` when
    it is not (or the device is not a CPU)."""
    if device_type != "cpu":
        return None
    probe = bf16_probe(cpuinfo)
    if probe.fast:
        return None
    return f"--precision bf16 is slow here: {probe.reason()}; --precision fp32 (or auto) is faster"


def resolve_precision(precision: str, device_type: str, cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The precision to run: ``"auto"`` is ``"bf16"`` on a CPU where it is
    measured faster than float32 (:func:`bf16_is_fast`: about 2x for the
    bundled model with AMX / AVX-512-BF16, same holdout AP, see
    ``models/README.md``) and ``"fp32"`` otherwise (CUDA has its own
    ``--amp``); ``"fp32"`` / ``"bf16"`` are returned as given.

    Raises:
        ConfigError: a precision not in :data:`PRECISION_CHOICES`.
    """
    if precision not in PRECISION_CHOICES:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}")
    if precision != "auto":
        return precision
    return "bf16" if device_type == "cpu" and bf16_is_fast(cpuinfo) else "fp32"


def _bf16_forward(self: nn.Module, x: torch.Tensor) -> Any:
    """The backbone's forward under CPU bf16 autocast.

    ``x``: ``float32[N, 3, H, W]``; returns the class's own output type (a dict of
    ``float32[N, C, H', W']`` for FPN / project backbones, or one tensor) in
    float32 and the standard memory layout. Non-CPU inputs run the plain forward.
    """
    plain = type(self).forward
    if x.device.type != "cpu":
        return plain(self, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats = plain(self, x.contiguous(memory_format=torch.channels_last))
    if isinstance(feats, torch.Tensor):
        return feats.float().contiguous()
    out = OrderedDict((k, v.float().contiguous()) for k, v in feats.items())
    return out if isinstance(feats, OrderedDict) else dict(out)


def _bf16_rpn_head_forward(self: nn.Module, x: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The RPN head's forward (its 3x3 conv and two 1x1 convs) under CPU bf16 autocast.

    ``x``: per level ``float32[N, C, H, W]``; returns objectness logits
    ``float32[N, k, H, W]`` and deltas ``float32[N, 4k, H, W]`` per level.
    """
    plain = type(self).forward
    if not x or x[0].device.type != "cpu":
        return plain(self, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, deltas = plain(self, x)
    return [t.float() for t in logits], [t.float() for t in deltas]


def _rpn_head(model: FasterRCNN) -> nn.Module | None:
    rpn = getattr(model, "rpn", None)
    return getattr(rpn, "head", None)


def get_precision(model: FasterRCNN) -> str:
    """``"bf16"`` when :func:`set_cpu_precision` turned it on for ``model``, else ``"fp32"``."""
    return "bf16" if getattr(model.backbone, _MARK, None) == "bf16" else "fp32"


def set_cpu_precision(model: FasterRCNN, precision: str) -> FasterRCNN:
    """Set the backbone's and RPN head's CPU inference precision in place; returns ``model``.

    Args:
        model: a torchvision-style detector with a ``backbone`` module (its
            ``out_channels`` and parameters are kept as they are).
        precision: ``"bf16"`` (channels-last + CPU bfloat16 autocast for the
            backbone, autocast for ``rpn.head``; both hand float32 on) or
            ``"fp32"`` (the plain forward, standard layout).

    Raises:
        ConfigError: an unknown precision, or ``"bf16"`` for a model whose
            parameters are on a CUDA device (use fp16 AMP there); the model is
            left unchanged.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    backbone = model.backbone
    if precision == "bf16":
        devices = {p.device.type for p in backbone.parameters()}
        if devices - {"cpu"}:
            raise ConfigError("bf16 precision is for CPU inference; this model is on "
                              f"{', '.join(sorted(devices - {'cpu'}))} (use fp16 AMP there: --amp)")
        if getattr(backbone, _MARK, None) != "bf16":
            backbone.to(memory_format=torch.channels_last)
            backbone.forward = types.MethodType(_bf16_forward, backbone)
            setattr(backbone, _MARK, "bf16")
            head = _rpn_head(model)
            if head is not None:
                head.forward = types.MethodType(_bf16_rpn_head_forward, head)
        return model
    if getattr(backbone, _MARK, None) == "bf16":
        backbone.__dict__.pop("forward", None)
        delattr(backbone, _MARK)
        backbone.to(memory_format=torch.contiguous_format)
        head = _rpn_head(model)
        if head is not None:
            head.__dict__.pop("forward", None)
    return model


__all__ = ["PRECISIONS", "PRECISION_CHOICES", "Bf16Probe", "bf16_is_fast", "bf16_probe", "bf16_slow_warning",
           "cpu_supports_fast_bf16", "get_precision", "measured_bf16_probe", "resolve_precision", "set_cpu_precision"]
