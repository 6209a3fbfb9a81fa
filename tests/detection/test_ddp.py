"""DistributedDataParallel: a 2-process CPU (gloo) run under torchrun completes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from detector_app.detection.distributed import DistInfo, find_free_port, init_distributed
from detector_app.detection.training import load_checkpoint_dict


def test_single_process_needs_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_distributed(torch.device("cpu"))
    assert info == DistInfo() and not info.enabled and info.is_main


def _torchrun(nproc: int, device: str, data: Path, config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={nproc}",
           "--master_addr=127.0.0.1", f"--master_port={find_free_port()}",
           "-m", "detector_app", "train", "--data", str(data), "--config", str(config),
           "--iters", "3", "--batch", "1", "--warmup", "0", "--device", device, "--out", str(out)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_two_process_gloo_training(tiny_coco: Path, tiny_config_json: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp.pt"
    proc = _torchrun(2, "cpu", tiny_coco, tiny_config_json, out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    # rank 0 alone reports and writes; the sampler gives each rank 1 of the 2 images,
    # so an epoch is 1 iteration and 3 iterations span 3 epochs
    assert proc.stdout.count("after 3 iterations") == 1
    assert "world size 2" in proc.stdout
    ckpt = load_checkpoint_dict(out)
    assert ckpt["meta"]["iteration"] == 3 and ckpt["meta"]["epoch"] == 3 and ckpt["meta"]["batch"] == 2
    assert ckpt["meta"]["distributed"] == "gloo"
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])
    log = json.loads((tmp_path / "ddp.log.json").read_text())
    assert [h["iteration"] for h in log["history"]] == [1, 2, 3]


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_one_process_torchrun_goes_through_the_process_group(device: str, tiny_coco: Path,
                                                            tiny_config_json: Path, tmp_path: Path) -> None:
    """``--nproc_per_node=1`` joins a process group too (gloo on CPU, NCCL on a GPU) and
    trains through DDP: the one-GPU check of the multi-GPU path. A plain run does not."""
    out = tmp_path / "one.pt"
    proc = _torchrun(1, device, tiny_coco, tiny_config_json, out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "after 3 iterations" in proc.stdout and "world size 1" in proc.stdout
    meta = load_checkpoint_dict(out)["meta"]
    assert meta["distributed"] == ("nccl" if device == "cuda" else "gloo") and meta["batch"] == 1
    plain = tmp_path / "plain.pt"
    from detector_app.cli import main

    assert main(["train", "--data", str(tiny_coco), "--config", str(tiny_config_json), "--iters", "1",
                 "--batch", "1", "--warmup", "0", "--device", device, "--out", str(plain)]) == 0
    assert load_checkpoint_dict(plain)["meta"]["distributed"] is None


@pytest.mark.slow
def test_two_process_detect_merges_into_one_file(tmp_path: Path) -> None:
    """``detect`` under torchrun: each of 2 CPU processes (gloo) detects every other image,
    rank 0 writes one JSON equal to a single-process run's, and one summary."""
    import numpy as np

    from detector_app.cli import main
    from detector_app.media.images import write_image
    from tests.helpers.models import make_tiny_checkpoint

    ckpt = make_tiny_checkpoint(tmp_path / "tiny.pt")
    rng = np.random.default_rng(0)
    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    for i in range(5):
        write_image(tmp_path / "imgs" / f"im{i}.png", rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    write_image(tmp_path / "imgs" / "sub" / "im0.png", rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    inputs = [str(tmp_path / "imgs"), str(tmp_path / "imgs" / "sub" / "im0.png")]
    single = tmp_path / "single.json"
    assert main(["detect", *inputs, "--model", str(ckpt), "--device", "cpu", "--precision", "fp32",
                 "--score-thresh", "0.0", "--json", str(single)]) == 0
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    merged = tmp_path / "merged.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={find_free_port()}", "-m", "detector_app", "detect",
           *inputs, "--model", str(ckpt), "--device", "cpu", "--precision", "fp32", "--score-thresh", "0.0",
           "--json", str(merged), "--save-overlays", str(tmp_path / "ov")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.count("6 image(s)") == 1 and "2 processes (gloo)" in proc.stdout
    a, b = json.loads(single.read_text()), json.loads(merged.read_text())
    assert len(b) == len(a) > 0 and sorted({d["image_id"] for d in b}) == [1, 2, 3, 4, 5, 6]
    key = lambda d: (d["image_id"], d["category_id"], round(d["score"], 4))  # noqa: E731
    for x, y in zip(sorted(a, key=key), sorted(b, key=key)):
        assert x["image_id"] == y["image_id"] and x["category_id"] == y["category_id"]
        assert x["bbox"] == pytest.approx(y["bbox"], abs=1e-3) and x["score"] == pytest.approx(y["score"], abs=1e-5)
    # one overlay per image, the two im0 stems told apart by their ids
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == ["im0_1.png", "im0_6.png", "im1.png", "im2.png",
                                                                  "im3.png", "im4.png"]
