"""Detect all: traces stored on disk per project and model, one image in memory at a
time; pause, cancel, unreadable images; the session shows stored traces without
asking the worker; the CLI writes them into a project."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from detector_app.app.detect_all import detect_all, image_keys
from detector_app.app.store import ProjectStore
from detector_app.app.trace_store import TraceStore, model_id
from detector_app.domain.annotations import ItemState
from detector_app.domain.errors import Cancelled
from detector_app.domain.trace import DetectionTrace
from detector_app.domain.usefulness import SIGNALS_VERSION, signals
from detector_app.media.images import write_image
from tests.helpers.traces import make_fake_trace

ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path, n: int = 4) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    for i in range(n):
        write_image(root / f"img{i}.png", np.full((40, 60, 3), 20 * i, np.uint8))
    return root


class CountingDetector:
    """The fake trace for any image; counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, rgb: np.ndarray):
        self.calls += 1
        return make_fake_trace()


def test_trace_store_round_trip_bound_and_damage(tmp_path: Path) -> None:
    traces = TraceStore(tmp_path, "m1")
    t = make_fake_trace()
    assert traces.get("a.png") is None and not traces.has("a.png")
    traces.put("a.png", t)
    back = traces.get("a.png")
    assert back is not None and np.array_equal(back.proposals, t.proposals) and back.class_names == t.class_names
    size = traces.size_bytes()
    small = TraceStore(tmp_path, "m2", max_bytes=int(size * 2.5))
    for k in range(5):
        small.put(f"{k}.png", t)
    assert small.count() <= 2 and small.size_bytes() <= size * 2.5  # the oldest went first
    assert small.has("4.png") and not small.has("0.png")
    small._path("4.png").write_bytes(b"PK\x03\x04 not a whole trace")  # noqa: SLF001
    assert small.get("4.png") is None
    assert model_id("x.pt", "small", "cpu") != model_id("x.pt", "small", "cpu bf16")


def test_detect_all_stores_skips_and_reports(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "broken.png").write_bytes(b"not a png")
    traces = TraceStore(tmp_path / "store", "m")
    det = CountingDetector()
    done: list[str] = []
    seen = []
    result = detect_all(root, ["img0.png", "img1.png", "broken.png"], det, traces, progress=seen.append,
                        on_done=done.append)
    assert result.detected == done == ["img0.png", "img1.png"] and det.calls == 2
    assert len(result.skipped) == 1 and result.skipped[0].startswith("broken.png: ")
    assert [p.done for p in seen] == [1, 2, 3] and seen[-1].total == 3 and seen[0].message == "img0.png"
    again = detect_all(root, ["img0.png", "img1.png", "img2.png"], det, traces)
    assert again.already == 2 and again.detected == ["img2.png"] and det.calls == 3
    assert "detected 1 image(s)" in again.summary() and "2 already stored" in again.summary()


def test_usefulness_is_judged_at_the_display_threshold(tmp_path: Path) -> None:
    """Not at the model's internal 0.05, where every background proposal counted as "unsure"."""
    root = _project(tmp_path, 1)

    def trace_uncapped() -> DetectionTrace:
        t = make_fake_trace()
        t.detections_per_img = 100
        return t

    traces = TraceStore(tmp_path / "store", "m")
    detect_all(root, ["img0.png"], lambda rgb: trace_uncapped(), traces)
    at_display = signals(trace_uncapped(), trace_uncapped().postprocess(score_thresh=0.5), 0.5)
    at_model = signals(trace_uncapped(), trace_uncapped().postprocess(score_thresh=0.05), 0.05)
    assert at_display != at_model
    assert {k: v for k, v in traces.summaries()["img0.png"].items() if k != "key"} == at_display


def test_pause_holds_and_cancel_keeps_what_is_stored(tmp_path: Path) -> None:
    root = _project(tmp_path)
    traces = TraceStore(tmp_path / "store", "m")
    pause, cancel = threading.Event(), threading.Event()
    det = CountingDetector()

    def on_done(key: str) -> None:
        if key == "img1.png":
            pause.set()  # the next image waits

    thread = threading.Thread(target=lambda: _run(root, det, traces, pause, cancel, on_done))
    thread.start()
    import time

    deadline = time.monotonic() + 10
    while det.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert det.calls == 2  # held by the pause
    cancel.set()
    thread.join(5)
    assert not thread.is_alive() and isinstance(_run.error, Cancelled)  # type: ignore[attr-defined]
    assert traces.count() == 2


def _run(root, det, traces, pause, cancel, on_done) -> None:  # type: ignore[no-untyped-def]
    try:
        detect_all(root, [f"img{i}.png" for i in range(4)], det, traces, pause=pause, cancel=cancel, on_done=on_done)
        _run.error = None  # type: ignore[attr-defined]
    except Cancelled as exc:
        _run.error = exc  # type: ignore[attr-defined]


def test_image_keys_skip_videos_and_reviewed(tmp_path: Path) -> None:
    root = _project(tmp_path, 3)
    shutil.copy(ROOT / "resources" / "samples" / "shapes.mp4", root / "clip.mp4")
    with ProjectStore(root, autosave_interval=None) as store:
        store.set_state("img1.png", ItemState.VERIFIED)
        assert image_keys(store, False) == ["img0.png", "img1.png", "img2.png"]
        assert image_keys(store, True) == ["img0.png", "img2.png"]


def test_session_shows_stored_traces_without_the_worker(tmp_path: Path) -> None:
    from detector_app.app.session import Event, Session

    root = _project(tmp_path, 3)
    session = Session()
    asked: list[str] = []
    session.subscribe(Event.DETECT, lambda key, *_: asked.append(key))
    session.open_paths([str(root)])
    assert asked == ["img0.png"]
    traces = TraceStore(session.store.store_dir, "model-x")  # type: ignore[union-attr]
    detect_all(root, ["img1.png", "img2.png"], CountingDetector(), traces)
    session.set_model_id("model-x")
    session.go_to(1)
    assert session.trace is not None and asked == ["img0.png"]  # from disk, no detection asked
    session.on_stored_trace("img2.png")
    assert session.item_state(2) is ItemState.DETECTED
    session.set_model_id("another-model")  # another model's traces are not these
    session.forget_traces()
    session.go_to(2)
    assert asked[-1] == "img2.png"
    session.close()


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "models" / "default.pt").is_file(), reason="needs models/default.pt")
def test_cli_detect_all_writes_traces_and_states(tmp_path: Path, capsys) -> None:
    from detector_app.cli import main

    project = tmp_path / "samples"
    shutil.copytree(ROOT / "resources" / "samples" / "images", project / "images")
    assert main(["detect-all", str(project), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "4 image(s) of" in out and "detected 4 image(s)" in out and "4 trace(s)" in out
    with ProjectStore(project, autosave_interval=None) as store:
        assert {store.record(k).state for k in store.files} == {ItemState.DETECTED}
        store.set_state("images/000001.jpg", ItemState.VERIFIED)
        store.flush()
    assert main(["detect-all", str(project), "--device", "cpu", "--only-unreviewed"]) == 0
    out = capsys.readouterr().out
    assert "3 image(s) of" in out and "3 already stored" in out
    from detector_app.app.jobs import load_detector

    summaries = TraceStore(project / ".detector_app", load_detector(None, "cpu")[1].cache_id).summaries()
    assert len(summaries) == 4 and all(s["v"] == SIGNALS_VERSION for s in summaries.values())
    assert main(["detect-all", str(project), "--device", "cpu", "--score-thresh", "1.5"]) == 2
    assert "--score-thresh must be between 0 and 1" in capsys.readouterr().err
