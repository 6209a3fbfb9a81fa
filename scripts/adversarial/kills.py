"""Probes (a) and (f): ``kill -9`` while editing through the app's Session, and during ``export``.

(a) A child process opens a project with :class:`detector_app.app.session.Session` (the
GUI's state without Qt; the store autosaves every 0.25 s) and edits at random through the
Session's own methods: draw, move, delete, relabel, new labels, verify, undo, redo, copy
from the previous image, import a dataset, step through the images, sometimes save now.
After every edit that is complete (not inside an undo command's or an import's group of
store calls) it appends ``EDIT <seq> <digest of the whole state>`` to a log; after a save,
``SAVED <seq>``. The parent kills it at a random moment, reopens the project and checks:
``PRAGMA integrity_check`` is ok; no saved edit is lost (stored seq >= last SAVED); the
stored state is exactly the state after one of the logged edits (never a half-applied
command or import), or after a later one the child had no time to log. The next round
edits the same project again: hundreds of crashes on one project.

(f) ``detector-app export`` of a project of 120 images over an earlier export is killed,
round after round (the project changes between rounds), at a random moment or at one of
its file system steps (Python audit events: opens, copies, renames, removals; a quarter
of the rounds aim at the renames that swap the new folder in): the output folder is then
the previous complete export or a complete new one, never a partial one nor missing; a
final export leaves no staging folder behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from scripts.adversarial.common import Case, cli_problems, run_cli, run_forked, tree_digest, write_image

LABELS = ["cat", "dog", "bird"]


def state_digest(records: dict[str, Any], labels: list[str]) -> str:
    """What a reopened store must equal: the records that reach the disk, and the labels."""
    kept = {k: r.to_dict() for k, r in records.items()
            if r.annotations or r.state.value != "not_seen" or r.width is not None}
    return hashlib.sha1(json.dumps([kept, labels], sort_keys=True).encode()).hexdigest()[:16]


def _store_digest(store: Any) -> str:
    with store._lock:  # the state as a save would see it (its snapshot takes this lock)
        return state_digest(store._records, list(store.label_map.names))


def _edit_child(root: str, log_path: str, seed: int) -> int:
    """Edit ``root`` through a Session until killed (see the module docstring)."""
    import contextlib

    from detector_app.app.session import Session
    from detector_app.domain import Box

    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    session = Session(detect_on_open=False)
    session.open_paths([root])
    store = session.store
    assert store is not None
    depth = [0]  # inside an undo command's (atomic) or an import's (batch) group of store calls

    def grouped(cm: Any) -> Any:
        @contextlib.contextmanager
        def wrapper() -> Any:
            depth[0] += 1
            try:
                with cm():
                    yield
            finally:
                depth[0] -= 1
        return wrapper

    store.atomic = grouped(store.atomic)  # type: ignore[method-assign]
    store.batch = grouped(store.batch)  # type: ignore[method-assign]

    def log(kind: str) -> None:
        if depth[0] == 0:
            os.write(fd, f"{kind} {store.seq} {_store_digest(store)}\n".encode())

    store.subscribe(lambda _event: log("EDIT"))
    log("OPEN")
    rng = random.Random(seed)
    n_items = len(session.items)
    dataset = Path(root) / "gt.json"
    while True:
        rec = session.record
        op = rng.random()
        if rec is None or op < 0.08:
            session.go_to(rng.randrange(n_items))
        elif op < 0.12:
            session.step(rng.choice((-1, 1)))
        elif op < 0.35:
            if session.current_label is None or rng.random() < 0.2:
                session.choose_label(rng.choice(LABELS + [f"new{rng.randrange(5)}"]))
            w, h = rec.width or 10, rec.height or 10
            x, y = rng.uniform(0, w - 4), rng.uniform(0, h - 4)
            session.add_box(Box(x, y, min(w, x + rng.uniform(2, w)), min(h, y + rng.uniform(2, h))))
        elif op < 0.47 and rec.annotations:
            a = rng.choice(rec.annotations)
            session.move_box(a.id, a.box.translated(rng.uniform(-3, 3), rng.uniform(-3, 3)))
        elif op < 0.55 and rec.annotations:
            session.delete_annotation(rng.choice(rec.annotations).id)
        elif op < 0.62 and rec.annotations:
            session.select_annotation(rng.choice(rec.annotations).id)
            session.choose_label(rng.choice(LABELS))
        elif op < 0.70:
            session.toggle_verified()
        elif op < 0.73:
            session.verify_and_next()
        elif op < 0.83:
            session.undo()
        elif op < 0.89:
            session.redo()
        elif op < 0.93:
            session.copy_from_previous()
        elif op < 0.95 and dataset.is_file():
            job = session.import_job(dataset, mode=rng.choice(("replace", "append")))
            try:
                result = job(lambda _p: None, threading.Event())
            except Exception:  # noqa: BLE001 - a refused import changes nothing; the session goes on
                result = None
            session.import_finished(result)
        elif op < 0.98:
            session.save_now()
            os.write(fd, f"SAVED {store.saved_seq}\n".encode())
        else:
            time.sleep(rng.uniform(0.0, 0.3))  # idle: the autosaver catches up
        log("EDIT")


def _edit_project(root: Path, n: int = 6) -> None:
    for i in range(n):
        write_image(root / f"img{i}.png", 64 + 8 * i, 48, seed=i)
    images = [{"id": i + 1, "file_name": f"img{i}.png", "width": 64 + 8 * i, "height": 48} for i in range(n)]
    anns = [{"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 2, "bbox": [2, 2, 20, 20]} for i in range(n)]
    (root / "gt.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": [
        {"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}))


def _verify(root: Path, log_text: str, previous: tuple[int, str]) -> tuple[list[str], tuple[int, str], str]:
    """Check the killed child's project; ``(problems, (stored seq, digest), what the state
    matched)``; ``previous``: what the last check found (the state the child started from)."""
    from detector_app.app.store import ProjectStore

    problems: list[str] = []
    db = root / ".detector_app" / "project.sqlite"
    if db.is_file():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            check = con.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            con.close()
        if check != "ok":
            problems.append(f"integrity_check: {check}")
    logged: dict[int, str] = {previous[0]: previous[1]}
    saved = previous[0]
    for line in log_text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("EDIT", "OPEN"):
            logged[int(parts[1])] = parts[2]
        elif len(parts) == 2 and parts[0] == "SAVED":
            saved = max(saved, int(parts[1]))
    try:
        store = ProjectStore(root, autosave_interval=None)
    except Exception as exc:  # noqa: BLE001 - any failure to reopen is the finding
        return [*problems, f"reopen failed: {type(exc).__name__}: {exc}"], previous, ""
    try:
        seq, digest = store.seq, _store_digest(store)
    finally:
        store.close()
    if seq < saved:
        problems.append(f"saved edits lost: stored seq {seq} < {saved} saved")
    if seq in logged:
        matched = "a logged edit"
        if logged[seq] != digest:
            problems.append(f"stored state at seq {seq} differs from the state the child had then")
    elif logged and seq > max(logged):
        matched = "a later edit (unlogged)"
    else:
        matched = ""
        problems.append(f"stored seq {seq} is inside a group of store calls (a half-applied command or import)")
    return problems, (seq, digest), matched


def probe_edit_kills(work: Path, rounds: int = 260, seed: int = 16) -> list[Case]:
    shutil.rmtree(work / "kills", ignore_errors=True)
    root = work / "kills" / "project"
    _edit_project(root)
    log_path = work / "kills" / "edits.log"
    rng = random.Random(seed)
    cases: list[Case] = []
    import detector_app.app.session  # noqa: F401 - imported once here, not in every child

    state = (0, state_digest({}, []))
    for r in range(rounds):
        log_path.write_text("")
        pid = os.fork()
        if pid == 0:
            try:
                _edit_child(str(root), str(log_path), seed * 1000 + r)
            finally:
                os._exit(1)
        deadline = time.monotonic() + 20
        while "OPEN" not in log_path.read_text() and time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.8))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        text = log_path.read_text()
        if "OPEN" not in text:
            cases.append(Case("kill -9 while editing", f"round {r}", [f"the child did not open the project "
                                                                      f"(status {status})"]))
            continue
        problems, state, matched = _verify(root, text, state)
        edits = sum(1 for line in text.splitlines() if line.startswith("EDIT"))
        cases.append(Case("kill -9 while editing", f"round {r}", problems,
                          f"{edits} edits logged, stored seq {state[0]}: {matched}"))
    return cases


# -- (f) kills during export ---------------------------------------------------------------
def _export_project(root: Path, n: int = 120) -> None:
    from detector_app.app.store import ProjectStore
    from detector_app.domain import Annotation, Box

    rng = random.Random(3)
    for i in range(n):
        write_image(root / f"im{i:03d}.png", 320, 240, seed=i)
    with ProjectStore(root, autosave_interval=None) as store:
        for i in range(n):
            key = f"im{i:03d}.png"
            store.ensure_size(key)
            x = rng.uniform(0, 200)
            store.add_annotation(key, Annotation(Box(x, 10, x + 50, 90), LABELS[i % 3]))


def _expected(root: Path) -> tuple[int, int]:
    from detector_app.app.store import ProjectStore

    with ProjectStore(root, read_only=True, autosave_interval=None) as store:
        recs = [r for r in store.records() if r.annotations]
        return len(recs), sum(len(r.annotations) for r in recs)


def _complete(out: Path, fmt: str, expected: tuple[int, int]) -> list[str]:
    """Problems of an export folder that should be a whole export of ``expected`` images / boxes."""
    from detector_app.formats import load_dataset
    from detector_app.media.imagesize import image_size

    try:
        ds = load_dataset(out, fmt)
    except Exception as exc:  # noqa: BLE001 - an unreadable export is the finding
        return [f"output unreadable: {exc}"[:200]]
    problems = []
    got = (len(ds.images), ds.num_annotations())
    if got != expected:
        problems.append(f"output has {got[0]} images / {got[1]} boxes, expected {expected[0]} / {expected[1]}")
    for rec in ds.images:
        try:
            if image_size(ds.image_path(rec)) != (rec.width, rec.height):
                problems.append(f"{rec.path}: size differs from the annotation")
                break
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{rec.path}: {exc}"[:200])
            break
    return problems


#: File system steps of an export (Python audit events) a kill may be aimed at.
_FS_EVENTS = ("open", "os.rename", "os.mkdir", "os.symlink", "os.remove", "os.rmdir", "shutil.copyfile",
              "shutil.rmtree", "os.scandir")


def _export_killed_at(argv: list[str], event_no: int, count_file: str) -> int:
    """``detector-app *argv``, SIGKILLed at its ``event_no``-th file system step (0: never;
    the number of steps it took is written to ``count_file``)."""
    import sys

    from detector_app.cli import main

    seen = [0]
    renames: list[int] = []

    def hook(event: str, _args: tuple[Any, ...]) -> None:
        if event in _FS_EVENTS:
            seen[0] += 1
            if event == "os.rename":
                renames.append(seen[0])
            if seen[0] == event_no:
                os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
    rc = main(argv)
    Path(count_file).write_text(" ".join(str(n) for n in (seen[0], *renames)))
    return rc


def probe_export_kills(work: Path, rounds: int = 40, seed: int = 16) -> list[Case]:
    from detector_app.app.store import ProjectStore
    from detector_app.domain import Annotation, Box

    probe = "kill -9 during export"
    base = work / "export_kills"
    shutil.rmtree(base, ignore_errors=True)
    project = base / "project"
    _export_project(project, 30 if rounds < 10 else 120)
    rng = random.Random(seed)
    cases: list[Case] = []
    formats = ("coco", "voc", "yolo")
    previous: dict[str, str | None] = dict.fromkeys(formats)
    timing: dict[str, float] = {}
    steps: dict[str, int] = {}
    renames: dict[str, list[int]] = {}
    for fmt in formats:  # a whole export over an earlier one: its time and file system steps
        count = base / "steps.txt"
        timing[fmt] = 0.0
        for _ in range(3):
            o = run_forked(_export_killed_at, ["export", str(project), str(base / f"out_{fmt}"), "--format", fmt,
                                               "--overwrite"], 0, str(count))
            timing[fmt] = max(timing[fmt], o.seconds)  # (os.sync's share varies with the machine's other writes)
            if o.rc != 0:
                cases.append(Case(probe, f"untimed export {fmt}", cli_problems(o)))
        numbers = [int(n) for n in count.read_text().split()] if count.is_file() else [0]
        steps[fmt], renames[fmt] = numbers[0], numbers[1:]
        previous[fmt] = tree_digest(base / f"out_{fmt}")
    for r in range(rounds):
        fmt = formats[r % 3]
        out = base / f"out_{fmt}"
        with ProjectStore(project, autosave_interval=None) as store:  # a change: the new export differs
            key = f"im{rng.randrange(len(store.files)):03d}.png"
            store.add_annotation(key, Annotation(Box(1, 1, 30 + r, 40), LABELS[r % 3]))
        expected = _expected(project)
        argv = ["export", str(project), str(out), "--format", fmt, "--overwrite"]
        if r % 2:  # at a moment, or at one of its file system steps (the last ones, the swap, included)
            step = rng.randint(1, steps[fmt] + 10)  # (past the last: it completes)
            if r % 4 == 3 and renames[fmt]:  # half of these at the swap of the new folder for the old one:
                step = rng.choice(renames[fmt]) + rng.choice((0, 1))  # at a rename or the step after it
            o = run_forked(_export_killed_at, argv, step, str(base / "steps.txt"))
            when = f"killed at step {step} of {steps[fmt]}"
        else:
            kill_after = rng.uniform(0.0, 1.3 * timing[fmt])
            o = run_cli(argv, timeout=kill_after)
            when = f"killed after {kill_after:.3f} s"
        problems: list[str] = []
        if not o.killed and o.rc != -signal.SIGKILL:  # it finished before the kill: a whole export
            problems += cli_problems(o)
        if out.exists():
            digest = tree_digest(out)
            if digest == previous[fmt]:
                what = "the previous export"
            else:
                problems += _complete(out, fmt, expected)
                what = "the new export"
                previous[fmt] = digest
        else:
            what = "no output yet"
            if previous[fmt] is not None:
                problems.append("the previous export is gone")
        leftovers = [p.name for p in base.iterdir() if p.name.startswith(f".out_{fmt}.")]
        cases.append(Case(probe, f"round {r} ({fmt}, {when})", problems,
                          f"{what}; {len(leftovers)} staging folders beside it"))
    for fmt in formats:  # a last, whole export: what killed ones left beside it is removed
        out = base / f"out_{fmt}"
        o = run_cli(["export", str(project), str(out), "--format", fmt, "--overwrite"])
        problems = cli_problems(o) + _complete(out, fmt, _expected(project))
        leftovers = [p.name for p in base.iterdir() if p.name.startswith(f".out_{fmt}.")]
        if leftovers:
            problems.append(f"{len(leftovers)} staging folders left: {', '.join(leftovers[:3])}")
        cases.append(Case(probe, f"final export {fmt}", problems))
    return cases
