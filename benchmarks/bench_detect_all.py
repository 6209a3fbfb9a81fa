"""Detect all on a folder: memory per image (resident set size as the job goes
through the folder, sampled after every image), disk per stored trace, seconds
per image, with the bundled model. The job keeps one trace in memory at a time,
so RSS must stay flat: its growth over the run divided by the images is the
"memory per image" of a 10,000-image folder.

    python benchmarks/bench_detect_all.py [--quick] [--json OUT] [--images 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Row, add_common_args, finish, rss_kb  # noqa: E402

from detector_app.app import jobs  # noqa: E402
from detector_app.app.detect_all import detect_all  # noqa: E402
from detector_app.app.trace_store import TraceStore  # noqa: E402
from detector_app.detection.synthetic import write_dataset  # noqa: E402

#: Flat memory: under 0.5 MB of resident growth per image (a 10,000-image folder then fits any laptop).
GROWTH_TARGET_KB = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_args(parser)
    parser.add_argument("--images", type=int, default=60)
    args = parser.parse_args()
    n = 16 if args.quick else args.images
    tmp = Path(tempfile.mkdtemp(prefix="bench_detect_all_"))
    try:
        write_dataset(tmp / "p", n, seed=7, size=512)
        detector, info = jobs.load_detector(None, "cpu")
        keys = sorted(str(p.relative_to(tmp / "p")) for p in (tmp / "p" / "images").glob("*.jpg"))
        traces = TraceStore(tmp / "p" / ".detector_app", info.cache_id)
        detector(__import__("numpy").zeros((512, 512, 3), "uint8"))  # warm up: first-call allocations
        samples: list[int] = []
        result = detect_all(tmp / "p", keys, detector, traces, on_done=lambda _k: samples.append(rss_kb()))
        warm = samples[min(3, len(samples) - 1)]
        half = len(samples) // 2  # the second half: allocator warm-up (arenas, caches) is over by then
        growth = (samples[-1] - samples[half]) / max(len(samples) - 1 - half, 1)
        disk = traces.size_bytes() / len(keys)
        rows = [
            Row("detect all", f"resident memory after {len(samples)} images", f"{samples[-1] / 1024:.0f} MB",
                note=f"{warm / 1024:.0f} MB after the 4th image; the model and one trace"),
            Row("detect all", "resident growth per image (second half of the run)", f"{growth:.0f} kB",
                f"< {GROWTH_TARGET_KB} kB", growth < GROWTH_TARGET_KB,
                "one trace in memory at a time: a 10,000-image folder needs the same"),
            Row("detect all", "disk per stored trace (512 px, bundled model)", f"{disk / 1e6:.2f} MB",
                note="compact form (anchors recomputed, deltas of candidates only): objectness of the 36,864 anchors "
                     "is most of it; 3 GB default bound per model"),
            Row("detect all", "seconds per image", f"{result.seconds / max(len(result.detected), 1):.2f} s",
                note=f"{info.device}; tracing + writing the trace"),
        ]
        finish("bench_detect_all", rows, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
