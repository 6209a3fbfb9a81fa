"""Atomic file writes (standard library only).

Every file the application writes for people (annotation exports, project
store snapshots, settings) goes through :func:`atomic_write_bytes`: the data
is written to a temporary file in the same folder, flushed and ``fsync``-ed,
then ``os.replace``-d over the target and the folder entry ``fsync``-ed. A
crash at any moment leaves either the old file or the new one, never a torn
mixture.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def fsync_dir(folder: str | Path) -> None:
    """``fsync`` a folder so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + ``os.replace``).

    The parent folder must exist. Raises ``OSError`` (e.g. ``PermissionError``)
    when the folder is not writable; the target is then untouched.
    ``durable=False`` skips the two ``fsync`` calls (still atomic for readers):
    for many files written into a temporary folder that is synced once
    (:func:`sync_tree`) and renamed into place as a whole.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(folder))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        fsync_dir(folder)


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8", mode: int = 0o644,
                      durable: bool = True) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode(encoding), mode=mode, durable=durable)


def sync_tree(folder: str | Path) -> None:
    """Make everything written under ``folder`` durable, at once.

    One ``os.sync()`` where available (far cheaper than an ``fsync`` per file
    for thousands of small files), then the folders themselves.
    """
    folder = Path(folder)
    if hasattr(os, "sync"):
        os.sync()
    else:  # pragma: no cover - non-POSIX
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                with open(path, "rb+") as fh:
                    os.fsync(fh.fileno())
    for sub in [folder, *(p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink())]:
        fsync_dir(sub)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (another user's counts; a zombie, dead but not
    yet reaped by its parent, does not: its temporary files are leftovers)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[-1].split()[0]  # the field after "(command name)"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(0) said it exists
    return state not in ("Z", "X")


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_renameat2: Any = None


def exchange_paths(a: str | Path, b: str | Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``): at every moment, a crash included, each name holds one of
    the two. ``False`` where the system or the file system cannot (the caller then
    renames in two steps); other failures raise ``OSError``."""
    global _renameat2
    if not sys.platform.startswith("linux"):
        return False
    if _renameat2 is None:
        try:
            fn = ctypes.CDLL(None, use_errno=True).renameat2
        except (OSError, AttributeError):  # a C library without it
            _renameat2 = False
            return False
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        _renameat2 = fn
    if _renameat2 is False:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):  # no such call, or not on this file system
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


__all__ = ["atomic_write_bytes", "atomic_write_text", "exchange_paths", "fsync_dir", "process_alive", "sync_tree"]
