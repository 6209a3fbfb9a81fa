"""Shared test set-up: headless Qt, deterministic torch, small helpers."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _gc_on_main_thread(request: pytest.FixtureRequest):
    """Tests that drive Qt run without automatic cyclic gc, and collect on the
    main thread once pytest-qt has closed their widgets (what the app does with
    ``qt.gc_guard.GuiThreadCollector``): a collection on a worker thread could
    destroy a previous test's window off the GUI thread (a CI run hung so)."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        if was:
            gc.enable()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep user config (QSettings, torch hub cache) out of the tests."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DETECTOR_APP_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
