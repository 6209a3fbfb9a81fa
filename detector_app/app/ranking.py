"""Review order "most useful first": unreviewed images by how much a correction would teach.

Scores come from the usefulness signals Detect all stores beside the traces
(``domain.usefulness``); the "rare classes" part is recomputed from the
project's boxes now, so it follows the corrections. Images without stored
signals (or with signals of an older definition) follow in folder order,
then reviewed images and videos.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from detector_app.domain.annotations import ImageRecord, ItemState
from detector_app.domain.usefulness import STALE, rate

NOT_DETECTED = "not detected yet: Model > Detect all scores it"


@dataclass(frozen=True)
class Ranked:
    index: int
    score: float | None  # None: not scored (no stored signals, reviewed, or a video)
    reason: str


def class_counts(records: list[ImageRecord]) -> dict[str, int]:
    """Boxes per class over ``records``."""
    return dict(Counter(a.label for r in records for a in r.annotations))


def rank_items(items: list[str], states: list[ItemState], videos: list[bool],
               summaries: dict[str, dict[str, object]], counts: dict[str, int]) -> list[Ranked]:
    """Every item once: scored unreviewed images (best first, ties in folder order),
    then unscored unreviewed images, then reviewed images and videos (folder order)."""
    scored, unscored, rest = [], [], []
    for i, (key, state, video) in enumerate(zip(items, states, videos)):
        if video:
            rest.append(Ranked(i, None, "video: frames are reviewed as it plays"))
        elif state in (ItemState.EDITED, ItemState.VERIFIED):
            rest.append(Ranked(i, None, f"already {state.value}"))
        elif key in summaries and (u := rate(summaries[key], counts)).reason != STALE:
            scored.append(Ranked(i, u.score, u.reason))
        elif key in summaries:
            unscored.append(Ranked(i, None, STALE))
        else:
            unscored.append(Ranked(i, None, NOT_DETECTED))
    scored.sort(key=lambda r: (-(r.score or 0.0), r.index))
    return scored + unscored + rest


__all__ = ["NOT_DETECTED", "Ranked", "class_counts", "rank_items"]
