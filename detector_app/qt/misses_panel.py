"""``MissesPanel``: the current image's missed annotations and false positives, explained.

Each row is an ``app.diagnose.Finding``: for a missed annotation, the stage of
Faster R-CNN that lost it; for a detection no annotation matches, why it is
there. Choosing a row shows the evidence below the list and emits
``findingChosen(finding)``; the window then selects the box and moves the
proposal stepper (and its anchor / proposal / refined-box highlight) to the
proposal responsible.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QTextBrowser, QVBoxLayout, QWidget

from detector_app.app.diagnose import Finding

_MISS = "\u2717"  # a miss
_FP = "+"  # a box too many


class MissesPanel(QWidget):
    """A list of findings and the chosen one's evidence."""

    findingChosen = Signal(object)  # Finding

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._findings: list[Finding] = []
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.list = QListWidget()
        self.list.setToolTip("Your boxes no detection finds (\u2717) and detections none of your boxes match (+); "
                             "choose one to see which stage of the detector is responsible")
        self.details = QTextBrowser()  # scrolls when the dock is short
        self.details.setOpenLinks(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.details, 1)
        self.list.currentRowChanged.connect(self._row_changed)
        self.set_findings([], annotated=False)

    # -- owner API -------------------------------------------------------------
    def set_findings(self, findings: list[Finding], annotated: bool = True, detected: bool = True,
                     verified: bool = True) -> None:
        """Show ``findings``; ``annotated`` / ``detected`` / ``verified``: whether the image has
        boxes of the user's, a trace, and is verified (false positives are only counted then:
        until then, an unmatched detection may just be a suggestion not reviewed yet)."""
        self._findings = list(findings)
        self.list.blockSignals(True)
        self.list.clear()
        for f in self._findings:
            item = QListWidgetItem(f"{_MISS if f.kind == 'miss' else _FP} {f.title}")
            item.setToolTip(f.explanation.summary)
            self.list.addItem(item)
        self.list.setCurrentRow(-1)
        self.list.blockSignals(False)
        misses = sum(f.kind == "miss" for f in self._findings)
        if not detected:
            self.header.setText("No detections yet for this image.")
        elif not annotated:
            self.header.setText("Draw or accept boxes on this image: misses and false positives are found "
                                "against your boxes.")
        elif not verified:
            self.header.setText((f"{misses} of your boxes missed at the current thresholds" if misses else
                                 "Every box of yours is detected (IoU \u2265 0.5)")
                                + ". False positives are listed once the image is verified (Space): until then an "
                                "unmatched detection may be a suggestion not reviewed yet.")
        elif not self._findings:
            self.header.setText("Every box of yours is detected (IoU \u2265 0.5) and no detection is unmatched.")
        else:
            self.header.setText(f"{misses} missed, {len(self._findings) - misses} false positive(s) at the "
                                "current thresholds:")
        self.details.clear()

    def findings(self) -> list[Finding]:
        return list(self._findings)

    def show_annotation(self, annotation_id: str | None) -> bool:
        """Select the row of that missed annotation (emits ``findingChosen``); False if it is not a miss."""
        for i, f in enumerate(self._findings):
            if annotation_id is not None and f.annotation_id == annotation_id:
                self.list.setCurrentRow(i)
                return True
        return False

    def details_text(self) -> str:
        return self.details.toPlainText()

    # -- internals ---------------------------------------------------------------
    def _row_changed(self, row: int) -> None:
        if not 0 <= row < len(self._findings):
            self.details.clear()
            return
        f = self._findings[row]
        e = f.explanation
        lines = [f"<b>{html.escape(e.summary)}</b>"] + [html.escape(line) for line in e.evidence]
        self.details.setHtml("<br>".join(lines))
        self.findingChosen.emit(f)
