"""Boxes of one object across video frames: linking by IoU and interpolation.

A *track* is one object's boxes over a clip's frames, tied by a shared track id
(``Annotation.track``). A person sets the box on some frames (the *keyframes*);
:func:`interpolate_track` fills the frames between two keyframes by moving each
corner linearly, as CVAT's interpolation mode does. :func:`link_by_iou` ties a
frame's boxes to the previous frame's (greedy by IoU, same class), so that a
detection gets the track of the object it continues and a correction of the
object's class follows it through the clip. Numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from detector_app.domain.boxes import Box, box_iou

#: A box continues a box of the previous frame (same class) at this IoU or more.
LINK_IOU = 0.3


def interpolate_box(a: Box, frame_a: int, b: Box, frame_b: int, frame: int) -> Box:
    """The box at ``frame`` on the straight path from ``a`` (at ``frame_a``) to ``b``
    (at ``frame_b``); each coordinate moves linearly. ``frame_a < frame <= frame_b``
    interpolates; other frames extrapolate."""
    if frame_b == frame_a:
        raise ValueError(f"two keyframes at one frame ({frame_a})")
    t = (frame - frame_a) / (frame_b - frame_a)
    xa, xb = np.array(a.to_tuple()), np.array(b.to_tuple())
    x1, y1, x2, y2 = (float(v) for v in xa + (xb - xa) * t)
    return Box(x1, y1, x2, y2)


def interpolate_track(keyframes: Mapping[int, Box]) -> dict[int, Box]:
    """The boxes of every frame strictly between consecutive keyframes
    (``frame -> box``); frames before the first and after the last keyframe get none."""
    frames = sorted(keyframes)
    out: dict[int, Box] = {}
    for fa, fb in zip(frames, frames[1:]):
        for f in range(fa + 1, fb):
            out[f] = interpolate_box(keyframes[fa], fa, keyframes[fb], fb, f)
    return out


def link_by_iou(prev_boxes: np.ndarray, prev_labels: Sequence[str], boxes: np.ndarray, labels: Sequence[str],
                min_iou: float = LINK_IOU) -> np.ndarray:
    """For each of M boxes ``float[M, 4]``, the previous frame's box ``float[N, 4]`` it
    continues (``int64[M]``, -1: a new object): pairs of the same class, highest IoU
    first, each box used once, IoU >= ``min_iou``."""
    out = np.full(len(boxes), -1, np.int64)
    if len(boxes) == 0 or len(prev_boxes) == 0:
        return out
    iou = box_iou(np.asarray(boxes).reshape(-1, 4), np.asarray(prev_boxes).reshape(-1, 4)).astype(np.float64)
    same = np.array(labels, dtype=object)[:, None] == np.array(prev_labels, dtype=object)[None, :]
    iou = np.where(same, iou, -1.0)
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        m, n = divmod(int(flat), iou.shape[1])
        if iou[m, n] < min_iou:
            break
        if out[m] < 0 and n not in out:
            out[m] = n
    return out


__all__ = ["LINK_IOU", "interpolate_box", "interpolate_track", "link_by_iou"]
