"""Fixtures for the Qt tests: the documented fake trace (``tests.helpers.traces``),
its post-processing, a test image, and the real main window on a fake model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector_app.app.jobs import ModelInfo
from detector_app.app.settings import Settings
from detector_app.domain.trace import DetectionTrace, Fate, PostprocessResult
from detector_app.qt.main_window import MainWindow
from detector_app.qt.worker import InferenceWorker
from tests.helpers.files import write_images
from tests.helpers.models import FakeModel
from tests.helpers.traces import EXPECTED_FATE_DETECTION, EXPECTED_FATES, make_fake_trace


@pytest.fixture
def fake_trace() -> DetectionTrace:
    trace = make_fake_trace()
    assert [Fate(f) for f in trace.proposal_fate] == EXPECTED_FATES  # the fixture's promise
    assert trace.proposal_fate_detection.tolist() == EXPECTED_FATE_DETECTION
    return trace


@pytest.fixture
def fake_result(fake_trace: DetectionTrace) -> PostprocessResult:
    return fake_trace.postprocess()


@pytest.fixture
def rgb_image() -> np.ndarray:
    """``uint8[200, 300, 3]``: a dim gradient (so overlays stand out in pixel probes)."""
    y, x = np.mgrid[0:200, 0:300]
    img = np.stack([x * 60 // 300, y * 60 // 200, np.full_like(x, 30)], axis=2)
    return img.astype(np.uint8)


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def window(qtbot, tmp_path: Path, fake_model: FakeModel):
    """The real main window with the fake model, on ``proj/``: three images
    (``write_images``), the first one's trace shown."""
    worker = InferenceWorker()
    worker.set_detector(fake_model, ModelInfo("fake", list(fake_model.trace.class_names)))
    win = MainWindow(worker=worker, settings=Settings(tmp_path / "settings.json"))
    qtbot.addWidget(win)
    win.show()
    assert win.open_paths([str(write_images(tmp_path / "proj"))])
    qtbot.waitUntil(lambda: win.session.trace is not None, timeout=5000)
    yield win
    win.close()
    assert worker.stop()
