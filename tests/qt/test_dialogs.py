"""Export and fine-tune dialogs on a real project: export then re-import equal
(formats.load_dataset) for every format, options honoured, errors shown;
fine-tuning a tiny checkpoint with a live loss plot, cancel, and the offer to
switch to the new model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.app import jobs
from detector_app.app.finetune_job import TRAIN_SCOPES, FinetuneSettings
from detector_app.app.session import Session
from detector_app.detection.checkpoints import load_checkpoint
from detector_app.domain.annotations import ItemState
from detector_app.domain.boxes import Box
from detector_app.formats import load_dataset
from detector_app.qt.export_dialog import ExportDialog
from detector_app.qt.finetune_dialog import FinetuneDialog
from tests.helpers.files import noise_pngs, write_bgr
from tests.helpers.models import make_tiny_checkpoint

W, H = 128, 96


@pytest.fixture
def session(tmp_path: Path):
    """Three 128x96 images: img0 and img1 annotated and verified, img2 untouched."""
    root = noise_pngs(tmp_path / "proj", 3, W, H)
    s = Session(detect_on_open=False)
    s.open_paths([root])
    s.choose_label("cat")
    s.add_box(Box(10, 12, 50, 60))
    s.choose_label("dog")
    s.add_box(Box(60, 20, 120, 90))
    s.verify_and_next()
    s.add_box(Box(5, 5, 40, 30))
    s.verify_and_next()
    assert s.index == 2
    yield s
    s.close()


def run_export(qtbot, dialog: ExportDialog) -> None:
    with qtbot.waitSignal(dialog.exported, timeout=10000):
        dialog.start()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=5000)


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_export_then_reimport_equal(qtbot, session, tmp_path, fmt):
    dialog = ExportDialog(session)
    qtbot.addWidget(dialog)
    dialog.set_format(fmt)
    dialog.out_dir.setText(str(tmp_path / f"out-{fmt}"))
    run_export(qtbot, dialog)
    assert dialog.result.images == 2 and dialog.result.annotations == 3
    assert "Exported 2 images, 3 boxes" in dialog.message.text()
    ds = load_dataset(tmp_path / f"out-{fmt}")
    got = {Path(r.path).stem: sorted((a.label, a.box.to_tuple()) for a in r.annotations) for r in ds.images}
    expected = {Path(k).stem: sorted((a.label, a.box.to_tuple()) for a in session.store.record(k).annotations)
                for k in ("img0.png", "img1.png")}
    assert got.keys() == expected.keys()
    for stem, anns in expected.items():
        assert [lbl for lbl, _ in got[stem]] == [lbl for lbl, _ in anns]
        for (_, box), (_, want) in zip(got[stem], anns):
            assert box == pytest.approx(want, abs=1e-6)  # YOLO stores normalised floats
    assert sorted(ds.label_map.names) == ["cat", "dog"]


def test_export_options_split_and_verified_only(qtbot, session, tmp_path):
    session.go_to(2)
    session.add_box(Box(1, 1, 20, 20))  # edited, not verified
    dialog = ExportDialog(session)
    qtbot.addWidget(dialog)
    dialog.out_dir.setText(str(tmp_path / "split"))
    dialog.split.setChecked(True)
    dialog.train_fraction.setValue(0.5)
    dialog.seed.setValue(3)
    dialog.verified_only.setChecked(True)
    fmt, out, opts = dialog.options()
    assert (fmt, opts.split, opts.seed, opts.verified_only, opts.image_mode) == ("coco", 0.5, 3, True, "copy")
    assert opts.coco_layout == "standard"  # CVAT's "COCO 1.0" by default
    run_export(qtbot, dialog)
    assert dialog.result.split_counts == {"train": 1, "val": 1}
    assert sorted(p.name for p in (out / "annotations").iterdir()) == ["instances_train.json", "instances_val.json"]
    ds = load_dataset(out)
    assert sorted(Path(r.path).name for r in ds.images) == ["img0.png", "img1.png"]  # img2 is not verified
    assert sorted(ds.split.values()) == ["train", "val"]
    assert all(r.path.startswith(f"images/{ds.split[r.key]}/") for r in ds.images)


def test_an_image_linked_from_outside_is_exported_only_when_allowed(qtbot, tmp_path):
    root = noise_pngs(tmp_path / "proj", 1, W, H)
    (root / "linked.png").symlink_to(noise_pngs(tmp_path / "elsewhere", 1, W, H) / "img0.png")
    s = Session(detect_on_open=False)
    try:
        s.open_paths([root])
        for name in ("img0.png", "linked.png"):
            s.go_to(s.items.index(name))
            s.choose_label("cat")
            s.add_box(Box(3, 3, 30, 30))
            s.toggle_verified()
        for allowed in (False, True):
            dialog = ExportDialog(s)
            qtbot.addWidget(dialog)
            out = tmp_path / f"out-{allowed}"
            dialog.out_dir.setText(str(out))
            assert not dialog.allow_outside.isChecked()  # off unless ticked
            dialog.allow_outside.setChecked(allowed)
            assert dialog.options()[2].allow_outside is allowed
            run_export(qtbot, dialog)
            names = sorted(Path(r.path).name for r in load_dataset(out).images)
            assert names == (["img0.png", "linked.png"] if allowed else ["img0.png"])
            assert any("linked.png: outside" in line for line in dialog.result.skipped) is not allowed
    finally:
        s.close()


def test_export_error_is_shown_not_raised(qtbot, session, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    dialog = ExportDialog(session)
    qtbot.addWidget(dialog)
    dialog.out_dir.setText(str(out))
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=5000)
    assert "already exists" in dialog.message.text()
    assert (out / "keep.txt").read_text() == "x"
    assert dialog.export_button.isEnabled()
    dialog.coco_layout.setCurrentIndex(dialog.coco_layout.findData("flat"))
    dialog.image_mode.setCurrentIndex(dialog.image_mode.findData("relative"))
    assert dialog.image_mode.currentData() == "relative"  # the flat COCO layout can refer to the originals
    dialog.coco_layout.setCurrentIndex(dialog.coco_layout.findData("standard"))  # the standard one cannot
    assert dialog.image_mode.currentData() == "copy"
    dialog.coco_layout.setCurrentIndex(dialog.coco_layout.findData("flat"))
    dialog.image_mode.setCurrentIndex(dialog.image_mode.findData("relative"))
    dialog.set_format("yolo")  # YOLO cannot refer to images in place: the choice falls back
    assert dialog.image_mode.currentData() == "copy" and not dialog.coco_layout.isEnabled()


@pytest.fixture
def tiny_base(tmp_path: Path) -> jobs.ModelInfo:
    ckpt = make_tiny_checkpoint(tmp_path / "base.pt")
    return jobs.ModelInfo("base.pt", ["__background__", "cat", "dog"], "cpu", str(ckpt), "small")


def test_finetune_runs_plots_and_offers_the_new_model(qtbot, session, tiny_base):
    dialog = FinetuneDialog(session, tiny_base, "cpu")
    qtbot.addWidget(dialog)
    dialog.iters.setValue(3)
    dialog.batch.setValue(1)
    dialog.epochs.setValue(1)
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=60000)
    result = dialog.result
    assert result is not None and result.iterations == 2  # 2 images, batch 1, one epoch
    assert [x for x, _ in dialog.history["loss"]] == [1, 2]
    assert all(np.isfinite(y) for _, y in dialog.history["loss_classifier"])
    xs, ys = dialog.curves["loss"].getData()
    assert list(xs) == [1, 2] and len(ys) == 2
    assert dialog.plot.plotItem.legend is None and "loss_classifier" in dialog.key.text()  # no legend over the curves
    assert "Training on 2 images only" in dialog.warning.text()  # the fixture verified two images
    ckpt = Path(result.checkpoint)
    assert ckpt.parent == session.store.root / ".detector_app" / "models"
    assert not (ckpt.parent / f"{ckpt.stem}-data").exists()  # the temporary dataset is gone
    loaded = load_checkpoint(ckpt)
    assert loaded.class_names == ["__background__", "cat", "dog"]
    assert dialog.use_button.isEnabled()
    with qtbot.waitSignal(dialog.modelAccepted) as blocker:
        dialog.use_button.click()
    assert blocker.args == [str(ckpt)]


def test_finetune_of_the_last_layers_only_keeps_the_rest_of_the_model(qtbot, session, tiny_base):
    dialog = FinetuneDialog(session, tiny_base, "cpu")
    qtbot.addWidget(dialog)
    assert [dialog.scope.itemData(i) for i in range(dialog.scope.count())] == list(TRAIN_SCOPES)
    assert dialog.scope.currentData() == FinetuneSettings().scope
    dialog.scope.setCurrentIndex(dialog.scope.findData("predictor"))
    dialog.iters.setValue(2)
    dialog.batch.setValue(1)
    dialog.start()
    assert not dialog.scope.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=60000)
    assert dialog.result is not None and dialog.result.iterations == 2 and dialog.scope.isEnabled()
    before = load_checkpoint(tiny_base.path).model.state_dict()
    after = load_checkpoint(dialog.result.checkpoint).model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("roi_heads.box_predictor.") for k in changed)


def test_finetune_from_random_weights_trains_every_layer(qtbot, session):
    dialog = FinetuneDialog(session, None, "cpu")
    qtbot.addWidget(dialog)
    assert dialog.scope.currentData() == "all" and not dialog.scope.isEnabled()
    assert dialog.settings().scope == "all"


def test_finetune_without_verified_boxes_says_so(qtbot, tmp_path, tiny_base):
    root = tmp_path / "empty"
    write_bgr(root / "a.png", np.zeros((H, W, 3), np.uint8))
    s = Session(detect_on_open=False)
    s.open_paths([root])
    try:
        dialog = FinetuneDialog(s, tiny_base, "cpu")
        qtbot.addWidget(dialog)
        dialog.start()
        qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)
        assert "no verified images with boxes" in dialog.message.text()
        assert not dialog.use_button.isEnabled()
    finally:
        s.close()


def test_finetune_cancel_stops_training(qtbot, session, tiny_base):
    dialog = FinetuneDialog(session, tiny_base, "cpu")
    qtbot.addWidget(dialog)
    dialog.epochs.setValue(200)
    dialog.batch.setValue(1)
    dialog.start()
    qtbot.waitUntil(lambda: len(dialog.history["loss"]) >= 1, timeout=60000)
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=60000)
    assert dialog.result.stopped == "cancelled"
    assert dialog.result.iterations < 400
    # the bar stays where training stopped (it jumped to 100 %), out of 400 iterations
    assert dialog.progress.maximum() == 400 and dialog.progress.value() < 400
    assert session.store.record("img0.png").state is ItemState.VERIFIED  # the project is untouched


def test_export_folder_follows_the_format_until_the_user_chooses_one(qtbot, session, tmp_path):
    """Exporting COCO, then switching to YOLO aimed at the same (now non-empty) folder."""
    dialog = ExportDialog(session)
    qtbot.addWidget(dialog)
    root = Path(session.store.root)
    assert dialog.out_dir.text() == str(root.parent / f"{root.name}-coco")
    dialog.set_format("yolo")
    assert dialog.out_dir.text() == str(root.parent / f"{root.name}-yolo")
    dialog.out_dir.setText(str(tmp_path / "mine"))  # typed: kept whatever the format
    dialog.set_format("voc")
    assert dialog.out_dir.text() == str(tmp_path / "mine")
