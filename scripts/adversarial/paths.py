"""Probe (e): path tricks for ``convert``, ``export`` and ``import``.

Symbolic links leading out of a dataset or project (a file, a folder), ``..`` and absolute
references (annotation files, ``data.yaml``'s ``path:``, a crafted project store), NUL bytes,
names at and over the file system's 255-byte limit, and an output folder that is the source
or holds it. Pass: exit 0 or one error line; nothing from ``private/`` (beside the dataset)
in the output or the project unless ``--allow-outside`` was given (then it must be there:
the flag works); nothing written outside the output; the source never deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from scripts.adversarial.common import (
    Case,
    cli_problems,
    files_reaching_outside,
    first_line,
    run_cli,
    tree_digest,
    write_image,
)
from scripts.adversarial.datasets import CaseDir, case_dir, make_project, project_records_outside, token_in_tree
from scripts.adversarial.files import _fix_yolo_path, run_case


def _coco_flat(c: CaseDir, edit: Callable[[dict], None]) -> None:
    p = c.ds / "annotations.json"
    data = json.loads(p.read_text(encoding="utf-8"))
    edit(data)
    p.write_text(json.dumps(data), encoding="utf-8")


def _link_image_out(c: CaseDir) -> None:
    """images/img0.png becomes a link to private/secret.png (same size: the boxes fit)."""
    img = c.ds / "images" / "img0.png"
    img.unlink()
    img.symlink_to(os.path.relpath(c.secret_png, img.parent))


def _link_folder_out(c: CaseDir) -> None:
    """images/ becomes a link to private/; img0 is named secret.png there."""
    shutil.rmtree(c.ds / "images")
    (c.ds / "images").symlink_to(os.path.relpath(c.private, c.ds))
    _coco_flat(c, lambda d: d["images"][0].update(file_name="images/secret.png"))


def _link_annotations_out(c: CaseDir) -> None:
    """annotations.json is a link to a file in private/ naming private/secret.png beside it."""
    outside = c.private / "annotations.json"
    data = json.loads((c.ds / "annotations.json").read_text(encoding="utf-8"))
    data["images"][0]["file_name"] = "secret.png"
    outside.write_text(json.dumps(data), encoding="utf-8")
    (c.ds / "annotations.json").unlink()
    (c.ds / "annotations.json").symlink_to(outside)


def _yolo_path_out(c: CaseDir) -> None:
    """data.yaml's ``path:`` names private/, whose images are then the dataset's."""
    c.secret_txt.rename(c.private / "secret.md")  # (not read as secret.png's label file)
    y = c.ds / "data.yaml"
    text = "".join(ln + "\n" for ln in y.read_text(encoding="utf-8").splitlines()
                   if not ln.startswith(("path:", "train:", "val:")))
    y.write_text(f"path: {json.dumps(str(c.private))}\ntrain: .\nval: .\n" + text, encoding="utf-8")


def _yolo_path_up(c: CaseDir) -> None:
    c.secret_txt.rename(c.private / "secret.md")
    y = c.ds / "data.yaml"
    text = "".join(ln + "\n" for ln in y.read_text(encoding="utf-8").splitlines()
                   if not ln.startswith(("path:", "train:", "val:")))
    y.write_text("path: ../private\ntrain: .\nval: .\n" + text, encoding="utf-8")


def _long_names(c: CaseDir) -> None:
    """Two images named with 250 bytes, in two folders (their export names collide)."""
    name = "n" * 246 + ".png"
    for sub in ("a", "b"):
        write_image(c.ds / "images" / sub / name, 64, 48, seed=5)

    def edit(d: dict) -> None:
        d["images"][0]["file_name"] = f"images/a/{name}"
        d["images"][1].update(file_name=f"images/b/{name}", width=64, height=48)
        for a in d["annotations"]:
            if a["image_id"] == d["images"][1]["id"]:
                a["bbox"] = [1, 1, 10, 10]
    _coco_flat(c, edit)


def _name_255(c: CaseDir) -> None:
    """One image named with exactly 255 bytes (the limit; its export name is too)."""
    name = "m" * 251 + ".png"
    shutil.move(c.ds / "images" / "img0.png", c.ds / "images" / name)
    _coco_flat(c, lambda d: d["images"][0].update(file_name=name))


def _unicode_names(c: CaseDir) -> None:
    """Names that look alike: NFC and NFD, a right-to-left override, a leading dash, a newline."""
    for i, name in enumerate(["caf\u00e9.png", "cafe\u0301.png", "\u202egnp.png", "-rf.png", "new\nline.png"]):
        write_image(c.ds / "images" / name, 64, 48, seed=20 + i)

    def edit(d: dict) -> None:
        base = dict(d["images"][0])
        first = d["annotations"][0]
        for i, name in enumerate(["caf\u00e9.png", "cafe\u0301.png", "\u202egnp.png", "-rf.png", "new\nline.png"]):
            d["images"].append({**base, "id": 100 + i, "file_name": name})
            d["annotations"].append({**first, "id": 100 + i, "image_id": 100 + i})
    _coco_flat(c, edit)


DATASET_CASES: list[tuple[str, str, Callable[[CaseDir], None], str, str]] = [
    # (name, base, trick, --from, --to)
    ("image file symlinked out", "coco_flat", _link_image_out, "coco", "yolo"),
    ("images folder symlinked out", "coco_flat", _link_folder_out, "coco", "yolo"),
    ("annotation file symlinked out", "coco_flat", _link_annotations_out, "coco", "yolo"),
    ("data.yaml path: the private folder", "yolo", _yolo_path_out, "yolo", "coco"),
    ("data.yaml path: ../private", "yolo", _yolo_path_up, "yolo", "coco"),
    ("two 250-byte names colliding", "coco_flat", _long_names, "coco", "yolo"),
    ("a 255-byte name", "coco_flat", _name_255, "coco", "voc"),
    ("look-alike and odd names", "coco_flat", _unicode_names, "coco", "yolo"),
]


def _craft_project(root: Path, c: CaseDir, trick: str) -> None:
    """Add a hostile record (or link) to the project at ``root``."""
    if trick == "link":
        (root / "linked.png").symlink_to(c.secret_png)
        path = "linked.png"
    elif trick == "folder link":
        (root / "album").symlink_to(c.private)
        path = "album/secret.png"
    else:
        path = {"..": os.path.relpath(c.secret_png, root), "absolute": str(c.secret_png),
                "NUL": "img0\x00.png", "long": "l" * 300 + ".png"}[trick]
    rec = {"path": path, "width": 64, "height": 48, "state": "verified",
           "annotations": [{"box": [1, 1, 9, 9], "label": "cat", "source": "manual", "id": "evil1"}]}
    db = sqlite3.connect(str(root / ".detector_app" / "project.sqlite"))
    with db:
        db.execute("INSERT OR REPLACE INTO records VALUES (?, ?)", (path, json.dumps(rec)))
    db.close()


def _snapshot(folder: Path, skip: Path) -> str:
    """Digest of everything under ``folder`` except ``skip`` and export staging folders."""
    import hashlib

    h = hashlib.sha1()
    for p in sorted(folder.rglob("*")):
        if p == skip or skip in p.parents or p.name.startswith(f".{skip.name}.") or ".detector_app" in p.parts:
            continue
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


def probe_paths(work: Path, bases: dict[str, Path], quick: bool = False) -> list[Case]:
    cases: list[Case] = []
    probe = "path tricks"
    base_root = work / "paths"
    # 1. datasets with tricks: convert (copy and symlink, then --allow-outside) and import
    for i, (name, base, trick, src, dst) in enumerate(DATASET_CASES[: 3 if quick else None]):
        for mode in ("--copy", "--symlink"):
            c = case_dir(base_root / f"ds{i}{mode}", bases[base])
            _fix_yolo_path(c)
            trick(c)
            before = _snapshot(c.root, c.out)
            got = run_case(probe, f"{name} ({mode[2:]})", c, src, dst, extra=[mode], check_import=mode == "--copy")
            if _snapshot(c.root, c.out) != before:
                got[0].problems.append("files outside OUT changed")
            cases += got
    # 2. a project with a hostile record or link: export (copy, symlink; then --allow-outside)
    tricks = ["..", "absolute", "link", "folder link", "NUL", "long"]
    for i, trick in enumerate(tricks[: 2 if quick else None]):
        for fmt, mode in (("coco", "--copy"), ("yolo", "--symlink"), ("voc", "--relative")):
            root = base_root / f"proj{i}{fmt}"
            c = case_dir(root, bases["coco_flat"])  # for the private folder
            project = make_project(root / "project")
            _craft_project(project, c, trick)
            out = root / "out"
            o = run_cli(["export", str(project), str(out), "--format", fmt, mode])
            problems = cli_problems(o)
            if o.rc == 0 and mode != "--relative":
                problems += [f"outside: {p}" for p in files_reaching_outside(out, [project], c.secrets())]
            cases.append(Case(probe, f"project record {trick} | export {fmt} {mode[2:]}", problems, first_line(o)))
        if trick in ("..", "link"):  # the flag lets it out
            out = root / "out_allowed"
            o = run_cli(["export", str(project), str(out), "--format", "coco", "--allow-outside"])
            problems = cli_problems(o)
            if o.rc == 0 and not files_reaching_outside(out, [project], c.secrets()):
                problems.append("--allow-outside did not export the outside image")
            cases.append(Case(probe, f"project record {trick} | export --allow-outside", problems, first_line(o)))
    # 3. an import whose dataset names files outside the project (.., absolute, a link out)
    for i, trick in enumerate(["..", "absolute", "link"]):
        root = base_root / f"imp{i}"
        c = case_dir(root, bases["coco_flat"])
        if trick == "link":
            _link_image_out(c)
        else:
            ref = os.path.relpath(c.secret_png, c.ds / "images") if trick == ".." else str(c.secret_png)
            _coco_flat(c, lambda d, ref=ref: d["images"][0].update(file_name=ref))
        o = run_cli(["import", str(c.ds), str(c.ds)])
        problems = cli_problems(o) + project_records_outside(c.ds, c.token)
        cases.append(Case(probe, f"import of a dataset naming a file outside ({trick})", problems, first_line(o)))
    # 4. OUT is the source or holds it: --overwrite must never delete the source
    for i, (what, target) in enumerate([("OUT = the dataset", "ds"), ("OUT = the dataset's parent", ".")]):
        root = base_root / f"over{i}"
        c = case_dir(root, bases["coco_flat"])
        out = (c.ds if target == "ds" else c.root)
        digest = tree_digest(c.ds)
        o = run_cli(["convert", str(c.ds), str(out), "--to", "yolo", "--overwrite"])
        problems = cli_problems(o)
        if not c.ds.is_dir() or tree_digest(c.ds) != digest:
            problems.append("the source dataset was replaced or deleted")
        cases.append(Case(probe, f"convert with {what} --overwrite", problems, first_line(o)))
        project = make_project(root / "project")
        digest = tree_digest(project)
        out = project if target == "ds" else root
        o = run_cli(["export", str(project), str(out), "--format", "coco", "--overwrite"])
        problems = cli_problems(o)
        if not project.is_dir() or tree_digest(project) != digest:
            problems.append("the project (its images and store) was replaced or deleted")
        cases.append(Case(probe, f"export with OUT = the project{'' if target == 'ds' else ' parent'} --overwrite",
                          problems, first_line(o)))
    # 5. OUT inside the source (allowed: the export must not pick up its own output)
    c = case_dir(base_root / "inside", bases["coco_flat"])
    o = run_cli(["convert", str(c.ds), str(c.ds / "converted"), "--to", "coco"])
    cases.append(Case(probe, "convert into a folder inside the dataset", cli_problems(o), first_line(o)))
    project = make_project(base_root / "inside" / "project")
    o = run_cli(["export", str(project), str(project / "exported"), "--format", "yolo"])
    problems = cli_problems(o)
    o2 = run_cli(["export", str(project), str(project / "exported2"), "--format", "yolo"])
    problems += cli_problems(o2)
    if o2.rc == 0 and "exported/" in (project / "exported2" / "renamed.json").read_text(encoding="utf-8") \
            if (project / "exported2" / "renamed.json").is_file() else False:
        problems.append("the second export took in the first one's images")
    cases.append(Case(probe, "export into a folder inside the project, twice", problems, first_line(o2)))
    for case in cases:
        if "token" in case.detail:
            case.problems.append("secret text echoed")
    for c_dir in base_root.glob("*"):
        for p in token_in_tree(c_dir / "out", "SECRETTOKEN"):
            cases.append(Case(probe, f"{c_dir.name}: secret text in the output", [p]))
    return cases
