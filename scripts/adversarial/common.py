"""What every probe shares: running a case in its own process with its memory and
time watched, the verdict on a CLI run, case records, small image and dataset makers.

A case runs in a forked child (the parent has imported the package already, so a
case costs milliseconds, not an interpreter start) or, with ``--exec``, as a real
``python -m detector_app.cli`` process. Either way the parent polls the child's
resident memory (``/proc/<pid>/status``) and kills it past ``KILL_RSS_MB`` or its
time limit; the peak comes from ``wait4``'s ``ru_maxrss``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

#: A case passes only under this peak resident memory (MB) ...
RSS_LIMIT_MB = 1024
#: ... and is killed past this one (the run goes on).
KILL_RSS_MB = 2500
#: Default time limit of one case (seconds).
TIME_LIMIT_S = 60.0
#: ``True``: CLI cases run as ``python -m detector_app.cli`` processes (``--exec``).
EXEC_MODE = False
#: The package checkout (the ``PYTHONPATH`` an exec'd CLI gets).
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    """How one child process ended."""

    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float
    killed: str = ""  # why the parent killed it ("" when it ended on its own)


@dataclass
class Case:
    """One probe case and its verdict (``problems`` empty: passed)."""

    probe: str
    name: str
    problems: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return 0.0


def _watch(pid: int, timeout: float, kill_rss_mb: float) -> tuple[int | None, float, float, str]:
    """Wait for ``pid``; ``(exit code or -signal, seconds, peak RSS MB, why killed)``."""
    start = time.monotonic()
    killed = ""
    peak = 0.0
    delay = 0.002
    while True:
        wpid, status, usage = os.wait4(pid, os.WNOHANG)
        if wpid:
            break
        rss = _rss_mb(pid)
        peak = max(peak, rss)
        elapsed = time.monotonic() - start
        if not killed and (rss > kill_rss_mb or elapsed > timeout):
            killed = f"RSS {rss:.0f} MB" if rss > kill_rss_mb else f"over {timeout:.0f} s"
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(max(0.0005, min(delay, timeout - elapsed)))  # a kill at a chosen moment lands within ~1 ms
        delay = min(delay * 2, 0.02)
    seconds = time.monotonic() - start
    peak = max(peak, usage.ru_maxrss / 1024.0)
    rc = os.waitstatus_to_exitcode(status)
    return rc, seconds, peak, killed


def run_forked(fn: Callable[..., Any], *args: Any, timeout: float = TIME_LIMIT_S,
               kill_rss_mb: float = KILL_RSS_MB) -> Outcome:
    """Run ``fn(*args)`` in a forked child; its return value (an int) is the exit code,
    an exception escaping it is printed as Python prints one (a traceback, exit 1)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            rc = 1
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                result = fn(*args)
                rc = int(result or 0)
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - what an uncaught exception does: the traceback
                traceback.print_exc()
                rc = 1
            finally:
                with contextlib.suppress(BaseException):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(rc)
        rc, seconds, peak, killed = _watch(pid, timeout, kill_rss_mb)
        out.seek(0)
        err.seek(0)
        return Outcome(rc, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                       seconds, peak, killed)


def _cli_main(argv: list[str]) -> int:
    from detector_app.cli import main

    return main(argv)


def run_cli(argv: Sequence[str], timeout: float = TIME_LIMIT_S, kill_rss_mb: float = KILL_RSS_MB) -> Outcome:
    """``detector-app *argv`` in its own process (forked, or exec'd with ``--exec``)."""
    if not EXEC_MODE:
        return run_forked(_cli_main, list(argv), timeout=timeout, kill_rss_mb=kill_rss_mb)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "detector_app.cli", *argv], stdout=out, stderr=err,
                                env=env)
        rc, seconds, peak, killed = _watch(proc.pid, timeout, kill_rss_mb)
        proc.returncode = rc
        out.seek(0)
        err.seek(0)
        return Outcome(rc, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                       seconds, peak, killed)


def cli_problems(o: Outcome, ok_codes: Iterable[int] = (0, 2), time_limit: float | None = None,
                 rss_limit_mb: float = RSS_LIMIT_MB) -> list[str]:
    """What is wrong with a CLI run: killed, a traceback, an unexpected exit code, an
    error that is not one line (``detector-app CMD: error: ...``), too much memory or time."""
    problems = []
    if o.killed:
        problems.append(f"killed: {o.killed}")
    if "Traceback (most recent call last)" in o.stderr or "Traceback (most recent call last)" in o.stdout:
        last = [ln for ln in o.stderr.splitlines() if ln.strip()][-1:] or ["?"]
        problems.append(f"traceback: {last[0][:200]}")
    elif o.rc not in tuple(ok_codes) and not o.killed:
        problems.append(f"exit {o.rc}")
    errors = [ln for ln in o.stderr.splitlines() if "error:" in ln]
    if o.rc == 2 and "Traceback" not in o.stderr:
        if len(errors) != 1:
            problems.append(f"{len(errors)} error lines, not one")
        elif len(errors[0]) > 20_000:
            problems.append(f"an error line of {len(errors[0])} characters")
    if o.peak_rss_mb > rss_limit_mb:
        problems.append(f"peak RSS {o.peak_rss_mb:.0f} MB > {rss_limit_mb} MB")
    if time_limit is not None and o.seconds > time_limit:
        problems.append(f"{o.seconds:.1f} s > {time_limit:.0f} s")
    return problems


def first_line(o: Outcome) -> str:
    """The line that says what happened (the error, or the last line of output)."""
    for ln in o.stderr.splitlines():
        if "error:" in ln:
            return ln[:300]
    lines = [ln for ln in (o.stdout + o.stderr).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


# -- files -----------------------------------------------------------------------------
def write_image(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A small image with some structure (OpenCV-encoded, format by extension)."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), rng.integers(40, 200, 3), np.uint8)
    for _ in range(3):
        x, y = int(rng.integers(0, max(1, width - 8))), int(rng.integers(0, max(1, height - 8)))
        img[y:y + height // 3, x:x + width // 3] = rng.integers(0, 255, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise RuntimeError(f"cannot write {path}")
    return path


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def tree_digest(folder: Path) -> str:
    """A digest of every file (name and bytes) and link under ``folder`` (SQLite's
    ``-shm`` / ``-wal`` files, which a read-only open may create, left out)."""
    h = hashlib.sha1()
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if rel.endswith(("-shm", "-wal")):
            continue
        if p.is_symlink():
            h.update(f"L {rel} {os.readlink(p)}\n".encode())
        elif p.is_file():
            h.update(f"F {rel} ".encode() + hashlib.sha1(p.read_bytes()).digest())
    return h.hexdigest()


def files_reaching_outside(out: Path, inside: Sequence[Path], secrets: dict[str, Path]) -> list[str]:
    """What in ``out`` came from outside: a link resolving outside every folder of
    ``inside`` (and ``out``), or a file with the bytes of one of ``secrets``."""
    roots = [os.path.realpath(p) for p in (*inside, out)]
    secret_hashes = {sha1(p): name for name, p in secrets.items() if p.is_file()}
    found = []
    for p in out.rglob("*"):
        if p.is_symlink():
            target = os.path.realpath(p)
            if not any(target == r or target.startswith(r + os.sep) for r in roots):
                found.append(f"{p.relative_to(out)} -> {target}")
            continue
        if p.is_file() and p.stat().st_size < 50_000_000:
            name = secret_hashes.get(sha1(p))
            if name:
                found.append(f"{p.relative_to(out)} holds {name}")
    return found


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def table(cases: Sequence[Case]) -> str:
    """``probe | cases | failures`` and each failure with its first problem."""
    by: dict[str, list[Case]] = {}
    for c in cases:
        by.setdefault(c.probe, []).append(c)
    lines = ["| probe | cases | failures |", "|---|---|---|"]
    for probe, cs in by.items():
        lines.append(f"| {probe} | {len(cs)} | {sum(not c.ok for c in cs)} |")
    bad = [c for c in cases if not c.ok]
    if bad:
        lines.append("")
        lines.append("failures:")
        for c in bad:
            lines.append(f"  [{c.probe}] {c.name}: {'; '.join(c.problems)}" + (f" ({c.detail})" if c.detail else ""))
    return "\n".join(lines)
