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


@pytest.mark.slow
def test_two_process_gloo_training(tiny_coco: Path, tiny_config_json: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp.pt"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={find_free_port()}",
           "-m", "detector_app", "train", "--data", str(tiny_coco), "--config", str(tiny_config_json),
           "--iters", "3", "--batch", "1", "--warmup", "0", "--device", "cpu", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    # rank 0 alone reports and writes; the sampler gives each rank 1 of the 2 images,
    # so an epoch is 1 iteration and 3 iterations span 3 epochs
    assert proc.stdout.count("after 3 iterations") == 1
    assert "world size 2" in proc.stdout
    ckpt = load_checkpoint_dict(out)
    assert ckpt["meta"]["iteration"] == 3 and ckpt["meta"]["epoch"] == 3 and ckpt["meta"]["batch"] == 2
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])
    log = json.loads((tmp_path / "ddp.log.json").read_text())
    assert [h["iteration"] for h in log["history"]] == [1, 2, 3]
