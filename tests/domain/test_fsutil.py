"""Atomic writes: the target is replaced whole, temporaries never linger."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from detector_app.domain import fsutil
from detector_app.domain.fsutil import atomic_write_bytes, atomic_write_text


def test_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "twö")
    assert target.read_text(encoding="utf-8") == "twö"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_failure_keeps_old_file_and_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"old")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fsutil.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "no" / "a.bin", b"x")


def test_fsync_dir_ignores_errors(tmp_path: Path) -> None:
    fsutil.fsync_dir(tmp_path / "missing")
    fsutil.fsync_dir(tmp_path)
    assert os.path.isdir(tmp_path)


def test_non_durable_write_and_sync_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(fsutil.os, "fsync", lambda fd: calls.append(fd))
    (tmp_path / "sub").mkdir()
    atomic_write_text(tmp_path / "sub" / "a.txt", "x", durable=False)
    assert calls == [] and (tmp_path / "sub" / "a.txt").read_text() == "x"
    fsutil.sync_tree(tmp_path)
    assert len(calls) == 2  # the two folders (files: one os.sync)


def test_process_alive_counts_a_zombie_as_dead() -> None:
    """A child that exited but was not reaped yet is a zombie: its leftovers may be removed."""
    import os
    import subprocess
    import sys
    import time

    from detector_app.domain.fsutil import process_alive

    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while process_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not process_alive(child.pid)  # exited; not reaped yet: a zombie
    assert child.poll() == 0  # reaped now
    assert not process_alive(child.pid)
