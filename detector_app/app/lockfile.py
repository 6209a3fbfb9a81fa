"""One app instance per project: an OS lock on ``<folder>/.detector_app/lock``.

The lock is ``fcntl.flock`` (exclusive, non-blocking) on that file, held for as
long as the store is open: the kernel grants it to one open file at a time and
drops it when its process ends, however it ends, so a lock left by ``kill -9``
is simply free and two instances starting at once can never both win (taking
over a stale lock by renaming it would let a slower racer move away the lock a
faster one has just taken). The file also holds
``{"pid", "host", "since"}`` as JSON, written by the holder, so a refused
instance can say who holds it. Closing removes the file while still holding
the lock; a newcomer that locked the old file checks that its file is still
the one at the path (same inode) and otherwise tries again.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from detector_app.domain.errors import StoreError

LOCK_NAME = "lock"


def read_lock(path: Path) -> dict[str, object] | None:
    """The lock's contents, or ``None`` when absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class ProjectLock:
    """Holds ``<store_dir>/lock`` for this process until :meth:`release`."""

    def __init__(self, store_dir: Path, project: Path) -> None:
        self.path = Path(store_dir) / LOCK_NAME
        self.project = project
        self.held = False
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; :class:`StoreError` if another instance (or this one) holds it."""
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(f"{self.project}: cannot create the project lock {self.path}: "
                                 f"{exc.strerror or exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self._refuse()
            except OSError as exc:
                os.close(fd)
                raise StoreError(f"{self.project}: cannot lock {self.path}: {exc.strerror or exc}") from exc
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False  # removed by the holder closing just now
            if not same:
                os.close(fd)
                continue
            try:
                me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(me).encode("utf-8"), 0)
            except OSError as exc:  # e.g. a full disk: the lock itself is held, only the note failed
                os.close(fd)
                raise StoreError(f"{self.project}: cannot write the project lock {self.path}: "
                                 f"{exc.strerror or exc}") from exc
            self._fd, self.held = fd, True
            return
        raise StoreError(f"{self.project}: cannot take the project lock {self.path} (it keeps changing)")

    def _refuse(self) -> None:
        """Another open file holds the lock: raise naming its holder."""
        other = read_lock(self.path) or {}
        pid = other.get("pid") if isinstance(other.get("pid"), int) else None
        host = str(other.get("host", ""))
        if pid == os.getpid() and host == socket.gethostname():
            raise StoreError(f"{self.project}: the project is already open in this program")
        where = ("" if pid is None else f" (pid {pid}" + ("" if host in ("", socket.gethostname())
                                                          else f" on {host}") + ")")
        raise StoreError(f"{self.project}: the project is already open in another Faster R-CNN Studio{where}; "
                         "close it first")

    def release(self) -> None:
        """Remove the lock file and let the lock go (if this process holds it)."""
        if not self.held or self._fd is None:
            return
        self.held = False
        fd, self._fd = self._fd, None
        try:
            if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                self.path.unlink()  # while still locked: a newcomer sees the inode change and retries
        except OSError:
            pass
        finally:
            os.close(fd)


__all__ = ["LOCK_NAME", "ProjectLock", "read_lock"]
