"""``detector-app train``: train or fine-tune a detector (also under ``torchrun``)."""

from __future__ import annotations

import argparse

HELP = "train or fine-tune a Faster R-CNN on a COCO/VOC/YOLO dataset (runs under torchrun for DDP)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="training dataset (COCO folder or JSON; VOC/YOLO via formats)")
    parser.add_argument("--config", help="builder name (small, paper, resnet50_fpn, ...) or model config JSON; "
                        "default: the --init checkpoint's config, else small")
    parser.add_argument("--init", help="checkpoint to fine-tune from (box predictor replaced if classes differ)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--iters", type=int, help="stop after this many iterations in total")
    parser.add_argument("--batch", type=int, default=4, help="images per iteration per process (default 4)")
    parser.add_argument("--lr", type=float, default=0.02, help="base learning rate (default 0.02)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up iterations (default 100)")
    parser.add_argument("--schedule", choices=("cosine", "step", "constant"), default="cosine")
    parser.add_argument("--val", help="validation dataset: COCO mAP after every epoch")
    parser.add_argument("--val-limit", type=int, help="validate on the first N images only")
    parser.add_argument("--out", required=True, help="checkpoint to write (after every epoch)")
    parser.add_argument("--resume", action="store_true", help="continue the run that wrote --out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="data loader worker processes (default 0)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if available)")
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="CPU only: bf16 runs the backbone under bfloat16 autocast (fast on CPUs with "
                             "AMX / AVX-512-BF16, 3-20x slower elsewhere: a warning says so; weights stay "
                             "float32). Default fp32")
    parser.add_argument("--roi-batch", type=int,
                        help="RoIs sampled per image for the box head's loss (default: the model's, 512 "
                             "for torchvision builders); 128 trains faster on CPU")
    parser.add_argument("--no-flip", action="store_true", help="no horizontal-flip augmentation")
    from detector_app.detection.training_config import TRAIN_SCOPES  # torch-free

    parser.add_argument("--scope", choices=tuple(TRAIN_SCOPES), default="all",
                        help="what learns: all layers (default), heads (RPN + RoI heads, backbone frozen), "
                             "roi_heads, or predictor (the class and box layers only)")
    parser.add_argument("--freeze-bn", action="store_true",
                        help="re-estimate BatchNorm statistics once at the start, then keep them fixed "
                             "(use when fine-tuning or resuming a trained model)")
    parser.add_argument("--bn-images", type=int, default=200,
                        help="images for re-estimating BatchNorm statistics after each epoch / with --freeze-bn "
                             "(0: never; default 200)")


def run(args: argparse.Namespace) -> int:
    import os

    # Before torch loads OpenMP: idle threads sleep instead of spinning. On a
    # small shared CPU spinning threads make a training step ~10x slower.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from detector_app.commands._args import warn_if_bf16_is_slow
    from detector_app.detection.builders import select_device
    from detector_app.detection.distributed import env_world_size
    from detector_app.detection.training import TrainConfig, train
    from detector_app.textprogress import TextProgressBar

    cfg = TrainConfig(
        data=args.data, out=args.out, model=args.config, init=args.init, epochs=args.epochs,
        iters=args.iters, batch=args.batch, lr=args.lr, warmup_iters=args.warmup, schedule=args.schedule,
        val=args.val, val_limit=args.val_limit, resume=args.resume, seed=args.seed, workers=args.workers,
        device=args.device, amp=args.amp, hflip=not args.no_flip, freeze_bn=args.freeze_bn,
        bn_recompute_images=args.bn_images, precision=args.precision, roi_batch=args.roi_batch,
        scope=args.scope,
    )
    main = int(os.environ.get("RANK", "0")) == 0
    if main:
        warn_if_bf16_is_slow(args.precision, select_device(args.device).type)
    bar = TextProgressBar("train") if main else None
    result = train(cfg, progress=bar)
    if main:
        print(f"{result.stopped} after {result.iterations} iterations, {result.epochs_done} epochs, "
              f"{result.seconds:.0f} s (world size {env_world_size()})")
        if result.head_note:
            print(result.head_note)
        if result.checkpoint:
            print(f"checkpoint: {result.checkpoint}")
        if result.best_checkpoint:
            print(f"best (validation AP): {result.best_checkpoint}")
        for row in result.val_history:
            print(f"  epoch {row['epoch']}: AP {row['AP']:.3f} AP50 {row['AP50']:.3f} AP75 {row['AP75']:.3f}")
    return 0 if result.stopped != "cancelled" else 1
