"""Adversarial probes of Faster R-CNN Studio (the re-run of issue 16's probe set).

    PYTHONPATH=. nice -n 10 .venv/bin/python -m scripts.adversarial [PROBE ...] [--quick] [--work DIR]

Probes (all by default):

    kills         kill -9 while editing through the app's Session (undo commands, autosave, imports),
                  reopen: no committed edit lost, the stored state is a whole number of edits,
                  PRAGMA integrity_check is ok
    files         mutated annotation files of every format through ``convert`` and ``import``
    checkpoints   hostile checkpoints (code-running pickles, wrong shapes, bad configs, zip junk)
                  through model loading, ``detect`` and ``evaluate``
    images        odd images through ``detect`` and the Session
    paths         symlinks out, ``..``, absolute paths, NUL, long names for convert / export / import
    export-kills  kill -9 during ``export``: OUT is the previous complete export or the new one,
                  staging folders are removed by the next export

Each case runs in its own process (forked from this one; ``--exec`` runs the CLI cases as
``python -m detector_app.cli`` processes instead), watched for memory (pass: peak RSS under
1 GB) and time. A CLI case passes with exit 0, or exit 2 and one ``detector-app CMD: error:``
line, never a traceback. Prints a table (probe, cases, failures) and each failure; writes
``results.json`` in the work folder; exits 1 when a case failed. ``--quick`` runs a few
cases of each (the smoke test in tests/reliability does).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

PROBES = ("kills", "files", "checkpoints", "images", "paths", "export-kills")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.adversarial", description=__doc__.split("\n\n")[0])
    parser.add_argument("probes", nargs="*", metavar="PROBE", help=f"which probes ({', '.join(PROBES)}; default: all)")
    parser.add_argument("--quick", action="store_true", help="a few cases of each probe (a smoke test)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one, removed after)")
    parser.add_argument("--seed", type=int, default=16, help="seed of the random choices (default 16)")
    parser.add_argument("--exec", action="store_true", help="run CLI cases as python -m detector_app.cli processes")
    args = parser.parse_args(argv)
    probes = args.probes or list(PROBES)
    unknown = sorted(set(probes) - set(PROBES))
    if unknown:
        parser.error(f"unknown probe {', '.join(unknown)}; choose from {', '.join(PROBES)}")

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from scripts.adversarial import common

    common.EXEC_MODE = args.exec
    work = args.work or Path(tempfile.mkdtemp(prefix="adversarial_"))
    work.mkdir(parents=True, exist_ok=True)
    cases: list[common.Case] = []
    timings: dict[str, float] = {}
    try:
        from scripts.adversarial.datasets import make_bases

        bases = make_bases(work / "base")
        for probe in probes:
            start = time.monotonic()
            print(f"== {probe}", flush=True)
            got = _run(probe, work, bases, args.quick, args.seed)
            timings[probe] = time.monotonic() - start
            print(f"   {len(got)} cases, {sum(not c.ok for c in got)} failures, {timings[probe]:.0f} s", flush=True)
            cases += got
    finally:
        results = [{"probe": c.probe, "case": c.name, "ok": c.ok, "problems": c.problems, "detail": c.detail}
                   for c in cases]
        (work / "results.json").write_text(json.dumps({"timings_s": timings, "cases": results}, indent=1))
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(common.table(cases))
    return 0 if all(c.ok for c in cases) else 1


def _run(probe: str, work: Path, bases: dict[str, Path], quick: bool, seed: int) -> list:
    if probe == "files":
        from scripts.adversarial.files import probe_files

        return probe_files(work, bases, limit=12 if quick else None)
    if probe == "paths":
        from scripts.adversarial.paths import probe_paths

        return probe_paths(work, bases, quick=quick)
    if probe == "kills":
        from scripts.adversarial.kills import probe_edit_kills

        return probe_edit_kills(work, rounds=6 if quick else 260, seed=seed)
    if probe == "export-kills":
        from scripts.adversarial.kills import probe_export_kills

        return probe_export_kills(work, rounds=4 if quick else 40, seed=seed)
    if probe == "checkpoints":
        from scripts.adversarial.models import probe_checkpoints

        return probe_checkpoints(work, bases, quick=quick)
    from scripts.adversarial.models import probe_images

    return probe_images(work, quick=quick)


if __name__ == "__main__":
    sys.exit(main())
