"""Training speed: iterations/s of the project's engine (``detection.training.train``)
vs a minimal plain torchvision loop, same model config, data, batch and SGD.

Data: a small synthetic shapes dataset (``detection.synthetic``), written once.
Both sides use the same ``TorchDetectionDataset`` (decode + seeded flip) and
``collate``, ``num_workers=0``, the same seed and initial weights; the plain loop
is ``loss = sum(model(images, targets).values()); zero_grad; backward; step``.
The engine adds what it is for: gradient clipping, a finite-loss check, loss
logging (CSV every ``log_every``), progress reports. Both use a constant
learning rate: the cost of an iteration depends on the weights (RoIAlign's
backward pass on CPU samples each proposal's bins adaptively, so bigger
proposals cost more), so the two runs must follow the same trajectory.
Runs alternate (engine, plain, plain, engine, ...); each rate is 1 / the
median time of iterations ``warm + 1 .. iters`` (model building, data loading
set-up and the end-of-epoch checkpoint are outside the window; a few
iterations slowed by other processes do not move it).

    python benchmarks/bench_training.py [--quick] [--json OUT] [--iters 24] [--rounds 2] [--profile]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from _common import ROOT, Row, add_common_args, finish, median  # noqa: E402
from torch.utils.data import DataLoader, RandomSampler  # noqa: E402

from detector_app.detection.builders import build_model  # noqa: E402
from detector_app.detection.config import ModelConfig  # noqa: E402
from detector_app.detection.datasets import TorchDetectionDataset, collate, load_detection_data  # noqa: E402
from detector_app.detection.synthetic import write_dataset  # noqa: E402
from detector_app.detection.training import LOSS_TERMS, TrainConfig, seed_everything, train  # noqa: E402

TARGET = 0.95
LR = 0.005
SEED = 0


def model_config(size: int) -> ModelConfig:
    """The bundled model's config at a smaller input size (so a CPU run takes seconds)."""
    cfg = ModelConfig.from_json((ROOT / "models" / "default_config.json").read_text(encoding="utf-8"))
    cfg.min_size = cfg.max_size = size
    return cfg


def _rate(stamps: list[float]) -> float:
    """Iterations/s from consecutive iteration end times: 1 / median iteration time
    (robust to a few iterations slowed by other processes on a noisy machine)."""
    return 1.0 / median([b - a for a, b in zip(stamps, stamps[1:])])


def engine_rate(data_dir: Path, out_dir: Path, mconf: ModelConfig, iters: int, batch: int, warm: int) -> float:
    """Iterations/s of ``train`` over iterations ``warm + 1 .. iters``."""
    stamps: dict[int, float] = {}

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        if warm <= p.done <= iters and p.done not in stamps:
            stamps[p.done] = time.perf_counter()

    cfg = TrainConfig(data=str(data_dir), out=str(out_dir / "engine.pt"), model_config=mconf, epochs=1,
                      iters=iters, batch=batch, lr=LR, warmup_iters=0, schedule="constant", seed=SEED, workers=0,
                      bn_recompute_images=0, log_every=10)
    result = train(cfg, progress=progress)
    if result.iterations < iters or len(stamps) != iters - warm + 1:
        raise RuntimeError(f"engine stopped after {result.iterations} iterations ({result.stopped})")
    return _rate([stamps[i] for i in range(warm, iters + 1)])


def plain_rate(data_dir: Path, mconf: ModelConfig, iters: int, batch: int, warm: int) -> float:
    """Iterations/s of a minimal torchvision training loop over iterations ``warm + 1 .. iters``."""
    seed_everything(SEED)
    data = load_detection_data(data_dir)
    mconf = ModelConfig.from_dict(mconf.to_dict())
    mconf.num_classes = len(data.class_names) + 1
    model = build_model(mconf)
    model.train()
    dataset = TorchDetectionDataset(data, hflip=True, seed=SEED)
    loader = DataLoader(
        dataset,
        batch_size=batch,
        sampler=RandomSampler(dataset, generator=torch.Generator().manual_seed(SEED)),
        collate_fn=collate,
        num_workers=0,
        drop_last=True,
    )
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=LR, momentum=0.9, weight_decay=1e-4)
    it, stamps = 0, []
    for images, targets in loader:
        loss_dict = model(images, targets)
        loss = sum(loss_dict[k] for k in LOSS_TERMS)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        it += 1
        if it >= warm:
            stamps.append(time.perf_counter())
        if it == iters:
            return _rate(stamps)
    raise RuntimeError(f"the dataset ran out after {it} iterations")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--iters", type=int, default=None, help="iterations per run (default 24, quick 6)")
    parser.add_argument("--rounds", type=int, default=None, help="engine/plain pairs (default 3, quick 1)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=None, help="image and model input size (default 320)")
    parser.add_argument("--profile", type=Path, metavar="OUT", help="cProfile one engine run into this .pstats file")
    args = parser.parse_args(argv)
    iters = args.iters or (6 if args.quick else 24)
    rounds = args.rounds or (1 if args.quick else 3)
    size = args.size or (192 if args.quick else 320)
    warm = max(2, iters // 6)
    work = Path(tempfile.mkdtemp(prefix="bench_training_"))
    try:
        data_dir = work / "data"
        write_dataset(data_dir, images=args.batch * (iters + 1), seed=SEED, size=size, fmt="png")
        mconf = model_config(size)
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
            engine_rate(data_dir, work, mconf, iters, args.batch, warm)
            prof.disable()
            prof.dump_stats(str(args.profile))
            print(f"profile written to {args.profile}")
        engine: list[float] = []
        plain: list[float] = []
        for r in range(rounds):
            order = ("engine", "plain") if r % 2 == 0 else ("plain", "engine")
            for which in order:
                if which == "engine":
                    engine.append(engine_rate(data_dir, work, mconf, iters, args.batch, warm))
                else:
                    plain.append(plain_rate(data_dir, mconf, iters, args.batch, warm))
        ratios = [e / p for e, p in zip(engine, plain)]
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    setting = (
        f"{mconf.builder} ({mconf.extra.get('norm', 'batch')} norm), {size}x{size} synthetic images, "
        f"batch {args.batch}, 1 / median time of iterations {warm + 1}-{iters}, {torch.get_num_threads()} threads; "
        "the engine with its defaults (gradient clipping 10, finite-loss check, CSV log), constant lr"
    )
    rows = [
        Row("training", "engine iterations/s", f"{median(engine):.3f} it/s",
            note=f"runs: {', '.join(f'{v:.3f}' for v in engine)}"),
        Row("training", "plain torchvision loop iterations/s", f"{median(plain):.3f} it/s",
            note=f"runs: {', '.join(f'{v:.3f}' for v in plain)}"),
        Row("training", "engine / plain (median of paired runs)", f"{median(ratios):.3f}", f">= {TARGET}",
            median(ratios) >= TARGET, setting),
    ]
    finish("bench_training", rows, args)


if __name__ == "__main__":
    main()
