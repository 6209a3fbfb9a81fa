"""How overlays look: pens, colours and sizes in one place.

All outline pens are *cosmetic*: their width is in device pixels whatever the
zoom, so boxes stay 1-2 device pixels wide at any zoom and on HiDPI screens.
Pens are opaque on purpose: Qt's raster engine draws opaque hairlines several
times faster than translucent ones, which matters for 20,000 anchors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPen

from detector_app.qt.colors import ANCHOR_SCALE_RGB, OVERLAY_RGB


def cosmetic_pen(color: QColor, width: float = 0.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    """A pen whose ``width`` is in device pixels (0 = one-pixel hairline)."""
    pen = QPen(color)
    pen.setCosmetic(True)
    pen.setWidthF(width)
    pen.setStyle(style)
    pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
    return pen


@dataclass(frozen=True)
class OverlayStyle:
    """Sizes (device pixels) and colours of the canvas overlays."""

    thin: float = 0.0  # bulk layers (anchors, proposals, negatives): a hairline
    bold: float = 2.0  # annotations, positives, highlight
    suggestion: float = 1.5  # the model's detections: dashed, thinner than a person's boxes
    handle_px: float = 8.0  # side of a resize handle square
    handle_grab_px: float = 7.0  # how near (device px) the cursor must be to grab a handle/edge
    tag_font_px: int = 12  # label tags / detection text
    proposal_bins: int = 16  # objectness colour bins for the proposal layer
    max_grid_anchors: int = 20000  # "whole grid" anchor mode thins down to this many
    max_negative_labels: int = 400  # negatives shown by the anchor-label layer
    max_ignored_labels: int = 200  # ignored anchors shown by the anchor-label layer

    grid_color: QColor = field(default_factory=lambda: QColor(255, 255, 255, 110))  # ~20-200 lines: alpha is affordable
    cell_fill: QColor = field(default_factory=lambda: _overlay("anchor", 60))  # hovered / pinned cell
    positive_color: QColor = field(default_factory=lambda: _overlay("positive"))
    # negatives / ignored are capped at a few hundred, so translucency is affordable and keeps the image visible
    negative_color: QColor = field(default_factory=lambda: _overlay("negative", 120))
    ignored_color: QColor = field(default_factory=lambda: _overlay("ignored", 150))
    boundary_color: QColor = field(default_factory=lambda: _overlay("boundary", 150))  # ignored: crosses the border
    anchor_color: QColor = field(default_factory=lambda: _overlay("anchor"))  # highlighted proposal's source anchor
    proposal_color: QColor = field(default_factory=lambda: _overlay("proposal"))  # highlighted proposal
    refined_color: QColor = field(default_factory=lambda: _overlay("refined"))  # highlighted proposal's refined box
    selection_color: QColor = field(default_factory=lambda: _overlay("selection"))
    draw_color: QColor = field(default_factory=lambda: _overlay("selection"))

    def anchor_scale_color(self, scale_index: int) -> QColor:
        """Anchors are coloured by scale index (ratio shows in the shape), in colours of
        their own: never a class's or another overlay's."""
        r, g, b = ANCHOR_SCALE_RGB[int(scale_index) % len(ANCHOR_SCALE_RGB)]
        return QColor(r, g, b)


def _overlay(name: str, alpha: int = 255) -> QColor:
    r, g, b = OVERLAY_RGB[name]
    return QColor(r, g, b, alpha)


DEFAULT_STYLE = OverlayStyle()
