"""What the anchor filters offer for a model, what a choice in them shows, and which cell
the anchors overlay starts on (no Qt).

torchvision's FPN models give each feature level one anchor size (all levels share the
aspect ratios), so their scale filter picks levels; a single-level model (the paper's
VGG-16, the small builder) has several sizes on its one level, picked as scales.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector_app.domain.trace import DetectionTrace


@dataclass(frozen=True)
class AnchorFilter:
    """Indices to show (``None``: all): FPN levels, or scales and aspect ratios of a level."""

    levels: set[int] | None
    scales: set[int] | None
    ratios: set[int] | None


@dataclass(frozen=True)
class AnchorChoices:
    """The filter entries: one size per level (``per_level``) or the sizes of the one level,
    and the aspect ratios (h / w)."""

    sizes: tuple[float, ...]
    ratios: tuple[float, ...]
    per_level: bool

    @classmethod
    def of(cls, trace: DetectionTrace) -> AnchorChoices | None:
        """The choices of ``trace``'s model (None: a trace without anchor levels)."""
        levels = trace.levels
        if not levels:
            return None
        per_level = len(levels) > 1
        sizes = [lv.sizes[0] for lv in levels] if per_level else list(levels[0].sizes)
        return cls(tuple(float(v) for v in sizes), tuple(float(r) for r in levels[0].aspect_ratios), per_level)

    def filter(self, scale: int | None, ratio: int | None) -> AnchorFilter:
        """The anchors shown for entry ``scale`` (a level when ``per_level``) and ``ratio`` (None: all)."""
        chosen = None if scale is None else {int(scale)}
        ratios = None if ratio is None else {int(ratio)}
        if self.per_level:
            return AnchorFilter(chosen, None, ratios)
        return AnchorFilter(None, chosen, ratios)


#: Before a model's choices are known (the filters offer "all" only).
NO_CHOICES = AnchorChoices((), (), False)


def first_anchor_cell(trace: DetectionTrace, proposal: int | None) -> tuple[tuple[float, float], str]:
    """The cell to pin when the anchors overlay turns on with none under the mouse:
    ``(x, y)`` in image pixels and how to name it: the cell of ``proposal``'s source
    anchor (the proposal the stepper is on), else the middle of the image."""
    if proposal is not None and proposal < trace.num_proposals:
        return trace.cell_point(int(trace.proposal_anchor_index[proposal])), \
            f"the cell of proposal {proposal}'s source anchor"
    h, w = trace.image_size
    return (w / 2, h / 2), "the middle cell"
