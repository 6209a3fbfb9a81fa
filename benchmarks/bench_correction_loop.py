"""The correction loop, measured: a class the bundled model never saw (``cross``),
mixed with the five it knows; a simulated reviewer corrects N images through the
app's own session API; the app's own fine-tune job trains on them; held-out AP
of the new class and of the old ones, and the corrections a person still makes
per image, before and after.

    python benchmarks/bench_correction_loop.py [--quick] [--json OUT] [--sizes 10,25,50] [--iters 1200]

Data (all generated, nothing downloaded): the pool the reviewer corrects (seed
7100), a review set whose corrections are counted before / after (seed 7300)
and a new-class holdout (seed 7200), each 512 px with the six classes uniform;
the old classes' holdout is the model card's (seed 3000, five classes). The
reviewer (``app.simulated_review``) presses accept-all, deletes wrong boxes,
relabels, adjusts loose boxes (IoU < 0.75), draws what was missed and verifies;
"corrections" are its deletions + relabels + adjustments + drawn boxes.
Fine-tuning: ``jobs.run_finetune`` on the verified images (the new class
extends the class head; the heads train, the backbone stays, as the app's
default), a fixed number of iterations for every N (the CPU budget), its wall
time reported. Corrections are counted with the session's NMS per class (as
torchvision) and across classes (the toolbar's "across classes" box).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Row, add_common_args, finish  # noqa: E402
from _loop import (  # noqa: E402
    CLASSES,
    NEW_CLASS,
    ap50,
    copy_images,
    counts_note,
    label_and_finetune,
    per_image,
    review,
    truth_of,
)

from detector_app.app import jobs  # noqa: E402
from detector_app.detection.datasets import load_detection_data  # noqa: E402
from detector_app.detection.evaluation import evaluate_checkpoint  # noqa: E402
from detector_app.detection.synthetic import CLASS_NAMES, write_dataset  # noqa: E402

#: Targets of the loop (issue: corrections that measurably make the model better).
NEW_AP50_TARGET = 0.80
FORGET_TARGET = 0.02
FALL_TARGET = 0.50
BUDGET_S = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_args(parser)
    parser.add_argument("--sizes", default="10,25,50", help="corrected images per run (default 10,25,50)")
    parser.add_argument("--iters", type=int, default=1200, help="fine-tune iterations, every run (default 1200)")
    parser.add_argument("--lr", type=float, default=0.01, help="fine-tune learning rate (default 0.01)")
    parser.add_argument("--holdout", type=int, default=100, help="images per holdout (default 100)")
    parser.add_argument("--review", type=int, default=30, help="images whose corrections are counted (default 30)")
    parser.add_argument("--keep", type=Path, help="keep the generated data and checkpoints here")
    parser.add_argument("--scope", default="heads",
                        help="what the fine-tune trains: all, heads (default, the app's), roi_heads, predictor")
    args = parser.parse_args()
    sizes = [4] if args.quick else [int(s) for s in args.sizes.split(",")]
    iters = 6 if args.quick else args.iters
    n_hold, n_review = (8, 6) if args.quick else (args.holdout, args.review)
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench_loop_"))
    rows: list[Row] = []
    try:
        t0 = time.perf_counter()
        write_dataset(tmp / "pool", max(sizes), seed=7100, classes=CLASSES)
        write_dataset(tmp / "review", n_review, seed=7300, classes=CLASSES)
        write_dataset(tmp / "holdout_new", n_hold, seed=7200, classes=CLASSES)
        write_dataset(tmp / "holdout_old", n_hold, seed=3000)
        print(f"data written in {time.perf_counter() - t0:.0f} s to {tmp}", flush=True)
        hold_new, hold_old = load_detection_data(tmp / "holdout_new"), load_detection_data(tmp / "holdout_old")
        review_truth = truth_of(tmp / "review")
        pool_names = list(truth_of(tmp / "pool"))

        detector, info = jobs.load_detector(None, "cpu")
        assert info.path is not None
        base_new = evaluate_checkpoint(info.path, hold_new)
        base_old = evaluate_checkpoint(info.path, hold_old)
        base_counts, _ = review(copy_images(tmp / "review", tmp / "review_base"), detector, review_truth)
        base_across, _ = review(copy_images(tmp / "review", tmp / "review_base_x"), detector, review_truth,
                                across_classes=True)
        base_old_ap50 = ap50(base_old, CLASS_NAMES)
        rows += [
            Row("before", "old classes' AP50 (card's holdout)", f"{base_old_ap50:.3f}", note=f"{n_hold} images"),
            Row("before", f"{NEW_CLASS} AP50", f"{ap50(base_new, (NEW_CLASS,)):.3f}", note="a class the model lacks"),
            Row("before", "corrections per image (review set)", f"{per_image(base_counts):.2f}",
                note=counts_note(base_counts)),
            Row("before", "corrections per image, NMS across classes", f"{per_image(base_across):.2f}",
                note=counts_note(base_across)),
        ]
        print(f"base: old AP50 {base_old_ap50:.3f}, corrections/image {per_image(base_counts):.2f}", flush=True)
        for n in sizes:
            settings = jobs.FinetuneSettings(epochs=10_000, iters=iters, lr=args.lr, batch=2, device="cpu",
                                             scope=args.scope)
            run = label_and_finetune(tmp / "pool", tmp / f"loop_{n}", pool_names[:n], detector, info, settings)
            counts, seconds, ckpt = run.labelling, run.seconds, run.checkpoint
            new = evaluate_checkpoint(ckpt, hold_new)
            old = evaluate_checkpoint(ckpt, hold_old)
            tuned, _ = jobs.load_detector(ckpt, "cpu")
            after, _ = review(copy_images(tmp / "review", tmp / f"review_{n}"), tuned, review_truth)
            across, _ = review(copy_images(tmp / "review", tmp / f"review_{n}_x"), tuned, review_truth,
                               across_classes=True)
            fall_across = 1 - per_image(across) / max(per_image(base_across), 1e-9)
            new_ap50, old_ap50 = ap50(new, (NEW_CLASS,)), ap50(old, CLASS_NAMES)
            fall = 1 - per_image(after) / max(per_image(base_counts), 1e-9)
            final = n == max(sizes)
            rows += [
                Row(f"N={n}", "corrections per image while labelling the N", f"{per_image(counts):.2f}",
                    note=counts_note(counts)),
                Row(f"N={n}", f"fine-tune time ({iters} iterations of 2 images)", f"{seconds:.0f} s",
                    f"<= {BUDGET_S:.0f} s" if final else "", seconds <= BUDGET_S if final else None,
                    run.head_note),
                Row(f"N={n}", f"{NEW_CLASS} AP50 after", f"{new_ap50:.3f}",
                    f">= {NEW_AP50_TARGET}" if final else "", new_ap50 >= NEW_AP50_TARGET if final else None,
                    f"AP {new['per_class'][NEW_CLASS]['AP']:.3f}"),
                Row(f"N={n}", "old classes' AP50 change", f"{old_ap50 - base_old_ap50:+.3f}",
                    f">= -{FORGET_TARGET}", old_ap50 - base_old_ap50 >= -FORGET_TARGET, f"{old_ap50:.3f}"),
                Row(f"N={n}", "corrections per image after (review set)", f"{per_image(after):.2f}",
                    f"fall >= {FALL_TARGET:.0%}", fall >= FALL_TARGET, f"fall {fall:.0%}; {counts_note(after)}"),
                Row(f"N={n}", "corrections per image after, NMS across classes", f"{per_image(across):.2f}",
                    f"fall >= {FALL_TARGET:.0%}", fall_across >= FALL_TARGET,
                    f"fall {fall_across:.0%} (from {per_image(base_across):.2f}); {counts_note(across)}"),
            ]
            print(f"N={n}: {seconds:.0f} s, {NEW_CLASS} AP50 {new_ap50:.3f}, old {old_ap50:.3f}, "
                  f"corrections/image {per_image(after):.2f}, across classes {per_image(across):.2f}", flush=True)
        notes = [f"fine-tune: lr {args.lr}, batch 2, {iters} iterations, trains {args.scope}, CPU fp32, "
                 f"{os.cpu_count()} cores",
                 f"review set {n_review} images, holdouts {n_hold} images each"]
        whole = time.perf_counter() - t0
        rows.append(Row("run", "the whole benchmark (data, reviews, fine-tunes, evaluations)", f"{whole / 60:.1f} min",
                        "< 30 min", whole < 1800))
        finish("bench_correction_loop", rows, args, notes)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
