"""DistributedDataParallel plumbing for the training engine.

``torchrun --nproc_per_node=N -m detector_app train ...`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them and joins the process group (gloo on
CPU, NCCL on CUDA). Without them everything runs as one process.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        """In a process group (launched by torchrun), even of one process."""
        return bool(self.backend)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def launched_by_torchrun() -> bool:
    """torchrun (torch.distributed.run) sets these for every process it starts."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun, also with one process
    (``--nproc_per_node=1``: the same DDP / NCCL path as N, so a one-GPU run
    checks it); a plain ``python -m detector_app train`` gets ``DistInfo()``.

    With CUDA the process uses GPU ``LOCAL_RANK`` and the NCCL backend, else gloo.
    """
    if not launched_by_torchrun():
        return DistInfo()
    world = env_world_size()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local_rank, backend)


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_finite(info: DistInfo, value: torch.Tensor) -> bool:
    """True when ``value`` (any shape) is finite on every rank."""
    ok = torch.tensor([1.0 if bool(torch.isfinite(value).all()) else 0.0], device=value.device)
    if info.enabled:
        dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    return bool(ok.item() > 0.5)


def mean_over_ranks(info: DistInfo, values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average scalar metrics over ranks (for logging only)."""
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= info.world_size
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def broadcast_flag(info: DistInfo, flag: bool, device: torch.device) -> bool:
    """Rank 0's ``flag`` on every rank (e.g. "cancel was asked for")."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def find_free_port() -> int:
    """A TCP port free on localhost right now (for ``MASTER_PORT`` in tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
