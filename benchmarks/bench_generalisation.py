"""How models generalise: COCO AP on three held-out sets, side by side.

- ``v1 holdout``: the first generator style, seed 3000 (the bundled model card's holdout);
- ``wide holdout``: the wide style (textures, clutter, occluders, any rotation, camera
  effects), seed 3000;
- ``foreign shapes``: the five classes drawn by independent code
  (``foreign_shapes.py``: anti-aliased OpenCV primitives, other proportions and looks),
  which no model here was trained on.

    python benchmarks/bench_generalisation.py [--models models/default.pt other.pt ...]
        [--images 200] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Row, add_common_args, finish  # noqa: E402
from foreign_shapes import write_foreign  # noqa: E402

from detector_app.detection.checkpoints import load_checkpoint  # noqa: E402
from detector_app.detection.datasets import load_detection_data  # noqa: E402
from detector_app.detection.evaluation import evaluate_model  # noqa: E402
from detector_app.detection.hub import bundled_model_path  # noqa: E402
from detector_app.detection.synthetic import write_dataset  # noqa: E402

HOLDOUT_SEED = 3000
FOREIGN_SEED = 0


def datasets(work: Path, images: int) -> dict[str, Path]:
    """Write the three held-out sets under ``work``; returns name -> folder."""
    out = {"v1 holdout": work / "v1", "wide holdout": work / "wide", "foreign shapes": work / "foreign"}
    write_dataset(out["v1 holdout"], images, HOLDOUT_SEED)
    write_dataset(out["wide holdout"], images, HOLDOUT_SEED, style="wide")
    write_foreign(out["foreign shapes"], images, FOREIGN_SEED)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--models", nargs="+", type=Path, help="checkpoints (default: the bundled model)")
    parser.add_argument("--images", type=int, default=None, help="images per set (default 200; --quick 6)")
    args = parser.parse_args(argv)
    images = args.images or (6 if args.quick else 200)
    models = args.models or [bundled_model_path()]
    work = Path(tempfile.mkdtemp(prefix="bench_generalisation_"))
    sets = {name: load_detection_data(folder) for name, folder in datasets(work, images).items()}
    rows: list[Row] = []
    for path in models:
        model = load_checkpoint(path).model.eval()
        for name, data in sets.items():
            t0 = time.perf_counter()
            m = evaluate_model(model, data, batch=1)
            scored = {k: v["AP50"] for k, v in m["per_class"].items() if v["AP50"] is not None}
            worst = min(scored, key=scored.__getitem__, default=None)
            weak = "" if worst is None else f"; weakest class {worst} (AP50 {scored[worst]:.3f})"
            rows.append(Row(path.name, f"{name}: AP / AP50", f"{m['AP']:.3f} / {m['AP50']:.3f}",
                            note=f"AP small {m['AP_small']:.3f}, AR@100 {m['AR100']:.3f}{weak}; "
                                 f"{time.perf_counter() - t0:.0f} s"))
    finish("bench_generalisation", rows, args,
           [f"{images} images per set (v1 and wide: seed {HOLDOUT_SEED}; foreign: seed {FOREIGN_SEED})"])


if __name__ == "__main__":
    main()
