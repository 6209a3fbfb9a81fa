"""Project store: listing, lazy sizes, edits on disk by themselves (the autosaver), reopen,
lock file, read-only folders, damaged stores."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from detector_app.app import store_file as store_mod
from detector_app.app.project import open_project
from detector_app.app.store import DB_NAME, STORE_DIR, ProjectStore, StoreEvent, split_key
from detector_app.domain import Annotation, AnnotationSource, Box, BoxError, ItemState
from detector_app.domain.errors import StoreError
from tests.helpers.files import png_bytes, stored_records


def test_lists_images_and_videos_in_natural_order(project_dir: Path) -> None:
    (project_dir / "notes.txt").write_text("x")
    (project_dir / ".hidden.png").write_bytes(b"")
    with ProjectStore(project_dir) as store:
        assert store.files == ["clip.avi", "img1.png", "img2.png", "sub/img10.png"]
        assert store.is_video("clip.avi") and not store.is_video("img1.png")
        assert store.records() == []  # nothing decoded, nothing created


def test_sizes_are_read_lazily_from_headers(project_dir: Path) -> None:
    with ProjectStore(project_dir) as store:
        rec = store.record("img2.png")
        assert (rec.width, rec.height) == (None, None)
        assert store.ensure_size("img2.png") == (80, 30)
        assert (rec.width, rec.height) == (80, 30)


_EDITS = {  # edit kind -> (make it, what the saved row of img1.png then shows)
    "add": (lambda s: s.add_annotation("img1.png", Annotation(Box(2, 2, 9, 9), "cat", id="n1")),
            lambda r: [a["id"] for a in r["annotations"]] == ["a0", "n1"]),
    "delete": (lambda s: s.remove_annotation("img1.png", "a0"), lambda r: r["annotations"] == []),
    "move/resize": (lambda s: s.replace_annotation("img1.png", s.record("img1.png").annotations[0]
                                                   .with_box(Box(3, 4, 20, 30))),
                    lambda r: r["annotations"][0]["box"] == [3, 4, 20, 30]),
    "relabel": (lambda s: s.replace_annotation("img1.png", s.record("img1.png").annotations[0].with_label("dog")),
                lambda r: r["annotations"][0]["label"] == "dog"),
    "accept detection": (lambda s: s.add_annotation("img1.png", Annotation(Box(2, 2, 9, 9), "cat",
                                                                          AnnotationSource.MODEL, 0.5, "d1")),
                         lambda r: [a["source"] for a in r["annotations"]] == ["manual", "model"]),
    "verify": (lambda s: s.set_state("img1.png", ItemState.VERIFIED), lambda r: r["state"] == "verified"),
}


def _eventually(cond, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``cond`` until it holds; ``False`` after ``timeout`` s (a deadline against a hang only)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("kind", sorted(_EDITS))
def test_every_edit_reaches_the_disk_by_itself(project_dir: Path, kind: str) -> None:
    """Each kind of edit is written by the autosaver (0.25 s after it, on an idle machine):
    no flush, no close, and a second connection sees it, as a new process would."""
    make, saved = _EDITS[kind]
    with ProjectStore(project_dir) as store:
        store.ensure_size("img1.png")
        store.add_annotation("img1.png", Annotation(Box(1, 2, 30, 20), "cat", id="a0"))
        store.flush()
        assert not saved(stored_records(project_dir)["img1.png"])
        make(store)
        assert _eventually(lambda: saved(stored_records(project_dir)["img1.png"])), f"{kind} never reached the disk"
        # the autosave thread records saved_seq just after its commit returns
        assert _eventually(lambda: store.saved_seq == store.seq)


def test_store_is_durable_sqlite_beside_the_images_without_pixels(project_dir: Path) -> None:
    """One sidecar in ``.detector_app/``: SQLite in WAL mode with synchronous=FULL (each
    commit fsync-ed before it returns), records that hold boxes and never image bytes."""
    with ProjectStore(project_dir, autosave_interval=None) as store:
        assert store._db is not None
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        for key in ("img1.png", "img2.png", "clip.avi#3"):
            store.set_size(key, 60, 40)
            store.add_annotation(key, Annotation(Box(1, 2, 30, 20), "cat"))
    assert sorted(p.name for p in (project_dir / STORE_DIR).iterdir() if not p.name.startswith(".")) == [DB_NAME]
    rows = stored_records(project_dir)
    assert sorted(rows) == ["clip.avi#3", "img1.png", "img2.png"]
    for row in rows.values():
        assert set(row) <= {"path", "width", "height", "state", "annotations", "frame_index"}
    assert (project_dir / STORE_DIR / DB_NAME).stat().st_size < 64 * 1024  # a few rows of JSON, no pixels
    assert sorted(p.name for p in project_dir.iterdir()) == [".detector_app", "clip.avi", "img1.png", "img2.png", "sub"]


def test_reopen_restores_records_labels_and_states(project_dir: Path) -> None:
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.set_labels(["dog", "cat"])
        store.set_size("img1.png", 60, 40)
        a = store.add_annotation("img1.png", Annotation(Box(-5, 1, 30, 20), "cat"))
        assert a.box == Box(0, 1, 30, 20)  # clipped to the image
        store.add_annotation("clip.avi#3", Annotation(Box(1, 1, 9, 9), "emu"))
        store.set_state("img1.png", ItemState.VERIFIED)
    with ProjectStore(project_dir) as again:
        assert again.label_map.names == ["dog", "cat", "emu"]
        rec = again.record("img1.png")
        assert rec.state is ItemState.VERIFIED and rec.annotations == [a]
        assert again.frames_of("clip.avi") == [3]
        assert again.record("clip.avi#3").frame_index == 3


def test_events_and_bad_edits(project_dir: Path) -> None:
    events: list[StoreEvent] = []
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.subscribe(events.append)
        store.set_size("img1.png", 60, 40)
        a = store.add_annotation("img1.png", Annotation(Box(1, 1, 5, 5), "cat"))
        assert [(e.kind, e.key) for e in events] == [("size", "img1.png"), ("annotations", "img1.png"),
                                                     ("labels", None)]
        with pytest.raises(BoxError, match="outside"):
            store.add_annotation("img1.png", Annotation(Box(100, 1, 120, 5), "cat"))
        with pytest.raises(StoreError, match="already exists"):
            store.add_annotation("img1.png", a)
        with pytest.raises(StoreError, match="not a file of the project"):
            store.record("missing.png")
        with pytest.raises(StoreError, match="records per frame"):
            store.record("clip.avi")
        with pytest.raises(KeyError):
            store.remove_annotation("img1.png", "nope")


def test_split_key() -> None:
    assert split_key("a/clip.mp4#12") == ("a/clip.mp4", 12)
    assert split_key("photo#1.png") == ("photo#1.png", None)
    assert split_key("odd#name.jpg") == ("odd#name.jpg", None)


_HOLDER = """
import sys, time
from detector_app.app.store import ProjectStore
s = ProjectStore(sys.argv[1])
print("ready", flush=True)
time.sleep(60)
"""


def test_second_instance_gets_clear_error_and_stale_lock_is_taken_over(project_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(project_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match=rf"already open in another .*pid {proc.pid}"):
            ProjectStore(project_dir)
    finally:
        proc.kill()
        proc.wait()
    assert (project_dir / STORE_DIR / "lock").exists()  # stale: its process is gone
    with ProjectStore(project_dir) as store:
        assert store.files
    assert not (project_dir / STORE_DIR / "lock").exists()


def test_same_process_cannot_open_twice(project_dir: Path) -> None:
    with ProjectStore(project_dir), pytest.raises(StoreError, match="already open in this program"):
        ProjectStore(project_dir)


_RACER = """
import sys
from detector_app.app.store import ProjectStore
from detector_app.domain.errors import StoreError
print("ready", flush=True)
sys.stdin.readline()  # "go", sent to every racer once all of them are ready
try:
    s = ProjectStore(sys.argv[1], autosave_interval=None)
except StoreError as exc:
    print("refused", exc, flush=True)
else:
    print("owner", flush=True)
    sys.stdin.readline()  # holds the project until every racer has answered
    s.close()
"""


@pytest.mark.parametrize("trial", range(6))
def test_simultaneous_starts_on_a_stale_lock_have_exactly_one_owner(project_dir: Path, trial: int) -> None:
    """Three processes start at the same instant on a project whose lock a killed instance
    left behind: exactly one gets it, the others get the clear message. (A take-over by
    renaming the stale lock lets two win: 8 times in 80 trials.) The racers wait for one
    "go" once all have started, and the owner holds on until all have answered, so each
    trial is a real race however slowly the interpreters start."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(project_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    holder.kill()  # kill -9: the lock file stays behind, stale
    holder.wait()
    assert (project_dir / STORE_DIR / "lock").exists()
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, str(project_dir)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        for r in racers:
            assert r.stdout is not None and r.stdout.readline().strip() == "ready"
        for r in racers:
            assert r.stdin is not None
            r.stdin.write("go\n")
            r.stdin.flush()
        outs = [r.stdout.readline().strip() for r in racers if r.stdout is not None]
        for r in racers:
            r.communicate("done\n", timeout=60)
    finally:
        for r in racers:
            if r.poll() is None:
                r.kill()
                r.wait()
    assert sorted(o.split()[0] for o in outs) == ["owner", "refused", "refused"], outs
    assert all("already open in another Faster R-CNN Studio" in o for o in outs if o.startswith("refused"))
    assert not (project_dir / STORE_DIR / "lock").exists()  # the owner closed and removed it


def test_read_only_folder_keeps_edits_in_memory(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ProjectStore(project_dir, autosave_interval=None) as store:
        store.add_annotation("img1.png", Annotation(Box(1, 1, 5, 5), "cat"))
    monkeypatch.setattr(store_mod, "probe_writable", lambda d: f"{d} is not writable (Read-only file system)")
    with pytest.raises(StoreError, match="read-only project folder"):
        ProjectStore(project_dir, require_writable=True)
    store = ProjectStore(project_dir)
    assert store.read_only and "Read-only" in store.read_only_reason
    assert store.record("img1.png").annotations[0].label == "cat"  # existing data readable
    store.add_annotation("img2.png", Annotation(Box(1, 1, 5, 5), "dog"))
    assert store.record("img2.png").annotations[0].label == "dog"  # kept in memory
    with pytest.raises(StoreError, match="read-only.*1 edits are kept in memory"):
        store.flush()
    with pytest.raises(StoreError):
        store.close()
    assert "img2.png" not in stored_records(project_dir)


_CRASH_WITH_WAL = """
import os, sys
from detector_app.app.store import ProjectStore
from detector_app.domain import Annotation, Box
s = ProjectStore(sys.argv[1], autosave_interval=None)
for i in range(7):
    s.add_annotation("img1.png", Annotation(Box(1, 1, 5 + i, 5), "cat"))
    s.flush()  # committed, into the write-ahead log
    if i == 2:
        s._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as SQLite's auto-checkpoint does now and then
os._exit(0)  # a crash: no close, no checkpoint of the last 4
"""


def test_read_only_open_without_shm_sees_every_committed_edit(project_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A store whose -wal holds committed edits and whose -shm is gone (a backup that
    dropped it), in a folder where no -shm can be made: the read sees all 7 committed
    boxes. (``immutable=1`` alone ignores the log: 3 of 7 boxes seen, and exported so.)"""
    subprocess.run([sys.executable, "-c", _CRASH_WITH_WAL, str(project_dir)], check=True, timeout=60)
    store_dir = project_dir / STORE_DIR
    wal = store_dir / (DB_NAME + "-wal")
    assert wal.stat().st_size > 0
    (store_dir / (DB_NAME + "-shm")).unlink()
    real_connect = sqlite3.connect

    def no_shm_possible(target, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("uri") and "mode=ro" in str(target) and "immutable" not in str(target):
            raise sqlite3.OperationalError("unable to open database file")  # what a read-only folder gives
        return real_connect(target, *args, **kwargs)

    monkeypatch.setattr(store_mod.sqlite3, "connect", no_shm_possible)
    immutable = real_connect(f"file:{store_dir / DB_NAME}?mode=ro&immutable=1", uri=True)
    try:
        rows = dict(immutable.execute("SELECT key, data FROM records").fetchall())
    finally:
        immutable.close()
    assert len(json.loads(rows["img1.png"])["annotations"]) == 3  # what immutable=1 alone shows
    with ProjectStore(project_dir, read_only=True, autosave_interval=None) as store:
        assert store.read_only and len(store.record("img1.png").annotations) == 7
    assert wal.stat().st_size > 0  # the project's own files were not touched
    import shutil

    def no_space(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", no_space)
    with pytest.raises(StoreError, match=r"read-only, and its edits in project\.sqlite-wal cannot be read"):
        ProjectStore(project_dir, read_only=True, autosave_interval=None)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_really_read_only_folder(project_dir: Path) -> None:  # pragma: no cover - not as root
    os.chmod(project_dir, 0o555)
    try:
        store = ProjectStore(project_dir)
        assert store.read_only
    finally:
        os.chmod(project_dir, 0o755)


def test_damaged_store_gives_store_error(project_dir: Path) -> None:
    (project_dir / STORE_DIR).mkdir()
    (project_dir / STORE_DIR / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=rf"{DB_NAME}: the project store cannot be read"):
        ProjectStore(project_dir)
    assert not (project_dir / STORE_DIR / "lock").exists()


def test_damaged_record_names_it(project_dir: Path) -> None:
    ProjectStore(project_dir, autosave_interval=None).close()
    db = sqlite3.connect(str(project_dir / STORE_DIR / DB_NAME))
    with db:
        db.execute("INSERT INTO records VALUES ('img1.png', '{\"path\": \"img1.png\", \"annotations\": [{}]}')")
    db.close()
    with pytest.raises(StoreError, match="damaged record 'img1.png'"):
        ProjectStore(project_dir)


def test_open_project_folder_files_and_errors(project_dir: Path) -> None:
    with open_project([project_dir]) as project:
        assert [i.path for i in project.items] == ["clip.avi", "img1.png", "img2.png", "sub/img10.png"]
        video = project.items[0]
        assert project.is_video(video) and project.item_state(video) is ItemState.NOT_SEEN
        rec = project.record_for(video, 5, 64, 48)
        assert rec.key == "clip.avi#5" and (rec.width, rec.height) == (64, 48)
        project.store.set_state(rec.key, ItemState.EDITED)
        assert project.item_state(video) is ItemState.EDITED
        rgb = project.read_image(project.items[2])
        assert rgb.shape == (30, 80, 3)
        project.mark_detected(project.items[1])
        assert project.item_state(project.items[1]) is ItemState.DETECTED
        assert project.initial_index == 0
        with project.open_video(video) as reader:
            assert reader.frame_count == 12
    with open_project([project_dir / "img2.png", project_dir / "sub" / "img10.png"]) as project:
        assert project.root == project_dir.resolve()
        assert [i.path for i in project.items] == ["img2.png", "sub/img10.png"]
    with pytest.raises(StoreError, match="nope: no such file"):
        open_project([project_dir / "nope"])
    (project_dir / "a.txt").write_text("x")
    with pytest.raises(StoreError, match="not an image or video"):
        open_project([project_dir / "a.txt"])


def test_unicode_folder_with_uri_characters(tmp_path: Path) -> None:
    root = tmp_path / "prüf ung #1 ?x"
    root.mkdir()
    (root / "bild ä.png").write_bytes(png_bytes(np.zeros((10, 12, 3), np.uint8)))
    with ProjectStore(root, autosave_interval=None) as store:
        store.add_annotation("bild ä.png", Annotation(Box(1, 1, 9, 9), "käfer"))
    with ProjectStore(root, read_only=True) as ro:  # sqlite URI with %-escapes
        assert ro.read_only and ro.record("bild ä.png").annotations[0].label == "käfer"


def test_pending_edits_are_saved_at_interpreter_exit(project_dir: Path) -> None:
    code = (
        "import sys\n"
        "from detector_app.app.store import ProjectStore\n"
        "from detector_app.domain import Annotation, Box\n"
        "s = ProjectStore(sys.argv[1], autosave_interval=30)\n"  # the autosaver would be far too late
        "s.add_annotation('img1.png', Annotation(Box(1, 1, 5, 5), 'late', id='z9'))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(project_dir)], check=True, timeout=60)
    assert stored_records(project_dir)["img1.png"]["annotations"][0]["id"] == "z9"
    assert not (project_dir / STORE_DIR / "lock").exists()


def test_batch_reaches_the_disk_as_one_transaction(project_dir: Path) -> None:
    with ProjectStore(project_dir, autosave_interval=0.01) as store:
        with store.batch():
            store.add_annotation("img1.png", Annotation(Box(1, 1, 5, 5), "cat", id="b1"))
            time.sleep(0.2)  # the autosaver is due many times over, and waits
            assert "img1.png" not in stored_records(project_dir)
            store.add_annotation("img2.png", Annotation(Box(1, 1, 5, 5), "cat", id="b2"))
        assert _eventually(lambda: store.saved_seq == store.seq)
        saved = stored_records(project_dir)
        assert [a["id"] for k in ("img1.png", "img2.png") for a in saved[k]["annotations"]] == ["b1", "b2"]


_LIST_WITHOUT_READING = r"""
import sys
root = sys.argv[1]
opened = []

def hook(event, args):  # every open() of a file under the project, by Python or os.open
    if event == "open" and isinstance(args[0], str) and args[0].startswith(root) and "/.detector_app" not in args[0]:
        opened.append(args[0])

sys.addaudithook(hook)
import cv2

def refuse(*args, **kwargs):
    raise AssertionError(f"read an image while listing: {args[:1]}")

cv2.imread = cv2.imdecode = cv2.VideoCapture = refuse
from detector_app.domain import imageheader
from detector_app.media import imagesize
imageheader.read_header_size = imagesize.read_header_size = imagesize.image_size = refuse
from detector_app.app.project import open_project

with open_project([root]) as project:
    items = len(project.items)
    sizes = sum(r.width is not None for r in project.items)
print(items, sizes, opened)
"""


def test_listing_a_folder_opens_no_image(project_dir: Path) -> None:
    """Opening a project (as the GUI does) lists files by name only: no image or video is
    opened, decoded or header-read (sizes come later, lazily). The files here are not even
    images, which would fail any read."""
    for i in range(300):
        (project_dir / "many" / f"{i:03d}.jpg").parent.mkdir(exist_ok=True)
        (project_dir / "many" / f"{i:03d}.jpg").write_bytes(b"not a jpeg")
    out = subprocess.run([sys.executable, "-c", _LIST_WITHOUT_READING, str(project_dir.resolve())],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "304 0 []"  # 304 items listed, no size known, nothing opened
