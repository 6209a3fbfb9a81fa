"""What the side panels list, derived from the session (no Qt): the box list's model
suggestions, the image's misses and false positives, the "most useful first" order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from detector_app.app.diagnose import Finding, image_findings
from detector_app.app.session import Session
from detector_app.domain.annotations import ItemState


class Suggestion(NamedTuple):
    """A detection shown that is not an annotation yet (the box list's second group)."""

    detection: int
    label: str
    score: float
    box: tuple[float, float, float, float]


def box_suggestions(session: Session) -> list[Suggestion]:
    """The detections shown that accepting would add (none when they are another frame's)."""
    r, t, accepted = session.result, session.trace, session.accepted_detections()
    if r is None or t is None or accepted is None:
        return []
    out = []
    for d in range(len(r.scores)):
        if not accepted[d]:
            x1, y1, x2, y2 = (float(v) for v in r.boxes[d])
            out.append(Suggestion(d, t.class_names[int(r.labels[d])], float(r.scores[d]), (x1, y1, x2, y2)))
    return out


@dataclass(frozen=True)
class Misses:
    """The misses panel's content: ``findings`` and what the image has (boxes of the
    user's, a trace, the verified mark: false positives only count once verified)."""

    findings: list[Finding] = field(default_factory=list)
    annotated: bool = True
    detected: bool = True
    verified: bool = True


def image_misses(session: Session) -> Misses:
    """The image's misses, and its false positives once it is verified. Without boxes of the
    user's every detection would count as false: nothing to learn, nothing listed."""
    rec, trace, result = session.record, session.trace, session.result
    if trace is None or result is None or rec is None or not rec.annotations:
        return Misses(annotated=bool(rec and rec.annotations), detected=trace is not None)
    verified = rec.state is ItemState.VERIFIED
    findings = image_findings(trace, result, list(rec.annotations), session.score_thresh, session.nms_thresh,
                              false_positives_too=verified)
    return Misses(findings, verified=verified)


@dataclass(frozen=True)
class ReviewOrder:
    """The file list's order (None: folder order), each item's reason, a status line."""

    order: list[int] | None = None
    reasons: dict[int, str] = field(default_factory=dict)
    status: str | None = None


def review_order(session: Session, most_useful: bool) -> ReviewOrder:
    """Folder order, or "most useful first" scored from the stored traces (``app.ranking``)."""
    if not most_useful or session.store is None:
        return ReviewOrder()
    ranked = session.rank_useful()
    scored = sum(r.score is not None for r in ranked)
    return ReviewOrder(
        [r.index for r in ranked],
        {r.index: (f"usefulness {r.score:.1f}: {r.reason}" if r.score is not None else r.reason) for r in ranked},
        f"most useful first: {scored} image(s) scored"
        + ("" if scored else "; none yet: Model > Detect all scores the images"),
    )
