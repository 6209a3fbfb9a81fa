"""One app instance per project: a lock file with the owner's pid and host.

``<folder>/.detector_app/lock`` holds ``{"pid", "host", "since"}`` as JSON.
It is created atomically (written to a temporary file, then ``os.link``-ed
to its name, which fails if a lock exists), so a reader never sees half a
lock. A lock whose process is gone (not running, or a zombie) on this host is
*stale* and taken over; a live one raises :class:`StoreError` naming the pid.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from detector_app.domain.errors import StoreError

LOCK_NAME = "lock"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        state = stat[stat.rindex(b")") + 2:][:1]
        return state not in (b"Z", b"X")
    except (OSError, ValueError):
        return True


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

    def acquire(self) -> None:
        """Take the lock; :class:`StoreError` if another live instance holds it."""
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        tmp = self.path.with_name(f".{LOCK_NAME}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(me), encoding="utf-8")
        try:
            for _ in range(5):
                try:
                    os.link(tmp, self.path)
                    self.held = True
                    return
                except FileExistsError:
                    pass
                other = read_lock(self.path)
                if other is None:
                    # Unreadable lock (written by hand, or a foreign tool): stale if old.
                    try:
                        age = time.time() - self.path.stat().st_mtime
                    except OSError:
                        continue  # it just went away: retry
                    if age < 10:
                        raise StoreError(f"{self.project}: the project lock {self.path} is unreadable; "
                                         "another instance may be starting. Try again in a few seconds.")
                    self._take_over()
                    continue
                pid = int(other.get("pid", 0)) if isinstance(other.get("pid"), int) else 0
                host = str(other.get("host", ""))
                if host == me["host"] and (pid == os.getpid() or not pid_alive(pid)):
                    if pid == os.getpid():
                        raise StoreError(f"{self.project}: the project is already open in this program")
                    self._take_over()  # stale: its process is gone
                    continue
                where = f"pid {pid}" + ("" if host == me["host"] else f" on {host}")
                raise StoreError(
                    f"{self.project}: the project is already open in another Faster R-CNN Studio ({where}); "
                    f"close it first (or delete {self.path} if that program is gone)"
                )
            raise StoreError(f"{self.project}: cannot take the project lock {self.path}")
        finally:
            try:
                tmp.unlink()
            except OSError:
                pass

    def _take_over(self) -> None:
        stale = self.path.with_name(f".{LOCK_NAME}.stale.{os.getpid()}")
        try:
            os.replace(self.path, stale)
            stale.unlink()
        except OSError:
            pass

    def release(self) -> None:
        """Remove the lock if this process still holds it."""
        if not self.held:
            return
        self.held = False
        other = read_lock(self.path)
        if other is not None and other.get("pid") == os.getpid():
            try:
                self.path.unlink()
            except OSError:
                pass


__all__ = ["LOCK_NAME", "ProjectLock", "pid_alive", "read_lock"]
