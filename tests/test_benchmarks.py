"""The correction-loop benchmark runs end to end (its --quick smoke run: tiny data, a few
iterations) and reports every row, so the script cannot rot between full runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _quick_rows(script: str, tmp_path: Path) -> list[dict[str, object]]:
    """Run ``benchmarks/<script> --quick --json`` and return its rows."""
    out = tmp_path / "rows.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--json", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    rows: list[dict[str, object]] = json.loads(out.read_text())["rows"]
    return rows


@pytest.mark.slow
def test_correction_loop_quick_run_reports_every_row(tmp_path: Path) -> None:
    rows = _quick_rows("bench_correction_loop.py", tmp_path)
    whats = [(r["area"], r["what"]) for r in rows]
    assert ("before", "cross AP50") in whats and ("before", "corrections per image (review set)") in whats
    assert [w for a, w in whats if a == "N=4"] == [
        "corrections per image while labelling the N", "fine-tune time (6 iterations of 2 images)",
        "cross AP50 after", "old classes' AP50 change", "corrections per image after (review set)",
        "corrections per image after, NMS across classes"]
    assert ("before", "corrections per image, NMS across classes") in whats
    assert whats[-1] == ("run", "the whole benchmark (data, reviews, fine-tunes, evaluations)")
    before = {r["what"]: r for r in rows if r["area"] == "before"}
    assert before["cross AP50"]["value"] == "0.000"  # the bundled model has no cross class
    assert "drawn" in before["corrections per image (review set)"]["note"]
    assert "involve a cross" in before["corrections per image (review set)"]["note"]


@pytest.mark.slow
def test_generalisation_quick_run_scores_three_sets(tmp_path: Path) -> None:
    rows = _quick_rows("bench_generalisation.py", tmp_path)
    assert [r["what"] for r in rows] == ["v1 holdout: AP / AP50", "wide holdout: AP / AP50",
                                         "foreign shapes: AP / AP50"]
    for r in rows:
        ap, ap50 = (float(v) for v in r["value"].split(" / "))
        assert 0.0 < ap <= ap50 <= 1.0, r


@pytest.mark.slow
def test_backbones_quick_run_times_every_design_against_the_reference(tmp_path: Path) -> None:
    rows = _quick_rows("bench_backbones.py", tmp_path)
    assert rows[0]["what"].endswith("(reference)") and rows[0]["value"].endswith("(1.00x)")
    assert len(rows) == 7 and all(r["note"].endswith("M parameters") for r in rows)
    params = {r["what"]: float(r["note"].split()[0]) for r in rows}
    assert params["lite 32/64/128, GroupNorm"] < params["ResNet-18 s8, GroupNorm (reference)"] / 3
