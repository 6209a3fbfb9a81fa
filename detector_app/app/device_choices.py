"""Which device and precision a model runs on: the device list the window offers and
how a choice (``auto``, ``cpu``, ``cpu-bf16``, ``cuda:N``) resolves.

CPU bfloat16 is chosen by measurement, not by CPU flags (``detection.precision``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Device choice for CPU inference with the backbone in bfloat16 (``detection.precision``).
CPU_BF16 = "cpu-bf16"


def split_device(device: str | None) -> tuple[str | None, str]:
    """A device choice as (torch device, precision): ``"cpu-bf16"`` is
    ``("cpu", "bf16")``; ``None`` / ``"auto"`` is CUDA when present, else the
    CPU in bf16 where it is measured faster than float32
    (``detection.precision.resolve_precision``; may measure once, so call it off the
    GUI thread), else ``(device, "fp32")``; anything else keeps float32."""
    if device == CPU_BF16:
        return "cpu", "bf16"
    if device in (None, "auto"):
        import torch

        from detector_app.detection.precision import resolve_precision

        if not torch.cuda.is_available() and resolve_precision("auto", "cpu") == "bf16":
            return "cpu", "bf16"
    return device, "fp32"


@dataclass(frozen=True)
class DeviceChoice:
    """One entry of the device list: the value :func:`split_device` takes, the
    text shown and a tooltip."""

    value: str
    label: str
    tooltip: str = ""


#: Marks the CPU bf16 entry where it is not known to be faster than float32.
SLOW_MARK = "(slow on this CPU)"


def _cpu_bf16_choice() -> DeviceChoice:
    """``CPU bf16``, marked :data:`SLOW_MARK` unless it is known to be fast here:
    the CPU lists native bfloat16 and the probe (measured by the inference worker
    on its first CPU model load, never here) found it faster than float32."""
    from detector_app.detection.precision import cpu_supports_fast_bf16, measured_bf16_probe

    what = "CPU with the backbone and RPN head in bfloat16 (scores differ slightly from float32)"
    native, probe = cpu_supports_fast_bf16(), measured_bf16_probe()
    if probe is not None:
        if native and probe.fast:
            return DeviceChoice(CPU_BF16, "CPU bf16", f"{what}: {probe.reason()}; auto uses it")
        return DeviceChoice(CPU_BF16, f"CPU bf16 {SLOW_MARK}", f"{what}: {probe.reason()}; auto uses float32")
    if not native:
        return DeviceChoice(CPU_BF16, f"CPU bf16 {SLOW_MARK}",
                            f"{what}: this CPU has no AMX / AVX-512-BF16, so bf16 runs 3-20x slower than "
                            "float32 here; auto uses float32")
    return DeviceChoice(CPU_BF16, "CPU bf16 (speed not measured yet)",
                        f"{what}: the CPU lists native bfloat16; its speed is measured when the first "
                        "model loads")


def device_choices() -> list[DeviceChoice]:
    """``auto`` (CUDA, else ``cpu-bf16`` where it is measured fast, else ``cpu``),
    ``cpu``, ``cpu-bf16`` (marked :data:`SLOW_MARK` where it is not known to be
    fast: it is never offered as a plain choice where it is slower than float32),
    and ``cuda:N`` for each visible GPU. Never runs torch (safe on the GUI thread)."""
    import torch

    return [
        DeviceChoice("auto", "auto", "CUDA when present, else the CPU in bf16 where that is measured faster "
                                     "than float32, else the CPU in float32"),
        DeviceChoice("cpu", "CPU", "CPU, float32: the reference arithmetic"),
        _cpu_bf16_choice(),
        *(DeviceChoice(f"cuda:{i}", f"CUDA:{i}", torch.cuda.get_device_name(i))
          for i in range(torch.cuda.device_count())),
    ]


__all__ = ["CPU_BF16", "SLOW_MARK", "DeviceChoice", "device_choices", "split_device"]
