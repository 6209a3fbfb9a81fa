"""The staging folder of an export: written beside the output folder, swapped in whole.

A cancel or an error leaves no partial output; folders that killed exports left
behind are removed by the next export into the same folder.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from detector_app.domain.fsutil import exchange_paths, fsync_dir, process_alive


def new_staging_dir(out_dir: Path) -> Path:
    """A new, empty staging folder for an export into ``out_dir``: a hidden sibling (so the
    final rename stays on one file system) named ``.OUT.<pid>.<random>.tmp``."""
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{os.getpid()}.", suffix=".tmp", dir=str(out_dir.parent)))


#: Staging folders of an export into ``OUT``: ``.OUT.<pid>.<random>.tmp`` and, while the old
#: ``OUT`` is swapped out, ``.OUT.old.<pid>``.
_STAGING = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)\.[^.]+\.tmp|old\.(?P<old>\d+))$")
#: A staging folder without a pid in its name (the form older versions of the app write) counts as left
#: over after this.
_LEGACY_STALE_S = 600.0


def _entries_beside(out_dir: Path) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(out_dir.parent))
    except OSError:
        return []


def _staging_of(out_dir: Path, entries: list[os.DirEntry[str]]) -> Iterator[tuple[os.DirEntry[str], re.Match[str]]]:
    """The staging folders of exports into ``out_dir`` among ``entries``, with their name's parts."""
    for entry in entries:
        m = _STAGING.match(entry.name)
        if m is not None and m.group("name") == out_dir.name and entry.is_dir(follow_symlinks=False):
            yield entry, m


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove the staging folders that killed exports into ``out_dir`` left beside it
    (hidden, up to thousands of files each; nothing else ever removes them): those of
    processes that no longer exist, and nameless-pid ones older than ten minutes.
    A live export's folders are left alone. Returns what was removed."""
    removed: list[Path] = []
    entries = _entries_beside(out_dir)
    for entry, m in _staging_of(out_dir, entries):
        pid = int(m.group("pid") or m.group("old"))
        if pid == os.getpid() or process_alive(pid):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    for entry in entries:  # the pid-less form older versions write: .OUT.<random>.tmp
        if (entry.name.startswith(f".{out_dir.name}.") and entry.name.endswith(".tmp")
                and _STAGING.match(entry.name) is None and entry.is_dir(follow_symlinks=False)):
            try:
                old = time.time() - entry.stat(follow_symlinks=False).st_mtime > _LEGACY_STALE_S
            except OSError:
                continue
            if old:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(Path(entry.path))
    return removed


def swap_in(tmp: Path, out_dir: Path) -> None:
    """Put the staged export ``tmp`` at ``out_dir``. Over an existing export, in one
    atomic exchange where the file system has one (a kill at any moment leaves the old
    export or the new one at ``out_dir``; the old one, now at ``tmp``, is removed after,
    or by the next export); elsewhere in two renames, whose gap
    :func:`restore_swapped_out` closes the next time."""
    old = None
    if out_dir.exists():
        if exchange_paths(tmp, out_dir):
            fsync_dir(out_dir.parent)
            shutil.rmtree(tmp, ignore_errors=True)
            return
        old = out_dir.with_name(f".{out_dir.name}.old.{os.getpid()}")
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    fsync_dir(out_dir.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def restore_swapped_out(out_dir: Path) -> Path | None:
    """An export killed between its two renames (no atomic exchange) left ``out_dir``
    missing and the previous export at ``.OUT.old.<pid>``: put it back (before anything
    else looks at ``out_dir``). Returns what was restored."""
    if out_dir.exists():
        return None
    for entry, m in _staging_of(out_dir, _entries_beside(out_dir)):
        if m.group("old") and not process_alive(int(m.group("old"))):
            os.replace(entry.path, out_dir)
            fsync_dir(out_dir.parent)
            return Path(entry.path)
    return None


__all__ = ["new_staging_dir", "remove_stale_staging", "restore_swapped_out", "swap_in"]
