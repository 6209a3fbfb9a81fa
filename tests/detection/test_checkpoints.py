"""Checkpoint save/load round trips, torchvision state-dict files, and clear errors."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.detection.builders import build_model
from detector_app.detection.checkpoints import (
    CHECKPOINT_FORMAT,
    COCO_CATEGORIES,
    CheckpointError,
    checkpoint_dict,
    detect_torchvision_builder,
    load_checkpoint,
    save_checkpoint,
)
from detector_app.detection.config import TORCHVISION_BUILDERS, ModelConfig
from detector_app.detection.tracing import trace
from detector_app.domain.errors import UserError

NAMES = ["__background__", "circle", "square"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config() -> ModelConfig:
    return ModelConfig(builder="small", num_classes=3, min_size=96, max_size=128, representation_size=64,
                       extra={"channels": 32}, rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=50)


def tiny_model(seed: int = 5) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(tiny_config())


def image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, 256, (10, 13, 3)), np.ones((8, 8, 1))).astype(np.uint8)


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    model = tiny_model()
    path = save_checkpoint(tmp_path / "tiny.pt", model, tiny_config(), NAMES, meta={"epochs": 2})
    return path, model


def test_round_trip_identical_outputs(saved: tuple[Path, torch.nn.Module]) -> None:
    path, model = saved
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT and raw["version"] == 1
    assert raw["class_names"] == NAMES and raw["config"] == tiny_config().to_dict()
    loaded = load_checkpoint(path)
    assert loaded.config == tiny_config() and loaded.class_names == NAMES
    assert loaded.meta == {"epochs": 2} and loaded.path == path and loaded.kind == "checkpoint"
    assert not loaded.model.training
    a, b = trace(model, image()), trace(loaded.model, image())
    assert a.num_detections > 0
    np.testing.assert_array_equal(a.detection_boxes, b.detection_boxes)
    np.testing.assert_array_equal(a.detection_scores, b.detection_scores)
    np.testing.assert_array_equal(a.objectness_logits, b.objectness_logits)
    assert b.class_names == NAMES  # the tracer picks up the loaded names


def test_half_precision_is_smaller_and_close(tmp_path: Path, saved: tuple[Path, torch.nn.Module]) -> None:
    path, model = saved
    half = save_checkpoint(tmp_path / "half.pt", model, tiny_config(), NAMES, half=True)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    assert all(v.dtype == torch.float16 for v in torch.load(half, weights_only=True)["state_dict"].values()
               if v.is_floating_point())
    loaded = load_checkpoint(half)
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    a, b = trace(model, image()), trace(loaded.model, image())
    np.testing.assert_allclose(b.objectness_logits, a.objectness_logits, atol=2e-3)
    np.testing.assert_allclose(b.proposals[:10], a.proposals[:10], atol=0.5)
    np.testing.assert_allclose(b.detection_scores[:5], a.detection_scores[:5], atol=5e-3)


def test_save_is_atomic(tmp_path: Path, saved: tuple[Path, torch.nn.Module], monkeypatch: pytest.MonkeyPatch) -> None:
    path, model = saved
    before = path.read_bytes()

    def broken_save(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, tiny_model(seed=9), tiny_config(), NAMES)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_save_refuses_wrong_class_count(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="num_classes=3"):
        save_checkpoint(tmp_path / "x.pt", tiny_model(), tiny_config(), ["__background__", "one"])
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("builder", TORCHVISION_BUILDERS)
def test_detect_torchvision_builder_from_keys(builder: str) -> None:
    with torch.device("meta"):
        state = build_model(ModelConfig(builder=builder, num_classes=91)).state_dict()
    name = {"mobilenet_v3_large_320_fpn": "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth"}.get(builder, "x.pth")
    assert detect_torchvision_builder(state, name) == (builder, 91)


def test_torchvision_state_dict_file_loads_and_detects(tmp_path: Path) -> None:
    """A bare state dict saved like torchvision's COCO files (random weights, 91 classes),
    with the RPN head under its pre-0.8 key names as in fasterrcnn_resnet50_fpn_coco-258fb6c6.pth."""
    cfg = ModelConfig(builder="mobilenet_v3_large_320_fpn", num_classes=91)
    torch.manual_seed(1)
    model = build_model(cfg)
    model.roi_heads.score_thresh = 0.0  # random weights: class probabilities ~1/91
    state = OrderedDict(model.state_dict())
    for t in ("weight", "bias"):
        state[f"rpn.head.conv.{t}"] = state.pop(f"rpn.head.conv.0.0.{t}")
    path = tmp_path / "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth"
    torch.save(state, path)
    loaded = load_checkpoint(path)
    assert loaded.kind == "torchvision" and loaded.config.builder == "mobilenet_v3_large_320_fpn"
    assert loaded.class_names == COCO_CATEGORIES and len(COCO_CATEGORIES) == 91
    assert loaded.class_names[1] == "person" and loaded.class_names[12] == "N/A"
    loaded.model.roi_heads.score_thresh = 0.0
    img = image(3)
    a, b = trace(model, img), trace(loaded.model, img)
    assert b.num_detections > 0
    np.testing.assert_array_equal(a.detection_boxes, b.detection_boxes)
    np.testing.assert_array_equal(a.detection_labels, b.detection_labels)
    assert b.class_names == COCO_CATEGORIES


def _write(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


def test_clear_errors_for_bad_files(tmp_path: Path, saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    good = torch.load(path, weights_only=True)

    def expect(p: Path, *fragments: str) -> str:
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(p)
        msg = str(info.value)
        assert isinstance(info.value, UserError) and str(p) in msg
        for f in fragments:
            assert f in msg, msg
        return msg

    expect(tmp_path / "nope.pt", "no such model file")
    (tmp_path / "empty.pt").write_bytes(b"")
    expect(tmp_path / "empty.pt", "empty file")
    (tmp_path / "text.pt").write_text("hello, not weights")
    expect(tmp_path / "text.pt", "not a PyTorch checkpoint")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    expect(truncated, "truncated or corrupt")

    expect(_write(tmp_path / "fmt.pt", {**good, "format": "someone.else"}), "unknown checkpoint format", "someone.else")
    expect(_write(tmp_path / "ver.pt", {**good, "version": 7}), "version 7 is newer")
    expect(_write(tmp_path / "list.pt", [1, 2, 3]), "not a model checkpoint")
    expect(_write(tmp_path / "nofmt.pt", {"state_dict": good["state_dict"]}), "unknown checkpoint format")
    expect(_write(tmp_path / "classes.pt", {**good, "class_names": ["__background__", "a"]}), "class count mismatch")
    cfg4 = {**good["config"], "num_classes": 4}
    expect(_write(tmp_path / "pred.pt", {**good, "config": cfg4, "class_names": [*NAMES, "x"]}),
           "class count mismatch", "predict 3 classes")

    sd = dict(good["state_dict"])
    del sd["rpn.head.cls_logits.weight"]
    sd["extra.layer.weight"] = torch.zeros(1)
    msg = expect(_write(tmp_path / "keys.pt", {**good, "state_dict": sd}), "1 missing", "rpn.head.cls_logits.weight",
                 "1 unexpected", "extra.layer.weight")
    assert "Traceback" not in msg
    sd = dict(good["state_dict"])
    sd["rpn.head.bbox_pred.weight"] = torch.zeros(8, 32, 1, 1)
    expect(_write(tmp_path / "shape.pt", {**good, "state_dict": sd}),
           "shape mismatch", "rpn.head.bbox_pred.weight", "(8, 32, 1, 1)", "(36, 32, 1, 1)")
    expect(_write(tmp_path / "bare.pt", {"conv.weight": torch.zeros(3)}), "do not match any torchvision")


class _Evil:
    """Unpickling this would run a shell command creating a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_code_executing_pickle_is_refused(tmp_path: Path, saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    good = torch.load(path, weights_only=True)
    torch.save({**good, "meta": {"x": _Evil(marker)}}, evil)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused") as info:
        load_checkpoint(evil)
    assert "could run code" in str(info.value) and str(evil) in str(info.value)
    assert not marker.exists()


def test_checkpoint_dict_matches_training_format() -> None:
    """The trainer writes the same format (``training.make_checkpoint``)."""
    from detector_app.detection.training import CHECKPOINT_FORMAT as TRAIN_FORMAT

    d = checkpoint_dict(tiny_model(), tiny_config(), NAMES)
    assert d["format"] == TRAIN_FORMAT and set(d) == {
        "format",
        "version",
        "config",
        "class_names",
        "state_dict",
        "meta",
    }


def test_bundled_model_is_found_in_the_checkout_or_under_the_install_prefix(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A source checkout has models/ beside the package; a wheel install has it under
    <prefix>/share/detector-app/models (pyproject's data-files)."""
    from detector_app.detection import hub

    site = tmp_path / "site" / "detector_app" / "detection" / "hub.py"
    monkeypatch.setattr(hub, "__file__", str(site))
    monkeypatch.setattr(hub.sys, "prefix", str(tmp_path / "prefix"))
    in_checkout = tmp_path / "site" / "models" / "default.pt"
    installed = tmp_path / "prefix" / "share" / "detector-app" / "models" / "default.pt"
    assert hub.bundled_model_path() == in_checkout  # neither exists: name the source location
    installed.parent.mkdir(parents=True)
    installed.write_bytes(b"x")
    assert hub.bundled_model_path() == installed
    in_checkout.parent.mkdir(parents=True)
    in_checkout.write_bytes(b"x")
    assert hub.bundled_model_path() == in_checkout


def test_pyproject_ships_the_bundled_model_to_where_the_app_looks() -> None:
    import tomllib

    from detector_app.detection import hub

    root = Path(__file__).resolve().parents[2]
    spec = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    installed = hub.bundled_model_candidates()[1]
    folder = str(installed.parent.relative_to(Path(hub.sys.prefix)))
    assert "models/default.pt" in spec[folder]
