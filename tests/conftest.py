"""Shared test set-up: headless Qt, deterministic torch, small helpers."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` need a CUDA GPU and are skipped without one
    (``scripts/gpu_check.sh`` runs them where there is one).

    Tests marked ``fast_bf16`` run a real model in bfloat16, which takes seconds
    per image where the CPU has no fast bf16 kernels (5.3 s against 0.27 s in
    float32 for the bundled model on an AVX2-only CPU): they are skipped there,
    with the measured reason. Probed once, and only when such a test is collected."""
    cuda = [item for item in items if item.get_closest_marker("cuda")]
    if cuda:
        import torch

        if not torch.cuda.is_available():
            skip_cuda = pytest.mark.skip(reason="needs a CUDA GPU (run scripts/gpu_check.sh on one)")
            for item in cuda:
                item.add_marker(skip_cuda)
    marked = [item for item in items if item.get_closest_marker("fast_bf16")]
    if not marked:
        return
    from detector_app.detection.precision import bf16_is_fast, bf16_probe

    if bf16_is_fast():
        return
    skip = pytest.mark.skip(reason=f"needs fast CPU bf16: {bf16_probe().reason()}")
    for item in marked:
        item.add_marker(skip)


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


@pytest.fixture
def local_server():
    """A :class:`local_server.LocalServer` on 127.0.0.1, stopped after the test."""
    from local_server import LocalServer

    server = LocalServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def zoo_weights(tmp_path_factory: pytest.TempPathFactory):
    """A random-weight COCO MobileNetV3 320 FPN file with a matching hash prefix (``local_server.make_zoo_weights``)."""
    from local_server import make_zoo_weights

    return make_zoo_weights(tmp_path_factory.mktemp("zoo"))
