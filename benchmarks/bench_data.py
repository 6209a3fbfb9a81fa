"""Data layer speed: listing a 10,000-image project, header sizes, reopening an
annotated store, exporting 10,000 annotated images to each format, autosave latency.

Creates the images (small real PNGs, written by hand, 640x480 headers) in a
temporary folder, then prints one table (wall-clock seconds; latency in ms).

    python benchmarks/bench_data.py [--quick] [--json OUT] [--images 10000] [--boxes 3] [--edits 50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Row, add_common_args, finish  # noqa: E402

from detector_app.app.export import ExportOptions, export_dataset  # noqa: E402
from detector_app.app.store import DB_NAME, STORE_DIR, ProjectStore  # noqa: E402
from detector_app.domain import Annotation, Box, ItemState  # noqa: E402
from detector_app.formats import load_dataset  # noqa: E402


def _png_bytes(width: int, height: int) -> bytes:
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def make_folder(root: Path, n: int) -> None:
    data = _png_bytes(640, 480)
    for i in range(n):
        sub = root / f"part{i // 1000:02d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"img{i:05d}.png").write_bytes(data)


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


LIST_TARGET_S = 1.0
EXPORT_TARGET_S = 2.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--images", type=int, default=None, help="images in the project (default 10000)")
    parser.add_argument("--boxes", type=int, default=3, help="boxes per image")
    parser.add_argument("--edits", type=int, default=None, help="edits for the autosave latency (default 50)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    n_images = args.images or (500 if args.quick else 10_000)
    n_edits = args.edits or (10 if args.quick else 50)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_data_"))
    root = work / "project"
    rows: list[Row] = []
    notes: list[str] = []
    try:
        _, t = timed(lambda: make_folder(root, n_images))
        notes.append(f"created {n_images} PNGs (640x480 headers) in {t:.1f}s; project store on {root}")

        store, t = timed(lambda: ProjectStore(root, autosave_interval=None))
        rows.append(Row("data", f"open a new project: list {len(store.files)} images", f"{t:.3f} s",
                        f"< {LIST_TARGET_S:.0f} s" if n_images == 10_000 else "",
                        (t < LIST_TARGET_S) if n_images == 10_000 else None,
                        "folder scan + project store created"))
        _, t = timed(lambda: [store.ensure_size(f) for f in store.files])
        rows.append(Row("data", f"read {len(store.files)} image sizes from the file headers", f"{t:.3f} s",
                        note="done lazily by the app (when an image is shown or exported)"))

        def annotate() -> None:
            for k, f in enumerate(store.files):
                for b in range(args.boxes):
                    x = 10.0 + 50 * b + (k % 7)
                    store.add_annotation(f, Annotation(Box(x, 20.5, x + 40.25, 90), f"class{b % 3}"))
                store.set_state(f, ItemState.VERIFIED if k % 2 else ItemState.EDITED)
        _, t = timed(annotate)
        rows.append(Row("data", f"annotate in memory ({args.boxes} boxes/image)", f"{t:.3f} s"))
        _, t = timed(store.flush)
        rows.append(Row("data", "flush all records (one transaction)", f"{t:.3f} s"))
        store.close()

        store, t = timed(lambda: ProjectStore(root, autosave_interval=None))
        rows.append(Row("data", f"reopen the annotated project ({len(store.records())} records)", f"{t:.3f} s"))
        for fmt in ("coco", "voc", "yolo"):
            for mode in ("copy", "symlink"):
                out = work / f"export_{fmt}_{mode}"
                res, t = timed(lambda fmt=fmt, out=out, mode=mode: export_dataset(store, fmt, out, ExportOptions(
                    split=0.8, image_mode=mode, include_model_boxes=True)))
                target = n_images == 10_000
                rows.append(Row("data", f"export {res.images} images / {res.annotations} boxes as {fmt}, "
                                f"images {mode}{' (default)' if mode == 'copy' else ''}", f"{t:.2f} s",
                                f"< {EXPORT_TARGET_S:.0f} s" if target else "",
                                (t < EXPORT_TARGET_S) if target else None,
                                "80/20 split; staging folder synced once and renamed"))
            target_dir = out / "train" if fmt == "coco" else out
            ds, t = timed(lambda target_dir=target_dir: load_dataset(target_dir))
            rows.append(Row("data", f"load_dataset {fmt} ({len(ds.images)} images)", f"{t:.2f} s"))
        store.close()

        live = ProjectStore(root, autosave_interval=0.25)
        db = sqlite3.connect(str(root / STORE_DIR / DB_NAME))
        latencies = []
        key = live.files[0]
        for i in range(n_edits):
            ann = live.add_annotation(key, Annotation(Box(1, 1, 5 + i % 20, 9), "latency"))
            t0 = time.perf_counter()
            while True:
                (data,) = db.execute("SELECT data FROM records WHERE key = ?", (key,)).fetchone()
                if ann.id in data:
                    break
                time.sleep(0.005)
            latencies.append(time.perf_counter() - t0)
        db.close()
        live.close()
        latencies.sort()
        rows.append(Row("data", f"autosave latency, edit -> on disk (n={n_edits})",
                        f"median {statistics.median(latencies) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms",
                        note="autosave interval 0.25 s (the app's setting); polled every 5 ms"))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    finish("bench_data", rows, args, notes)


if __name__ == "__main__":
    main()
