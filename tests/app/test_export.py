"""Export of a project: formats read back, options (split, verified only, model
boxes, copy/symlink/relative), video frames written as images, atomicity, cancel."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from detector_app.app.export import ExportError, ExportOptions, export_dataset, split_keys
from detector_app.app.store import ProjectStore
from detector_app.domain import Annotation, AnnotationSource, Box, ItemState
from detector_app.domain.errors import Cancelled
from detector_app.formats import load_dataset
from detector_app.media.images import read_image
from detector_app.media.video import VideoReader


@pytest.fixture
def store(project_dir: Path):  # type: ignore[no-untyped-def]
    s = ProjectStore(project_dir, autosave_interval=None)
    s.set_labels(["cat", "dog"])
    for key in ("img1.png", "img2.png", "sub/img10.png"):
        s.ensure_size(key)
    s.add_annotation("img1.png", Annotation(Box(1, 2, 20, 30), "cat", id="m1"))
    s.add_annotation("img1.png", Annotation(Box(5, 5, 15, 15), "dog", AnnotationSource.MODEL, 0.8, id="x1"))
    s.set_state("img1.png", ItemState.EDITED)
    s.add_annotation("img2.png", Annotation(Box(0, 0, 80, 30), "dog", id="m2"))
    s.set_state("img2.png", ItemState.VERIFIED)
    s.set_size("clip.avi#4", 64, 48)
    s.add_annotation("clip.avi#4", Annotation(Box(3, 3, 40, 40), "cat", id="v4"))
    s.set_state("clip.avi#4", ItemState.VERIFIED)
    yield s
    s.close()


def _by_name(ds):  # type: ignore[no-untyped-def]
    return {Path(r.path).stem: r for r in ds.images}


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_export_reads_back_with_frames_as_images(store: ProjectStore, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out_{fmt}"
    result = export_dataset(store, fmt, out, ExportOptions(include_model_boxes=True))
    assert result.images == 3 and result.annotations == 4 and not result.skipped
    ds = load_dataset(out)
    assert ds.format == fmt and ds.label_map.names == ["cat", "dog"]
    recs = _by_name(ds)
    assert sorted(recs) == ["clip_f000004", "img1", "img2"]  # sub/img10.png was never reviewed
    assert [a.label for a in recs["img1"].annotations] == ["cat", "dog"]
    assert recs["img2"].annotations[0].box.to_tuple() == pytest.approx((0, 0, 80, 30))
    frame = read_image(ds.root / recs["clip_f000004"].path)
    with VideoReader(store.root / "clip.avi") as video:
        assert np.array_equal(frame, video.read(4))  # PNG: lossless copy of the decoded frame
    assert (recs["clip_f000004"].width, recs["clip_f000004"].height) == (64, 48)
    if fmt == "coco":  # the standard layout by default (CVAT's "COCO 1.0"), split "default"
        coco = COCO(str(out / "annotations" / "instances_default.json"))
        assert sorted(im["file_name"] for im in coco.dataset["images"]) == ["clip_f000004.png", "img1.png",
                                                                             "img2.png"]
        assert all((out / "images" / "default" / im["file_name"]).is_file() for im in coco.dataset["images"])
        assert not (out / "annotations.json").exists()


def test_flat_coco_layout_when_asked(store: ProjectStore, tmp_path: Path) -> None:
    out = tmp_path / "flat"
    export_dataset(store, "coco", out, ExportOptions(include_model_boxes=True, coco_layout="flat"))
    coco = COCO(str(out / "annotations.json"))
    assert sorted(im["file_name"] for im in coco.dataset["images"]) == ["images/clip_f000004.png",
                                                                         "images/img1.png", "images/img2.png"]
    assert not (out / "annotations").exists()
    with pytest.raises(ExportError, match="standard COCO layout .* use copy or symlink"):
        export_dataset(store, "coco", tmp_path / "rel", ExportOptions(image_mode="relative"))


def test_model_boxes_only_when_asked_or_verified(store: ProjectStore, tmp_path: Path) -> None:
    export_dataset(store, "coco", tmp_path / "a")
    recs = _by_name(load_dataset(tmp_path / "a"))
    assert [a.label for a in recs["img1"].annotations] == ["cat"]  # unconfirmed model box dropped
    store.set_state("img1.png", ItemState.VERIFIED)
    export_dataset(store, "coco", tmp_path / "b")
    assert len(_by_name(load_dataset(tmp_path / "b"))["img1"].annotations) == 2


def test_verified_only(store: ProjectStore, tmp_path: Path) -> None:
    result = export_dataset(store, "voc", tmp_path / "v", ExportOptions(verified_only=True))
    assert result.images == 2
    assert sorted(_by_name(load_dataset(tmp_path / "v"))) == ["clip_f000004", "img2"]


def test_seeded_split(store: ProjectStore, tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(100)]
    a, b = split_keys(keys, 0.8, seed=3), split_keys(list(reversed(keys)), 0.8, seed=3)
    assert a == b and sum(v == "train" for v in a.values()) == 80
    assert split_keys(keys, 0.8, seed=4) != a
    assert set(split_keys(["x", "y"], 0.99, 0).values()) == {"train", "val"}

    r = export_dataset(store, "yolo", tmp_path / "y", ExportOptions(split=0.5, seed=1))
    assert r.split_counts == {"train": 2, "val": 1} or r.split_counts == {"train": 1, "val": 2}
    ds = load_dataset(tmp_path / "y")
    assert sorted(ds.split.values()) == sorted(["train"] * r.split_counts["train"] + ["val"] * r.split_counts["val"])
    r2 = export_dataset(store, "coco", tmp_path / "c", ExportOptions(split=0.5, seed=1))
    assert r2.split_counts == r.split_counts
    both = load_dataset(tmp_path / "c")  # annotations/instances_train.json, instances_val.json
    assert sorted(both.split.values()) == sorted(ds.split.values())
    assert all((both.root / rec.path).is_file() for rec in both.images)
    train = load_dataset(tmp_path / "c" / "annotations" / "instances_train.json")
    assert len(train.images) == r.split_counts["train"]
    assert all(rec.path.startswith("images/train/") for rec in train.images)
    r3 = export_dataset(store, "coco", tmp_path / "f", ExportOptions(split=0.5, seed=1, coco_layout="flat"))
    assert r3.split_counts == r.split_counts
    train = load_dataset(tmp_path / "f" / "train")
    val = load_dataset(tmp_path / "f" / "val")
    assert len(train.images) + len(val.images) == 3
    assert all((train.root / rec.path).is_file() for rec in train.images)


def test_symlink_and_relative_modes(store: ProjectStore, tmp_path: Path) -> None:
    export_dataset(store, "voc", tmp_path / "s", ExportOptions(image_mode="symlink"))
    link = tmp_path / "s" / "JPEGImages" / "img1.png"
    assert link.is_symlink() and link.resolve() == (store.root / "img1.png").resolve()
    export_dataset(store, "coco", tmp_path / "r", ExportOptions(image_mode="relative", coco_layout="flat"))
    ds = load_dataset(tmp_path / "r")
    img1 = next(r for r in ds.images if r.path.endswith("img1.png"))
    assert (ds.root / img1.path).resolve() == (store.root / "img1.png").resolve()
    assert not (tmp_path / "r" / "images" / "img1.png").exists()
    assert (tmp_path / "r" / "images" / "clip_f000004.png").is_file()  # frames are always written
    with pytest.raises(ExportError, match="YOLO needs the images inside"):
        export_dataset(store, "yolo", tmp_path / "x", ExportOptions(image_mode="relative"))


def test_refuses_non_empty_folder_and_overwrites_when_asked(store: ProjectStore, tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ExportError, match="already exists and is not empty"):
        export_dataset(store, "coco", out)
    assert (out / "keep.txt").exists()
    export_dataset(store, "coco", out, ExportOptions(overwrite=True))
    assert not (out / "keep.txt").exists() and (out / "annotations" / "instances_default.json").is_file()


def test_cancel_leaves_nothing(store: ProjectStore, tmp_path: Path) -> None:
    cancel = threading.Event()
    seen = []

    def progress(p):  # type: ignore[no-untyped-def]
        seen.append(p.done)
        if p.done == 1:
            cancel.set()

    with pytest.raises(Cancelled):
        export_dataset(store, "voc", tmp_path / "c", progress=progress, cancel=cancel)
    assert not (tmp_path / "c").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".c.")] == []
    assert seen[:2] == [0, 1]


def test_missing_image_is_skipped_and_reported(store: ProjectStore, tmp_path: Path) -> None:
    (store.root / "img2.png").unlink()
    result = export_dataset(store, "coco", tmp_path / "m")
    assert result.images == 2 and "img2.png: no such file" in result.skipped[0]
    assert "1 skipped" in result.summary()


def test_bad_options(store: ProjectStore, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="split must be between 0 and 1"):
        export_dataset(store, "coco", tmp_path / "a", ExportOptions(split=1.5))
    with pytest.raises(ExportError, match="cannot export as 'labelme'"):
        export_dataset(store, "labelme", tmp_path / "a")
    with pytest.raises(ExportError, match="unknown image mode"):
        export_dataset(store, "coco", tmp_path / "a", ExportOptions(image_mode="move"))


def test_plain_records_need_a_root(project_dir: Path, tmp_path: Path) -> None:
    from detector_app.domain import ImageRecord, LabelMap

    recs = [ImageRecord("img1.png", None, None, [Annotation(Box(1, 1, 70, 9), "emu")])]
    with pytest.raises(ExportError, match="needs root="):
        export_dataset(recs, "coco", tmp_path / "a")
    result = export_dataset(recs, "coco", tmp_path / "a", root=project_dir, label_map=LabelMap(["yak"]))
    ds = load_dataset(tmp_path / "a")
    assert ds.label_map.names == ["yak", "emu"] and result.images == 1
    (rec,) = ds.images
    assert (rec.width, rec.height) == (60, 40)  # size read from the file header
    assert rec.annotations[0].box == Box(1, 1, 60, 9)  # clipped to the image on export


def test_an_export_removes_what_killed_exports_to_the_same_place_left(store: ProjectStore, tmp_path: Path) -> None:
    """A killed export leaves its hidden staging folder behind (23 of 38 killed exports,
    258 MB): the next export into the same OUT removes those of dead processes, and of
    the pid-less form when old; a live export's, and other folders, stay."""
    import os
    import subprocess
    import sys
    import time

    from detector_app.app.export import remove_stale_staging

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead = int(gone.stdout)  # a pid that has just ended
    out = tmp_path / "out"
    made = {}
    for name in (f".out.{dead}.ab12cd.tmp", f".out.old.{dead}", ".out.legacy_1.tmp", ".out.legacy_2.tmp",
                 ".out.1.zz99.tmp", f".out.{os.getpid()}.mine.tmp", ".other.5.ab.tmp", "out.keep"):
        d = tmp_path / name
        (d / "images").mkdir(parents=True)
        (d / "images" / "x.png").write_bytes(b"x" * 100)
        made[name] = d
    past = time.time() - 3600
    os.utime(made[".out.legacy_1.tmp"], (past, past))  # old pid-less: left over; legacy_2 is fresh
    removed = {p.name for p in remove_stale_staging(out)}
    assert removed == {f".out.{dead}.ab12cd.tmp", f".out.old.{dead}", ".out.legacy_1.tmp"}
    left = {p.name for p in tmp_path.iterdir()}
    assert {".out.legacy_2.tmp", ".out.1.zz99.tmp", f".out.{os.getpid()}.mine.tmp", ".other.5.ab.tmp",
            "out.keep"} <= left
    assert not (removed & left)
    (tmp_path / f".out.{dead}.again1.tmp").mkdir()
    export_dataset(store, "coco", out, ExportOptions(include_model_boxes=True))  # an export cleans up first
    assert not (tmp_path / f".out.{dead}.again1.tmp").exists()
    assert (out / "annotations" / "instances_default.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.") and str(os.getpid()) in p.name
                and p.name != f".out.{os.getpid()}.mine.tmp"]  # its own staging folder is gone too


def test_a_staging_folder_is_named_so_a_later_export_knows_its_owner(tmp_path: Path) -> None:
    """new_staging_dir and remove_stale_staging agree on the name: a staging folder is
    a hidden sibling of OUT carrying its pid, kept while its process lives."""
    import os

    from detector_app.app.export_staging import new_staging_dir, remove_stale_staging, swap_in

    out = tmp_path / "out"
    tmp = new_staging_dir(out)
    assert tmp.parent == tmp_path and tmp.name.startswith(f".out.{os.getpid()}.") and tmp.name.endswith(".tmp")
    assert remove_stale_staging(out) == [] and tmp.is_dir()
    (tmp / "a.txt").write_text("new")
    out.mkdir()
    (out / "old.txt").write_text("old")
    swap_in(tmp, out)
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the old folder and the staging one are gone
