"""Exports and conversions under the path tricks of the adversarial re-run
(scripts/adversarial, probe ``paths``): links leading out of a dataset or project, a YOLO
``path:`` naming another folder, an output folder that is the source, long names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from detector_app.app.export import ExportError, ExportOptions, export_dataset
from detector_app.cli import main
from detector_app.formats import load_dataset
from detector_app.media.images import write_image


def _image(path: Path, w: int = 20, h: int = 10, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, np.full((h, w, 3), value, np.uint8))
    return path


def _coco(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotations.json").write_text(json.dumps({
        "images": [{"id": i, "file_name": n, "width": 20, "height": 10} for i, n in enumerate(names, 1)],
        "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [1, 1, 4, 4]}
                        for i in range(1, len(names) + 1)],
        "categories": [{"id": 1, "name": "cat"}]}))
    return folder


@pytest.mark.parametrize("link", ["file", "folder"])
@pytest.mark.parametrize("mode", ["--copy", "--symlink"])
def test_a_link_leading_out_of_the_dataset_is_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       link: str, mode: str) -> None:
    """images/a.png (or images/ itself) a symbolic link to a private file (folder): convert
    copied the private image into OUT, or linked OUT to it, with exit 0."""
    secret = _image(tmp_path / "private" / "a.png", value=200)
    ds = tmp_path / "ds"
    _image(ds / "own" / "b.png")
    (ds / "images").mkdir(parents=True)
    if link == "file":
        (ds / "images" / "a.png").symlink_to(secret)
    else:
        (ds / "images").rmdir()
        (ds / "images").symlink_to(secret.parent)
    _coco(ds, ["images/a.png", "own/b.png"])
    out = tmp_path / "out"
    assert main(["convert", str(ds), str(out), "--to", "yolo", mode]) == 0
    text = capsys.readouterr().out
    assert "images/a.png: outside" in text and "--allow-outside" in text and "wrote 1 images" in text
    assert sorted(p.name for p in out.rglob("*.png")) == ["b.png"]
    assert main(["convert", str(ds), str(tmp_path / "out2"), "--to", "yolo", mode, "--allow-outside"]) == 0
    assert "wrote 2 images" in capsys.readouterr().out


def test_a_project_file_linked_out_is_left_out_of_an_export(tmp_path: Path) -> None:
    """A project folder holding a link to a private image (the folder scan lists it)."""
    from detector_app.app.store import ProjectStore
    from detector_app.domain import Annotation, Box

    secret = _image(tmp_path / "private" / "s.png", value=200)
    project = tmp_path / "project"
    _image(project / "own.png")
    (project / "linked.png").symlink_to(secret)
    with ProjectStore(project, autosave_interval=None) as store:
        for key in ("own.png", "linked.png"):
            store.ensure_size(key)
            store.add_annotation(key, Annotation(Box(1, 1, 5, 5), "cat"))
        result = export_dataset(store, "coco", tmp_path / "out")
        assert result.images == 1 and any("linked.png: outside" in s for s in result.skipped)
        assert export_dataset(store, "coco", tmp_path / "out2", ExportOptions(allow_outside=True)).images == 2


def test_a_yolo_path_naming_another_folder_is_outside_the_dataset(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``path: /somewhere/private`` with ``train: .``: every image there was converted into OUT."""
    private = tmp_path / "private"
    _image(private / "photo.png", value=200)
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "data.yaml").write_text(f"path: {json.dumps(str(private))}\ntrain: .\nval: .\nnames: [cat]\n")
    assert load_dataset(ds).home == ds
    out = tmp_path / "out"
    assert main(["convert", str(ds), str(out), "--to", "coco"]) == 2
    err = capsys.readouterr().err
    assert f"{private / 'photo.png'}: outside {ds}" in err and not out.exists()
    assert main(["convert", str(ds), str(out), "--to", "coco", "--allow-outside"]) == 0


@pytest.mark.parametrize("target", ["source", "parent"])
def test_an_output_folder_that_is_the_source_or_holds_it_is_refused(tmp_path: Path, target: str) -> None:
    """``convert ds ds --overwrite`` / ``export PROJECT PROJECT/.. --overwrite`` replaced the
    source folder by the export: the project's store, its other images, gone."""
    from detector_app.app.store import ProjectStore
    from detector_app.domain import Annotation, Box

    project = tmp_path / "p" / "project"
    _image(project / "a.png")
    with ProjectStore(project, autosave_interval=None) as store:
        store.ensure_size("a.png")
        store.add_annotation("a.png", Annotation(Box(1, 1, 5, 5), "cat"))
        out = project if target == "source" else project.parent
        with pytest.raises(ExportError, match="the output folder (is|holds) the dataset or project being exported"):
            export_dataset(store, "coco", out, ExportOptions(overwrite=True))
    assert (project / ".detector_app" / "project.sqlite").is_file() and (project / "a.png").is_file()
    ds = _coco(tmp_path / "ds", ["a.png"])
    _image(ds / "a.png")
    with pytest.raises(ExportError, match="is the dataset"):
        export_dataset(load_dataset(ds), "yolo", ds, ExportOptions(overwrite=True))
    assert (ds / "annotations.json").is_file()


def test_long_names_that_collide_still_fit_the_file_system(tmp_path: Path) -> None:
    """Two 250-byte names in two folders: their export names (folders as a prefix) were 262
    bytes, "File name too long", and nothing was exported."""
    name = "n" * 246 + ".png"
    ds = tmp_path / "ds"
    for sub in ("a", "b"):
        _image(ds / sub / name)
    _coco(ds, [f"a/{name}", f"b/{name}"])
    result = export_dataset(load_dataset(ds), "voc", tmp_path / "out")
    assert result.images == 2 and len(result.renamed) == 2
    assert all(len(os.fsencode(p.name)) <= 255 for p in (tmp_path / "out").rglob("*"))


_KILLED_EXPORT = """
import os, signal, sys
import detector_app.app.export_staging as export
import detector_app.app.store, detector_app.commands.export, detector_app.textprogress
from detector_app.cli import main
project, out, exchange, target, nth = sys.argv[1:6]
if exchange == "no":
    export.exchange_paths = lambda a, b: False
name, seen = os.path.basename(out), []
def hook(event, args):  # an audit event comes before its system call: the n-th one's does not happen
    if event == target and any(name in str(a) for a in args[:2]):
        seen.append(event)
        if len(seen) == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
sys.addaudithook(hook)
main(["export", project, out, "--format", "coco", "--coco-layout", "flat", "--overwrite"])
"""


@pytest.mark.parametrize("exchange", ["yes", "no"])
@pytest.mark.parametrize(("target", "nth"), [("os.rename", 1), ("os.rename", 2), ("shutil.rmtree", 1)])
def test_an_export_killed_while_swapping_folders_leaves_a_whole_export(tmp_path: Path, exchange: str,
                                                                      target: str, nth: int) -> None:
    """An export killed at any of its file system steps (scripts/adversarial, probe
    ``export-kills``) leaves a whole export: the swap is one atomic exchange where the
    file system has one; where not, an export killed between its two renames leaves OUT
    aside, and the next export first puts it back."""
    import subprocess
    import sys

    from detector_app.app.store import ProjectStore
    from detector_app.domain import Annotation, Box

    project = tmp_path / "project"
    for i in range(3):
        _image(project / f"a{i}.png")
    with ProjectStore(project, autosave_interval=None) as store:
        for i in range(3):
            store.ensure_size(f"a{i}.png")
            store.add_annotation(f"a{i}.png", Annotation(Box(1, 1, 5, 5), "cat"))
        out = tmp_path / "out"
        export_dataset(store, "coco", out, ExportOptions(coco_layout="flat"))
        store.add_annotation("a0.png", Annotation(Box(2, 2, 6, 6), "dog"))
    before = (out / "annotations.json").read_text()
    proc = subprocess.run([sys.executable, "-c", _KILLED_EXPORT, str(project), str(out), exchange, target, str(nth)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    # (with the exchange there is no rename to be killed at: the export completes)
    assert proc.returncode == (0 if exchange == "yes" and target == "os.rename" else -9), proc.stderr[-2000:]
    with ProjectStore(project, read_only=True, autosave_interval=None) as store:
        if exchange == "no" and nth == 2:  # between the renames: OUT is missing until the next export puts it back
            with pytest.raises(ExportError, match="already exists"):
                export_dataset(store, "coco", out, ExportOptions(coco_layout="flat"))
            assert (out / "annotations.json").read_text() == before
        else:
            assert len(load_dataset(out).images) == 3  # the old export or the new one, whole
        export_dataset(store, "coco", out, ExportOptions(coco_layout="flat", overwrite=True))
    assert load_dataset(out).num_annotations() == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []
