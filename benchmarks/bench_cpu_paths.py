"""Candidate fast paths for the bundled model on a CPU, side by side in one run:
latency against the plain float32 forward (interleaved pairs, so host load
cancels out) and holdout AP of each (pycocotools, the model card's holdout).

Candidates (each a copy of the bundled model; torch stays the reference):

* ``channels-last``: the backbone in channels-last memory layout, float32;
* ``jit-freeze``: the backbone traced, frozen and ``optimize_for_inference``-d
  (TorchScript: oneDNN convolution fusion, constant folding);
* ``compile``: ``torch.compile`` of the backbone (inductor, CPU; only with
  ``--compile``: minutes of compilation on 2 cores);
* ``int8``: post-training static int8 quantization of the backbone (FX graph
  mode, x86 backend, calibrated on training-distribution images); GroupNorm
  stays float32 between quantized convolutions;
* ``bf16``: the shipped ``--precision bf16`` path, for reference (slow without
  AMX / AVX-512-BF16);
* ``input 448`` / ``input 384``: the model's resize target lowered (fewer
  pixels; AP shows what it costs, as the weights were trained at 512);
* ``int8 + input 448``: both.

ONNX Runtime is measured when ``onnxruntime`` is importable (not a dependency).

Retrained models (``--retrained PATH ...``, e.g. the ``lite`` builder's) are candidates too:
each is timed against the reference in the same interleaved pairs and scored on the same
holdout, plainly and with ``channels-last`` / ``int8`` applied to it.

    python benchmarks/bench_cpu_paths.py [--reference CKPT] [--retrained CKPT ...] [--images 100]
        [--reps 12] [--compile] [--json OUT]

To see an AVX2-only CPU on a machine with AVX-512 / AMX: ``ONEDNN_MAX_CPU_ISA=AVX2
ATEN_CPU_CAPABILITY=avx2 python benchmarks/bench_cpu_paths.py`` (docs/cpu_and_gpu.md).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from _common import Row, add_common_args, finish, median  # noqa: E402
from bench_detector import _ChannelsLastBackbone  # noqa: E402
from torch import nn  # noqa: E402

from detector_app.detection.checkpoints import load_checkpoint  # noqa: E402
from detector_app.detection.datasets import load_detection_data, load_sample_image  # noqa: E402
from detector_app.detection.evaluation import evaluate_model  # noqa: E402
from detector_app.detection.hub import bundled_model_path  # noqa: E402
from detector_app.detection.precision import bf16_probe, set_cpu_precision  # noqa: E402
from detector_app.detection.synthetic import write_dataset  # noqa: E402

HOLDOUT_SEED = 3000  # the model card's holdout
CALIBRATION_SEED = 1000  # the training generator's seed (never the holdout)


class _Backbone(nn.Module):
    """Wraps a replacement backbone callable, keeping ``out_channels`` for the heads;
    returns the dict of float32 feature maps the detector expects."""

    def __init__(self, inner: Callable[[torch.Tensor], object], out_channels: int) -> None:
        super().__init__()
        self.inner = inner
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.inner(x)
        if isinstance(feats, torch.Tensor):
            return {"0": feats.float().contiguous()}
        return {k: v.float().contiguous() for k, v in dict(feats).items()}


def _images(folder: Path, n: int) -> list[torch.Tensor]:
    data = load_detection_data(folder)
    return [torch.from_numpy(load_sample_image(s)).permute(2, 0, 1).float().div_(255) for s in data.samples[:n]]


def _batched(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the backbone sees for image ``x``: the detector's own resize, normalise and pad."""
    with torch.inference_mode():
        return model.transform([x])[0].tensors


def channels_last(model: nn.Module, calib: list[torch.Tensor]) -> nn.Module:
    model.backbone = _ChannelsLastBackbone(model.backbone)  # the same wrapper as bench_detector's what-if row
    return model


def jit_freeze(model: nn.Module, calib: list[torch.Tensor]) -> nn.Module:
    bb = model.backbone.eval()
    example = _batched(model, calib[0])
    with torch.inference_mode():
        traced = torch.jit.trace(bb, example, strict=False)
    frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    model.backbone = _Backbone(frozen, bb.out_channels)
    return model


def compiled(model: nn.Module, calib: list[torch.Tensor]) -> nn.Module:
    bb = model.backbone.eval()
    fn = torch.compile(bb, dynamic=False)
    with torch.inference_mode():
        fn(_batched(model, calib[0]))  # compile now, not inside the timing
    model.backbone = _Backbone(fn, bb.out_channels)
    return model


def int8(model: nn.Module, calib: list[torch.Tensor]) -> nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    bb = model.backbone.eval()
    example = _batched(model, calib[0])
    prepared = prepare_fx(copy.deepcopy(bb), get_default_qconfig_mapping("x86"), (example,))
    with torch.inference_mode():
        for x in calib:
            prepared(_batched(model, x))
    quantized = convert_fx(prepared)
    model.backbone = _Backbone(quantized, bb.out_channels)
    return model


def bf16(model: nn.Module, calib: list[torch.Tensor]) -> nn.Module:
    return set_cpu_precision(model, "bf16")


def input_size(size: int) -> Callable[[nn.Module, list[torch.Tensor]], nn.Module]:
    def apply(model: nn.Module, calib: list[torch.Tensor]) -> nn.Module:
        model.transform.min_size = (size,)
        model.transform.max_size = size
        return model
    return apply


def _onnx_session(model: nn.Module, calib: list[torch.Tensor], int8: bool) -> Callable[[torch.Tensor], object]:
    """The backbone exported to ONNX and run by ONNX Runtime (fp32, or int8 QDQ after static
    post-training quantization on ``calib``, per-channel weights)."""
    import onnxruntime as ort  # not a dependency: skipped when absent

    bb = model.backbone.eval()
    example = _batched(model, calib[0]).clone()  # a normal tensor: the exporter traces with autograd on
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "backbone.onnx"
        torch.onnx.export(bb, (example,), str(path), input_names=["x"], dynamo=False)
        if int8:
            from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

            class Reader(CalibrationDataReader):
                def __init__(self) -> None:
                    self.items = iter([{"x": _batched(model, x).numpy()} for x in calib])

                def get_next(self) -> dict[str, object] | None:
                    return next(self.items, None)

            quantized = Path(tmp) / "backbone.int8.onnx"
            quantize_static(str(path), str(quantized), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            path = quantized
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    several = len(session.get_outputs()) > 1

    def run(x: torch.Tensor) -> object:
        outs = session.run(None, {"x": x.numpy()})
        return {str(i): torch.from_numpy(o) for i, o in enumerate(outs)} if several else torch.from_numpy(outs[0])

    return run


def onnxruntime_fp32(model: nn.Module, calib: list[torch.Tensor]) -> nn.Module:
    model.backbone = _Backbone(_onnx_session(model, calib, int8=False), model.backbone.out_channels)
    return model


def onnxruntime_int8(model: nn.Module, calib: list[torch.Tensor]) -> nn.Module:
    model.backbone = _Backbone(_onnx_session(model, calib, int8=True), model.backbone.out_channels)
    return model


def _use(other: nn.Module) -> Callable[[nn.Module, list[torch.Tensor]], nn.Module]:
    """A candidate that is another model altogether (a copy, so later steps leave it as it is)."""
    def apply(model: nn.Module, calib: list[torch.Tensor]) -> nn.Module:
        return copy.deepcopy(other)
    return apply


def both(*steps: Callable[[nn.Module, list[torch.Tensor]], nn.Module]
         ) -> Callable[[nn.Module, list[torch.Tensor]], nn.Module]:
    """Candidates applied in turn (the resize first, so calibration sees the new size)."""
    def apply(model: nn.Module, calib: list[torch.Tensor]) -> nn.Module:
        for step in steps:
            model = step(model, calib)
        return model
    return apply


CANDIDATES: dict[str, Callable[[nn.Module, list[torch.Tensor]], nn.Module]] = {
    "channels-last fp32": channels_last,
    "TorchScript freeze fp32": jit_freeze,
    "int8 PTQ backbone (FX, x86)": int8,
    "ONNX Runtime fp32 backbone": onnxruntime_fp32,
    "ONNX Runtime int8 backbone (static QDQ, per-channel)": onnxruntime_int8,
    "bf16 (shipped --precision bf16)": bf16,
    "input 448 px fp32": input_size(448),
    "input 384 px fp32": input_size(384),
    "int8 PTQ backbone + input 448 px": both(input_size(448), int8),
}


def _timed(model: nn.Module, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    with torch.inference_mode():
        model([x])
    return (time.perf_counter() - t0) * 1000.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--images", type=int, default=None, help="holdout images scored per candidate (default 100)")
    parser.add_argument("--reps", type=int, default=None, help="timed pairs per candidate (default 12)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile (slow to compile)")
    parser.add_argument("--only", nargs="+", help="candidates whose name starts with one of these")
    parser.add_argument("--reference", type=Path, help="the model to beat (default: the bundled model)")
    parser.add_argument("--retrained", type=Path, nargs="+", default=[],
                        help="other checkpoints of the same classes, measured against the reference")
    args = parser.parse_args(argv)
    n_images = args.images or (8 if args.quick else 100)
    reps = args.reps or (2 if args.quick else 12)
    candidates = dict(CANDIDATES)
    if args.compile:
        candidates["torch.compile backbone (inductor)"] = compiled
    if args.only:
        candidates = {k: v for k, v in candidates.items() if any(k.startswith(o) for o in args.only)}
    base = load_checkpoint(args.reference or bundled_model_path()).model.eval()
    for path in args.retrained:
        retrained = load_checkpoint(path).model.eval()
        candidates[f"retrained {path.name} fp32"] = _use(retrained)
        candidates[f"retrained {path.name} channels-last"] = both(_use(retrained), channels_last)
        candidates[f"retrained {path.name} int8 PTQ backbone"] = both(_use(retrained), int8)
    work = Path(tempfile.mkdtemp(prefix="bench_cpu_paths_"))
    write_dataset(work / "holdout", images=n_images, seed=HOLDOUT_SEED, size=512, fmt="jpg")
    write_dataset(work / "calib", images=16, seed=CALIBRATION_SEED, size=512, fmt="jpg")
    holdout = load_detection_data(work / "holdout")
    calib = _images(work / "calib", 16)
    probe_x = _images(work / "holdout", 1)[0]
    ref_ap = evaluate_model(base, holdout, batch=1)
    for _ in range(2):
        _timed(base, probe_x)
    rows: list[Row] = []
    threads = torch.get_num_threads()
    ref_times: list[float] = []
    for name, make in candidates.items():
        t0 = time.perf_counter()
        try:
            cand = make(copy.deepcopy(base), calib)
            for _ in range(2):
                _timed(cand, probe_x)
        except Exception as exc:  # noqa: BLE001 - a candidate that cannot run is reported, not fatal
            reason = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
            rows.append(Row("cpu path", name, "failed", note=reason[:200]))
            continue
        setup_s = time.perf_counter() - t0
        pairs = []
        for r in range(reps):
            a, b = (_timed(base, probe_x), _timed(cand, probe_x)) if r % 2 == 0 else \
                tuple(reversed((_timed(cand, probe_x), _timed(base, probe_x))))
            pairs.append((a, b))
        ref_ms = median([a for a, _ in pairs])
        ms = median([b for _, b in pairs])
        ref_times += [a for a, _ in pairs]
        speedup = median([a / b for a, b in pairs])
        ap = evaluate_model(cand, holdout, batch=1)
        d_ap = ap["AP"] - ref_ap["AP"]
        ok = speedup >= 2.5 and abs(d_ap) <= 0.01
        rows.append(Row("cpu path", name, f"{ms:.0f} ms ({speedup:.2f}x)", ">= 2.5x at |dAP| <= 0.01", ok,
                        f"fp32 forward {ref_ms:.0f} ms in the same pairs; AP {ap['AP']:.3f} ({d_ap:+.3f}), "
                        f"AP50 {ap['AP50']:.3f} ({ap['AP50'] - ref_ap['AP50']:+.3f}); set-up {setup_s:.1f} s"))
    ref_name = (args.reference or bundled_model_path()).name
    notes = [f"reference {ref_name}, 512x512 synthetic holdout (seed {HOLDOUT_SEED}), first {n_images} images, "
             f"batch 1, "
             f"{threads} threads; reference plain fp32 forward AP {ref_ap['AP']:.3f} / AP50 {ref_ap['AP50']:.3f}, "
             f"median {median(ref_times):.0f} ms",
             f"ATen {torch.backends.cpu.get_cpu_capability()}, ONEDNN_MAX_CPU_ISA="
             f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}; {bf16_probe().reason()}"]
    finish("bench_cpu_paths", rows, args, notes)


if __name__ == "__main__":
    main()
