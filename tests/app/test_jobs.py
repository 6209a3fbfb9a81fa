"""Job functions: loading a checkpoint into a detector, detecting one image
(same detections as torchvision's own forward), model choices, devices."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.app import jobs
from detector_app.detection.builders import build_model
from detector_app.domain.errors import UserError
from tests.helpers.models import CLASSES, make_tiny_checkpoint, tiny_checkpoint_config


def test_load_detector_and_detect_match_torchvision(tmp_path: Path):
    ckpt = make_tiny_checkpoint(tmp_path / "tiny.pt")
    detector, info = jobs.load_detector(str(ckpt), "cpu")
    assert info.name == "tiny.pt" and info.path == str(ckpt)
    assert info.class_names == CLASSES and info.label_names == ["cat", "dog"]
    assert info.device == "cpu" and info.builder == "small" and info.meta == {"test": True}

    rgb = np.random.default_rng(1).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    trace = detector(rgb)
    assert trace.image_size == (96, 128) and trace.class_names == CLASSES
    # the same weights through torchvision's own forward give the same detections
    torch.manual_seed(0)
    model = build_model(tiny_checkpoint_config()).eval()
    with torch.no_grad():
        ref = model([torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0])[0]
    res = trace.postprocess(0.0)
    torch.testing.assert_close(torch.from_numpy(res.boxes), ref["boxes"], atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(torch.from_numpy(res.scores), ref["scores"], atol=1e-5, rtol=1e-4)
    assert res.labels.tolist() == ref["labels"].tolist()


def test_load_detector_errors_name_the_file(tmp_path: Path):
    with pytest.raises(UserError, match="missing.pt"):
        jobs.load_detector(str(tmp_path / "missing.pt"), "cpu")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="bad.pt"):
        jobs.load_detector(str(bad), "cpu")


def test_builder_name_gives_random_weights_model():
    detector, info = jobs.load_detector("small", "cpu")
    assert len(info.warnings) == 1 and "RANDOM weights" in info.warnings[0]  # shown in the log
    assert info.builder == "small" and info.path is None and info.name == "small"
    assert callable(detector)


def test_model_choices_list_bundled_recent_and_hub_files(tmp_path: Path):
    recent = make_tiny_checkpoint(tmp_path / "recent.pt")
    hub = Path(torch.hub.get_dir()) / "checkpoints"  # TORCH_HOME points into tmp (tests/conftest.py)
    hub.mkdir(parents=True)
    (hub / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth").write_bytes(b"x")
    (hub / "resnet18-f37072fd.pth").write_bytes(b"x")  # not a detector: not listed
    listed = make_tiny_checkpoint(tmp_path / "listed.pt")
    config = Path(os.environ["DETECTOR_APP_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "models.json").write_text(json.dumps([str(listed)]))
    choices = jobs.model_choices([str(recent), str(tmp_path / "gone.pt")])
    assert choices[0].spec is None and choices[0].label.startswith("Bundled")
    assert choices[0].available == jobs.bundled_model_path().is_file()
    untrained = [] if choices[0].available else [jobs.UNTRAINED]  # offered while the bundled model is missing
    specs = [c.spec for c in choices[1:]]
    # installed torchvision files by their zoo title, then the zoo models not on disk (offered for download)
    assert specs == [*untrained, str(recent), str(listed), str(hub / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"),
                     "zoo:resnet50_fpn_v2", "zoo:mobilenet_v3_large_fpn", "zoo:mobilenet_v3_large_320_fpn"]
    by_spec = {c.spec: c for c in choices}
    hub_entry = by_spec[str(hub / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth")]
    assert hub_entry.label == "Faster R-CNN ResNet-50 FPN (COCO)" and hub_entry.download is None
    v2 = by_spec["zoo:resnet50_fpn_v2"]
    assert (
        v2.label == "Faster R-CNN ResNet-50 FPN v2 (COCO) \u2193 download 175.2 MB" and v2.download == "resnet50_fpn_v2"
    )
    assert "175.2 MB, COCO box AP 46.7" in v2.tooltip and "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth" in v2.tooltip
    assert "Licence:" in v2.tooltip


def test_untrained_model_has_the_bundled_configuration_and_classes(monkeypatch, tmp_path: Path):
    from detector_app.detection import hub
    from detector_app.detection.config import ModelConfig

    monkeypatch.setattr(hub, "bundled_model_path", lambda: tmp_path / "missing.pt")
    assert [c.spec for c in jobs.model_choices()][:2] == [None, jobs.UNTRAINED]
    detector, info = jobs.load_detector(jobs.UNTRAINED, "cpu")
    assert info.name == "untrained (random weights)" and info.path is None and info.meta["random_weights"]
    assert info.label_names == ["circle", "square", "triangle", "bar", "star"]
    assert "RANDOM weights" in info.warnings[0] and "missing.pt" in info.warnings[0]
    cfg = ModelConfig.from_json(jobs.bundled_config_path().read_text())
    model = jobs.untrained_model().model
    sizes = model.rpn.anchor_generator.sizes
    assert [list(s) for s in sizes] == [list(s) for s in cfg.anchor_sizes]
    trace = detector(np.zeros((64, 96, 3), np.uint8))
    assert trace.image_size == (64, 96) and trace.class_names == info.class_names


def test_device_choices():
    devices = jobs.device_choices()
    assert [d.value for d in devices[:3]] == ["auto", "cpu", jobs.CPU_BF16]
    assert [d.label for d in devices[:2]] == ["auto", "CPU"]
    assert len(devices) == 3 + torch.cuda.device_count()
    assert jobs.split_device(jobs.CPU_BF16) == ("cpu", "bf16")
    assert jobs.split_device("cuda:0") == ("cuda:0", "fp32") and jobs.split_device("cpu") == ("cpu", "fp32")


#: the bf16 probe's (fp32 ms, bf16 ms) on an AVX-512-BF16 CPU, and on the same CPU limited to AVX2
FAST_TIMES, SLOW_TIMES = (4.7, 1.6), (5.5, 29.2)


@pytest.mark.parametrize(("flags", "times", "label", "auto"), [
    (True, FAST_TIMES, "CPU bf16", ("cpu", "bf16")),
    (True, SLOW_TIMES, "CPU bf16 (slow on this CPU)", (None, "fp32")),  # flags, but kernels without them
    (True, None, "CPU bf16 (speed not measured yet)", None),
    (False, SLOW_TIMES, "CPU bf16 (slow on this CPU)", (None, "fp32")),
    (False, None, "CPU bf16 (slow on this CPU)", (None, "fp32")),  # no flags: known slow, nothing measured
])
def test_cpu_bf16_is_marked_slow_unless_measured_fast_and_auto_never_picks_it_slow(
        monkeypatch, flags, times, label, auto):
    import detector_app.detection.precision as precision

    monkeypatch.setattr(precision, "cpu_supports_fast_bf16", lambda cpuinfo="": flags)
    monkeypatch.setattr(precision, "_TIMES", times)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    choice = {d.value: d for d in jobs.device_choices()}[jobs.CPU_BF16]
    assert choice.label == label
    if times is not None:
        assert precision.Bf16Probe(flags, *times).reason() in choice.tooltip
    if auto is not None:
        assert jobs.split_device(None) == auto
        assert jobs.split_device("auto") == (auto if auto[1] == "bf16" else ("auto", "fp32"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU wins over bf16
    assert jobs.split_device("auto") == ("auto", "fp32")


def test_loading_a_cpu_model_measures_bf16_once_in_the_loading_thread(monkeypatch, tmp_path):
    import detector_app.detection.precision as precision

    calls = []
    monkeypatch.setattr(precision, "cpu_supports_fast_bf16", lambda cpuinfo="": True)
    monkeypatch.setattr(precision, "_TIMES", None)
    monkeypatch.setattr(precision, "_measure_block", lambda: calls.append(1) or SLOW_TIMES)
    assert {d.value: d for d in jobs.device_choices()}[jobs.CPU_BF16].label.endswith("(speed not measured yet)")
    assert calls == []  # listing devices never measures (the GUI thread calls it)
    ckpt = make_tiny_checkpoint(tmp_path / "a.pt")
    jobs.load_detector(str(ckpt), "cpu")
    jobs.load_detector(str(ckpt), "auto")
    assert calls == [1]
    assert {d.value: d for d in jobs.device_choices()}[jobs.CPU_BF16].label == "CPU bf16 (slow on this CPU)"


@pytest.mark.slow
@pytest.mark.skipif(not jobs.bundled_model_path().is_file(), reason="no bundled model")
@pytest.mark.fast_bf16
def test_cpu_bf16_device_runs_the_backbone_in_bfloat16_with_the_same_detections():
    from detector_app.detection.precision import get_precision
    from detector_app.media.images import read_image

    image = read_image(Path(__file__).resolve().parents[2] / "resources" / "samples" / "images" / "000001.jpg")
    plain, info32 = jobs.load_detector("default", "cpu")
    fast, info16 = jobs.load_detector("default", jobs.CPU_BF16)
    assert info32.device == "cpu" and info16.device == "cpu bf16"
    assert get_precision(fast.args[0]) == "bf16" and get_precision(plain.args[0]) == "fp32"
    a, b = plain(image), fast(image)
    assert (a.detection_scores >= 0.5).sum() > 0
    # every confident detection of one is found by the other (same class, IoU >= 0.9) with a score
    # >= 0.4: bf16 moves scores a little, so a box near the 0.5 threshold may sit on either side
    from torchvision.ops import box_iou

    for x, y in ((a, b), (b, a)):
        keep_x, keep_y = x.detection_scores >= 0.5, y.detection_scores >= 0.4
        iou = box_iou(torch.from_numpy(x.detection_boxes[keep_x]), torch.from_numpy(y.detection_boxes[keep_y]))
        best = iou.max(1)
        assert (best.values >= 0.9).all()
        assert (x.detection_labels[keep_x] == y.detection_labels[keep_y][best.indices.numpy()]).all()


def test_model_spec_exists(tmp_path: Path):
    ckpt = make_tiny_checkpoint(tmp_path / "a.pt")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth").write_bytes(b"x")
    for spec in ("default", jobs.UNTRAINED, "small", str(ckpt), "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"):
        assert jobs.model_spec_exists(spec), spec
    for spec in (str(tmp_path / "gone.pt"), "gone.pth", str(tmp_path)):
        assert not jobs.model_spec_exists(spec), spec
