"""Importing a dataset's boxes into a project, and the project as a Dataset."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector_app.app.dataset_io import import_annotations, project_as_dataset
from detector_app.app.export import ExportOptions, export_dataset
from detector_app.app.store import ProjectStore
from detector_app.domain import Annotation, Box, ItemState
from detector_app.domain.errors import FormatError


def _coco(project_dir: Path, tmp_path: Path) -> Path:
    data = {
        "images": [{"id": 1, "file_name": "img1.png", "width": 60, "height": 40},
                   {"id": 2, "file_name": "../elsewhere.png", "width": 10, "height": 10}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20]},
                        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    path = project_dir / "gt.json"
    path.write_text(json.dumps(data))
    return path


def test_import_replace_and_append(project_dir: Path, tmp_path: Path) -> None:
    gt = _coco(project_dir, tmp_path)
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.add_annotation("img1.png", Annotation(Box(30, 5, 40, 15), "dog"))
        store.set_state("img1.png", ItemState.VERIFIED)
        result = import_annotations(store, gt, mode="append")
        assert (result.images, result.annotations) == (1, 1) and len(result.skipped) == 1
        rec = store.record("img1.png")
        assert [a.label for a in rec.annotations] == ["dog", "cat"] and rec.state is ItemState.VERIFIED
        import_annotations(store, gt)  # replace
        assert [a.box for a in store.record("img1.png").annotations] == [Box(1, 2, 11, 22)]
        assert store.label_map.names == ["dog", "cat"]


def test_import_bad_file_changes_nothing(project_dir: Path) -> None:
    (project_dir / "bad.json").write_text('{"images": [{"id": 1}]}')
    with ProjectStore(project_dir, autosave_interval=None) as store:
        seq = store.seq
        with pytest.raises(FormatError, match="missing key 'file_name'"):
            import_annotations(store, project_dir / "bad.json")
        assert store.seq == seq


def test_export_then_import_round_trip(project_dir: Path, tmp_path: Path) -> None:
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.ensure_size("img2.png")
        store.add_annotation("img2.png", Annotation(Box(5, 5, 50, 25), "emu"))
        ds = project_as_dataset(store)
        assert [r.path for r in ds.images] == ["img2.png"]
        export_dataset(store, "voc", tmp_path / "voc_out", ExportOptions(image_mode="relative"))
        store.set_annotations("img2.png", [])
        result = import_annotations(store, tmp_path / "voc_out")
        assert (result.images, result.skipped) == (1, [])  # the XML points at the original image
        assert [(a.box, a.label) for a in store.record("img2.png").annotations] == [(Box(5, 5, 50, 25), "emu")]


# -- a failed import changes nothing ---------------------------------------------------
def _stored(root: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The store's rows, as saved (records and meta), for byte-for-byte comparison."""
    import sqlite3

    from detector_app.app.store import DB_NAME, STORE_DIR

    db = sqlite3.connect(str(root / STORE_DIR / DB_NAME))
    try:
        return (sorted(db.execute("SELECT key, data FROM records")), sorted(db.execute("SELECT key, value FROM meta")))
    finally:
        db.close()


def _state(store: ProjectStore) -> tuple:  # type: ignore[type-arg]
    return ([r.to_dict() for r in store.records()], list(store.label_map.names), store.seq, store.dirty)


def _voc_xml(image: str, box: str, size: tuple[int, int] = (60, 40)) -> str:
    return (f"<annotation><filename>{image}</filename><path>../{image}</path><size><width>{size[0]}</width>"
            f"<height>{size[1]}</height></size><object><name>emu</name><bndbox>{box}</bndbox></object></annotation>")


def _dataset_in(root: Path, fmt: str, bad: bool) -> tuple[Path, str]:
    """A dataset of ``fmt`` annotating img1.png and img2.png of the project (60x40, 80x30);
    with ``bad``, its second file is malformed. Returns (path, what the error names)."""
    from tests.helpers.files import labelme_json

    if fmt == "coco":
        anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20]},
                {"id": 2, "image_id": 2, "category_id": 9 if bad else 1, "bbox": [3, 3, 10, 10]}]
        data = {"images": [{"id": 1, "file_name": "img1.png", "width": 60, "height": 40},
                           {"id": 2, "file_name": "img2.png", "width": 80, "height": 30}],
                "annotations": anns, "categories": [{"id": 1, "name": "emu"}]}
        (root / "gt.json").write_text(json.dumps(data))
        return root / "gt.json", r"gt\.json: annotation id 2.*unknown category_id 9"
    if fmt == "voc":
        (root / "voc").mkdir()
        (root / "voc" / "a.xml").write_text(
            _voc_xml("img1.png", "<xmin>2</xmin><ymin>3</ymin><xmax>11</xmax><ymax>22</ymax>")
        )
        xmin = "ten" if bad else "4"
        (root / "voc" / "b.xml").write_text(
            _voc_xml("img2.png", f"<xmin>{xmin}</xmin><ymin>4</ymin><xmax>13</xmax><ymax>13</ymax>", (80, 30)))
        return root / "voc", r"b\.xml: <object> #1/<bndbox>/<xmin>: not a number: 'ten'"
    if fmt == "yolo":
        (root / "yolo").mkdir()
        (root / "yolo" / "classes.txt").write_text("emu\n")
        (root / "yolo" / "img1.txt").write_text(f"0 0.1 0.3 {10 / 60!r} 0.5\n")  # (1, 2, 11, 22) on 60x40
        (root / "yolo" / "img2.txt").write_text(f"0 0.1 {8 / 30!r} 0.125 {10 / 30!r}\n"  # (3, 3, 13, 13) on 80x30
                                                + ("0 1.5 0.5 0.1 0.1\n" if bad else ""))
        import shutil

        for name in ("img1.png", "img2.png"):  # YOLO labels sit beside their images
            shutil.copy(root / name, root / "yolo" / name)
        return root / "yolo", r"img2\.txt:2: cx=1\.5 is outside 0\.\.1"
    (root / "lm").mkdir()
    (root / "lm" / "a.json").write_text(labelme_json("../img1.png", 60, 40, [("emu", [[1, 2], [11, 22]])]))
    shapes = "oops" if bad else [("emu", [[3, 3], [13, 13]])]
    (root / "lm" / "b.json").write_text(labelme_json("../img2.png", 80, 30, shapes))
    return root / "lm", r"b\.json: 'shapes' must be a list"


FORMATS = ["coco", "voc", "yolo", "labelme"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_malformed_file_of_each_format_changes_nothing(project_dir: Path, fmt: str) -> None:
    path, expected = _dataset_in(project_dir, fmt, bad=True)
    with ProjectStore(project_dir, autosave_interval=0.01) as store:
        store.ensure_size("img1.png")
        store.add_annotation("img1.png", Annotation(Box(30, 5, 40, 15), "dog"))
        store.flush()
        before, saved = _state(store), _stored(project_dir)
        with pytest.raises(FormatError, match=expected):
            import_annotations(store, path, fmt)
        assert _state(store) == before
        time.sleep(0.05)
        assert _stored(project_dir) == saved  # nothing written either


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_each_format_into_the_project(project_dir: Path, fmt: str) -> None:
    path, _ = _dataset_in(project_dir, fmt, bad=False)
    with ProjectStore(project_dir, autosave_interval=None) as store:
        result = import_annotations(store, path, fmt)
        assert (result.images, result.annotations) == (2, 2) and store.label_map.names == ["emu"]
        keys = [("yolo/" if fmt == "yolo" else "") + k for k in ("img1.png", "img2.png")]  # YOLO: its own copies
        boxes = [store.record(k).annotations[0].box.to_tuple() for k in keys]
        assert boxes == [pytest.approx((1, 2, 11, 22)), pytest.approx((3, 3, 13, 13))]
        assert all(store.record(k).state is ItemState.EDITED for k in keys)
    with ProjectStore(project_dir, autosave_interval=None) as again:  # saved
        assert len(again.record(keys[1]).annotations) == 1


def test_box_outside_the_real_image_fails_before_any_edit(project_dir: Path) -> None:
    """The dataset gives no size (VOC 0x0); img2.png is 80x30 and the box lies beyond it:
    detected while planning, so img1.png (earlier in the file) is not touched either."""
    (project_dir / "voc").mkdir()
    (project_dir / "voc" / "a.xml").write_text(
        _voc_xml("img1.png", "<xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax>", (0, 0)))
    (project_dir / "voc" / "b.xml").write_text(
        _voc_xml("img2.png", "<xmin>200</xmin><ymin>1</ymin><xmax>300</xmax><ymax>10</ymax>", (0, 0)))
    with ProjectStore(project_dir, autosave_interval=None) as store:
        before = _state(store)
        with pytest.raises(FormatError, match=r"voc: image \.\./img2\.png, box #1 \(emu\): .*outside the 80x30 image"):
            import_annotations(store, project_dir / "voc")
        assert _state(store) == before


def test_cancel_changes_nothing(project_dir: Path) -> None:
    import threading

    from detector_app.domain.errors import Cancelled

    path, _ = _dataset_in(project_dir, "coco", bad=False)
    cancel = threading.Event()

    def progress(p):  # type: ignore[no-untyped-def]
        if p.done == 1:
            cancel.set()

    with ProjectStore(project_dir, autosave_interval=None) as store:
        before = _state(store)
        with pytest.raises(Cancelled):
            import_annotations(store, path, progress=progress, cancel=cancel)
        assert _state(store) == before


def test_size_mismatch_is_skipped_not_trusted(project_dir: Path) -> None:
    """A dataset that says img2.png is 160x60 (it is 80x30): its boxes are in another
    frame, so that image is skipped and listed; the project keeps the real size."""
    data = {"images": [{"id": 1, "file_name": "img1.png", "width": 60, "height": 40},
                       {"id": 2, "file_name": "img2.png", "width": 160, "height": 60}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20]},
                            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [100, 3, 50, 50]}],
            "categories": [{"id": 1, "name": "emu"}]}
    (project_dir / "gt.json").write_text(json.dumps(data))
    with ProjectStore(project_dir, autosave_interval=None) as store:
        result = import_annotations(store, project_dir / "gt.json")
        assert result.images == 1 and len(result.skipped) == 1
        assert "img2.png: the dataset says 160x60, the image is 80x30" in result.skipped[0]
        assert not store.has("img2.png") or store.record("img2.png").annotations == []
        assert (store.record("img1.png").width, store.record("img1.png").height) == (60, 40)


# -- a project's boxes: export then import, for every format (property) --------------------
_SIZES = {"a.png": (61, 40), "sub/b.png": (33, 77), "c.png": (5, 9)}


@st.composite
def _project_boxes(draw: st.DrawFn) -> dict[str, list[tuple[str, tuple[float, float, float, float], bool]]]:
    """Per image: (label, box, from the model) with boxes on a 1/64-pixel grid, some partly outside."""
    out = {}
    for path, (w, h) in _SIZES.items():
        boxes = []
        for _ in range(draw(st.integers(0, 3))):
            x1 = draw(st.integers(-64, (w - 1) * 64)) / 64
            y1 = draw(st.integers(-64, (h - 1) * 64)) / 64
            x2 = draw(st.integers(max(int(x1 * 64) + 64, 1), (w + 2) * 64)) / 64
            y2 = draw(st.integers(max(int(y1 * 64) + 64, 1), (h + 2) * 64)) / 64
            boxes.append((draw(st.sampled_from(["cat", "dog", "a: \"b\" #c"])), (x1, y1, x2, y2), draw(st.booleans())))
        out[path] = boxes
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_project_boxes())
def test_project_export_then_import_equal_within_rounding(boxes: dict) -> None:  # type: ignore[type-arg]
    """COCO: exact; VOC: within 1 px (integer boxes exact); YOLO: within 1e-6 of the image
    size. COCO and VOC (images referred to where they are) import straight back into the
    project; YOLO (images copied beside the labels) is read back with load_dataset."""
    import shutil
    import tempfile

    from detector_app.app.export import ExportOptions, export_dataset
    from detector_app.domain import AnnotationSource
    from detector_app.formats import load_dataset
    from tests.helpers.files import grey_png

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "p"
        for path, (w, h) in _SIZES.items():
            grey_png(root / path, w, h)
        with ProjectStore(root, autosave_interval=None) as store:
            want: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
            for path, anns in boxes.items():
                store.ensure_size(path)
                for label, box, model in anns:
                    source = AnnotationSource.MODEL if model else AnnotationSource.MANUAL
                    store.add_annotation(path, Annotation(Box(*box), label, source, 0.5 if model else None))
                store.set_state(path, ItemState.VERIFIED)  # verified: model boxes are exported too
                want[path] = [(a.label, a.box.to_tuple()) for a in store.record(path).annotations]  # clipped
            originals = {p: list(store.record(p).annotations) for p in _SIZES}
            for fmt, tol in (("coco", 0.0), ("voc", 1.0), ("yolo", 1e-6)):
                out = Path(tmp) / fmt
                mode = "copy" if fmt == "yolo" else "relative"
                export_dataset(store, fmt, out, ExportOptions(image_mode=mode, coco_layout="flat"))
                if fmt == "yolo":
                    ds = load_dataset(out)
                    got = {Path(r.path).stem: [(a.label, a.box.to_tuple()) for a in r.annotations] for r in ds.images}
                    got = {p: got[Path(p).stem] for p in _SIZES}  # names kept: no two stems collide here
                else:
                    for path in _SIZES:
                        store.set_annotations(path, [])
                    result = import_annotations(store, out)
                    assert result.images == len(_SIZES) and not result.skipped
                    got = {p: [(a.label, a.box.to_tuple()) for a in store.record(p).annotations] for p in _SIZES}
                for path, (w, h) in _SIZES.items():
                    assert [g[0] for g in got[path]] == [x[0] for x in want[path]], (fmt, path)
                    for (_, g), (_, x) in zip(got[path], want[path]):
                        scale = (w, h, w, h) if fmt == "yolo" else (1, 1, 1, 1)
                        assert all(abs(a - b) <= tol * s for a, b, s in zip(g, x, scale)), (fmt, path, g, x)
                        if fmt == "voc" and all(v == int(v) for v in x):
                            assert g == x
                shutil.rmtree(out)
                for path, anns in originals.items():  # an import replaced them with the rounded ones
                    store.set_annotations(path, anns)


def test_every_edit_of_an_import_is_inside_one_batch(project_dir: Path) -> None:
    """The import's edits are made holding the batch (the autosaver's lock), so they are
    committed together; nothing is edited outside it."""
    path, _ = _dataset_in(project_dir, "coco", bad=False)
    with ProjectStore(project_dir, autosave_interval=0.01) as store:
        entered: list[str] = []
        real_batch = store.batch

        def batch():  # type: ignore[no-untyped-def]
            entered.append("batch")
            return real_batch()

        store.batch = batch  # type: ignore[method-assign]
        inside: list[bool] = []
        store.subscribe(lambda event: inside.append(store._db_lock.locked()))
        import_annotations(store, path)
        assert entered == ["batch"] and len(inside) >= 5 and all(inside)


def test_scored_boxes_of_another_tool_import_as_a_persons_and_export(project_dir: Path, tmp_path: Path) -> None:
    """A COCO file with a score on each box (no source attribute): the boxes import as a
    person's boxes, score kept. (As "model" boxes, the default export would leave them out
    on unverified images and write the image with no boxes: an empty negative.)"""
    from detector_app.domain import AnnotationSource

    data = {"images": [{"id": 1, "file_name": "img1.png", "width": 60, "height": 40}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "score": 0.9}],
            "categories": [{"id": 1, "name": "cat"}]}
    (project_dir / "scored.json").write_text(json.dumps(data))
    with ProjectStore(project_dir, autosave_interval=None) as store:
        import_annotations(store, project_dir / "scored.json")
        (ann,) = store.record("img1.png").annotations
        assert ann.source is AnnotationSource.MANUAL and ann.score == pytest.approx(0.9)
        result = export_dataset(store, "coco", tmp_path / "out",
                                ExportOptions(image_mode="relative", coco_layout="flat"))
    assert (result.images, result.annotations) == (1, 1)


def test_export_leaves_out_an_image_whose_boxes_are_all_unverified_model_boxes(project_dir: Path,
                                                                             tmp_path: Path) -> None:
    from detector_app.domain import AnnotationSource

    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.ensure_size("img1.png")
        store.ensure_size("img2.png")
        store.add_annotation("img1.png", Annotation(Box(1, 1, 9, 9), "cat", AnnotationSource.MODEL, 0.8))
        store.add_annotation("img2.png", Annotation(Box(1, 1, 9, 9), "cat"))
        result = export_dataset(store, "coco", tmp_path / "out",
                                ExportOptions(image_mode="relative", coco_layout="flat"))
        assert (result.images, result.annotations) == (1, 1)  # img1 is not written as an empty image
        assert result.skipped[0].startswith("img1.png: only unverified model boxes")
        coco = json.loads((tmp_path / "out" / "annotations.json").read_text())
        assert [Path(im["file_name"]).name for im in coco["images"]] == ["img2.png"]
        store.set_state("img1.png", ItemState.VERIFIED)  # verifying confirms them
        again = export_dataset(store, "coco", tmp_path / "out2",
                               ExportOptions(image_mode="relative", coco_layout="flat"))
        assert (again.images, again.annotations, again.skipped) == (2, 2, [])


def test_import_that_skips_every_image_adds_no_labels(project_dir: Path) -> None:
    data = {"images": [{"id": 1, "file_name": "../elsewhere.png", "width": 10, "height": 10}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}],
            "categories": [{"id": 1, "name": "zebra"}]}
    (project_dir / "other.json").write_text(json.dumps(data))
    with ProjectStore(project_dir, autosave_interval=None) as store:
        result = import_annotations(store, project_dir / "other.json")
        assert result.images == 0 and len(result.skipped) == 1
        assert "zebra" not in store.label_map.names
