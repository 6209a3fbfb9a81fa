"""``detector-app detect`` / ``models`` through ``cli.main``, and the pieces behind them
(inference.detect_images, overlay drawing, hub resolution)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from detector_app.cli import main
from detector_app.detection import hub
from detector_app.detection.builders import build_model
from detector_app.detection.checkpoints import LoadedModel, load_checkpoint, save_checkpoint
from detector_app.detection.config import ModelConfig
from detector_app.detection.inference import collect_images, detect_images
from detector_app.detection.overlay import class_color, draw_detections
from detector_app.domain.errors import Cancelled, UserError
from detector_app.domain.progress import Progress
from detector_app.media.images import write_image

NAMES = ["__background__", "circle", "square"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    cfg = ModelConfig(builder="small", num_classes=3, min_size=96, max_size=128, representation_size=64,
                      extra={"channels": 32}, rpn_post_nms_top_n_test=50, box_detections_per_img=20)
    torch.manual_seed(5)
    return save_checkpoint(tmp_path / "tiny.pt", build_model(cfg), cfg, NAMES, meta={"note": "test"})


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """A folder: two good images (PNG, JPEG) and a corrupt 'image'."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in (("a.png", (90, 120)), ("b.jpg", (100, 80))):
        img = np.kron(rng.integers(0, 256, (h // 10, w // 10, 3)), np.ones((10, 10, 1))).astype(np.uint8)
        write_image(folder / name, img)
    (folder / "c_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (folder / "notes.txt").write_text("not an image, ignored in folders")
    return folder


def test_detect_json_overlays_and_bad_image(tmp_path: Path, checkpoint: Path, images: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out_json, overlays = tmp_path / "out" / "dets.json", tmp_path / "overlays"
    # fp32: the records are compared with the model's own float32 forward below
    rc = main(["detect", str(images), "--model", str(checkpoint), "--device", "cpu", "--score-thresh", "0.1",
               "--precision", "fp32", "--json", str(out_json), "--save-overlays", str(overlays)])
    captured = capsys.readouterr()
    assert rc == 1  # one image skipped
    assert "skipped:" in captured.err and "c_broken.png" in captured.err and "Traceback" not in captured.err
    assert "a.png" in captured.out and "SKIPPED" in captured.out and "1 skipped" in captured.out

    records = json.loads(out_json.read_text())
    assert records, "random tiny model should give some boxes above 0.1"
    assert {r["file_name"] for r in records} <= {"a.png", "b.jpg"}
    ids = {r["file_name"]: r["image_id"] for r in records}
    assert ids.get("a.png", 1) == 1 and ids.get("b.jpg", 2) == 2  # input order, folder sorted by name
    for r in records:
        assert set(r) == {"file_name", "image_id", "category_id", "category_name", "bbox", "score"}
        assert isinstance(r["image_id"], int) and isinstance(r["category_id"], int)
        assert isinstance(r["score"], float) and 0.1 < r["score"] <= 1.0
        assert r["category_name"] == NAMES[r["category_id"]] and r["category_id"] >= 1
        assert len(r["bbox"]) == 4 and all(isinstance(v, float) for v in r["bbox"])

    # bbox is xywh of the model's own x1y1x2y2 boxes
    loaded = load_checkpoint(checkpoint)
    loaded.model.roi_heads.score_thresh = 0.1
    rgb = cv2.cvtColor(cv2.imread(str(images / "a.png")), cv2.COLOR_BGR2RGB)
    with torch.no_grad():
        ref = loaded.model([torch.from_numpy(rgb).permute(2, 0, 1).float() / 255])[0]
    mine = np.array([r["bbox"] for r in records if r["file_name"] == "a.png"]).reshape(-1, 4)
    expect = ref["boxes"].numpy()
    assert len(mine) == len(expect)
    np.testing.assert_allclose(mine[:, :2], expect[:, :2], atol=0.01)
    np.testing.assert_allclose(mine[:, :2] + mine[:, 2:], expect[:, 2:], atol=0.02)

    written = sorted(p.name for p in overlays.iterdir())
    assert written == ["a.png", "b.png"]
    over = cv2.imread(str(overlays / "a.png"))
    assert over.shape == (90, 120, 3)
    if len(expect):
        assert not np.array_equal(over[..., ::-1], rgb)


def test_detect_all_good_returns_zero_and_default_threshold(tmp_path: Path, checkpoint: Path, images: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["detect", str(images / "a.png"), str(images / "b.jpg"), "--model", str(checkpoint),
               "--json", str(tmp_path / "d.json")])
    assert rc == 0
    records = json.loads((tmp_path / "d.json").read_text())
    assert all(r["score"] > 0.05 for r in records) and {r["image_id"] for r in records} <= {1, 2}
    assert "2 image(s)" in capsys.readouterr().out


def test_detect_clear_errors(tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["detect", str(images), "--model", str(tmp_path / "missing.pt")])
    err = capsys.readouterr().err
    assert rc == 2 and "missing.pt" in err and "no such file" in err and "Traceback" not in err

    monkeypatch.setattr(hub, "bundled_model_path", lambda: tmp_path / "models" / "default.pt")
    rc = main(["detect", str(images)])
    err = capsys.readouterr().err
    assert rc == 2 and "bundled model" in err and "default.pt" in err

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["detect", str(empty), "--model", "x"]) == 2
    assert "no images found" in capsys.readouterr().err


def test_models_lists_bundled_configured_and_hub(tmp_path: Path, checkpoint: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cfg_dir, torch_home = tmp_path / "cfg", tmp_path / "torch"
    cfg_dir.mkdir()
    (cfg_dir / "models.json").write_text(json.dumps([str(checkpoint), "nowhere.pt"]))
    cache = torch_home / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth").write_bytes(b"not loaded, only listed")
    (cache / "resnet18-f37072fd.pth").write_bytes(b"not a detector")
    monkeypatch.setenv("DETECTOR_APP_CONFIG_DIR", str(cfg_dir))
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.setattr(hub, "bundled_model_path", lambda: tmp_path / "models" / "default.pt")

    assert main(["models", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    by_source = [(e["source"], Path(e["path"]).name, e["status"]) for e in entries]
    assert by_source == [
        ("bundled", "default.pt", "missing"),
        ("models.json", "tiny.pt", "ok"),
        ("models.json", "nowhere.pt", "missing"),
        ("torch hub", "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", "ok"),
        # torchvision's other COCO models, not on disk: offered for download
        ("zoo", "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth", "download: models --download resnet50_fpn_v2"),
        ("zoo", "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth", "download: models --download mobilenet_v3_large_fpn"),
        ("zoo", "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth",
         "download: models --download mobilenet_v3_large_320_fpn"),
    ]
    assert entries[4]["classes"] == 80 and entries[4]["url"].startswith("https://download.pytorch.org/models/")
    assert entries[1]["builder"] == "small" and entries[1]["classes"] == 2 and entries[1]["meta"] == {"note": "test"}
    assert entries[3]["builder"] == "resnet50_fpn"
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "tiny.pt" in text and "resnet50_fpn" in text and "missing" in text

    (cfg_dir / "models.json").write_text("{broken")
    assert main(["models", "--json"]) == 0
    assert "not a readable JSON" in json.loads(capsys.readouterr().out)[1]["status"]


def test_resolve_model_variants(tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert hub.resolve_model(str(checkpoint)) == checkpoint
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    cache = tmp_path / "th" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth").write_bytes(b"x")
    assert hub.resolve_model("fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth") == cache / \
        "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth"
    with pytest.warns(UserWarning, match="RANDOM weights"):
        built = hub.resolve_model("small")
    assert isinstance(built, LoadedModel) and built.kind == "builder" and len(built.class_names) == 6
    with pytest.raises(UserError, match="is a folder"):
        hub.resolve_model(str(tmp_path))
    with pytest.raises(UserError, match="not a model builder"):
        hub.resolve_model("no_such_thing")


def test_detect_images_progress_cancel_and_amp_on_cpu(checkpoint: Path, images: Path) -> None:
    loaded = load_checkpoint(checkpoint)
    paths = collect_images([images])
    assert [p.name for p in paths] == ["a.png", "b.jpg", "c_broken.png"]
    seen: list[Progress] = []
    results = list(detect_images(loaded, paths, device="cpu", progress=seen.append))
    assert [r.ok for r in results] == [True, True, False] and [r.image_id for r in results] == [1, 2, 3]
    assert "c_broken.png" in results[2].error and results[0].image is None
    assert (results[0].height, results[0].width) == (90, 120)
    assert [(p.done, p.total) for p in seen] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    amp = list(detect_images(loaded, paths[:1], device="cpu", amp=True))  # autocast only on CUDA
    np.testing.assert_array_equal(amp[0].boxes, results[0].boxes)
    low = list(detect_images(loaded, paths[:1], device="cpu", score_thresh=0.0))
    assert low[0].num_detections >= results[0].num_detections
    assert loaded.model.roi_heads.score_thresh == 0.05  # restored

    cancel = threading.Event()
    gen = detect_images(loaded, paths, device="cpu", cancel=cancel)
    next(gen)
    cancel.set()
    with pytest.raises(Cancelled):
        next(gen)


def test_overlay_draws_class_colours() -> None:
    img = np.zeros((60, 80, 3), np.uint8)
    boxes = np.array([[10, 20, 50, 50], [0, 0, 30, 15]], np.float32)
    out = draw_detections(img, boxes, np.array([1, 2]), np.array([0.9, 0.4]), NAMES, thickness=1)
    assert img.sum() == 0 and out.shape == img.shape  # input untouched
    assert tuple(out[50, 30]) == class_color(1)  # bottom edge of box 0
    assert tuple(out[49, 10]) == class_color(1)  # left edge
    assert class_color(1) != class_color(2)
    assert (out[:15, :30] != 0).any()  # box 1's tag fits inside its box at the top edge
