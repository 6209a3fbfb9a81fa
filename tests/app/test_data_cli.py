"""``detector-app convert`` and ``detector-app export`` end to end."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from detector_app.app.store import ProjectStore
from detector_app.cli import main
from detector_app.domain import Annotation, Box, ItemState
from detector_app.formats import load_dataset


@pytest.fixture
def coco_dir(project_dir: Path) -> Path:
    data = {
        "images": [{"id": 5, "file_name": "img1.png", "width": 60, "height": 40},
                   {"id": 6, "file_name": "img2.png", "width": 80, "height": 30}],
        "annotations": [{"id": 1, "image_id": 5, "category_id": 7, "bbox": [1, 2, 10, 20], "iscrowd": 0},
                        {"id": 2, "image_id": 6, "category_id": 9, "bbox": [10, 5, 30, 20], "iscrowd": 0},
                        {"id": 3, "image_id": 6, "category_id": 9, "bbox": [0, 0, 5, 5], "iscrowd": 1}],
        "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}],
    }
    (project_dir / "annotations.json").write_text(json.dumps(data))
    return project_dir


def test_convert_chain_keeps_boxes(coco_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(coco_dir), "--to", "voc", str(tmp_path / "voc")]) == 0
    assert "wrote 2 images, 2 boxes as voc" in capsys.readouterr().out
    # the VOC refers to the images where they are (outside its folder): copying them needs --allow-outside
    assert main(["convert", str(tmp_path / "voc"), "--from", "voc", "--to", "yolo", str(tmp_path / "yolo"),
                 "--split", "0.5", "--seed", "2"]) != 0
    assert "outside" in capsys.readouterr().err and not (tmp_path / "yolo").exists()
    assert main(["convert", str(tmp_path / "voc"), "--from", "voc", "--to", "yolo", str(tmp_path / "yolo"),
                 "--split", "0.5", "--seed", "2", "--allow-outside"]) == 0
    assert main(["convert", str(tmp_path / "yolo"), "--to", "coco", str(tmp_path / "coco"), "--copy"]) == 0
    ds = load_dataset(tmp_path / "coco")
    assert ds.label_map.names == ["cat", "dog"]
    boxes = sorted((a.label, a.box.to_tuple()) for r in ds.images for a in r.annotations)
    assert [b[0] for b in boxes] == ["cat", "dog"]
    assert boxes[0][1] == pytest.approx((1.0, 2.0, 11.0, 22.0), abs=1e-9)  # via YOLO's normalisation
    assert boxes[1][1] == pytest.approx((10.0, 5.0, 40.0, 25.0), abs=1e-9)
    assert all((ds.root / r.path).is_file() for r in ds.images)


def test_convert_keep_crowd_and_bad_input(coco_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(coco_dir), "--to", "coco", str(tmp_path / "k"), "--keep-crowd"]) == 0
    assert "3 boxes" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text('{"images": [}')
    assert main(["convert", str(tmp_path / "bad.json"), "--to", "voc", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "bad.json: invalid JSON at line 1, column 13" in err and "Traceback" not in err
    assert main(["convert", str(coco_dir), "--to", "yolo", "--relative", str(tmp_path / "y")]) == 2
    assert "YOLO needs the images inside" in capsys.readouterr().err


def test_export_command(project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ProjectStore(project_dir, autosave_interval=None) as store:
        for key in ("img1.png", "img2.png"):
            store.ensure_size(key)
            store.add_annotation(key, Annotation(Box(1, 1, 20, 20), "cat"))
        store.set_state("img2.png", ItemState.VERIFIED)
    # The export reads the store while it is open (no lock taken, read-only).
    with ProjectStore(project_dir) as live:
        live.add_annotation("img1.png", Annotation(Box(2, 2, 9, 9), "dog"))
        live.flush()
        code = main(["export", str(project_dir), "--format", "yolo", str(tmp_path / "y"),
                     "--split", "0.5", "--seed", "1", "--symlink"])
    assert code == 0
    assert "wrote 2 images, 3 boxes as yolo" in capsys.readouterr().out
    assert main(["export", str(project_dir), "--format", "coco", str(tmp_path / "v"), "--verified-only"]) == 0
    assert len(load_dataset(tmp_path / "v").images) == 1
    capsys.readouterr()
    assert main(["export", str(project_dir), "--format", "coco", str(tmp_path / "v")]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nowhere"), "--format", "coco", str(tmp_path / "z")]) == 2


def _malformed(root: Path, fmt: str) -> tuple[Path, str]:
    """A dataset of ``fmt`` with one bad element; returns (path, the message expected on stderr)."""
    from tests.helpers.files import grey_png, labelme_json

    grey_png(root / "images" / "a.png", 40, 30)
    if fmt == "coco":
        data = {"images": [{"id": 1, "file_name": "images/a.png", "width": 40, "height": 30}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
                                {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 2, "wide", 4]}],
                "categories": [{"id": 1, "name": "cat"}]}
        (root / "annotations.json").write_text(json.dumps(data, indent=1))
        return (
            root,
            r"annotations\.json: annotation id 2: 'bbox' must be 4 numbers \[x, y, width, height\], "
            r"got \[1, 2, 'wide', 4\]",
        )
    if fmt == "voc":
        (root / "Annotations").mkdir()
        (root / "Annotations" / "a.xml").write_text(
            "<annotation>\n<filename>a.png</filename>\n<object>\n</annotation>\n"
        )
        return root, r"Annotations/a\.xml: invalid XML at line 4, column \d+"
    if fmt == "voc-element":
        (root / "Annotations").mkdir()
        (root / "Annotations" / "a.xml").write_text(
            "<annotation><filename>a.png</filename><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
            "<xmax>9</xmax></bndbox></object><object><name>cat</name></object></annotation>")
        return root, r"a\.xml: <object> #1/<bndbox>: missing <ymax>"
    if fmt == "yolo":
        (root / "labels").mkdir()
        (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.2 0.2\n")
        (root / "data.yaml").write_text("path: .\ntrain: images\nval: images\nnames: [cat, dog]\n")
        return root, r"labels/a\.txt:2: class index 5 out of range 0\.\.1"
    if fmt == "yolo-yaml":
        (root / "data.yaml").write_text("path: .\ntrain: images\nnames:\n  - cat\n  dog\n")
        return root, r"data\.yaml:5: expected '- item' or 'index: name' under 'names'"
    (root / "lm").mkdir()
    (root / "lm" / "a.json").write_text(labelme_json("../images/a.png", 40, 30, [("cat", [[1, 2], [9, 9]])]))
    doc = json.loads((root / "lm" / "a.json").read_text())
    doc["shapes"].append({"label": "cat", "points": [[1, 2]], "shape_type": "rectangle"})
    (root / "lm" / "a.json").write_text(json.dumps(doc))
    return root / "lm", r"lm/a\.json: shapes\[1\]: a rectangle needs 'points'"


@pytest.mark.parametrize("fmt", ["coco", "voc", "voc-element", "yolo", "yolo-yaml", "labelme"])
def test_convert_malformed_file_of_each_format(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A clear one-line error naming the file and the line or element, exit code 2, no
    traceback, no output folder (with and without --from)."""
    src, expected = _malformed(tmp_path / "in", fmt)
    given = fmt.split("-")[0]
    for args in (["--from", given], []):
        assert main(["convert", str(src), *args, "--to", "coco", str(tmp_path / "out")]) == 2
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        (line,) = err.strip().splitlines()
        assert line.startswith("detector-app convert: error: ") and re.search(expected, line), line
        assert not (tmp_path / "out").exists()


def test_cli_process_exit_code_and_stderr(tmp_path: Path) -> None:
    """The real ``detector-app`` process: exit status 2 and the message on stderr."""
    src, expected = _malformed(tmp_path / "in", "yolo")
    exe = Path(sys.executable).parent / "detector-app"
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "detector_app"]
    proc = subprocess.run([*cmd, "convert", str(src), "--to", "voc", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert re.search(expected, proc.stderr) and "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists()


def test_export_of_a_damaged_project_is_one_line(project_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (project_dir / ".detector_app").mkdir()
    (project_dir / ".detector_app" / "project.sqlite").write_bytes(b"garbage" * 200)
    assert main(["export", str(project_dir), "--format", "coco", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "project.sqlite: the project store cannot be read" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_export_split_coco_loads_in_pycocotools(project_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from pycocotools.coco import COCO

    with ProjectStore(project_dir, autosave_interval=None) as store:
        for i, key in enumerate(("img1.png", "img2.png", "sub/img10.png")):
            store.ensure_size(key)
            store.add_annotation(key, Annotation(Box(1, 1, 20 + i, 20), "cat"))
        store.set_size("clip.avi#2", 64, 48)
        store.add_annotation("clip.avi#2", Annotation(Box(1, 1, 20, 20), "dog"))
    assert main(["export", str(project_dir), "--format", "coco", str(tmp_path / "c"), "--split", "0.5"]) == 0
    counts = []
    for part in ("train", "val"):  # the standard layout by default
        coco = COCO(str(tmp_path / "c" / "annotations" / f"instances_{part}.json"))
        assert min(coco.getImgIds()) == 1 and min(coco.getAnnIds()) == 1 and coco.getCatIds() == [1, 2]
        counts.append(len(coco.getImgIds()))
        for img in coco.loadImgs(coco.getImgIds()):
            assert (tmp_path / "c" / "images" / part / img["file_name"]).is_file()
    assert sum(counts) == 4 and min(counts) >= 1
    assert main(["export", str(project_dir), "--format", "coco", str(tmp_path / "f"), "--split", "0.5",
                 "--coco-layout", "flat"]) == 0
    for part in ("train", "val"):
        coco = COCO(str(tmp_path / "f" / part / "annotations.json"))
        for img in coco.loadImgs(coco.getImgIds()):
            assert (tmp_path / "f" / part / img["file_name"]).is_file()


def test_training_reader_consumes_each_project_export(project_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``detector-app export`` in each format (split, video frame as PNG) is read by the
    training engine's ``load_detection_data`` as the project's boxes and classes: the
    engine trains on these folders as they are (training itself on exported VOC/YOLO:
    tests/detection/test_training_formats.py)."""
    from detector_app.detection.datasets import load_detection_data, load_sample_image

    want: dict[tuple[int, int], list[tuple[tuple[float, ...], int]]] = {}
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.set_labels(["cat", "dog"])
        for key, box, label in (("img1.png", (1, 2, 31, 22), "dog"), ("img2.png", (4, 5, 70, 25), "cat"),
                                ("sub/img10.png", (0, 0, 60, 40), "cat"), ("clip.avi#3", (8, 8, 40, 30), "dog")):
            if key.endswith(".png"):
                store.ensure_size(key)
            else:
                store.set_size(key, 64, 48)
            store.add_annotation(key, Annotation(Box(*box), label))
            rec = store.record(key)
            want.setdefault((rec.width, rec.height), []).append((box, store.label_map.id_of(label)))
    for fmt in ("coco", "voc", "yolo"):
        out = tmp_path / fmt
        assert main(["export", str(project_dir), "--format", fmt, str(out), "--split", "0.5", "--seed", "3"]) == 0
        parts = ([out / "annotations" / "instances_train.json", out / "annotations" / "instances_val.json"]
                 if fmt == "coco" else [out])
        got: dict[tuple[int, int], list[tuple[tuple[float, ...], int]]] = {}
        for part in parts:
            data = load_detection_data(part)
            assert data.class_names == ["cat", "dog"], fmt
            for s in data.samples:
                assert load_sample_image(s).shape == (s.height, s.width, 3)
                got.setdefault((s.width, s.height), []).extend(
                    (tuple(float(v) for v in b), int(lbl)) for b, lbl in zip(s.boxes, s.labels))
        assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in want.items()}, fmt
    capsys.readouterr()


@pytest.mark.parametrize("fmt", ["coco", "voc", "labelme"])
@pytest.mark.parametrize("mode", ["--copy", "--symlink"])
def test_convert_never_pulls_in_a_file_the_annotations_name_outside_the_dataset(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, mode: str) -> None:
    """A COCO file_name of ../../secret.png, a VOC <path> or a LabelMe imagePath to an absolute
    path: that file is left out of OUT and listed, not copied / symlinked in (silently, exit 0);
    the dataset's own images still go; --allow-outside takes the outside one too."""
    from tests.helpers.files import grey_png

    secret = tmp_path / "private" / "secret.png"
    grey_png(secret, 20, 10)
    ds = tmp_path / "data" / "ds"
    grey_png(ds / "own.png", 20, 10)
    box = [1, 1, 5, 5]
    if fmt == "coco":
        data = {"images": [{"id": 1, "file_name": "own.png", "width": 20, "height": 10},
                           {"id": 2, "file_name": "../../private/secret.png", "width": 20, "height": 10}],
                "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": box} for i in (1, 2)],
                "categories": [{"id": 1, "name": "cat"}]}
        (ds / "annotations.json").write_text(json.dumps(data))
    elif fmt == "voc":
        for name, path in (("own", "own.png"), ("secret", str(secret))):
            (ds / "Annotations").mkdir(exist_ok=True)
            (ds / "Annotations" / f"{name}.xml").write_text(
                f"<annotation><filename>{Path(path).name}</filename><path>{path}</path>"
                "<size><width>20</width><height>10</height><depth>3</depth></size><object><name>cat</name>"
                "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>")
    else:
        for name, path in (("own", "own.png"), ("secret", str(secret))):
            (ds / f"{name}.json").write_text(json.dumps({
                "version": "5.0.1", "flags": {}, "imagePath": path, "imageData": None, "imageHeight": 10,
                "imageWidth": 20, "shapes": [{"label": "cat", "points": [[1, 1], [5, 5]], "shape_type": "rectangle",
                                              "group_id": None, "flags": {}}]}))
    out = tmp_path / "out"
    assert main(["convert", str(ds), "--from", fmt, "--to", "yolo", str(out), mode]) == 0
    text = capsys.readouterr().out
    assert "secret.png: outside" in text and "--allow-outside" in text and "wrote 1 images" in text
    assert sorted(p.name for p in out.rglob("*.png")) == ["own.png"]
    out2 = tmp_path / "out2"
    assert main(["convert", str(ds), "--from", fmt, "--to", "yolo", str(out2), mode, "--allow-outside"]) == 0
    names = sorted(p.name for p in out2.rglob("*.png"))
    assert len(names) == 2 and names[0] == "own.png" and names[1].endswith("secret.png")


def test_export_of_a_crafted_project_store_leaves_outside_files_out(project_dir: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A project database whose record names ../private/secret.png (crafted, or copied from
    elsewhere): `export` leaves that file out of OUT and lists it, rather than copying it in."""
    import sqlite3

    from detector_app.app.store import DB_NAME, STORE_DIR
    from tests.helpers.files import grey_png

    secret = project_dir.parent / "private" / "secret.png"
    grey_png(secret, 20, 10)
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.ensure_size("img1.png")
        store.add_annotation("img1.png", Annotation(Box(1, 1, 9, 9), "cat"))
    rec = {"path": "../private/secret.png", "width": 20, "height": 10, "state": "edited",
           "annotations": [{"box": [1, 1, 5, 5], "label": "cat", "source": "manual", "id": "s1"}]}
    db = sqlite3.connect(str(project_dir / STORE_DIR / DB_NAME))
    with db:
        db.execute("INSERT INTO records VALUES (?, ?)", ("../private/secret.png", json.dumps(rec)))
    db.close()
    out = tmp_path / "out"
    assert main(["export", str(project_dir), str(out), "--format", "coco"]) == 0
    text = capsys.readouterr().out
    assert "secret.png: outside" in text and "wrote 1 images" in text
    assert not any("secret" in p.name for p in out.rglob("*"))


@pytest.mark.parametrize(("fmt", "layout"), [("coco", []), ("coco", ["--coco-layout", "flat"]), ("voc", []),
                                             ("yolo", []), ("yolo", ["--yolo-layout", "darknet"])])
def test_only_colliding_names_are_renamed_and_the_mapping_is_written(
        project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, layout: list[str]) -> None:
    """Image names are kept; two images of the same name get their folders as a prefix, and
    renamed.json maps each new name (its path in the export) to the original; the summary says so."""
    from tests.helpers.files import grey_png

    grey_png(project_dir / "a" / "img1.png", 50, 40)
    with ProjectStore(project_dir, autosave_interval=None) as store:
        for key, box in (("img1.png", (1, 1, 20, 20)), ("a/img1.png", (2, 2, 30, 30)), ("img2.png", (3, 3, 9, 9))):
            store.ensure_size(key)
            store.add_annotation(key, Annotation(Box(*box), "cat"))
    out = tmp_path / "out"
    assert main(["export", str(project_dir), str(out), "--format", fmt, *layout]) == 0
    text = capsys.readouterr().out
    assert "1 images renamed (new name -> original in renamed.json)" in text
    renamed = json.loads((out / "renamed.json").read_text())
    (new,) = renamed  # img1.png keeps its name (no folder to tell it apart), a/img1.png gets its folder
    assert Path(new).name == "a__img1.png" and renamed[new] == "a/img1.png" and (out / new).is_file()
    ds = load_dataset(out)  # renamed.json is not taken for an annotation file
    assert ds.format == fmt
    by_name = {Path(r.path).name: r for r in ds.images}
    assert sorted(by_name) == ["a__img1.png", "img1.png", "img2.png"]  # the others keep their names
    for name, want in (("a__img1.png", (2, 2, 30, 30)), ("img1.png", (1, 1, 20, 20))):
        assert by_name[name].annotations[0].box.to_tuple() == pytest.approx(want, abs=1e-6)
    # no collision, no mapping
    assert main(["export", str(project_dir), str(tmp_path / "one"), "--format", fmt, *layout, "--verified-only"]) == 2
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.set_state("img2.png", ItemState.VERIFIED)
        store.set_state("a/img1.png", ItemState.VERIFIED)
    capsys.readouterr()
    assert main(["export", str(project_dir), str(tmp_path / "one"), "--format", fmt, *layout, "--verified-only"]) == 0
    assert "renamed" not in capsys.readouterr().out and not (tmp_path / "one" / "renamed.json").exists()
    assert sorted(Path(r.path).name for r in load_dataset(tmp_path / "one").images) == ["img1.png", "img2.png"]


def test_convert_records_the_renamed_images_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.helpers.files import grey_png

    src = tmp_path / "src"
    for sub in ("x", "y"):
        grey_png(src / sub / "same.png", 30, 20)
    data = {"images": [{"id": 1, "file_name": "x/same.png", "width": 30, "height": 20},
                       {"id": 2, "file_name": "y/same.png", "width": 30, "height": 20}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
                            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [2, 2, 6, 6]}],
            "categories": [{"id": 1, "name": "cat"}]}
    (src / "annotations.json").write_text(json.dumps(data))
    assert main(["convert", str(src), str(tmp_path / "v"), "--to", "voc", "--copy"]) == 0
    assert "2 images renamed" in capsys.readouterr().out
    assert json.loads((tmp_path / "v" / "renamed.json").read_text()) == {
        "JPEGImages/x__same.png": "x/same.png", "JPEGImages/y__same.png": "y/same.png"}
    assert load_dataset(tmp_path / "v").format == "voc"
    # images referred to where they are keep their path: nothing renamed
    assert main(["convert", str(src), str(tmp_path / "r"), "--to", "coco", "--relative"]) == 0
    assert "renamed" not in capsys.readouterr().out and not (tmp_path / "r" / "renamed.json").exists()
