"""The seed's (the Faster R-CNN paper's) RPN training rules, as options on torchvision's RPN.

torchvision's ``RegionProposalNetwork`` differs from the paper in two training
rules, and this module offers the paper's as a subclass that overrides only
those two steps (inference is untouched):

* **Cross-boundary anchors.** The paper ignores, during training, anchors that
  cross the (resized) image boundary: they are neither positive nor negative,
  and the "best anchor of a ground-truth box" rule only looks at the anchors
  inside. torchvision labels them all. :meth:`SeedRPN.assign_targets_to_anchors`
  runs torchvision's own assignment on the inside anchors only and marks the
  others ignored (-1), so the sampler never draws them.
* **The loss.** The seed's
  ``L = 1/Ncls * sum_i Lcls(p_i, p*_i) + lambda * 1/Nreg * sum_i p*_i Lreg(t_i, t*_i)``
  with ``Ncls`` the sampled anchors (256 per image), ``Nreg`` the number of anchor
  *locations* (about 2400 for a 1000x600 image at stride 16), ``lambda = 10`` and
  smooth L1 with beta 1 (Fast R-CNN's); torchvision sums smooth L1 with beta 1/9
  over the positives and divides by the sampled anchors, weight 1.
  :func:`seed_rpn_loss` is that formula; :meth:`SeedRPN.compute_loss` uses it.

:func:`apply_rpn_options` turns a built model's RPN into a :class:`SeedRPN`
(in place: the same submodules and buffers, so state dicts are unchanged).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 (torch's convention)
from torch import Tensor
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork

#: The seed's RPN loss constants (lambda and Fast R-CNN's smooth L1 beta).
SEED_LAMBDA = 10.0
SEED_BETA = 1.0


def crosses_boundary(anchors: Tensor, image_size: tuple[int, int], border: float = 0.0) -> Tensor:
    """``bool[A]``: anchors (``[A, 4]``, resized pixels) reaching more than ``border``
    pixels outside the ``(H, W)`` image."""
    h, w = image_size
    return ((anchors[:, 0] < -border) | (anchors[:, 1] < -border)
            | (anchors[:, 2] > w + border) | (anchors[:, 3] > h + border))


def seed_rpn_loss(objectness: Tensor, box_deltas: Tensor, labels: Tensor, targets: Tensor,
                  sampled_pos: Tensor, sampled_neg: Tensor, num_locations: int,
                  lam: float = SEED_LAMBDA, beta: float = SEED_BETA) -> tuple[Tensor, Tensor]:
    """The seed's two RPN loss terms (classification, lambda-weighted regression).

    Args:
        objectness: ``float[A]`` logits; ``box_deltas``, ``targets``: ``float[A, 4]``.
        labels: ``float[A]`` 1 positive, 0 negative (others unused).
        sampled_pos, sampled_neg: ``int64`` indices of the sampled anchors.
        num_locations: ``Nreg``, the anchor locations (feature-map cells) of the batch.

    Returns:
        ``(1/Ncls * sum BCE over the sampled, lambda/Nreg * sum over sampled positives smooth_L1)``.
    """
    sampled = torch.cat([sampled_pos, sampled_neg])
    n_cls = max(int(sampled.numel()), 1)
    cls = F.binary_cross_entropy_with_logits(objectness[sampled], labels[sampled], reduction="sum") / n_cls
    reg = F.smooth_l1_loss(box_deltas[sampled_pos], targets[sampled_pos], beta=beta, reduction="sum")
    return cls, lam * reg / max(int(num_locations), 1)


class SeedRPN(RegionProposalNetwork):
    """torchvision's RPN with the seed's training rules where switched on (module docstring)."""

    ignore_cross_boundary: bool = False
    seed_loss: bool = False

    def forward(self, images: ImageList, features: dict[str, Tensor],
                targets: list[dict[str, Tensor]] | None = None) -> tuple[list[Tensor], dict[str, Tensor]]:
        # the two overridden steps need what only forward sees
        self.set_batch(images, features)
        return super().forward(images, features, targets)

    def set_batch(self, images: ImageList, features: dict[str, Tensor]) -> None:
        """Remember the batch's image sizes and anchor locations (``forward`` does;
        call it before :meth:`assign_targets_to_anchors` outside ``forward``)."""
        self._image_sizes = [(int(h), int(w)) for h, w in images.image_sizes]
        self._num_locations = len(images.image_sizes) * sum(int(f.shape[-2] * f.shape[-1])
                                                            for f in features.values())

    def assign_targets_to_anchors(self, anchors: list[Tensor], targets: list[dict[str, Tensor]]
                                  ) -> tuple[list[Tensor], list[Tensor]]:
        if not self.ignore_cross_boundary:
            return super().assign_targets_to_anchors(anchors, targets)
        labels, matched = [], []
        for a, t, size in zip(anchors, targets, self._image_sizes):
            inside = ~crosses_boundary(a, (int(size[0]), int(size[1])))
            lab = torch.full((a.shape[0],), -1.0, dtype=torch.float32, device=a.device)
            gt = torch.zeros_like(a)
            if bool(inside.any()):
                lab_in, gt_in = super().assign_targets_to_anchors([a[inside]], [t])
                lab[inside] = lab_in[0]
                gt[inside] = gt_in[0]
            labels.append(lab)
            matched.append(gt)
        return labels, matched

    def compute_loss(self, objectness: Tensor, pred_bbox_deltas: Tensor, labels: list[Tensor],
                     regression_targets: list[Tensor]) -> tuple[Tensor, Tensor]:
        if not self.seed_loss:
            return super().compute_loss(objectness, pred_bbox_deltas, labels, regression_targets)
        pos, neg = self.fg_bg_sampler(labels)
        sampled_pos = torch.where(torch.cat(pos, dim=0))[0]
        sampled_neg = torch.where(torch.cat(neg, dim=0))[0]
        return seed_rpn_loss(objectness.flatten(), pred_bbox_deltas, torch.cat(labels, dim=0),
                             torch.cat(regression_targets, dim=0), sampled_pos, sampled_neg, self._num_locations)


def apply_rpn_options(model: Any, ignore_cross_boundary: bool, seed_loss: bool) -> None:
    """Give ``model.rpn`` the seed's rules that are asked for (nothing changes otherwise).

    The RPN object is kept and its class switched to :class:`SeedRPN`, which adds
    no parameters: every submodule and buffer torchvision built stays, so state
    dicts load unchanged in either direction."""
    if not (ignore_cross_boundary or seed_loss):
        return
    rpn = model.rpn
    if not isinstance(rpn, SeedRPN):
        rpn.__class__ = SeedRPN
    rpn.ignore_cross_boundary = bool(ignore_cross_boundary)
    rpn.seed_loss = bool(seed_loss)


__all__ = ["SEED_BETA", "SEED_LAMBDA", "SeedRPN", "apply_rpn_options", "crosses_boundary", "seed_rpn_loss"]
