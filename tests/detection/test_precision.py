"""``detection.precision``: bf16 backbone on CPU without changing the weights, fp32
restoring torchvision's exact forward, and the bundled model's detections under bf16
(compared with fp32 on the bundled sample images), also through ``detect --precision``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from detector_app.cli import main
from detector_app.detection import precision
from detector_app.detection.builders import build_model
from detector_app.detection.checkpoints import load_checkpoint
from detector_app.detection.config import ConfigError, ModelConfig
from detector_app.detection.hub import bundled_model_path
from detector_app.detection.inference import detect_images
from detector_app.detection.precision import (
    bf16_probe,
    bf16_slow_warning,
    cpu_supports_fast_bf16,
    get_precision,
    resolve_precision,
    set_cpu_precision,
)
from detector_app.detection.tracing import trace
from detector_app.media.images import read_image

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "resources" / "samples" / "images").glob("*.jpg"))
MODEL_PATH = bundled_model_path()
needs_bundled = pytest.mark.skipif(not MODEL_PATH.is_file() or len(SAMPLES) != 4,
                                   reason="needs models/default.pt and the 4 bundled sample images")

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model() -> torch.nn.Module:
    cfg = ModelConfig(builder="small", num_classes=3, min_size=96, max_size=128, representation_size=64,
                      extra={"channels": 32}, rpn_post_nms_top_n_test=50, box_detections_per_img=20)
    torch.manual_seed(3)
    return build_model(cfg).eval()


def test_state_dict_unchanged_and_fp32_restores_exact_forward() -> None:
    model = tiny_model()
    plain = copy.deepcopy(model)
    x = torch.rand(3, 120, 100)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.inference_mode():
        want = plain([x])[0]
        set_cpu_precision(model, "bf16")
        assert get_precision(model) == "bf16"
        assert model.backbone.out_channels == plain.backbone.out_channels
        after = model.state_dict()
        assert list(after) == list(before)
        assert all(torch.equal(after[k], v) for k, v in before.items())
        feats = model.backbone(torch.rand(1, 3, 96, 96))
        assert all(f.dtype == torch.float32 and f.is_contiguous() for f in feats.values())
        # the RPN head runs under the same autocast and hands float32 on, close to fp32's values
        logits, deltas = model.rpn.head(list(feats.values()))
        ref_logits, ref_deltas = plain.rpn.head(list(feats.values()))
        assert logits[0].dtype == deltas[0].dtype == torch.float32
        assert not torch.equal(logits[0], ref_logits[0])  # it really ran in bf16
        torch.testing.assert_close(logits[0], ref_logits[0], atol=0.05, rtol=0.05)
        torch.testing.assert_close(deltas[0], ref_deltas[0], atol=0.05, rtol=0.05)
        set_cpu_precision(model, "fp32")
        assert get_precision(model) == "fp32" and "forward" not in model.backbone.__dict__
        assert "forward" not in model.rpn.head.__dict__
        got = model([x])[0]
    assert list(model.state_dict()) == list(before)
    for key in ("boxes", "labels", "scores"):
        assert torch.equal(got[key], want[key]), key


def test_bf16_survives_deepcopy_and_refuses_non_cpu() -> None:
    model = set_cpu_precision(tiny_model(), "bf16")
    clone = copy.deepcopy(model)
    assert clone.backbone.forward.__self__ is clone.backbone  # bound to the copy, not the original
    assert clone.rpn.head.forward.__self__ is clone.rpn.head
    meta = tiny_model().to("meta")
    with pytest.raises(ConfigError, match="bf16 precision is for CPU"):
        set_cpu_precision(meta, "bf16")
    assert get_precision(meta) == "fp32" and "forward" not in meta.backbone.__dict__
    with pytest.raises(ConfigError, match="unknown precision"):
        set_cpu_precision(model, "fp16")


#: probe times (fp32 ms, bf16 ms) as measured on an AVX-512-BF16 CPU and on the same CPU limited to AVX2
FAST_TIMES, SLOW_TIMES = (4.7, 1.6), (5.5, 29.2)


def test_resolve_precision_auto_needs_the_flags_and_a_faster_measurement(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, plain = tmp_path / "fast", tmp_path / "plain"
    fast.write_text("flags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    plain.write_text("flags\t\t: fpu sse avx2\n")
    monkeypatch.setattr(precision, "_TIMES", FAST_TIMES)
    assert resolve_precision("auto", "cpu", fast) == "bf16"
    assert resolve_precision("auto", "cpu", plain) == "fp32"
    assert resolve_precision("auto", "cuda", fast) == "fp32"  # CUDA has --amp
    assert resolve_precision("fp32", "cpu", fast) == "fp32" and resolve_precision("bf16", "cpu", plain) == "bf16"
    with pytest.raises(ConfigError, match="choose one of auto, fp32, bf16"):
        resolve_precision("fp16", "cpu", fast)
    # the flags are there but the kernels do not use them (ONEDNN_MAX_CPU_ISA=AVX2, a VM): measured slow
    monkeypatch.setattr(precision, "_TIMES", SLOW_TIMES)
    assert resolve_precision("auto", "cpu", fast) == "fp32"
    assert resolve_precision("bf16", "cpu", fast) == "bf16"  # asked for explicitly: kept (with a warning)


def test_probe_is_measured_once_and_explains_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.write_text("flags\t\t: fpu sse avx2\n")
    calls = []
    monkeypatch.setattr(precision, "_TIMES", None)
    monkeypatch.setattr(precision, "_measure_block", lambda: calls.append(1) or SLOW_TIMES)
    assert precision.measured_bf16_probe() is None  # nothing measured yet (what the GUI thread asks)
    assert not precision.bf16_is_fast(plain) and calls == []  # no flags: nothing to measure
    probe = bf16_probe(plain)
    assert precision.bf16_probe(plain) == probe == precision.measured_bf16_probe(plain) and calls == [1]
    assert not probe.fast and probe.bf16_ms == 29.2
    assert probe.reason() == ("bf16 is 5.3x slower than fp32 on this CPU (a 3x3 convolution block takes 29.2 ms "
                              "in bf16 vs 5.5 ms in fp32; this CPU has no AMX / AVX-512-BF16)")
    warning = bf16_slow_warning("cpu", plain)
    assert warning is not None and warning.startswith("--precision bf16 is slow here: bf16 is 5.3x slower")
    assert bf16_slow_warning("cuda", plain) is None
    monkeypatch.setattr(precision, "_TIMES", FAST_TIMES)
    assert bf16_slow_warning("cpu", plain) is None and "2.9x faster" in bf16_probe(plain).reason()


def test_probe_measures_real_convolutions() -> None:
    """The real measurement (no mock): two positive times in milliseconds."""
    times = precision._measure_block()
    assert len(times) == 2 and all(0 < t < 10_000 for t in times)


def test_probe_times_fp32_and_bf16_in_alternation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load that comes and goes must hit both: a busy spell during the first half of
    the runs would otherwise make whichever precision ran then look slow."""
    order: list[str] = []
    clock = iter(range(1000))
    monkeypatch.setattr(precision.time, "perf_counter", lambda: float(next(clock)))
    fp32_ms, bf16_ms = precision._best_pair_ms(lambda: order.append("fp32"), lambda: order.append("bf16"), rounds=4)
    assert order == ["fp32", "bf16"] * 5  # one warm-up call each, then 4 alternating rounds
    assert fp32_ms == bf16_ms == 1000.0  # each call took one tick of the fake clock


def test_cpu_supports_fast_bf16(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    assert cpu_supports_fast_bf16(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 amx_tile amx_int8\n")
    assert not cpu_supports_fast_bf16(info)
    assert not cpu_supports_fast_bf16(tmp_path / "missing")


def _match(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[tuple[int, int, float]]:
    """Greedy IoU matching between two detection sets: ``(i, j, iou)`` best pairs first."""
    iou = box_iou(torch.from_numpy(a["boxes"]), torch.from_numpy(b["boxes"])).numpy()
    pairs = []
    while iou.size and iou.max() > 0:
        i, j = np.unravel_index(int(iou.argmax()), iou.shape)
        pairs.append((int(i), int(j), float(iou[i, j])))
        iou[i, :] = -1
        iou[:, j] = -1
    return pairs


@needs_bundled
@pytest.mark.fast_bf16
def test_bundled_model_bf16_detections_match_fp32() -> None:
    model = load_checkpoint(MODEL_PATH).model.eval()

    def run(precision: str) -> list[dict[str, np.ndarray]]:
        """Per sample: the detections scoring >= 0.4, with their scores."""
        out = []
        for r in detect_images(model, SAMPLES, device="cpu", precision=precision):
            keep = r.scores >= 0.4
            out.append({"boxes": r.boxes[keep], "labels": r.labels[keep], "scores": r.scores[keep]})
        return out

    def confident(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keep = d["scores"] >= 0.5
        return {"boxes": d["boxes"][keep], "labels": d["labels"][keep]}

    # bf16 moves scores a little: a box near 0.5 may sit on either side, so the other side is looked up >= 0.4
    fp32_low, bf16_low = run("fp32"), run("bf16")
    fp32, bf16 = [confident(d) for d in fp32_low], [confident(d) for d in bf16_low]
    assert get_precision(model) == "bf16"
    assert sum(len(d["boxes"]) for d in fp32) >= 4  # the comparison is about real detections
    for path, a, b, a_low, b_low in zip(SAMPLES, fp32, bf16, fp32_low, bf16_low):
        assert abs(len(a["boxes"]) - len(b["boxes"])) <= 1, path.name
        for x, y in ((a, b_low), (b, a_low)):
            pairs = _match(x, y)
            assert len(pairs) == len(x["boxes"]), path.name
            for i, j, iou in pairs:
                assert x["labels"][i] == y["labels"][j], path.name
                assert iou >= 0.9, (path.name, iou)
    # the trace goes through the same backbone forward and keeps per-stage timings
    tr = trace(model, read_image(SAMPLES[0]))
    assert {"backbone", "rpn", "roi_heads"} <= set(tr.timings_ms)
    assert int((tr.detection_scores >= 0.5).sum()) == len(bf16[0]["boxes"])


@needs_bundled
@pytest.mark.fast_bf16
def test_detect_cli_precision_bf16_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dets.json"
    rc = main(["detect", str(SAMPLES[0]), "--device", "cpu", "--precision", "bf16", "--json", str(out)])
    assert rc == 0
    records = json.loads(out.read_text())
    assert records and all(r["file_name"] == SAMPLES[0].name for r in records)
    text = capsys.readouterr().out
    assert "wrote" in text and "precision bf16 (backbone bfloat16)" in text


@needs_bundled
@pytest.mark.fast_bf16
def test_evaluate_cli_precision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The card's numbers are fp32 (the default); --precision bf16 scores the fast path."""
    from detector_app.detection.synthetic import write_dataset

    write_dataset(tmp_path / "ds", images=6, seed=3000, size=512, fmt="png")
    scores = {}
    for mode in ("fp32", "bf16"):
        out = tmp_path / f"{mode}.json"
        assert main(["evaluate", "--data", str(tmp_path / "ds"), "--model", str(MODEL_PATH), "--device", "cpu",
                     "--precision", mode, "--json", str(out)]) == 0
        scores[mode] = json.loads(out.read_text())
    assert scores["fp32"]["precision"] == "fp32" and scores["bf16"]["precision"] == "bf16"
    assert scores["bf16"]["AP50"] == pytest.approx(scores["fp32"]["AP50"], abs=0.05)


@pytest.mark.parametrize("slow", [True, False])
def test_cli_bf16_on_a_slow_cpu_prints_one_warning_with_the_measured_reason(
        slow: bool, tmp_path: Path, tiny_coco: Path, tiny_config_json: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """detect, evaluate and train with --precision bf16 (tiny model and images: bf16 is cheap
    even where it is slow) warn once where the probe measured bf16 slower, and never where it is fast."""
    monkeypatch.setattr(precision, "_TIMES", SLOW_TIMES if slow else FAST_TIMES)
    from detector_app.detection.checkpoints import save_checkpoint

    cfg = ModelConfig.from_json(tiny_config_json.read_text())
    ckpt = save_checkpoint(tmp_path / "tiny.pt", build_model(cfg), cfg,
                           ["__background__", "circle", "square", "triangle", "bar", "star"])
    image = next((tiny_coco / "images").iterdir())
    runs = {
        "detect": ["detect", str(image), "--model", str(ckpt), "--device", "cpu", "--precision", "bf16"],
        "evaluate": ["evaluate", "--data", str(tiny_coco), "--model", str(ckpt), "--device", "cpu",
                     "--precision", "bf16"],
        "train": ["train", "--data", str(tiny_coco), "--config", str(tiny_config_json), "--iters", "1",
                  "--batch", "1", "--warmup", "0", "--device", "cpu", "--precision", "bf16",
                  "--out", str(tmp_path / "t.pt")],
    }
    for name, argv in runs.items():
        assert main(argv) == 0, name
        lines = [ln for ln in capsys.readouterr().err.splitlines() if "bf16 is slow" in ln]
        if slow:
            assert lines == ["warning: --precision bf16 is slow here: bf16 is 5.3x slower than fp32 on this "
                             "CPU (a 3x3 convolution block takes 29.2 ms in bf16 vs 5.5 ms in fp32; "
                             + ("the CPU flags list bfloat16 instructions but the kernels in use do not run "
                                "them (ONEDNN_MAX_CPU_ISA or a virtual machine may hide them), or other work "
                                "held the CPU then"
                                if cpu_supports_fast_bf16() else "this CPU has no AMX / AVX-512-BF16")
                             + "); --precision fp32 (or auto) is faster"], name
        else:
            assert lines == [], name
