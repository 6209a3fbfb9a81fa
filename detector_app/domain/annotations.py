"""Annotations (boxes people confirm) and the image records that hold them.

An *annotation* is a labelled box a person owns: drawn by hand, or a model
detection that was accepted (and perhaps corrected). A *detection* is what
the model said; it becomes an annotation only when accepted.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from detector_app.domain.boxes import Box, BoxError
from detector_app.domain.labels import LabelError, check_class_name


class AnnotationSource(str, enum.Enum):
    """Where an annotation came from."""

    MANUAL = "manual"
    MODEL = "model"  # an accepted detection, unchanged
    MODEL_CORRECTED = "model-corrected"  # an accepted detection, then edited
    INTERPOLATED = "interpolated"  # a video frame's box between two keyframes of its track


class ItemState(str, enum.Enum):
    """Review state of one image or video frame, as the file list shows it."""

    NOT_SEEN = "not-seen"
    DETECTED = "detected"
    EDITED = "edited"
    VERIFIED = "verified"


def new_id() -> str:
    """A fresh annotation id (12 hex digits, unique within any real project)."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True, slots=True)
class Annotation:
    """One labelled box. Immutable: edits make new values (see ``with_box``)."""

    box: Box
    label: str
    source: AnnotationSource = AnnotationSource.MANUAL
    score: float | None = None
    id: str = field(default_factory=new_id)
    track: str | None = None  # a video object's boxes over frames share it (None: the box's own ``id``)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise LabelError(f"annotation label must be a non-empty string, got {self.label!r}")
        object.__setattr__(self, "label", check_class_name(self.label))  # as the LabelMap keeps it
        if self.score is not None and not (0.0 <= float(self.score) <= 1.0):
            raise ValueError(f"annotation score must be in [0, 1], got {self.score!r}")

    def with_box(self, box: Box) -> Annotation:
        """Moved or resized; an accepted model box becomes ``model-corrected``, an
        interpolated one a keyframe (``manual``: a person placed it)."""
        source = {AnnotationSource.MODEL: AnnotationSource.MODEL_CORRECTED,
                  AnnotationSource.INTERPOLATED: AnnotationSource.MANUAL}.get(self.source, self.source)
        return replace(self, box=box, source=source)

    @property
    def track_id(self) -> str:
        """The track this box belongs to: ``track``, else its own id (a track of one)."""
        return self.track or self.id

    def with_label(self, label: str) -> Annotation:
        source = (
            AnnotationSource.MODEL_CORRECTED
            if self.source is AnnotationSource.MODEL
            else self.source
        )
        return replace(self, label=label, source=source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "box": list(self.box.to_tuple()),
            "label": self.label,
            "source": self.source.value,
            "score": self.score,
            **({"track": self.track} if self.track is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Annotation:
        return cls(
            box=Box.from_array(data["box"]),
            label=str(data["label"]),
            source=AnnotationSource(data.get("source", "manual")),
            score=None if data.get("score") is None else float(data["score"]),
            id=str(data.get("id") or new_id()),
            track=None if data.get("track") is None else str(data["track"]),
        )


@dataclass(slots=True)
class ImageRecord:
    """One image (or one video frame) of a project and its annotations.

    ``path`` is relative to the project root (POSIX separators). For a video
    frame, ``path`` is the video and ``frame_index`` the 0-based frame.
    ``width``/``height`` are ``None`` until the image has been read.
    """

    path: str
    width: int | None = None
    height: int | None = None
    annotations: list[Annotation] = field(default_factory=list)
    state: ItemState = ItemState.NOT_SEEN
    frame_index: int | None = None

    @property
    def key(self) -> str:
        """Unique key within a project: the path, plus ``#frame`` for video frames."""
        return self.path if self.frame_index is None else f"{self.path}#{self.frame_index}"

    @property
    def verified(self) -> bool:
        return self.state is ItemState.VERIFIED

    @property
    def is_video_frame(self) -> bool:
        return self.frame_index is not None

    def validated_box(self, box: Box) -> Box:
        """``box`` clipped to this image (when its size is known).

        Raises :class:`BoxError` if nothing is left after clipping.
        """
        if self.width is None or self.height is None:
            return box
        return box.clipped(self.width, self.height)

    def find(self, annotation_id: str) -> int:
        """Index of the annotation with this id; ``KeyError`` if absent."""
        for i, ann in enumerate(self.annotations):
            if ann.id == annotation_id:
                return i
        raise KeyError(f"no annotation {annotation_id!r} in {self.key}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "state": self.state.value,
            "annotations": [a.to_dict() for a in self.annotations],
        }
        if self.frame_index is not None:
            out["frame_index"] = self.frame_index
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageRecord:
        return cls(
            path=str(data["path"]),
            width=None if data.get("width") is None else int(data["width"]),
            height=None if data.get("height") is None else int(data["height"]),
            annotations=[Annotation.from_dict(a) for a in data.get("annotations", [])],
            state=ItemState(data.get("state", ItemState.NOT_SEEN.value)),
            frame_index=None if data.get("frame_index") is None else int(data["frame_index"]),
        )


__all__ = ["Annotation", "AnnotationSource", "BoxError", "ImageRecord", "ItemState", "new_id"]
