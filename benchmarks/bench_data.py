"""Data layer speed: listing a 10,000-image project, header sizes, reopening an
annotated store, exporting 10,000 annotated images to each format, autosave latency.

Creates the images (small real PNGs, written by hand, 640x480 headers) in a
temporary folder, then prints one table (wall-clock seconds; latency in ms).

    python benchmarks/bench_data.py [--images 10000] [--boxes 3] [--edits 50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import struct
import tempfile
import time
import zlib
from pathlib import Path

from detector_app.app.export import ExportOptions, export_dataset
from detector_app.app.store import DB_NAME, STORE_DIR, ProjectStore
from detector_app.domain import Annotation, Box, ItemState
from detector_app.formats import load_dataset


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--boxes", type=int, default=3, help="boxes per image")
    parser.add_argument("--edits", type=int, default=50, help="edits for the autosave latency")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_data_"))
    root = work / "project"
    rows: list[tuple[str, str]] = []
    try:
        _, t = timed(lambda: make_folder(root, args.images))
        print(f"(created {args.images} PNGs in {t:.1f}s under {root})")

        store, t = timed(lambda: ProjectStore(root, autosave_interval=None))
        rows.append((f"open new project, list {len(store.files)} images", f"{t:.3f} s"))
        _, t = timed(lambda: [store.ensure_size(f) for f in store.files])
        rows.append((f"read {len(store.files)} sizes from headers", f"{t:.3f} s"))

        def annotate() -> None:
            for k, f in enumerate(store.files):
                for b in range(args.boxes):
                    x = 10.0 + 50 * b + (k % 7)
                    store.add_annotation(f, Annotation(Box(x, 20.5, x + 40.25, 90), f"class{b % 3}"))
                store.set_state(f, ItemState.VERIFIED if k % 2 else ItemState.EDITED)
        _, t = timed(annotate)
        rows.append((f"annotate in memory ({args.boxes} boxes/image)", f"{t:.3f} s"))
        _, t = timed(store.flush)
        rows.append(("flush all records (one transaction)", f"{t:.3f} s"))
        store.close()

        store, t = timed(lambda: ProjectStore(root, autosave_interval=None))
        rows.append((f"reopen annotated project ({len(store.records())} records)", f"{t:.3f} s"))
        for fmt in ("coco", "voc", "yolo"):
            for mode in ("symlink", "copy"):
                out = work / f"export_{fmt}_{mode}"
                res, t = timed(lambda: export_dataset(store, fmt, out, ExportOptions(
                    split=0.8, image_mode=mode, include_model_boxes=True)))
                rows.append((f"export {res.images} images / {res.annotations} boxes: {fmt}, {mode}", f"{t:.2f} s"))
            target = out / "train" if fmt == "coco" else out
            ds, t = timed(lambda: load_dataset(target))
            rows.append((f"load_dataset {fmt} ({len(ds.images)} images)", f"{t:.2f} s"))
        store.close()

        live = ProjectStore(root, autosave_interval=0.25)
        db = sqlite3.connect(str(root / STORE_DIR / DB_NAME))
        latencies = []
        key = live.files[0]
        for i in range(args.edits):
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
        rows.append((f"autosave latency, edit -> on disk (n={args.edits})",
                     f"median {statistics.median(latencies) * 1000:.0f} ms, "
                     f"max {latencies[-1] * 1000:.0f} ms"))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"| {'operation':<{width}} | {'time':<28} |")
    print(f"|{'-' * (width + 2)}|{'-' * 30}|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value:<28} |")


if __name__ == "__main__":
    main()
