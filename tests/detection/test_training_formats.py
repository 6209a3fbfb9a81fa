"""Training straight from the datasets the app exports (Pascal VOC, YOLO: the formats
layer), bad boxes in those formats, and the loss terms the progress bar shows."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.cli import main
from detector_app.detection.datasets import DatasetError, load_detection_data
from detector_app.detection.synthetic import CLASS_NAMES
from detector_app.detection.training import LOSS_TERMS, TrainConfig, load_checkpoint_dict, train
from detector_app.domain.progress import Progress
from detector_app.textprogress import TextProgressBar

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def exported(tiny_coco: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``tiny_coco`` converted by ``detector-app convert`` (the app's exporter) to VOC and YOLO."""
    root = tmp_path_factory.mktemp("exported")
    out = {"coco": tiny_coco}
    for fmt in ("voc", "yolo"):
        assert main(["convert", str(tiny_coco), str(root / fmt), "--to", fmt]) == 0
        out[fmt] = root / fmt
    return out


def _cfg(data: Path, out: Path, mc, **kw) -> TrainConfig:  # type: ignore[no-untyped-def]
    base = dict(data=str(data), out=str(out), model_config=mc, epochs=2, batch=1, lr=0.01,
                warmup_iters=0, schedule="constant", seed=0, log_every=1, bn_recompute_images=0)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_exported_dataset_reads_as_the_original(exported: dict[str, Path], fmt: str) -> None:
    coco = load_detection_data(exported["coco"])
    other = load_detection_data(exported[fmt])
    assert other.class_names == coco.class_names == list(CLASS_NAMES)
    assert [s.path.name.split("__")[-1] for s in other.samples] == [s.path.name for s in coco.samples]
    for a, b in zip(coco.samples, other.samples):
        assert (b.width, b.height) == (a.width, a.height) == (128, 128)
        np.testing.assert_allclose(b.boxes, a.boxes, atol=1e-3)  # integer boxes survive VOC / YOLO exactly
        assert b.labels.tolist() == a.labels.tolist()
        assert b.path.is_file()


@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_train_directly_on_exported_voc_and_yolo(exported: dict[str, Path], fmt: str, tiny_config,
                                                 tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ref = train(_cfg(exported["coco"], tmp_path / "coco.pt", tiny_config()))
    got = train(_cfg(exported[fmt], tmp_path / f"{fmt}.pt", tiny_config()))
    assert got.stopped == "finished" and got.iterations == ref.iterations == 4
    # same pixels (PNG), boxes, labels and order: the same seeded run, loss for loss
    np.testing.assert_allclose([h["loss"] for h in got.history], [h["loss"] for h in ref.history], rtol=1e-5)
    ckpt = load_checkpoint_dict(tmp_path / f"{fmt}.pt")
    assert ckpt["class_names"] == ["__background__", *CLASS_NAMES]
    assert ckpt["meta"]["train_data"] == str(exported[fmt])


def test_cli_train_on_yolo_with_voc_validation(exported: dict[str, Path], tiny_config_json: Path,
                                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "y.pt"
    assert main(["train", "--data", str(exported["yolo"]), "--val", str(exported["voc"]), "--config",
                 str(tiny_config_json), "--epochs", "2", "--batch", "1", "--warmup", "0", "--bn-images", "0",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "after 4 iterations, 2 epochs" in text and "epoch 1: AP" in text and "epoch 2: AP" in text
    val = json.loads((tmp_path / "y.log.json").read_text())["val"]  # validation mAP after every epoch
    assert [(v["epoch"], v["iteration"]) for v in val] == [(1, 2), (2, 4)]
    assert all(0.0 <= v[k] <= 1.0 for v in val for k in ("AP", "AP50", "AP75"))
    assert load_checkpoint_dict(out)["meta"]["val"] == val[-1]


def test_degenerate_voc_box_names_file_and_box(exported: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    voc = tmp_path / "voc"
    shutil.copytree(exported["voc"], voc)
    xml = sorted((voc / "Annotations").glob("*.xml"))[1]
    text = xml.read_text()
    xmin = re.search(r"<xmin>(\d+)</xmin>", text)
    assert xmin is not None
    text = re.sub(r"<xmax>\d+</xmax>", f"<xmax>{int(xmin.group(1)) - 2}</xmax>", text, count=1)
    xml.write_text(text)
    with pytest.raises(DatasetError, match=rf"{re.escape(xml.name)}.*degenerate box"):
        load_detection_data(voc)
    assert main(["train", "--data", str(voc), "--out", str(tmp_path / "m.pt")]) == 2


def test_degenerate_yolo_box_names_file_and_box(exported: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    yolo = tmp_path / "yolo"
    shutil.copytree(exported["yolo"], yolo)
    yaml = yolo / "data.yaml"  # its `path:` names the original folder: point it at the copy
    yaml.write_text("".join(ln for ln in yaml.read_text().splitlines(True) if not ln.startswith("path:")))
    label = sorted((yolo / "labels").glob("*.txt"))[0]
    lines = label.read_text().splitlines()
    cls, cx, cy, _w, h = lines[0].split()
    lines[0] = f"{cls} {cx} {cy} 0 {h}"  # zero width
    label.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=rf"{re.escape(label.name)}:1: degenerate box"):
        load_detection_data(yolo)


def test_progress_reports_the_four_loss_terms(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seen: list[Progress] = []
    stream = io.StringIO()
    bar = TextProgressBar("train", stream=stream, interval=0.0)

    def progress(p: Progress) -> None:
        seen.append(p)
        bar(p)

    result = train(_cfg(tiny_coco, tmp_path / "p.pt", tiny_config(), epochs=1), progress=progress)
    steps = [p for p in seen if p.metrics]
    assert [p.done for p in steps] == [1, 2] and all(p.total == 2 for p in steps)
    for p in steps:
        assert set(p.metrics) == {*LOSS_TERMS, "loss"}
    # the first report carries iteration 1's losses (smoothing starts from them)
    first = result.history[0]
    for k in LOSS_TERMS:
        assert steps[0].metrics[k] == pytest.approx(first[k], abs=1e-4)
    line = stream.getvalue().splitlines()[0]
    assert line.startswith("train [") and " 1/2 " in line
    for k in LOSS_TERMS:
        assert re.search(rf"{k}=\d", line), line


@pytest.mark.cuda
def test_amp_on_cuda_trains(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = train(_cfg(tiny_coco, tmp_path / "amp.pt", tiny_config(), epochs=3, device="cuda", amp=True))
    losses = [h["loss"] for h in result.history]
    assert result.iterations == 6 and np.isfinite(losses).all()
    ckpt = load_checkpoint_dict(tmp_path / "amp.pt")
    assert all(v.dtype != torch.float16 for v in ckpt["state_dict"].values())  # weights stay fp32


def test_amp_on_cpu_is_plain_fp32(tiny_coco: Path, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = train(_cfg(tiny_coco, tmp_path / "a.pt", tiny_config(), epochs=1, device="cpu", amp=True))
    b = train(_cfg(tiny_coco, tmp_path / "b.pt", tiny_config(), epochs=1, device="cpu", amp=False))
    np.testing.assert_allclose([h["loss"] for h in a.history], [h["loss"] for h in b.history], rtol=1e-6)


def test_image_without_boxes_trains_as_a_pure_negative(tiny_coco: Path, tiny_config,
                                                       tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Exports can hold images nobody annotated: they train (background only), they don't crash."""
    data = json.loads((tiny_coco / "annotations.json").read_text())
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != 1]
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    (tmp_path / "images").symlink_to(tiny_coco / "images", target_is_directory=True)
    assert [len(s.boxes) for s in load_detection_data(tmp_path).samples][0] == 0
    result = train(_cfg(tmp_path, tmp_path / "m.pt", tiny_config(), epochs=2, batch=1))
    assert result.iterations == 4 and np.isfinite([h["loss"] for h in result.history]).all()
    # the empty image's iterations (one per epoch) have no box regression targets at all
    empty = [h for h in result.history if h["loss_rpn_box_reg"] == 0.0 and h["loss_box_reg"] == 0.0]
    assert len(empty) == 2 and all(h["loss_objectness"] > 0 and h["loss_classifier"] > 0 for h in empty)


def test_cli_train_on_the_standard_coco_layout_convert_writes_by_default(
        tiny_coco: Path, tiny_config_json: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`convert --to coco` writes CVAT's "COCO 1.0" layout (annotations/instances_<split>.json,
    images/<split>/); `train --data` takes that folder, or one split's JSON with the other as --val."""
    out = tmp_path / "std"
    assert main(["convert", str(tiny_coco), str(out), "--to", "coco"]) == 0
    assert (out / "annotations" / "instances_default.json").is_file() and not (out / "annotations.json").exists()
    data = load_detection_data(out)
    assert data.class_names == list(CLASS_NAMES) and len(data.samples) == 2
    assert all(s.path.parent == out / "images" / "default" and s.path.is_file() for s in data.samples)
    ref = load_detection_data(tiny_coco)
    for a, b in zip(ref.samples, data.samples):
        np.testing.assert_allclose(b.boxes, a.boxes)
        assert b.labels.tolist() == a.labels.tolist()
    common = ["--config", str(tiny_config_json), "--epochs", "1", "--iters", "1", "--batch", "1", "--warmup", "0",
              "--bn-images", "0"]
    assert main(["train", "--data", str(out), "--out", str(tmp_path / "a.pt"), *common]) == 0
    assert "after 1 iterations" in capsys.readouterr().out
    split = tmp_path / "split"
    assert main(["convert", str(tiny_coco), str(split), "--to", "coco", "--split", "0.5"]) == 0
    ann = split / "annotations"
    assert main(["train", "--data", str(ann / "instances_train.json"), "--val", str(ann / "instances_val.json"),
                 "--out", str(tmp_path / "b.pt"), *common]) == 0
    text = capsys.readouterr().out
    assert "after 1 iterations" in text and "epoch 1: AP" in text
    assert [s.path.parent for s in load_detection_data(ann / "instances_val.json").samples] == [
        split / "images" / "val"]
