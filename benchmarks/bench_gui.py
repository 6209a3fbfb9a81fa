"""GUI responsiveness and memory: event-loop stalls while the inference worker
runs detections, process start to first image shown, and the app's RSS with a
10,000-image folder open beyond a one-image folder (same model loaded in both).

* Stall: a 5 ms ``QTimer`` records its ticks on the GUI thread while the real
  ``qt.worker.InferenceWorker`` runs ``jobs.detect_item`` (the bundled model, or
  its config with random weights) on 512x512 images one after another; the
  longest gap between ticks minus the 5 ms period is the stall. Measured
  twice: with a bare worker (only the worker competes with the GUI thread) and
  with the real ``MainWindow`` going through images (loading each image and
  drawing each result on the GUI thread count too). The timer alone, idle,
  gives the machine's own jitter.
* Stall during Model > Detect all: the same timer while the window's Detect all
  job (its own model copy on a job thread) detects and stores the folder.
* Memory: the real ``MainWindow`` (model loaded) opens a one-image folder, then
  the 10,000-image folder (tiny PNGs; sizes are read lazily), twice; the RSS
  difference (after ``gc`` and ``malloc_trim``) is what the folder costs.
* Start-up: ``detector-app gui FOLDER`` in a subprocess with
  ``DETECTOR_APP_BENCH_EXIT`` set (hook in ``qt/app.py``): it prints when the
  first image has been painted (and, with ``ready``, when the model is loaded)
  and quits.

    python benchmarks/bench_gui.py [--quick] [--json OUT] [--images 10000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, Row, add_common_args, finish, median  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

STALL_TARGET_MS = 50.0
TICK_MS = 5


def _bundled_detector():  # type: ignore[no-untyped-def]
    from bench_detector import load_bundled

    from detector_app.app.jobs import ModelInfo, detect_item

    model, what = load_bundled()
    names = list(
        getattr(model, "class_names", None)
        or ["__background__", *(f"class {i}" for i in range(1, model.roi_heads.box_predictor.cls_score.out_features))]
    )
    return (lambda rgb: detect_item(model, rgb)), ModelInfo(name="bench", class_names=names), what


class Ticker:
    """Records the GUI thread's timer ticks (``time.perf_counter``)."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self) -> None:
        self.ticks.clear()
        self.timer.start()

    def stop(self) -> tuple[float, float]:
        """``(max gap, 99th percentile gap)`` minus the period, in ms."""
        self.timer.stop()
        gaps = sorted((b - a) * 1000.0 - TICK_MS for a, b in zip(self.ticks, self.ticks[1:]))
        if not gaps:
            return float("nan"), float("nan")
        return gaps[-1], gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))]


def _spin(app, until, timeout: float) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not until() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)


def stall_rows(n_images: int) -> list[Row]:
    from bench_detector import synthetic_image
    from PySide6.QtWidgets import QApplication

    from detector_app.qt.worker import InferenceWorker

    app = QApplication.instance() or QApplication([])
    detector, info, what = _bundled_detector()
    images = [synthetic_image(512, 512, seed=10 + i) for i in range(n_images)]
    ticker = Ticker()
    rows: list[Row] = []

    ticker.start()
    _spin(app, lambda: False, 1.0)
    idle_max, idle_p99 = ticker.stop()

    worker = InferenceWorker()
    worker.set_detector(detector, info)
    worker.start()
    done: list[float] = []
    worker.traceReady.connect(lambda key, trace, seconds: done.append(seconds))
    worker.failed.connect(lambda key, msg, details: done.append(float("nan")) or print(msg, details))
    worker.submit(-1, images[0])  # warm-up
    _spin(app, lambda: len(done) == 1, 300)
    done.clear()
    ticker.start()
    for i, rgb in enumerate(images):
        worker.submit(i, rgb)
        _spin(app, lambda i=i: len(done) == i + 1, 300)
    worst, p99 = ticker.stop()
    worker.stop()
    rows.append(Row("gui", f"event-loop stall while the worker detects ({n_images} x 512x512, bare worker)",
                    f"{worst:.1f} ms", f"< {STALL_TARGET_MS:.0f} ms", worst < STALL_TARGET_MS,
                    f"longest gap between {TICK_MS} ms timer ticks beyond the period; 99th percentile {p99:.1f} ms; "
                    f"idle timer alone: max {idle_max:.1f} ms; detection median {median(done) * 1000:.0f} ms; {what}"))

    rows.append(_window_stall(app, detector, info, images, ticker))
    rows.append(_detect_all_stall(app, detector, info, images, ticker))
    return rows


def _detect_all_stall(app, detector, info, images, ticker: Ticker) -> Row:  # type: ignore[no-untyped-def]
    """Model > Detect all over the folder: the job (its own copy of the bundled model, on a
    job thread) detects and stores every trace while the GUI thread takes the progress and
    marks the file list."""
    with _window_on(app, detector, info, images, "bench_gui_detect_all_") as (window, _traced):
        window.open_detect_all()
        dialog = window._detect_all  # noqa: SLF001
        dialog.only_unreviewed.setChecked(False)
        done: list[str] = []
        dialog.itemDone.connect(done.append)
        _spin(app, lambda: False, 0.2)
        ticker.start()
        dialog.start()
        _spin(app, lambda: dialog.job_thread is None and bool(done), 600)
        worst, p99 = ticker.stop()
        ok = len(done) == len(images)
        dialog.close()
    return Row("gui", f"event-loop stall during Detect all ({len(images)} images, its own model on a job thread)",
               f"{worst:.1f} ms", f"< {STALL_TARGET_MS:.0f} ms", worst < STALL_TARGET_MS,
               ("" if ok else f"ONLY {len(done)} OF {len(images)} DETECTED; ") + f"99th percentile {p99:.1f} ms; "
               "includes loading the job's model copy and the file list following each stored trace")


@contextlib.contextmanager
def _window_on(app, detector, info, images, prefix: str):  # type: ignore[no-untyped-def]
    """The images written to a temporary folder, opened in a window whose worker runs
    ``detector``, the first image detected: ``(window, traced keys)``; closed after."""
    from detector_app.media.images import write_image

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        for i, rgb in enumerate(images):
            write_image(folder / f"img{i:03d}.png", rgb)
        window, traced = _open_window(detector, info)
        window.open_paths([str(folder)])
        _spin(app, lambda: len(traced) >= 1, 300)  # the first image (opened) is detected: warm-up
        try:
            yield window, traced
        finally:
            _close_window(app, window)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _open_window(detector, info):  # type: ignore[no-untyped-def]
    """A shown 1280x800 main window whose worker runs ``detector``, and the list
    of record keys the worker has traced (grows as results arrive)."""
    from detector_app.qt.main_window import MainWindow
    from detector_app.qt.worker import InferenceWorker

    worker = InferenceWorker()
    worker.set_detector(detector, info)
    window = MainWindow(worker=worker)
    window.resize(1280, 800)
    window.show()
    traced: list[str] = []
    worker.traceReady.connect(lambda key, trace, seconds: traced.append(key))
    return window, traced


def _close_window(app, window) -> None:  # type: ignore[no-untyped-def]
    window.close()
    window.worker.stop()
    window.deleteLater()
    app.processEvents()


def _window_stall(app, detector, info, images, ticker: Ticker) -> Row:  # type: ignore[no-untyped-def]
    with _window_on(app, detector, info, images, "bench_gui_window_") as (window, traced):
        _spin(app, lambda: False, 0.2)
        ticker.start()
        for i in range(1, len(images)):
            window.session.go_to(i)
            _spin(app, lambda i=i: len(traced) >= i + 1, 300)
            _spin(app, lambda: False, 0.1)  # the result drawn
        worst, p99 = ticker.stop()
        ok = len(traced) >= len(images)
    return Row("gui", f"event-loop stall, main window going through {len(images) - 1} images "
               "(load, detect, draw each result)", f"{worst:.1f} ms", f"< {STALL_TARGET_MS:.0f} ms",
               worst < STALL_TARGET_MS,
               ("" if ok else "NOT ALL IMAGES WERE DETECTED; ") + f"99th percentile {p99:.1f} ms; "
               "includes the GUI thread's own work per image (decode, overlays from the trace)")


def _run_app(folder: Path, mode: str, config_dir: Path, model_args: list[str]) -> dict[str, dict]:
    env = dict(os.environ, DETECTOR_APP_BENCH_EXIT=mode, DETECTOR_APP_CONFIG_DIR=str(config_dir),
               QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    t0 = time.time()
    out = subprocess.run([sys.executable, "-m", "detector_app", "gui", str(folder), *model_args],
                         env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    events: dict[str, dict] = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            ev = json.loads(line)
            ev["after_s"] = ev["time"] - t0
            events[ev["event"]] = ev
    if "first-image" not in events:
        raise RuntimeError(f"the app did not report its first image (exit {out.returncode}): "
                           f"{out.stderr.strip()[-500:]}")
    return events


def app_rows(n_images: int, repeats: int) -> list[Row]:
    from bench_data import make_folder

    work = Path(tempfile.mkdtemp(prefix="bench_gui_app_"))
    weights = ROOT / "models" / "default.pt"
    model_args = [] if weights.is_file() else ["--model", "small"]
    model_note = ("bundled model" if weights.is_file()
                  else "models/default.pt absent: --model small (random weights)")
    rows: list[Row] = []
    try:
        one, many = work / "one", work / "many"
        make_folder(one, 1)
        make_folder(many, n_images)
        starts, readies = [], []
        for r in range(repeats):
            ev = _run_app(one, "ready", work / f"config{r}", model_args)
            starts.append(ev["first-image"]["after_s"])
            if "ready" in ev:
                readies.append(ev["ready"]["after_s"])
        rows.append(Row("gui", "process start to first image shown (one-image folder)",
                        f"{median(starts):.2f} s",
                        note=f"median of {repeats}: {', '.join(f'{v:.2f}' for v in starts)}; model loaded after "
                        f"{median(readies):.2f} s ({model_note}); Python + PySide6 + torch imports included"))
        big = _run_app(many, "first-image", work / "config_many", model_args)
        rows.append(Row("gui", f"process start to first image shown ({n_images}-image folder)",
                        f"{big['first-image']['after_s']:.2f} s", note="one run"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _live_rss_kb() -> int:
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    from _common import rss_kb

    return rss_kb()


def folder_memory_row(n_images: int) -> Row:
    """RSS of the real main window (model loaded, one image detected) with a one-image
    folder open, then with an ``n_images`` folder open, in this process."""
    from bench_data import make_folder
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    detector, info, what = _bundled_detector()
    work = Path(tempfile.mkdtemp(prefix="bench_gui_memory_"))
    try:
        make_folder(work / "one", 1)
        make_folder(work / "many", n_images)
        window, traced = _open_window(detector, info)
        samples = []
        for name in ("one", "many", "one", "many"):
            before = len(traced)
            t0 = time.perf_counter()
            window.open_paths([str(work / name)])
            _spin(app, lambda before=before: len(traced) > before, 300)
            opened = time.perf_counter() - t0
            _spin(app, lambda: False, 0.3)
            samples.append((name, _live_rss_kb(), opened))
        _close_window(app, window)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    deltas = [(b[1] - a[1]) / 1024 for a, b in zip(samples[0::2], samples[1::2])]
    opens = [s[2] for s in samples if s[0] == "many"]
    return Row("memory", f"app RSS with a {n_images}-image folder open, beyond a one-image folder",
               f"{median(deltas):.1f} MiB",
               note=f"main window with the model loaded ({what}), after gc + malloc_trim; twice: "
               f"{', '.join(f'{d:.1f}' for d in deltas)} MiB (differences of a few MiB either way are this "
               f"measurement's noise: allocator and model caches); RSS {samples[1][1] / 1024:.0f} MiB in all; "
               f"opening the folder until its first image was detected: {median(opens):.2f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--images", type=int, default=None, help="images in the big folder (default 10000)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DETECTOR_APP_CONFIG_DIR", tempfile.mkdtemp(prefix="bench_gui_config_"))
    rows = stall_rows(3 if args.quick else 8)
    n_big = args.images or (500 if args.quick else 10_000)
    rows.append(folder_memory_row(n_big))
    rows += app_rows(n_big, 1 if args.quick else 3)
    finish("bench_gui", rows, args)


if __name__ == "__main__":
    main()
