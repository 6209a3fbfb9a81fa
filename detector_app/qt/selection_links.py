"""``SelectionLinks``: a choice made in one view shown in the others.

A box clicked on the canvas that the model missed is explained in the misses panel; a
detection clicked on the canvas or chosen in the box list is selected in the session and
the stepper moves to the proposal it came from; a miss or false positive chosen in the
misses panel shows what is responsible: the box selected and the stepper (and its
highlight) on the proposal, or the anchors of the cell when no proposal came of it.
"""

from __future__ import annotations

from detector_app.app.diagnose import Finding
from detector_app.app.session import Session
from detector_app.qt.canvas import ImageCanvas
from detector_app.qt.panels import Panels


class SelectionLinks:
    """Connects ``canvas`` and ``panels`` (see the module docstring). Made after the canvas's
    selection is wired to the session, so a box is selected there before it is explained."""

    def __init__(self, session: Session, canvas: ImageCanvas, panels: Panels) -> None:
        self.session, self.canvas, self.panels = session, canvas, panels
        self._choosing_finding = False  # a finding selects its box: that click explains nothing more
        canvas.annotationSelected.connect(self._annotation_clicked)
        canvas.detectionClicked.connect(self.detection_chosen)
        panels.boxes.detectionChosen.connect(self.detection_chosen)
        panels.misses.findingChosen.connect(self.finding_chosen)

    def _annotation_clicked(self, ident: str | None) -> None:
        """A box clicked on the canvas: when it is a miss, its explanation and the stepper
        on the proposal responsible (a box just drawn is selected too, but explains nothing yet)."""
        if ident is not None and not self._choosing_finding:
            self.panels.misses.show_annotation(ident)

    def detection_chosen(self, d: int) -> None:
        self.session.select_detection(d)
        self.panels.stepper.select_detection(d)

    def finding_chosen(self, finding: Finding) -> None:
        """Show what is responsible for a miss / false positive: the box selected, the stepper
        (and its highlight) on the proposal, or the anchors of the cell when no proposal came of it."""
        ss, e = self.session, finding.explanation
        self._choosing_finding = True
        try:
            if finding.detection >= 0:
                self.detection_chosen(finding.detection)
                return
            if ss.selected_annotation != finding.annotation_id:
                ss.select_annotation(finding.annotation_id)
            if e.proposal >= 0:
                self.panels.stepper.set_current(e.proposal)
            elif e.anchor >= 0 and ss.trace is not None:
                if not ss.overlays["anchors"]:
                    ss.set_overlay("anchors", True)
                self.canvas.pin_cell(ss.trace.cell_point(e.anchor))
        finally:
            self._choosing_finding = False


__all__ = ["SelectionLinks"]
