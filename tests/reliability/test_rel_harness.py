"""The adversarial probe harness (scripts/adversarial) runs, with a few cases of each
probe, and finds nothing: a smoke test that it keeps working (the full re-run, about 10
minutes, is ``python -m scripts.adversarial``; docs/reliability.md has its table)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_every_probe_runs_a_few_cases_and_passes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "scripts.adversarial", "--quick", "--work", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    probes = {c["probe"] for c in results["cases"]}
    assert probes == {"kill -9 while editing", "mutated files", "hostile checkpoints", "odd images", "path tricks",
                      "kill -9 during export"}
    assert all(c["ok"] for c in results["cases"])
