"""What the overlays show, decided in plain numpy (no Qt): which anchors, which
proposals, which labelled anchors, which box a click picks, which class the
proposal highlight refines.

Every box is ``float[N, 4]`` ``x1, y1, x2, y2`` in original-image pixels and
every selection is ``int64[M]`` indices into the trace's arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from detector_app.domain.trace import DetectionTrace, PostprocessResult


def _levels(trace: DetectionTrace, levels: Iterable[int] | None) -> list[int]:
    all_levels = range(len(trace.levels))
    return list(all_levels) if levels is None else sorted(int(v) for v in levels if 0 <= int(v) < len(trace.levels))


def filter_anchors(
    trace: DetectionTrace,
    index: np.ndarray,
    scales: set[int] | None = None,
    ratios: set[int] | None = None,
) -> np.ndarray:
    """Keep the anchors of ``index`` whose scale / ratio index is in the sets (``None`` = all)."""
    index = np.asarray(index, np.int64)
    keep = np.ones(len(index), bool)
    if scales is not None:
        keep &= np.isin(trace.anchor_scale_index[index], np.array(sorted(scales), np.int64))
    if ratios is not None:
        keep &= np.isin(trace.anchor_ratio_index[index], np.array(sorted(ratios), np.int64))
    return index[keep]


def cells_at_point(
    trace: DetectionTrace, x: float, y: float, levels: Iterable[int] | None = None
) -> list[tuple[int, int, int]]:
    """``(level, row, col)`` of the cell under original-image point ``(x, y)`` on each level."""
    out = []
    for lv in _levels(trace, levels):
        cell = trace.cell_at(lv, x, y)
        if cell is not None:
            out.append((lv, cell[0], cell[1]))
    return out


def anchors_of_cells(trace: DetectionTrace, cells: Iterable[tuple[int, int, int]]) -> np.ndarray:
    """``int64[sum k]``: the anchors of the given ``(level, row, col)`` cells."""
    parts = [trace.anchors_at_cell(lv, r, c) for lv, r, c in cells]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def grid_anchors(
    trace: DetectionTrace,
    levels: Iterable[int] | None = None,
    scales: set[int] | None = None,
    ratios: set[int] | None = None,
    max_count: int = 20000,
) -> np.ndarray:
    """Anchors over the whole grid, filtered, thinned to at most ``max_count``.

    Thinning keeps a regular pattern: every ``s``-th row and column of cells,
    with the smallest ``s`` that fits (per level), so the display shows how
    anchors tile the image rather than a random subset.
    """
    parts: list[np.ndarray] = []
    for lv in _levels(trace, levels):
        level = trace.levels[lv]
        h, w = level.grid_size
        k = level.num_anchors_per_cell
        idx = level.offset + np.arange(h * w * k, dtype=np.int64)
        parts.append(filter_anchors(trace, idx, scales, ratios))
    if not parts:
        return np.zeros(0, np.int64)
    total = sum(len(p) for p in parts)
    if total <= max_count:
        return np.concatenate(parts)
    step = max(1, math.ceil(math.sqrt(total / max(1, max_count))))
    while True:
        kept = []
        for idx in parts:
            if len(idx) == 0:
                continue
            level = trace.levels[int(trace.anchor_level[idx[0]])]
            local = (idx - level.offset) // level.num_anchors_per_cell
            row, col = np.divmod(local, level.grid_size[1])
            kept.append(idx[(row % step == 0) & (col % step == 0)])
        out = np.concatenate(kept) if kept else np.zeros(0, np.int64)
        if len(out) <= max_count:
            return out
        step += 1


def thin_labels(
    labels: np.ndarray, max_negative: int, max_ignored: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``int8[A]`` anchor labels (1 positive, 0 negative, -1 ignored, -2
    ignored because it crosses the image boundary) into index arrays
    ``(positive, negative, ignored, crossing)``; every positive is kept, the
    others are subsampled (deterministically) to the caps (crossing: ``max_ignored``).
    """
    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng(seed)

    def pick(idx: np.ndarray, cap: int) -> np.ndarray:
        if len(idx) <= cap:
            return idx
        return np.sort(rng.choice(idx, size=max(0, cap), replace=False))

    pos = np.nonzero(labels == 1)[0].astype(np.int64)
    neg = pick(np.nonzero(labels == 0)[0].astype(np.int64), max_negative)
    ign = pick(np.nonzero(labels == -1)[0].astype(np.int64), max_ignored)
    crossing = pick(np.nonzero(labels == -2)[0].astype(np.int64), max_ignored)
    return pos, neg, ign, crossing


def top_proposals(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest ``scores`` (``int64[min(n, P)]``, best first, stable)."""
    scores = np.asarray(scores).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    return order[: max(0, int(n))].astype(np.int64)


def pick_box(boxes: np.ndarray, x: float, y: float, tolerance: float) -> int | None:
    """The box a click at ``(x, y)`` means, or ``None``.

    A box whose outline passes within ``tolerance`` (image pixels) wins, the
    nearest outline first; otherwise the smallest box containing the point.
    Ties go to the lower index.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(b) == 0:
        return None
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    inside_x = (x >= x1 - tolerance) & (x <= x2 + tolerance)
    inside_y = (y >= y1 - tolerance) & (y <= y2 + tolerance)
    d_vert = np.where(inside_y, np.minimum(np.abs(x - x1), np.abs(x - x2)), np.inf)
    d_horz = np.where(inside_x, np.minimum(np.abs(y - y1), np.abs(y - y2)), np.inf)
    dist = np.minimum(d_vert, d_horz)
    near = dist <= tolerance
    if near.any():
        return int(np.argmin(np.where(near, dist, np.inf)))
    contains = (x >= x1) & (x <= x2) & (y >= y1) & (y <= y2)
    if contains.any():
        area = (x2 - x1) * (y2 - y1)
        return int(np.argmin(np.where(contains, area, np.inf)))
    return None


def grid_lines(trace: DetectionTrace, level_index: int) -> tuple[np.ndarray, np.ndarray]:
    """``(xs, ys)``: the cell boundaries of one level in original-image pixels,
    clipped to the image (``float64[W+2]``, ``float64[H+2]`` at most). Cells are
    centred on their anchors' centre (``DetectionTrace.cell_at``): boundaries at
    ``(i - 0.5) * stride``."""
    level = trace.levels[level_index]
    sy, sx = trace.scale
    h, w = level.grid_size
    img_h, img_w = trace.image_size
    xs = (np.arange(w + 1) - 0.5) * level.stride[1] / sx
    ys = (np.arange(h + 1) - 0.5) * level.stride[0] / sy
    xs = np.concatenate([[0.0], xs[(xs > 0) & (xs < img_w)], [img_w]])
    ys = np.concatenate([[0.0], ys[(ys > 0) & (ys < img_h)], [img_h]])
    return xs, ys


def cell_rect(trace: DetectionTrace, level_index: int, row: int, col: int) -> tuple[float, float, float, float]:
    """The ``x1, y1, x2, y2`` (original pixels) that cell ``(row, col)`` covers:
    one stride square centred on its anchors' centre."""
    level = trace.levels[level_index]
    sy, sx = trace.scale
    return (
        (col - 0.5) * level.stride[1] / sx,
        (row - 0.5) * level.stride[0] / sy,
        (col + 0.5) * level.stride[1] / sx,
        (row + 0.5) * level.stride[0] / sy,
    )


def decode_delta(anchor: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Apply RPN regression ``(dx, dy, dw, dh)`` to one anchor (torchvision's
    ``BoxCoder`` with weights 1): ``float[4] x float[4] -> float[4]``."""
    x1, y1, x2, y2 = (float(v) for v in anchor)
    w, h = x2 - x1, y2 - y1
    cx, cy = x1 + 0.5 * w, y1 + 0.5 * h
    dx, dy, dw, dh = (float(v) for v in delta)
    clamp = math.log(1000.0 / 16)
    pcx, pcy = cx + dx * w, cy + dy * h
    pw, ph = w * math.exp(min(dw, clamp)), h * math.exp(min(dh, clamp))
    return np.array([pcx - pw / 2, pcy - ph / 2, pcx + pw / 2, pcy + ph / 2], np.float64)


def highlighted_class(trace: DetectionTrace, result: PostprocessResult | None, p: int) -> int | None:
    """The class whose refined box the highlight of proposal ``p`` shows: the class of the
    detection it became (or was suppressed by), else its most probable class; ``None``
    when the trace has no class probabilities."""
    if trace.class_probs.ndim != 2 or trace.class_probs.shape[1] < 2:
        return None
    if result is not None and p < len(result.fate_detection) and 0 <= result.fate_detection[p] < len(result.labels):
        return int(result.labels[result.fate_detection[p]])
    return int(np.argmax(trace.class_probs[p, 1:])) + 1
