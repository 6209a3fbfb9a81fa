"""``scripts/gpu_check.sh`` and ``benchmarks/bench_gpu.py`` where there is no GPU:
they say so and succeed; the GPU section of docs/benchmarks.md is spliced, and kept
by ``run_all.py``'s rewrite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_gpu import END, START, gpu_block, main, splice_gpu_section  # noqa: E402


def test_gpu_check_without_a_gpu_says_so_and_exits_0(tmp_path: Path) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable, "OUT": str(tmp_path)}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == (
        f"gpu_check: no CUDA GPU here (torch.cuda.is_available() is False with {sys.executable}): nothing to check")
    assert list(tmp_path.iterdir()) == []  # nothing run, nothing written


def test_bench_gpu_without_a_gpu_measures_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    doc = tmp_path / "b.md"
    doc.write_text("# Benchmarks\n")
    assert main(["--doc", str(doc)]) == 0
    assert "no CUDA GPU here" in capsys.readouterr().out and doc.read_text() == "# Benchmarks\n"


def test_gpu_section_is_appended_then_replaced_and_survives_a_rewrite() -> None:
    doc = "# Benchmarks\n\n## Summary\n\nrows\n"
    once = splice_gpu_section(doc, "## GPU\n\nH200 rows v1\n")
    assert once == doc.rstrip() + f"\n\n{START}\n## GPU\n\nH200 rows v1\n{END}\n"
    twice = splice_gpu_section(once + "\n## After\n", "## GPU\n\nv2\n")
    assert twice.count(START) == 1 and "v1" not in twice and twice.endswith(f"{END}\n\n## After\n")
    assert gpu_block(twice) == "## GPU\n\nv2" and gpu_block(doc) is None
    # what run_all does: a freshly rendered report takes the block of the old file
    fresh = "# Benchmarks\n\n## Summary\n\nnew rows\n"
    assert gpu_block(splice_gpu_section(fresh, gpu_block(twice) or "")) == "## GPU\n\nv2"
