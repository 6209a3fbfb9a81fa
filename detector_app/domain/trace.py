"""``DetectionTrace``: every intermediate of one Faster R-CNN forward pass.

Produced by ``detector_app.detection.tracing.trace`` and consumed by the GUI;
numpy arrays only, every box in **original-image pixels** (``x1, y1, x2, y2``).

Shape glossary:
    A: anchors over all feature levels (sum of ``H_l * W_l * k_l``)
    Q: pre-NMS RPN candidates (top-k per level by objectness)
    P: proposals after RPN NMS (the RoIs given to the box head)
    C: classes including background at index 0
    D: final detections

Anchor order is torchvision's: level by level, and inside a level
row-major over cells then the ``k`` cell anchors (``index = (y * W + x) * k + a``).
"""

from __future__ import annotations

import enum
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from detector_app.domain.boxes import batched_nms

#: The score threshold the app shows detections at until a person moves it (the
#: model's own ``score_thresh`` is far lower: it keeps candidates for the trace).
DISPLAY_SCORE_THRESH = 0.5


class Fate(enum.IntEnum):
    """What became of one proposal in the RoI head's post-processing."""

    DETECTED = 0  # one of its class boxes is final detection ``fate_detection``
    BELOW_SCORE = 1  # no class probability above the score threshold
    TOO_SMALL = 2  # refined boxes collapsed below the minimum size
    SUPPRESSED = 3  # removed by NMS; ``fate_detection`` suppressed it (or -1)
    OVER_CAP = 4  # survived NMS, but past the detections-per-image cap

    def describe(self, detection: int = -1) -> str:
        if self is Fate.DETECTED:
            return f"became detection {detection}"
        if self is Fate.SUPPRESSED:
            by = f"detection {detection}" if detection >= 0 else "a box past the cap"
            return f"suppressed by NMS ({by})"
        return {
            Fate.BELOW_SCORE: "dropped: below score threshold",
            Fate.TOO_SMALL: "dropped: box too small",
            Fate.OVER_CAP: "dropped: over the detections-per-image cap",
        }[self]


@dataclass(frozen=True)
class FeatureLevel:
    """One feature map the RPN slides over.

    ``grid_size`` is ``(H, W)`` cells; ``stride`` is ``(sy, sx)`` in resized-image
    pixels per cell; the level's anchors are ``anchors[offset : offset + H*W*k]``.
    ``sizes`` / ``aspect_ratios`` are the anchor scales (resized pixels) and
    ratios ``h / w`` (torchvision's definition); ``k = len(sizes) * len(ratios)``.
    """

    name: str
    grid_size: tuple[int, int]
    stride: tuple[float, float]
    offset: int
    sizes: tuple[float, ...]
    aspect_ratios: tuple[float, ...]

    @property
    def num_anchors_per_cell(self) -> int:
        return len(self.sizes) * len(self.aspect_ratios)

    @property
    def num_anchors(self) -> int:
        return self.grid_size[0] * self.grid_size[1] * self.num_anchors_per_cell


@dataclass
class PostprocessResult:
    """Detections re-derived from a trace under some thresholds."""

    boxes: np.ndarray  # float32[D, 4]
    labels: np.ndarray  # int64[D], 1-based class index
    scores: np.ndarray  # float32[D]
    proposal_index: np.ndarray  # int64[D]
    fate: np.ndarray  # int8[P], a ``Fate`` per proposal
    fate_detection: np.ndarray  # int64[P], detection index for DETECTED/SUPPRESSED, else -1


def assign_fates(prop: np.ndarray, scores: np.ndarray, big: np.ndarray, keep: np.ndarray,
                 suppressed_by: np.ndarray, cap: int, num_proposals: int) -> tuple[np.ndarray, np.ndarray]:
    """Each proposal's :class:`Fate` after the RoI head's post-processing: the one
    rule behind ``DetectionTrace.postprocess`` and the tracer.

    Args (N candidates: the (proposal, class) boxes above the score threshold):
        prop ``int64[N]``: each candidate's proposal; scores ``float[N]``.
        big ``int64[N2]``: the candidates large enough (the others are too small).
        keep ``int64[K]``: candidates kept by class-wise NMS, best first.
        suppressed_by ``int64[N]``: the kept candidate that suppressed each one (-1: none).
        cap: detections per image; ``keep[:cap]`` are the detections, in order.

    Returns ``(fate int8[P], fate_detection int64[P])``. A proposal with several
    class boxes takes the best outcome: DETECTED (its lowest detection index) >
    SUPPRESSED (by the suppressor of its best-scoring suppressed box; -1 when that
    suppressor is over the cap) > OVER_CAP > TOO_SMALL > BELOW_SCORE.
    """
    fate = np.full(num_proposals, int(Fate.BELOW_SCORE), np.int8)
    fate_det = np.full(num_proposals, -1, np.int64)
    small = np.ones(len(prop), bool)
    small[big] = False
    fate[prop[small]] = int(Fate.TOO_SMALL)
    fate[prop[keep[cap:]]] = int(Fate.OVER_CAP)
    final = keep[:cap]
    det_of = np.full(len(prop), -1, np.int64)
    det_of[final] = np.arange(len(final))
    sup = np.nonzero(suppressed_by >= 0)[0]
    if len(sup):
        # best first (ties: the later candidate), so np.unique's first occurrence of a
        # proposal is its best-scoring suppressed box
        order = sup[np.argsort(scores[sup], kind="stable")][::-1]
        props, first = np.unique(prop[order], return_index=True)
        fate[props] = int(Fate.SUPPRESSED)
        fate_det[props] = det_of[suppressed_by[order[first]]]
    if len(final):
        props, first = np.unique(prop[final], return_index=True)  # the lowest detection index wins
        fate[props] = int(Fate.DETECTED)
        fate_det[props] = first
    return fate, fate_det


def _empty(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    return np.zeros(shape, dtype)


@dataclass
class DetectionTrace:
    """Everything one image went through. See the module glossary for shapes."""

    image_size: tuple[int, int]  # original (H, W)
    resized_size: tuple[int, int]  # after the model's resize, before padding (H, W)
    class_names: list[str]  # C names, background first
    levels: list[FeatureLevel] = field(default_factory=list)

    anchors: np.ndarray = field(default_factory=lambda: _empty((0, 4)))  # [A, 4]
    anchor_level: np.ndarray = field(default_factory=lambda: _empty((0,), np.int16))  # [A]
    anchor_scale_index: np.ndarray = field(default_factory=lambda: _empty((0,), np.int8))  # [A]
    anchor_ratio_index: np.ndarray = field(default_factory=lambda: _empty((0,), np.int8))  # [A]
    objectness_logits: np.ndarray = field(default_factory=lambda: _empty((0,)))  # [A]
    rpn_deltas: np.ndarray = field(default_factory=lambda: _empty((0, 4)))  # [A, 4] (dx, dy, dw, dh)

    pre_nms_boxes: np.ndarray = field(default_factory=lambda: _empty((0, 4)))  # [Q, 4]
    pre_nms_scores: np.ndarray = field(default_factory=lambda: _empty((0,)))  # [Q] sigmoid
    pre_nms_anchor_index: np.ndarray = field(default_factory=lambda: _empty((0,), np.int64))  # [Q]

    proposals: np.ndarray = field(default_factory=lambda: _empty((0, 4)))  # [P, 4]
    proposal_scores: np.ndarray = field(default_factory=lambda: _empty((0,)))  # [P] sigmoid
    proposal_anchor_index: np.ndarray = field(default_factory=lambda: _empty((0,), np.int64))  # [P]

    class_probs: np.ndarray = field(default_factory=lambda: _empty((0, 0)))  # [P, C]
    refined_boxes: np.ndarray = field(default_factory=lambda: _empty((0, 0, 4)))  # [P, C, 4]

    detection_boxes: np.ndarray = field(default_factory=lambda: _empty((0, 4)))  # [D, 4]
    detection_labels: np.ndarray = field(default_factory=lambda: _empty((0,), np.int64))  # [D]
    detection_scores: np.ndarray = field(default_factory=lambda: _empty((0,)))  # [D]
    detection_proposal_index: np.ndarray = field(default_factory=lambda: _empty((0,), np.int64))  # [D]
    proposal_fate: np.ndarray = field(default_factory=lambda: _empty((0,), np.int8))  # [P]
    proposal_fate_detection: np.ndarray = field(default_factory=lambda: _empty((0,), np.int64))  # [P]

    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    detections_per_img: int = 100
    min_size: float = 1e-2  # in resized pixels, as torchvision's RoIHeads
    rpn_nms_thresh: float = 0.7
    rpn_ignore_cross_boundary: bool = False  # the model's RPN training ignores cross-boundary anchors (paper rule)
    timings_ms: dict[str, float] = field(default_factory=dict)

    # -- derived views ------------------------------------------------
    @property
    def scale(self) -> tuple[float, float]:
        """``(sy, sx)``: resized pixels per original pixel."""
        return (
            self.resized_size[0] / self.image_size[0],
            self.resized_size[1] / self.image_size[1],
        )

    @property
    def num_anchors(self) -> int:
        return int(self.anchors.shape[0])

    @property
    def num_proposals(self) -> int:
        return int(self.proposals.shape[0])

    @property
    def num_detections(self) -> int:
        return int(self.detection_boxes.shape[0])

    def level_of_anchor(self, index: int) -> FeatureLevel:
        return self.levels[int(self.anchor_level[index])]

    def anchor_cell(self, index: int) -> tuple[int, int]:
        """``(row, col)`` of the feature-map cell an anchor sits on."""
        level = self.level_of_anchor(index)
        local = (int(index) - level.offset) // level.num_anchors_per_cell
        return divmod(local, level.grid_size[1])

    def cell_point(self, anchor_index: int) -> tuple[float, float]:
        """The original-image centre of the cell anchor ``anchor_index`` sits on, which is
        its anchors' common centre (:meth:`cell_at` gives that cell back)."""
        level = self.level_of_anchor(anchor_index)
        row, col = self.anchor_cell(anchor_index)
        sy, sx = self.scale
        return col * level.stride[1] / sx, row * level.stride[0] / sy

    def anchors_at_cell(self, level_index: int, row: int, col: int) -> np.ndarray:
        """Indices ``int64[k]`` of the anchors of one cell."""
        level = self.levels[level_index]
        k = level.num_anchors_per_cell
        start = level.offset + (row * level.grid_size[1] + col) * k
        return np.arange(start, start + k, dtype=np.int64)

    def cell_at(self, level_index: int, x: float, y: float) -> tuple[int, int] | None:
        """The cell under original-image point ``(x, y)``, or ``None`` if outside.

        torchvision centres the anchors of cell ``(row, col)`` on the resized-image
        point ``(col * stride, row * stride)``, the corner of the stride-sized block
        the cell's features mostly come from; a cell here is the stride-sized square
        *centred* there, so the anchors drawn for a cell are centred on it. The
        half cell past the last centre belongs to the last cell."""
        level = self.levels[level_index]
        if not (0 <= x < self.image_size[1] and 0 <= y < self.image_size[0]):
            return None
        sy, sx = self.scale
        col = int(math.floor(x * sx / level.stride[1] + 0.5))
        row = int(math.floor(y * sy / level.stride[0] + 0.5))
        rows, cols = level.grid_size
        if row > rows or col > cols:
            return None
        return min(row, rows - 1), min(col, cols - 1)

    def objectness(self) -> np.ndarray:
        """``float32[A]`` objectness probability of every anchor."""
        return (1.0 / (1.0 + np.exp(-self.objectness_logits.astype(np.float64)))).astype(np.float32)

    def postprocess(
        self,
        score_thresh: float | None = None,
        nms_thresh: float | None = None,
        detections_per_img: int | None = None,
        class_agnostic: bool = False,
    ) -> PostprocessResult:
        """Re-run the RoI head's post-processing (numpy) under new thresholds.

        Same steps as torchvision's ``RoIHeads.postprocess_detections``: drop
        background, keep scores ``> score_thresh``, drop boxes smaller than
        ``min_size``, class-wise NMS, keep the top ``detections_per_img``.
        No network is run. With ``class_agnostic`` the NMS runs across classes
        (one box per object, as Ultralytics' ``agnostic_nms``): a box of another
        class overlapping a better one above ``nms_thresh`` is suppressed too.
        """
        score_thresh = self.score_thresh if score_thresh is None else score_thresh
        nms_thresh = self.nms_thresh if nms_thresh is None else nms_thresh
        cap = self.detections_per_img if detections_per_img is None else detections_per_img
        num_p, num_c = self.class_probs.shape[:2] if self.class_probs.ndim == 2 else (0, 0)
        fate = np.full(num_p, Fate.BELOW_SCORE, np.int8)
        fate_det = np.full(num_p, -1, np.int64)
        if num_p == 0 or num_c < 2:
            return PostprocessResult(
                _empty((0, 4)), _empty((0,), np.int64), _empty((0,)),
                _empty((0,), np.int64), fate, fate_det,
            )
        scores = self.class_probs[:, 1:].reshape(-1)
        boxes = self.refined_boxes[:, 1:, :].reshape(-1, 4)
        labels = np.tile(np.arange(1, num_c), num_p)
        prop = np.repeat(np.arange(num_p), num_c - 1)

        cand = np.nonzero(scores > score_thresh)[0]
        sy, sx = self.scale
        w = (boxes[cand, 2] - boxes[cand, 0]) * sx
        h = (boxes[cand, 3] - boxes[cand, 1]) * sy
        big = np.nonzero((w >= self.min_size) & (h >= self.min_size))[0]  # into cand
        groups = np.zeros(len(big), np.int64) if class_agnostic else labels[cand[big]]
        keep_big, sup_big = batched_nms(boxes[cand[big]], scores[cand[big]], groups, nms_thresh)
        suppressed_by = np.full(len(cand), -1, np.int64)
        hit = sup_big >= 0
        suppressed_by[big[hit]] = big[sup_big[hit]]
        keep = big[keep_big]
        fate, fate_det = assign_fates(prop[cand], scores[cand], big, keep, suppressed_by, cap, num_p)
        final = keep[:cap]

        sel = cand[final]
        return PostprocessResult(
            boxes=boxes[sel].astype(np.float32),
            labels=labels[sel].astype(np.int64),
            scores=scores[sel].astype(np.float32),
            proposal_index=prop[sel].astype(np.int64),
            fate=fate,
            fate_detection=fate_det,
        )

    # -- persistence --------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise to an ``.npz`` blob (arrays plus a JSON header)."""
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            elif f.name == "levels":
                meta["levels"] = [
                    {
                        "name": lv.name, "grid_size": list(lv.grid_size), "stride": list(lv.stride),
                        "offset": lv.offset, "sizes": list(lv.sizes),
                        "aspect_ratios": list(lv.aspect_ratios),
                    }
                    for lv in value
                ]
            else:
                meta[f.name] = value
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as one bool
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> DetectionTrace:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            meta = json.loads(bytes(npz["__meta__"]).decode("utf-8"))
            arrays = {k: npz[k] for k in npz.files if k != "__meta__"}
        levels = [
            FeatureLevel(
                name=lv["name"], grid_size=tuple(lv["grid_size"]), stride=tuple(lv["stride"]),
                offset=int(lv["offset"]), sizes=tuple(lv["sizes"]),
                aspect_ratios=tuple(lv["aspect_ratios"]),
            )
            for lv in meta.pop("levels")
        ]
        meta["image_size"] = tuple(meta["image_size"])
        meta["resized_size"] = tuple(meta["resized_size"])
        return cls(levels=levels, **meta, **arrays)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> DetectionTrace:
        return cls.from_bytes(Path(path).read_bytes())


#: Anything that turns an RGB image ``uint8[H, W, 3]`` into its trace (a real model, a test fake).
Detector = Callable[[np.ndarray], DetectionTrace]
