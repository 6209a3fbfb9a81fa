"""The reliability tests reuse the detection tests' tiny dataset and model config."""

from tests.detection.conftest import one_thread, tiny_coco, tiny_config  # noqa: F401
