"""Checkpoints: truncated or damaged files, NaN weights, another
architecture, non-ASCII paths - each a CheckpointError naming the file (the
crafted code-running pickle is tests/detection/test_checkpoints.py)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.app import jobs
from detector_app.detection.checkpoints import CheckpointError, load_checkpoint, read_file
from detector_app.domain.errors import UserError
from tests.helpers.models import make_tiny_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ck") / "good.pt")


@pytest.mark.parametrize("fraction", [0.0001, 0.01, 0.3, 0.9, 0.999])
def test_truncated_checkpoint(tmp_path: Path, good: Path, fraction: float) -> None:
    data = good.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: max(1, int(len(data) * fraction))])
    with pytest.raises(CheckpointError, match=rf"^{path}: cannot read model file: truncated or corrupt"):
        load_checkpoint(path)


def test_damaged_bytes_never_escape_as_another_exception(tmp_path: Path, good: Path) -> None:
    """Bytes overwritten in the archive's structure (its first and last 4 KB: the
    pickle, record headers, the central directory): a CheckpointError, or a load
    (tensor bytes carry no checksum; NaN/inf ones are caught below)."""
    data = good.read_bytes()
    rng = random.Random(0)
    path = tmp_path / "bad.pt"
    for _ in range(12):
        b = bytearray(data)
        for _ in range(rng.choice([1, 8])):
            i = rng.randrange(4096) if rng.random() < 0.5 else len(b) - 1 - rng.randrange(4096)
            b[i] = rng.randrange(256)
        path.write_bytes(bytes(b))
        try:
            read_file(path)
        except CheckpointError as exc:
            assert str(exc).startswith(f"{path}: ")


def test_nan_weights_are_refused(tmp_path: Path, good: Path) -> None:
    ckpt = torch.load(good, weights_only=True)
    ckpt["state_dict"]["roi_heads.box_predictor.cls_score.weight"][0, 0] = float("nan")
    path = tmp_path / "nan.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"nan\.pt: 1 weight tensors hold NaN or infinite values "
                                              r"\(e\.g\. roi_heads\.box_predictor\.cls_score\.weight\)"):
        load_checkpoint(path)


@pytest.mark.parametrize("config, expected", [
    ({"builder": "mobilenet_v3_large_320_fpn", "anchor_sizes": None, "aspect_ratios": None},
     "weights do not fit the model: .*(missing|shape mismatch)"),
    ({"builder": "mobilenet_v3_large_fpn"},  # the small model's one level of anchors on a 3-level FPN
     "builder 'mobilenet_v3_large_fpn' has 3 feature levels, but the config gives anchor sizes for 1"),
    ({"builder": "no_such_net"}, "checkpoint config is invalid: unknown model builder 'no_such_net'"),
])
def test_other_architecture_is_refused(tmp_path: Path, good: Path, config: dict, expected: str) -> None:
    """``small`` weights in a file whose config names another architecture."""
    ckpt = torch.load(good, weights_only=True)
    ckpt["config"] = {**ckpt["config"], **config}
    path = tmp_path / "arch.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=rf"^{path}: {expected}"):
        load_checkpoint(path)
    with pytest.raises(UserError, match=r"arch\.pt"):  # what the GUI's model picker gets
        jobs.load_detector(str(path), "cpu")


def test_non_ascii_checkpoint_path(tmp_path: Path, good: Path) -> None:
    path = tmp_path / "modèles 模型" / "détecteur.pt"
    path.parent.mkdir()
    path.write_bytes(good.read_bytes())
    assert load_checkpoint(path).class_names == load_checkpoint(good).class_names


def test_every_torch_load_in_the_package_is_weights_only() -> None:
    """A static guard: each ``torch.load(...)`` call passes ``weights_only=True``, and
    nothing unpickles with ``pickle`` directly (a new unsafe load fails here)."""
    import ast

    import detector_app

    root = Path(detector_app.__file__).parent
    loads, unsafe = 0, []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)):
                continue
            mod, fn = node.func.value.id, node.func.attr
            where = f"{path.relative_to(root)}:{node.lineno}"
            if mod == "torch" and fn == "load":
                loads += 1
                kw = {k.arg: k.value for k in node.keywords}
                if not (isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                    unsafe.append(where)
            elif mod in ("pickle", "dill", "cloudpickle") and fn in ("load", "loads", "Unpickler"):
                unsafe.append(where)
    assert loads >= 2 and unsafe == []


@pytest.mark.parametrize(("key", "value", "message"), [
    ("min_size", 0, "min_size must be an integer from 32 to 4096, got 0"),
    ("min_size", 20000, "min_size must be an integer from 32 to 4096, got 20000"),
    ("representation_size", 60000, "representation_size must be an integer from 1 to 8192, got 60000"),
    ("rpn_pre_nms_top_n_test", 0, "rpn_pre_nms_top_n_test must be an integer from 1 to 100000, got 0"),
    ("box_detections_per_img", -5, "box_detections_per_img must be an integer from 1 to 10000, got -5"),
    ("aspect_ratios", [[float("nan"), 1.0, 2.0]], "aspect_ratios must lie from 0.01 to 100, got nan"),
    ("anchor_sizes", [[]], "anchor_sizes needs at least one value per feature level"),
])
def test_checkpoint_config_out_of_range_is_refused_before_building(
        tmp_path: Path, good: Path, capsys: pytest.CaptureFixture[str], key: str, value: object, message: str) -> None:
    """Configs that would make the loader allocate 4.8-14.4 GB (min_size 20000,
    representation_size 60000), give 0 boxes with exit 0 (no anchors, NaN ratios,
    pre-NMS top-n 0), or a wrong count (detections per image -5): one clear line."""
    from detector_app.cli import main
    from detector_app.media.images import write_image

    raw = torch.load(good, map_location="cpu", weights_only=True)
    raw["config"][key] = value
    if key == "aspect_ratios":
        raw["config"]["anchor_sizes"] = [[16.0, 32.0, 64.0]]
    if key == "anchor_sizes":
        raw["config"]["aspect_ratios"] = [[1.0]]
    bad = tmp_path / "bad.pt"
    torch.save(raw, bad)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_checkpoint(bad)
    image = tmp_path / "a.png"
    write_image(image, np.zeros((40, 60, 3), np.uint8))
    assert main(["detect", str(image), "--model", str(bad), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_empty_zip_is_not_called_code(tmp_path: Path) -> None:
    """An empty zip is simply not a checkpoint, not "Python objects that could run code"."""
    import zipfile

    path = tmp_path / "empty.pt"
    with zipfile.ZipFile(path, "w"):
        pass
    with pytest.raises(CheckpointError) as info:
        read_file(path)
    assert "could run code" not in str(info.value)
    assert str(info.value).startswith(f"{path}: not a checkpoint (corrupt or not a PyTorch file")


def _altered(tmp_path: Path, good: Path, **changes: object) -> Path:
    raw = torch.load(good, map_location="cpu", weights_only=True)
    for key, value in changes.items():
        if key.startswith("config."):
            raw["config"][key[len("config."):]] = value
        else:
            raw[key] = value
    path = tmp_path / "altered.pt"
    torch.save(raw, path)
    return path


@pytest.mark.parametrize(("changes", "message"), [
    ({"config.num_classes": "x"}, "num_classes must be an integer from 2 to 10000, got 'x'"),
    ({"config.num_classes": float("nan")}, "num_classes must be an integer from 2 to 10000, got nan"),
    ({"config.anchor_sizes": [["x"]], "config.aspect_ratios": [[1.0]]},
     r"anchor_sizes must be one list of numbers per feature level, got \[\['x'\]\]"),
    ({"config.anchor_sizes": "abc", "config.aspect_ratios": "abc"}, "anchor_sizes must be one list of numbers"),
    ({"config.extra": [1]}, r"extra must be a mapping, got \[1\]"),
    ({"class_names": ["__background__", "c\nat", "dog"]}, r"class_names': class name 'c\\nat' contains a control"),
])
def test_checkpoint_fields_of_the_wrong_type_are_one_line(tmp_path: Path, good: Path, changes: dict,
                                                          message: str) -> None:
    """Found by scripts/adversarial (probe ``checkpoints``): num_classes "x" or NaN and
    anchor sizes of strings raised ValueError, extra as a list AttributeError (tracebacks
    in detect, evaluate and the GUI's model loading); a class name with a line break
    loaded, then raised a LabelError inside the window's model-ready slot."""
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(_altered(tmp_path, good, **changes))


def test_sparse_weights_are_refused(tmp_path: Path, good: Path) -> None:
    """torch.isfinite on a sparse tensor raised NotImplementedError (a traceback)."""
    raw = torch.load(good, map_location="cpu", weights_only=True)
    key = "roi_heads.box_predictor.cls_score.weight"
    raw["state_dict"][key] = raw["state_dict"][key].to_sparse()
    path = tmp_path / "sparse.pt"
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match=rf"weights must be dense tensors; {key} is stored torch.sparse_coo"):
        load_checkpoint(path)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_float_weights_stored_as_integers_bools_or_complex_are_refused(tmp_path: Path, good: Path,
                                                                      dtype: torch.dtype) -> None:
    """load_state_dict cast them into the float parameters silently: a model of garbage."""
    raw = torch.load(good, map_location="cpu", weights_only=True)
    key = "roi_heads.box_predictor.cls_score.weight"
    raw["state_dict"][key] = raw["state_dict"][key].to(dtype)
    path = tmp_path / "typed.pt"
    torch.save(raw, path)
    name = str(dtype).removeprefix("torch.")
    with pytest.raises(CheckpointError, match=rf"floating-point weights stored as other types: {key} is {name}"):
        load_checkpoint(path)


def test_weights_are_checked_before_the_model_takes_memory(tmp_path: Path, good: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A config in range but naming a huge model (paper builder, 10,000 classes, an
    8192-wide head: 2.5 GB) with no weights at all was built before the missing weights
    were found. They are checked against a model on the meta device, which holds no memory."""
    from detector_app.detection import checkpoints

    built = []
    real_build = checkpoints.build_model

    def spy(config: object) -> object:
        built.append(torch.empty(0).device.type)
        return real_build(config)  # type: ignore[arg-type]

    monkeypatch.setattr(checkpoints, "build_model", spy)
    path = _altered(tmp_path, good, state_dict={}, class_names=["__background__", *(f"c{i}" for i in range(9999))],
                    **{"config.builder": "paper", "config.num_classes": 10_000, "config.representation_size": 8192,
                       "config.anchor_sizes": None, "config.aspect_ratios": None})
    with pytest.raises(CheckpointError, match="weights do not fit the model: 40 missing"):
        load_checkpoint(path)
    assert built == ["meta"]
    assert load_checkpoint(good).class_names and built[1:] == ["meta", "cpu"]


def test_a_device_file_is_not_called_a_folder(tmp_path: Path) -> None:
    link = tmp_path / "zero.pt"
    link.symlink_to("/dev/zero")
    with pytest.raises(CheckpointError, match=r"is not a regular file \(a device, pipe or socket\), not a model"):
        jobs.load_detector(str(link), "cpu")
