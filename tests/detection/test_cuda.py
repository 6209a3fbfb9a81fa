"""The GPU path (skipped without a CUDA GPU; ``scripts/gpu_check.sh`` runs every
``cuda``-marked test): the bundled model on CUDA in float32 and fp16 AMP against
the CPU, ``trace`` against the plain forward, and the app's model loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from detector_app.app import jobs
from detector_app.detection.checkpoints import load_checkpoint
from detector_app.detection.hub import bundled_model_path
from detector_app.detection.inference import detect_images
from detector_app.detection.tracing import image_to_tensor, trace
from detector_app.media.images import read_image

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "resources" / "samples" / "images").glob("*.jpg"))
MODEL = bundled_model_path()

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not MODEL.is_file() or not SAMPLES, reason="needs models/default.pt and samples")]


def _arrays(results: list) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [(r.boxes, r.labels, r.scores) for r in results]


def _every_confident_box_found(a: tuple, b: tuple, min_iou: float) -> None:
    """Each detection of ``a`` scoring >= 0.5 has one of ``b`` scoring >= 0.4, same class, IoU >= min_iou."""
    (ba, la, sa), (bb, lb, sb) = a, b
    ka, kb = sa >= 0.5, sb >= 0.4
    if not ka.any():
        return
    assert kb.any()
    iou = box_iou(torch.from_numpy(ba[ka]), torch.from_numpy(bb[kb]))
    best = iou.max(1)
    assert (best.values >= min_iou).all(), best.values
    assert (la[ka] == lb[kb][best.indices.numpy()]).all()


def test_bundled_model_on_cuda_fp32_and_amp_find_what_the_cpu_finds() -> None:
    loaded = load_checkpoint(MODEL)
    cpu = _arrays(detect_images(loaded, SAMPLES, device="cpu", precision="fp32"))
    gpu = _arrays(detect_images(loaded, SAMPLES, device="cuda"))
    amp = _arrays(detect_images(loaded, SAMPLES, device="cuda", amp=True))
    assert sum(int((s >= 0.5).sum()) for _, _, s in cpu) >= 4  # real detections to compare
    for c, g, a in zip(cpu, gpu, amp):
        _every_confident_box_found(c, g, 0.98)  # float32 on both: rounding differences only
        _every_confident_box_found(g, c, 0.98)
        _every_confident_box_found(g, a, 0.9)  # fp16 autocast moves boxes a little
        _every_confident_box_found(a, g, 0.9)


def test_trace_on_cuda_equals_the_forward() -> None:
    model = load_checkpoint(MODEL).model.eval().to("cuda")
    rgb = read_image(SAMPLES[0])
    with torch.inference_mode():
        (ref,) = model([image_to_tensor(rgb, torch.device("cuda"))])
        tr = trace(model, rgb)
    np.testing.assert_allclose(tr.detection_boxes, ref["boxes"].cpu().numpy(), atol=1e-3)
    np.testing.assert_array_equal(tr.detection_labels, ref["labels"].cpu().numpy())
    np.testing.assert_allclose(tr.detection_scores, ref["scores"].cpu().numpy(), atol=1e-4)
    assert tr.anchors.shape[0] == tr.objectness_logits.shape[0] > 0


def test_app_loads_the_bundled_model_on_cuda_for_auto() -> None:
    detector, info = jobs.load_detector("default", "auto")
    assert info.device.startswith("cuda") and "bf16" not in info.device  # a GPU wins over CPU bf16
    tr = detector(read_image(SAMPLES[0]))
    assert (tr.detection_scores >= 0.5).any()
    assert isinstance(tr.detection_boxes, np.ndarray)
