"""COCO in the layouts other tools write, read as they are: CVAT's "COCO 1.0"
(``annotations/instances_default.json`` + ``images/`` or ``images/default/``), the
COCO dataset's own (``annotations/instances_<split>2017.json`` + ``<split>2017/``),
several splits as one dataset, ``--images DIR`` for anything else; and exports read
by torchvision's ``CocoDetection`` / ``VOCDetection`` with the source's boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detector_app.cli import main
from detector_app.domain.errors import FormatError
from detector_app.formats import detect_format, load_dataset
from detector_app.media.images import write_image

#: (file name, width, height, [(category id, [x, y, w, h]), ...]) per image
IMAGES = {
    "train": [("a.jpg", 64, 48, [(1, [4, 5, 20, 10])]), ("b.jpg", 50, 40, [(2, [10, 10, 15, 25]), (1, [1, 1, 5, 5])])],
    "val": [("c.jpg", 64, 48, [(2, [30, 20, 12, 12])])],
}
CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]


def _instances(split: str) -> dict:
    images, anns = [], []
    for i, (name, w, h, boxes) in enumerate(IMAGES[split], start=1):
        images.append({"id": i, "file_name": name, "width": w, "height": h})
        for cid, bbox in boxes:
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": cid,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": anns, "categories": CATEGORIES}


def _layout(root: Path, image_dir: str, splits: tuple[str, ...] = ("train", "val"), json_split=lambda s: s) -> Path:
    """``root/annotations/instances_<json_split(split)>.json`` with the images in ``image_dir.format(split=...)``."""
    (root / "annotations").mkdir(parents=True)
    for split in splits:
        (root / "annotations" / f"instances_{json_split(split)}.json").write_text(json.dumps(_instances(split)))
        for name, w, h, _ in IMAGES[split]:
            path = root / image_dir.format(split=split, js=json_split(split)) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write_image(path, np.full((h, w, 3), 90, np.uint8))
    return root


def _boxes(ds) -> list[tuple[str, str, tuple[float, ...]]]:  # type: ignore[no-untyped-def]
    return sorted((Path(r.path).name, a.label, a.box.to_tuple()) for r in ds.images for a in r.annotations)


WANT = sorted((name, CATEGORIES[cid - 1]["name"], (float(x), float(y), float(x + w), float(y + h)))
              for split in IMAGES for name, _, _, boxes in IMAGES[split] for cid, (x, y, w, h) in boxes)


@pytest.mark.parametrize(("image_dir", "json_split"), [
    ("images/{split}", lambda s: s),       # CVAT "COCO 1.0" with subsets
    ("images", lambda s: s),               # CVAT, images not split into folders
    ("{js}", lambda s: f"{s}2017"),        # the COCO dataset: instances_train2017.json + train2017/
    ("annotations", lambda s: s),          # images beside the JSON
])
def test_standard_layouts_read_as_one_dataset_with_their_splits(tmp_path: Path, image_dir: str, json_split) -> None:  # type: ignore[no-untyped-def]
    root = _layout(tmp_path / "ds", image_dir, json_split=json_split)
    assert detect_format(root) == "coco"
    for given in (root, root / "annotations"):
        ds = load_dataset(given)
        assert ds.label_map.names == ["cat", "dog"]
        assert _boxes(ds) == WANT
        assert all((ds.root / r.path).is_file() for r in ds.images)
        assert {Path(r.path).name: ds.split[r.key] for r in ds.images} == {
            "a.jpg": json_split("train"), "b.jpg": json_split("train"), "c.jpg": json_split("val")}
    one = load_dataset(root / "annotations" / f"instances_{json_split('val')}.json")  # one split's file
    assert [Path(r.path).name for r in one.images] == ["c.jpg"] and (one.root / one.images[0].path).is_file()


def test_convert_reads_the_standard_layout_it_used_to_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`convert annotations/ --from coco` resolved file_name against annotations/ and exported nothing."""
    root = _layout(tmp_path / "ds", "images/{split}")
    assert main(["convert", str(root / "annotations"), "--from", "coco", "--to", "yolo", str(tmp_path / "y")]) == 0
    assert "wrote 3 images, 4 boxes" in capsys.readouterr().out
    got = _boxes(load_dataset(tmp_path / "y"))
    assert [b[:2] for b in got] == [b[:2] for b in WANT]  # the image names kept (no folder prefix)
    for (_, _, g), (_, _, w) in zip(got, WANT):
        assert g == pytest.approx(w, abs=1e-6)


def test_images_folder_given_for_any_other_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _layout(tmp_path / "ds", "pictures/{split}", splits=("train",))
    with pytest.raises(FormatError, match=r"instances_train\.json: its images are in none of .* --images DIR"):
        load_dataset(root)
    assert main(["convert", str(root), "--to", "coco", str(tmp_path / "x")]) == 2
    assert "--images DIR" in capsys.readouterr().err
    ds = load_dataset(root / "annotations" / "instances_train.json", images=root / "pictures" / "train")
    assert [b for b in _boxes(ds)] == [b for b in WANT if b[0] != "c.jpg"]
    assert main(["convert", str(root / "annotations" / "instances_train.json"), "--to", "voc",
                 str(tmp_path / "v"), "--images", str(root / "pictures" / "train"), "--copy"]) == 0
    with pytest.raises(FormatError, match="COCO only"):
        load_dataset(tmp_path / "v", images=root)


def test_exports_are_read_by_torchvisions_dataset_classes(tmp_path: Path) -> None:
    """COCO and VOC exports, as torchvision's CocoDetection and VOCDetection read them:
    the boxes of the source (VOC: integer pixel bounds, 1-based)."""
    from torchvision.datasets import CocoDetection, VOCDetection

    root = _layout(tmp_path / "ds", "images/{split}")
    assert main(["convert", str(root), "--to", "coco", str(tmp_path / "c"), "--copy", "--coco-layout", "flat"]) == 0
    coco = CocoDetection(str(tmp_path / "c"), str(tmp_path / "c" / "annotations.json"))
    got = []
    for i in range(len(coco)):
        image, targets = coco[i]
        name = Path(coco.coco.imgs[coco.ids[i]]["file_name"]).name
        assert image.size == {n: (w, h) for s in IMAGES.values() for n, w, h, _ in s}[name]
        names = {c["id"]: c["name"] for c in coco.coco.dataset["categories"]}
        got += [(name, names[t["category_id"]], tuple(float(v) for v in t["bbox"])) for t in targets]
    want = sorted((name, CATEGORIES[cid - 1]["name"], tuple(float(v) for v in bbox))
                  for s in IMAGES.values() for name, _, _, boxes in s for cid, bbox in boxes)
    assert sorted(got) == want
    assert main(["convert", str(root), "--to", "voc", str(tmp_path / "v"), "--copy"]) == 0
    devkit = tmp_path / "tv" / "VOCdevkit"
    devkit.mkdir(parents=True)
    (devkit / "VOC2012").symlink_to(tmp_path / "v", target_is_directory=True)
    voc = VOCDetection(str(tmp_path / "tv"), year="2012", image_set="trainval")
    assert len(voc) == 3
    got = []
    for i in range(len(voc)):
        _, target = voc[i]
        ann = target["annotation"]
        for obj in ann["object"]:
            b = obj["bndbox"]
            got.append((ann["filename"], obj["name"], tuple(int(b[k]) for k in ("xmin", "ymin", "xmax", "ymax"))))
    for name, label, (x1, y1, x2, y2) in WANT:
        assert (name, label, (int(x1) + 1, int(y1) + 1, int(x2), int(y2))) in got


@pytest.mark.parametrize("split", [None, "0.5"])
def test_export_in_the_standard_layout_reads_back_and_loads_in_torchvision(tmp_path: Path, split: str | None,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`--coco-layout standard`: annotations/instances_<split>.json with the images in
    images/<split>/ and bare file names (CVAT's "COCO 1.0"), "default" without a split."""
    from pycocotools.coco import COCO
    from torchvision.datasets import CocoDetection

    root = _layout(tmp_path / "ds", "images/{split}")
    out = tmp_path / "std"
    argv = ["convert", str(root), "--to", "coco", str(out), "--coco-layout", "standard"]
    assert main(argv + (["--split", split, "--seed", "3"] if split else [])) == 0
    capsys.readouterr()
    parts = ["train", "val"] if split else ["default"]
    assert sorted(p.name for p in (out / "annotations").iterdir()) == sorted(f"instances_{p}.json" for p in parts)
    n = 0
    for part in parts:
        ann = out / "annotations" / f"instances_{part}.json"
        coco = COCO(str(ann))
        assert all("/" not in im["file_name"] for im in coco.dataset["images"])
        tv = CocoDetection(str(out / "images" / part), str(ann))
        for i in range(len(tv)):
            image, _ = tv[i]
            assert image.size[0] > 0
        n += len(tv)
    assert n == 3
    back = load_dataset(out)
    assert _boxes(back) == WANT and set(back.split.values()) == set(parts)
    with pytest.raises(SystemExit):
        main(["convert", str(root), "--to", "coco", str(tmp_path / "bad"), "--coco-layout", "nope"])
    assert main(["convert", str(root), "--to", "coco", str(tmp_path / "rel"), "--coco-layout", "standard",
                 "--relative"]) == 2
    assert "use copy or symlink" in capsys.readouterr().err
