"""Shared helpers of the benchmark scripts: result rows, markdown tables,
``--quick`` / ``--json`` options, the machine description, process memory.

Every script builds a list of :class:`Row` (one measured quantity each, with
its target when the issue gives one), prints them as a markdown table and,
with ``--json PATH``, writes ``{"script", "quick", "machine", "rows"}`` for
``run_all.py``, which assembles ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: import the checkout's package
    sys.path.insert(0, str(ROOT))


@dataclass
class Row:
    """One measured quantity.

    ``ok``: ``True`` PASS, ``False`` MISS, ``None`` no target (information).
    ``note``: what the number means or, for a miss, its cause where known.
    """

    area: str
    what: str
    value: str
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a small, fast smoke run (numbers not meaningful)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON here")


def machine() -> dict[str, Any]:
    """CPU model, core count, memory, OS, Python / torch versions, GPU if any."""
    info: dict[str, Any] = {"python": platform.python_version(), "os": platform.platform(terse=True),
                            "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        info["cpu"] = names[0] if names else platform.processor()
    except OSError:
        info["cpu"] = platform.processor() or platform.machine()
    try:
        info["affinity_cores"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        pass
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kb = int(next(ln for ln in fh if ln.startswith("MemTotal")).split()[1])
        info["memory_gb"] = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover
        pass
    try:
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        pass
    return info


def rss_kb(field: str = "VmRSS") -> int:
    """This process's resident memory (``VmRSS``) or its peak (``VmHWM``), in KiB (Linux)."""
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs`` 5); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def table(rows: Sequence[Row], with_area: bool = False) -> str:
    """Rows as a markdown table."""
    head = (["area"] if with_area else []) + ["what", "target", "measured", "result", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = ([r.area] if with_area else []) + [r.what, r.target, r.value, r.verdict, r.note]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)


def finish(script: str, rows: Sequence[Row], args: argparse.Namespace, notes: Sequence[str] = ()) -> None:
    """Print the table (and notes); write the JSON when asked."""
    for n in notes:
        print(f"note: {n}")
    print(table(rows, with_area=len({r.area for r in rows}) > 1))
    if args.json:
        data = {"script": script, "quick": bool(args.quick), "machine": machine(),
                "rows": [asdict(r) for r in rows], "notes": list(notes)}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=1), encoding="utf-8")


__all__ = ["ROOT", "Row", "add_common_args", "finish", "machine", "median", "reset_peak_rss", "rss_kb", "table"]
