"""Small valid datasets of every format, made from one project by the app's own exporter
(COCO standard and flat, Pascal VOC, YOLO Ultralytics and Darknet) plus LabelMe files
written by hand (the app imports LabelMe but does not write it): what the mutation and
path probes start from. Each case copies one (a few KB) next to a ``private/`` folder
holding files that must never reach an output."""

from __future__ import annotations

import json
import os
import secrets as _secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from scripts.adversarial.common import write_image

#: Base dataset name -> (format given to ``--from``, the ``--to`` of its convert case).
BASES: dict[str, tuple[str, str]] = {
    "coco": ("coco", "voc"),
    "coco_flat": ("coco", "yolo"),
    "voc": ("voc", "yolo"),
    "yolo": ("yolo", "coco"),
    "darknet": ("yolo", "voc"),
    "labelme": ("labelme", "coco"),
}
LABELS = ("cat", "dog")
IMAGES = [("img0.png", 64, 48), ("img1.png", 48, 64), ("img2.jpg", 64, 48), ("sub/img3.png", 40, 40)]


def make_project(root: Path) -> Path:
    """A project folder: four small images, each with two boxes, reviewed."""
    from detector_app.app.store import ProjectStore
    from detector_app.domain import Annotation, Box, ItemState

    for i, (name, w, h) in enumerate(IMAGES):
        write_image(root / name, w, h, seed=i)
    with ProjectStore(root, autosave_interval=None) as store:
        for i, (name, w, h) in enumerate(IMAGES):
            store.ensure_size(name)
            store.add_annotation(name, Annotation(Box(2, 3, w / 2, h / 2), LABELS[i % 2]))
            store.add_annotation(name, Annotation(Box(w / 3, h / 3, w - 1, h - 2), LABELS[(i + 1) % 2]))
            store.set_state(name, ItemState.VERIFIED if i % 2 else ItemState.EDITED)
    return root


def make_bases(work: Path) -> dict[str, Path]:
    """Every base dataset under ``work/bases/``; returns name -> folder."""
    from detector_app.app.export import ExportOptions, export_dataset
    from detector_app.app.store import ProjectStore

    shutil.rmtree(work, ignore_errors=True)
    project = make_project(work / "project")
    bases = work / "bases"
    out: dict[str, Path] = {}
    with ProjectStore(project, read_only=True, autosave_interval=None) as store:
        for name, fmt, options in (
            ("coco", "coco", ExportOptions(coco_layout="standard")),
            ("coco_flat", "coco", ExportOptions(coco_layout="flat")),
            ("voc", "voc", ExportOptions()),
            ("yolo", "yolo", ExportOptions()),
            ("darknet", "yolo", ExportOptions(yolo_layout="darknet")),
        ):
            out[name] = export_dataset(store, fmt, bases / name, options).out_dir
        labelme = bases / "labelme"
        for rec in store.records():
            image = labelme / Path(rec.path).name
            image.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(project / rec.path, image)
            shapes = [{"label": a.label, "points": [[a.box.x1, a.box.y1], [a.box.x2, a.box.y2]],
                       "shape_type": "rectangle", "group_id": None, "flags": {}} for a in rec.annotations]
            doc = {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": image.name, "imageData": None,
                   "imageHeight": rec.height, "imageWidth": rec.width}
            image.with_suffix(".json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
        out["labelme"] = labelme
    return out


@dataclass
class CaseDir:
    """``root/ds`` (the dataset copy), ``root/private`` (what must not leak), ``root/out``."""

    root: Path
    ds: Path
    private: Path
    token: str

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def secret_png(self) -> Path:
        return self.private / "secret.png"

    @property
    def secret_txt(self) -> Path:
        return self.private / "secret.txt"

    def secrets(self) -> dict[str, Path]:
        return {"private/secret.png": self.secret_png, "private/sub/secret2.jpg": self.private / "sub" / "secret2.jpg"}


def case_dir(root: Path, base: Path) -> CaseDir:
    """A fresh copy of ``base`` at ``root/ds`` with the private files beside it. The secret
    text has as many lines as the datasets have classes (a class list swapped for it fits)."""
    if root.exists():
        shutil.rmtree(root)
    ds = root / "ds"
    shutil.copytree(base, ds, symlinks=True)
    private = root / "private"
    token = f"SECRETTOKEN{_secrets.token_hex(4)}"
    write_image(private / "secret.png", 64, 48, seed=99)  # img0's size: a swapped reference fits its boxes
    write_image(private / "sub" / "secret2.jpg", 64, 48, seed=98)
    (private / "secret.txt").write_text("".join(f"{token}_{i}\n" for i in range(len(LABELS))), encoding="utf-8")
    return CaseDir(root, ds, private, token)


def token_in_tree(folder: Path, token: str) -> list[str]:
    """Files under ``folder`` whose bytes hold ``token``."""
    found = []
    if not folder.exists():
        return found
    needle = token.encode()
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink() and p.stat().st_size < 20_000_000 and needle in p.read_bytes():
            found.append(str(p.relative_to(folder)))
    return found


def project_records_outside(project: Path, token: str) -> list[str]:
    """Records of ``project``'s store naming a path outside it, and labels holding ``token``."""
    import sqlite3

    db_path = project / ".detector_app" / "project.sqlite"
    if not db_path.is_file():
        return []
    problems = []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        ok = db.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            problems.append(f"integrity_check: {ok}")
        real_root = os.path.realpath(project)
        for key, _data in db.execute("SELECT key, data FROM records"):
            path = key.split("#")[0]
            real = os.path.realpath(os.path.join(project, path))
            if path.startswith(("/", "../")) or "/../" in path or path == ".." or not real.startswith(real_root + "/"):
                problems.append(f"record {key!r:.80} outside the project")
        for (value,) in db.execute("SELECT value FROM meta WHERE key = 'labels'"):
            if token in value:
                problems.append("the secret file's lines became labels")
    finally:
        db.close()
    return problems
