"""Is "most useful first" worth it? AP after fine-tuning on N images chosen by the
app's ranking against N chosen at random from the same pool, same budget.

    python benchmarks/bench_review_order.py [--quick] [--json OUT] [--pool 150] [--n 25] [--seeds 3] [--iters 300]

The pool holds the five classes the bundled model knows and ``cross``, which it
does not (a shifted pool: the case where choosing matters). Ranked: Detect all
over the pool project (``app.detect_all``), then ``Session.rank_useful`` (the
order the file list's "Most useful first" shows), the top N. Random: N drawn
with seed s from the same pool. Each seed draws a new pool (generator seed
7100 + s), so both sides vary from run to run. Each chosen set is corrected by
the simulated reviewer and fine-tuned with the app's job (the same iterations,
fine-tune seed s). Scored on a six-class holdout: mean AP50 of all classes and
of ``cross``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Row, add_common_args, finish  # noqa: E402
from _loop import CLASSES, NEW_CLASS, ap50, label_and_finetune, truth_of  # noqa: E402

from detector_app.app import jobs
from detector_app.app.detect_all import detect_all  # noqa: E402
from detector_app.app.session import Session  # noqa: E402
from detector_app.app.trace_store import TraceStore  # noqa: E402
from detector_app.detection.datasets import load_detection_data  # noqa: E402
from detector_app.detection.evaluation import evaluate_checkpoint  # noqa: E402
from detector_app.detection.synthetic import write_dataset  # noqa: E402
from detector_app.domain.trace import Detector  # noqa: E402


def ranked_names(pool: Path, detector: Detector, info: jobs.ModelInfo, n: int) -> tuple[list[str], list[str]]:
    """The first ``n`` pool images in the app's "most useful first" order, and their reasons."""
    session = Session(score_thresh=0.5, detect_on_open=False)
    try:
        session.open_paths([pool])
        assert session.store is not None
        traces = TraceStore(session.store.store_dir, info.cache_id)
        detect_all(pool, list(session.items), detector, traces)
        session.set_model_id(info.cache_id)
        ranked = session.rank_useful()[:n]
        return [session.item_name(r.index) for r in ranked], [r.reason for r in ranked]
    finally:
        session.close()
        shutil.rmtree(pool / ".detector_app", ignore_errors=True)


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_args(parser)
    parser.add_argument("--pool", type=int, default=150, help="unreviewed images to choose from (default 150)")
    parser.add_argument("--n", type=int, default=25, help="images a person corrects (default 25)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument("--iters", type=int, default=300, help="fine-tune iterations per run (default 300)")
    parser.add_argument("--holdout", type=int, default=100, help="holdout images (default 100)")
    parser.add_argument("--scope", default="all", help="what the fine-tune trains (default all)")
    args = parser.parse_args()
    pool_n, n, seeds, iters, n_hold = ((12, 4, 1, 4, 8) if args.quick
                                       else (args.pool, args.n, args.seeds, args.iters, args.holdout))
    tmp = Path(tempfile.mkdtemp(prefix="bench_order_"))
    try:
        write_dataset(tmp / "holdout", n_hold, seed=7200, classes=CLASSES)
        holdout = load_detection_data(tmp / "holdout")
        detector, info = jobs.load_detector(None, "cpu")
        results: dict[str, list[tuple[float, float]]] = {"ranked": [], "random": []}
        boxes: dict[str, list[int]] = {"ranked": [], "random": []}
        reasons: list[str] = []
        for s in range(seeds):
            pool = tmp / f"pool_{s}"  # a pool per seed: both sides vary from run to run
            write_dataset(pool, pool_n, seed=7100 + s, classes=CLASSES)
            everything = list(truth_of(pool))
            useful, why = ranked_names(pool, detector, info, n)
            reasons += why
            truth = truth_of(pool)
            crosses = {name: sum(1 for lab in truth[name][1] if lab == NEW_CLASS) for name in everything}
            rng = np.random.default_rng(s)
            chosen = {"ranked": useful, "random": [everything[i] for i in sorted(rng.choice(len(everything), n,
                                                                                             replace=False))]}
            for side, names in chosen.items():
                settings = jobs.FinetuneSettings(epochs=10_000, iters=iters, batch=2, device="cpu", seed=s,
                                                 scope=args.scope)
                run = label_and_finetune(pool, tmp / f"{side}_{s}", names, detector, info, settings)
                metrics = evaluate_checkpoint(run.checkpoint, holdout)
                results[side].append((ap50(metrics, CLASSES), ap50(metrics, (NEW_CLASS,))))
                boxes[side].append(sum(crosses[name] for name in names))
                print(f"seed {s} {side}: AP50 {results[side][-1][0]:.3f}, {NEW_CLASS} {results[side][-1][1]:.3f}, "
                      f"{boxes[side][-1]} {NEW_CLASS} boxes, {run.seconds:.0f} s", flush=True)
        rows = []
        for side in ("ranked", "random"):
            rows += [
                Row(side, f"AP50, all six classes ({seeds} runs)", _mean_sd([a for a, _ in results[side]])),
                Row(side, f"{NEW_CLASS} AP50 ({seeds} runs)", _mean_sd([c for _, c in results[side]])),
                Row(side, f"{NEW_CLASS} boxes among the {n} images", _mean_sd([float(b) for b in boxes[side]])),
            ]
        gain = statistics.mean(a for a, _ in results["ranked"]) - statistics.mean(a for a, _ in results["random"])
        rows.append(Row("ranked - random", "AP50 gain, all classes", f"{gain:+.3f}", "> 0", gain > 0))
        kinds = Counter(r.split(" ", 1)[1] if r[:1].isdigit() else r for r in reasons)
        notes = [f"pool {pool_n} images per seed (generator seed 7100 + s), N = {n}, {iters} fine-tune iterations "
                 f"of 2 images ({args.scope}), holdout {n_hold}",
                 "reasons of the ranked images: " + "; ".join(f"{c} x {k}" for k, c in kinds.most_common())]
        finish("bench_review_order", rows, args, notes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
