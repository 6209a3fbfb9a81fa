"""The project store's file: ``<project>/.detector_app/project.sqlite``.

Opening it (locked for this instance, or read-only when the folder cannot be
written), reading its records and ``meta`` rows, and writing one flush's changes
in one transaction. SQLite runs in WAL mode with ``synchronous=FULL``, so a
crash at any moment leaves the last committed flush, complete.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from detector_app.app.lockfile import ProjectLock
from detector_app.domain.annotations import ImageRecord
from detector_app.domain.boxes import BoxError
from detector_app.domain.errors import StoreError

STORE_DIR = ".detector_app"
DB_NAME = "project.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class OpenedStorage:
    """What opening found: the ``meta`` rows, the records by key, the connection kept
    for writing (``None`` when read-only) and the instance lock held (read-write only)."""

    meta: dict[str, str]
    records: dict[str, ImageRecord] = field(default_factory=dict)
    db: sqlite3.Connection | None = None
    lock: ProjectLock | None = None
    read_only_reason: str = ""

    @property
    def read_only(self) -> bool:
        return self.db is None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        if self.lock is not None:
            self.lock.release()


def probe_writable(store_dir: Path) -> str | None:
    """``None`` if ``store_dir`` can be created and written, else why not."""
    try:
        store_dir.mkdir(exist_ok=True)
        probe = store_dir / f".probe.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"{store_dir} is not writable ({exc.strerror or exc})"
    return None


def open_storage(root: Path, db_path: Path, require_writable: bool, force_read_only: bool) -> OpenedStorage:
    """Open the store file of project ``root``: locked and writable when the folder
    allows it, else read-only (``StoreError`` then, when ``require_writable``)."""
    reason = "opened read-only" if force_read_only else probe_writable(db_path.parent)
    if reason is not None:
        if require_writable:
            raise StoreError(f"{root}: read-only project folder: {reason}")
        opened = OpenedStorage({}, read_only_reason=reason)
        if db_path.is_file():
            base = "file:" + urllib.parse.quote(str(db_path))
            try:  # sees committed WAL content (another instance may be writing)
                opened = _load(db_path, lambda: sqlite3.connect(base + "?mode=ro", uri=True), keep=False)
            except StoreError:  # a truly read-only folder: no -shm file can be made
                opened = _load_read_only_fallback(db_path, base)
            opened.read_only_reason = reason
        return opened
    lock = ProjectLock(db_path.parent, root)
    lock.acquire()
    try:
        opened = _load(db_path, lambda: sqlite3.connect(str(db_path), timeout=10, check_same_thread=False),
                       keep=True)
    except BaseException:
        lock.release()
        raise
    opened.lock = lock
    return opened


def _load_read_only_fallback(db_path: Path, base: str) -> OpenedStorage:
    """Read a store whose folder cannot take a ``-shm`` file. ``immutable=1``
    ignores the write-ahead log, so with a non-empty ``-wal`` (edits committed
    but not yet checkpointed, e.g. after a crash, or a copy without its
    ``-shm``) the database and its log are copied to a temporary folder and
    read there, where SQLite applies the log: every committed edit is seen.
    Without room for the copy the open is refused rather than missing edits."""
    wal = db_path.with_name(db_path.name + "-wal")
    try:
        pending = wal.is_file() and wal.stat().st_size > 0
    except OSError:
        pending = False
    if not pending:
        return _load(db_path, lambda: sqlite3.connect(base + "?mode=ro&immutable=1", uri=True), keep=False)
    import shutil
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix="detector_app_ro_") as tmp:
            copy = Path(tmp) / db_path.name
            shutil.copyfile(db_path, copy)
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            return _load(db_path, lambda: sqlite3.connect(str(copy)), keep=False)
    except OSError as exc:
        raise StoreError(
            f"{db_path}: read-only, and its edits in {wal.name} cannot be read without copying them "
            f"({exc.strerror or exc}); open it where the folder is writable, or free space in "
            f"{tempfile.gettempdir()}"
        ) from None


def _load(db_path: Path, connect: Callable[[], sqlite3.Connection], keep: bool) -> OpenedStorage:
    """Read every row; ``keep``: the connection stays open for writing (WAL, FULL sync, schema made)."""
    db: sqlite3.Connection | None = None
    try:
        db = connect()
        if keep:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        rows = db.execute("SELECT key, data FROM records").fetchall()
    except sqlite3.Error as exc:
        if db is not None:
            db.close()
        raise StoreError(
            f"{db_path}: the project store cannot be read ({exc}); "
            "move the .detector_app folder away to start afresh"
        ) from None
    try:
        records = _records(db_path, meta, rows)
    except StoreError:
        db.close()
        raise
    if not keep:
        db.close()
        return OpenedStorage(meta, records)
    if "schema" not in meta:
        with db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    return OpenedStorage(meta, records, db)


def _records(db_path: Path, meta: dict[str, str], rows: list[tuple[str, str]]) -> dict[str, ImageRecord]:
    try:
        version = int(meta.get("schema", SCHEMA_VERSION))
    except ValueError as exc:
        raise StoreError(f"{db_path}: damaged project metadata ({exc})") from None
    if version > SCHEMA_VERSION:
        raise StoreError(f"{db_path}: written by a newer version (schema {version})")
    records = {}
    for key, data in rows:
        try:
            records[key] = ImageRecord.from_dict(json.loads(data))
        except (ValueError, KeyError, TypeError, BoxError) as exc:
            raise StoreError(f"{db_path}: damaged record {key!r} ({exc})") from None
    return records


def write_changes(db: sqlite3.Connection, rows: Iterable[tuple[str, str]], meta: dict[str, str]) -> None:
    """One transaction: the changed records ``(key, JSON)`` and ``meta`` values."""
    with db:
        db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?)", rows)
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta.items()))


__all__ = ["DB_NAME", "SCHEMA_VERSION", "STORE_DIR", "OpenedStorage", "open_storage", "probe_writable",
           "write_changes"]
