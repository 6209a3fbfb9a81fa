"""Shared test set-up: headless Qt, GUI-thread garbage collection, isolated settings, a
local HTTP server, and the detection tests' tiny synthetic datasets and model config
(used by the detection and reliability tests)."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

import pytest  # noqa: E402

if TYPE_CHECKING:
    from detector_app.detection.config import ModelConfig


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
    destroy a previous test's window off the GUI thread, which can deadlock the two threads."""
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


# ---- tiny synthetic data and a tiny model (detection and reliability tests)

@pytest.fixture(scope="session")
def tiny_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 128 x 128 synthetic images (seed 7) as a COCO folder (read-only for tests)."""
    from detector_app.detection.synthetic import write_dataset

    out = tmp_path_factory.mktemp("tiny_coco")
    write_dataset(out, images=2, seed=7, size=128, fmt="png")
    return out


@pytest.fixture(scope="session")
def tiny_coco_two_classes(tmp_path_factory: pytest.TempPathFactory, tiny_coco: Path) -> Path:
    """The same two images, relabelled to two classes (``round``, ``angular``)."""
    data = json.loads((tiny_coco / "annotations.json").read_text())
    data["categories"] = [{"id": 1, "name": "round"}, {"id": 2, "name": "angular"}]
    for ann in data["annotations"]:
        ann["category_id"] = 1 if ann["category_id"] == 1 else 2
    out = tmp_path_factory.mktemp("tiny_two")
    (out / "annotations.json").write_text(json.dumps(data))
    (out / "images").symlink_to(tiny_coco / "images", target_is_directory=True)
    return out


def _tiny_config(num_classes: int = 6) -> ModelConfig:
    from detector_app.detection.config import ModelConfig

    return ModelConfig(
        builder="small", num_classes=num_classes, min_size=128, max_size=128,
        anchor_sizes=((16.0, 32.0, 64.0),), aspect_ratios=((0.5, 1.0, 2.0),),
        rpn_pre_nms_top_n_train=200, rpn_post_nms_top_n_train=100,
        rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=50,
    )


@pytest.fixture
def tiny_config() -> Callable[..., ModelConfig]:
    """Factory: the ``small`` model at 128 px with few proposals (a training step ~0.1 s)."""
    return _tiny_config


@pytest.fixture
def tiny_config_json(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_config.json"
    path.write_text(_tiny_config().to_json())
    return path


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch on one thread: on 2 shared cores, OpenMP threads spin while
    other processes hold the CPU (10x slower); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
