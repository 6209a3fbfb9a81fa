"""Measure the seed's RPN mechanisms against torchvision's on this project's models
(the numbers in docs/seed.md). CPU, about a minute.

    .venv/bin/python scripts/seed_numbers.py
"""

from __future__ import annotations

import torch

from detector_app.detection.builders import build_model
from detector_app.detection.config import ModelConfig
from detector_app.detection.seed_rpn import crosses_boundary


def boxes_for(h: int, w: int, n: int, seed: int) -> torch.Tensor:
    """``n`` boxes of 40-480 px sides (log-uniform) inside an ``h x w`` image."""
    g = torch.Generator().manual_seed(seed)
    side = torch.exp(torch.empty(n, 2).uniform_(torch.log(torch.tensor(40.0)).item(),
                                                torch.log(torch.tensor(480.0)).item(), generator=g))
    side = torch.minimum(side, torch.tensor([w - 2.0, h - 2.0]))
    x = torch.rand(n, generator=g) * (w - side[:, 0])
    y = torch.rand(n, generator=g) * (h - side[:, 1])
    return torch.stack([x, y, x + side[:, 0], y + side[:, 1]], 1)


def rpn_batch(model: torch.nn.Module, h: int, w: int, n: int, seed: int):
    torch.manual_seed(seed)
    image = torch.rand(3, h, w)
    target = {"boxes": boxes_for(h, w, n, seed), "labels": torch.ones(n, dtype=torch.int64)}
    images, targets = model.transform([image], [target])
    feats = model.backbone(images.tensors)
    feats = feats if isinstance(feats, dict) else {"0": feats}
    return images, feats, targets


def main() -> None:
    h, w = 600, 1000
    rows = []
    for builder in ("paper", "small"):
        cfg_tv = ModelConfig(builder=builder, num_classes=2, rpn_cross_boundary="keep", rpn_loss="torchvision")
        cfg_seed = ModelConfig(builder=builder, num_classes=2, rpn_cross_boundary="ignore", rpn_loss="seed")
        torch.manual_seed(0)
        tv = build_model(cfg_tv).train()
        seed = build_model(cfg_seed).train()
        seed.load_state_dict(tv.state_dict())
        pos_tv = pos_cross = pos_seed = anchors_n = cross_n = 0
        boxes_without = 0
        ratio_sum = 0.0
        trials = 5
        with torch.no_grad():
            for t in range(trials):
                images, feats, targets = rpn_batch(tv, h, w, 8, t)
                size = tuple(int(v) for v in images.image_sizes[0])
                anchors = tv.rpn.anchor_generator(images, list(feats.values()))
                crossing = crosses_boundary(anchors[0], size)
                lab_tv, _ = tv.rpn.assign_targets_to_anchors(anchors, targets)
                seed.rpn.set_batch(images, feats)
                lab_seed, matched = seed.rpn.assign_targets_to_anchors(anchors, targets)
                anchors_n += len(crossing)
                cross_n += int(crossing.sum())
                pos_tv += int((lab_tv[0] == 1).sum())
                pos_cross += int(((lab_tv[0] == 1) & crossing).sum())
                pos_seed += int((lab_seed[0] == 1).sum())
                gt = targets[0]["boxes"]
                covered = {tuple(b.tolist()) for b in matched[0][lab_seed[0] == 1]}
                boxes_without += sum(tuple(b.tolist()) not in covered for b in gt)
                torch.manual_seed(100 + t)
                _, loss_tv = tv.rpn(images, feats, targets)
                torch.manual_seed(100 + t)
                seed.rpn.ignore_cross_boundary = False  # the same sampled anchors: compare the loss alone
                _, loss_seed = seed.rpn(images, feats, targets)
                seed.rpn.ignore_cross_boundary = True
                ratio_sum += float(loss_tv["loss_rpn_box_reg"] / loss_seed["loss_rpn_box_reg"])
        rows.append(
            (
                builder,
                size,
                anchors_n // trials,
                cross_n / anchors_n,
                pos_tv / trials,
                pos_cross / max(pos_tv, 1),
                pos_seed / trials,
                boxes_without,
                ratio_sum / trials,
            )
        )
    print(f"{h}x{w} image, 8 boxes of 40-480 px, 5 seeds, random-weight models")
    print("builder  resized     anchors  crossing  positives(tv)  of them crossing  positives(paper)  "
          "boxes w/o positive(paper)  tv box loss / seed box loss")
    for b, size, a, c, p, pc, ps, bw, r in rows:
        print(f"{b:8s} {size[0]}x{size[1]:<6d} {a:7d}  {c:7.1%}  {p:13.1f}  {pc:16.1%}  {ps:16.1f}  {bw:25d}  {r:6.2f}")


if __name__ == "__main__":
    main()
