"""The model zoo: torchvision's COCO weights listed from its enums, downloaded
from a local HTTP server (never the internet) with hash check, progress, cancel
and clean failures; the result loads with COCO's names and detects."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
from local_server import CAT, LocalServer, Route, free_port
from torchvision.models.detection import FasterRCNN_ResNet50_FPN_V2_Weights

from detector_app.detection import zoo
from detector_app.detection.download import DownloadError, download_file, hash_prefix_of, rate_message
from detector_app.domain.errors import Cancelled
from detector_app.domain.progress import Progress

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "resources" / "samples" / "photos"


def _entry(server: LocalServer, weights: Path, route: Route | None = None, name: str | None = None) -> zoo.ZooModel:
    """The real MobileNetV3 320 zoo entry, pointed at the local server's copy of ``weights``."""
    base = zoo.find_zoo_model("mobilenet_v3_large_320_fpn")
    file_name = name or weights.name
    server.routes["/models/" + file_name] = route or Route(weights.read_bytes())
    return dataclasses.replace(base, url=server.url("/models/" + file_name), file_name=file_name)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_zoo_lists_torchvision_weights_from_its_enums() -> None:
    models = {m.name: m for m in zoo.zoo_models()}
    assert set(models) == {"resnet50_fpn", "resnet50_fpn_v2", "mobilenet_v3_large_fpn", "mobilenet_v3_large_320_fpn"}
    v2 = models["resnet50_fpn_v2"]
    w = FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1
    assert v2.title == "Faster R-CNN ResNet-50 FPN v2 (COCO)"
    assert v2.url == w.url and v2.file_name == w.url.rsplit("/", 1)[1]
    assert v2.box_ap == w.meta["_metrics"]["COCO-val2017"]["box_map"]
    assert v2.size_bytes == pytest.approx(w.meta["_file_size"] * 2**20, abs=1)
    assert list(v2.categories) == w.meta["categories"] and len(v2.categories) == 91
    assert v2.hash_prefix == "dd69338a" and hash_prefix_of(v2.file_name) == "dd69338a"
    assert zoo.find_zoo_model("fasterrcnn_resnet50_fpn_v2") is not None
    with pytest.raises(Exception, match="no zoo model 'nope'; choose one of resnet50_fpn"):
        zoo.find_zoo_model("nope")


def test_a_mirror_serves_the_same_file_names(monkeypatch) -> None:
    monkeypatch.setenv(zoo.MIRROR_ENV, "http://mirror.local/torch/")
    v2 = zoo.find_zoo_model("resnet50_fpn_v2")
    assert v2.url == "http://mirror.local/torch/fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth"
    assert v2.file_name == "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth"


def test_download_installs_under_the_file_name_and_reports_bytes(local_server, zoo_weights, tmp_path) -> None:
    entry = _entry(local_server, zoo_weights)
    seen: list[Progress] = []
    path = zoo.download_model(entry, tmp_path, progress=seen.append)
    assert path == tmp_path / zoo_weights.name and path.read_bytes() == zoo_weights.read_bytes()
    assert _files(tmp_path) == [zoo_weights.name]  # no partial file left
    size = zoo_weights.stat().st_size
    assert seen[-1].done == seen[-1].total == size
    assert all(a.done <= b.done for a, b in zip(seen, seen[1:]))
    assert " of " in seen[-1].message and "MB" in seen[-1].message
    # already installed: kept, nothing fetched again
    local_server.requests.clear()
    assert zoo.download_model(entry, tmp_path) == path and local_server.requests == []


def test_downloaded_file_loads_with_coco_names_and_detects_on_a_photograph(local_server, zoo_weights,
                                                                           tmp_path) -> None:
    from detector_app.detection.checkpoints import load_checkpoint
    from detector_app.detection.tracing import trace
    from detector_app.media.images import read_image

    path = zoo.download_model(_entry(local_server, zoo_weights), tmp_path)
    loaded = load_checkpoint(path)
    assert loaded.config.builder == "mobilenet_v3_large_320_fpn"
    assert loaded.class_names == list(zoo.find_zoo_model("resnet50_fpn").categories)
    photo = read_image(PHOTOS / "chelsea.jpg")
    result = trace(loaded.model, photo)
    assert result.num_detections > 0 and result.class_names == loaded.class_names
    assert {result.class_names[int(c)] for c in result.detection_labels} == {"cat"}
    assert set(map(int, result.detection_labels)) == {CAT}


def test_wrong_hash_keeps_nothing(local_server, zoo_weights, tmp_path) -> None:
    fake = "fasterrcnn_mobilenet_v3_large_320_fpn-00000000.pth"
    entry = _entry(local_server, zoo_weights, name=fake)
    with pytest.raises(DownloadError, match="SHA-256 starts .*its name says 00000000.*nothing was kept"):
        zoo.download_model(entry, tmp_path)
    assert _files(tmp_path) == []


def test_http_404_names_the_url_and_where_to_put_the_file(local_server, zoo_weights, tmp_path) -> None:
    entry = _entry(local_server, zoo_weights, Route(mode="status", status=404))
    with pytest.raises(DownloadError) as info:
        zoo.download_model(entry, tmp_path)
    msg = str(info.value)
    assert "HTTP 404" in msg and entry.url in msg and str(tmp_path / entry.file_name) in msg
    assert "bundled model keeps working" in msg and _files(tmp_path) == []


def test_dropped_connection_keeps_nothing(local_server, zoo_weights, tmp_path) -> None:
    entry = _entry(local_server, zoo_weights, Route(zoo_weights.read_bytes(), mode="drop"))
    with pytest.raises(DownloadError, match="connection dropped.*nothing was kept"):
        zoo.download_model(entry, tmp_path)
    assert _files(tmp_path) == []


def test_cancel_during_a_slow_download_keeps_nothing(local_server, tmp_path) -> None:
    body = bytes(range(256)) * 4000  # 1 MB at 20 kB/s: 50 s unless cancelled
    local_server.routes["/slow.bin"] = Route(body, mode="slow")
    cancel = threading.Event()
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.done >= 5000:
            cancel.set()

    with pytest.raises(Cancelled):
        download_file(local_server.url("/slow.bin"), tmp_path / "slow.bin", progress=progress, cancel=cancel)
    assert _files(tmp_path) == [] and seen[-1].total == len(body) and seen[-1].done < 20000


def test_offline_fails_fast_with_one_clear_message(tmp_path) -> None:
    import time

    url = f"http://127.0.0.1:{free_port()}/models/fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth"
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_file(url, tmp_path / "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth")
    assert time.monotonic() - start < 5
    msg = str(info.value)
    assert msg.startswith("cannot reach 127.0.0.1:") and "refused" in msg.lower()
    assert url in msg and str(tmp_path / "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth") in msg
    assert "\n" not in msg and _files(tmp_path) == []


def test_a_proxy_from_the_environment_is_used(local_server, zoo_weights, tmp_path, monkeypatch) -> None:
    """The URL names a host that does not exist; only the proxy (our server) can answer it."""
    body = b"weights" * 100
    local_server.routes["/models/w.bin"] = Route(body)
    monkeypatch.setenv("http_proxy", local_server.base)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    path = download_file("http://models.example.invalid/models/w.bin", tmp_path / "w.bin")
    assert path.read_bytes() == body
    assert local_server.requests == ["http://models.example.invalid/models/w.bin"]


def test_stale_partial_of_a_dead_process_is_removed(local_server, tmp_path) -> None:
    local_server.routes["/f.bin"] = Route(b"x" * 10)
    stale = tmp_path / ".f.bin.999999999.partial"
    stale.write_bytes(b"half")
    download_file(local_server.url("/f.bin"), tmp_path / "f.bin")
    assert _files(tmp_path) == ["f.bin"]


def test_rate_message_parts() -> None:
    assert rate_message(12_300_000, 167_100_000, 3.0) == "12.3 MB of 167.1 MB, 4.1 MB/s, 38 s left"
    assert rate_message(500, 0, 0.0) == "0 kB" or rate_message(500, 0, 0.0).endswith("kB")


def test_cli_download_and_listing(local_server, zoo_weights, tmp_path, monkeypatch, capsys) -> None:
    from detector_app import cli

    entry = _entry(local_server, zoo_weights)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(zoo, "zoo_models", lambda: [entry])
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "download: models --download mobilenet_v3_large_320_fpn" in out
    assert cli.main(["models", "--download", "mobilenet_v3_large_320_fpn"]) == 0
    captured = capsys.readouterr()
    installed = tmp_path / "torch" / "hub" / "checkpoints" / zoo_weights.name
    assert installed.read_bytes() == zoo_weights.read_bytes()
    assert f"installed {installed}" in captured.out and "download [" in captured.err
    assert cli.main(["models", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert [r["source"] for r in rows if r["path"] == str(installed)] == ["torch hub"]


def test_cli_download_offline_is_one_line(monkeypatch, tmp_path, capsys) -> None:
    from detector_app import cli

    entry = dataclasses.replace(zoo.find_zoo_model("resnet50_fpn_v2"),
                                url=f"http://127.0.0.1:{free_port()}/fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(zoo, "zoo_models", lambda: [entry])
    assert cli.main(["models", "--download", "resnet50_fpn_v2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach 127.0.0.1" in err[0] and "put it at" in err[0]
    assert np.all([not p.name.endswith(".pth") for p in (tmp_path / "torch").rglob("*")])


@pytest.mark.slow
def test_finetuning_a_downloaded_coco_model_keeps_the_rows_of_coco_classes(zoo_weights, tiny_coco, tmp_path) -> None:
    """Boxes labelled with COCO names (cat, dog): the class head starts from the COCO rows and the
    run says so; a class COCO lacks replaces the head, also said."""
    import json

    import torch

    from detector_app.detection.checkpoints import load_checkpoint
    from detector_app.detection.training import TrainConfig, train

    data = json.loads((tiny_coco / "annotations.json").read_text())
    data["categories"] = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    for ann in data["annotations"]:
        ann["category_id"] = 1 if ann["category_id"] == 1 else 2
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "annotations.json").write_text(json.dumps(data))
    (tmp_path / "d" / "images").symlink_to(tiny_coco / "images", target_is_directory=True)
    result = train(TrainConfig(data=str(tmp_path / "d"), out=str(tmp_path / "ft.pt"), init=str(zoo_weights),
                               iters=1, batch=1, epochs=1, lr=1e-12, warmup_iters=0))
    assert result.head_note.startswith("class head kept for the 2 classes of the data (cat, dog)")
    ft = load_checkpoint(tmp_path / "ft.pt")
    assert ft.class_names == ["__background__", "cat", "dog"] and ft.config.builder == "mobilenet_v3_large_320_fpn"
    coco = torch.load(zoo_weights, weights_only=True)
    # lr 1e-12: the rows are still COCO's "cat" (17) and "dog" (18)
    torch.testing.assert_close(ft.model.roi_heads.box_predictor.cls_score.bias.detach(),
                               coco["roi_heads.box_predictor.cls_score.bias"][[0, 17, 18]])
