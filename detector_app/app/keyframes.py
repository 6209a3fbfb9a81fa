"""The session's video-keyframe part: Interpolate (I) and relabelling a clip's object
(``app.video_tracks`` computes the edits; each is one undo step)."""

from __future__ import annotations

from detector_app.app.events import EventBus
from detector_app.app.navigation import Navigator
from detector_app.app.video_tracks import interpolate_command, relabel_track_command
from detector_app.domain.annotations import Annotation, AnnotationSource


class Keyframes:
    """Interpolation and track relabels on the clip :class:`Navigator` shows."""

    def __init__(self, bus: EventBus, nav: Navigator) -> None:
        self._bus, self._nav = bus, nav

    def _clip_size(self) -> tuple[str, int, tuple[int, int]] | None:
        """``(video path, frame count, (width, height))`` of the clip shown, else ``None``."""
        video, rec = self._nav.video, self._nav.record
        if video is None or rec is None or rec.frame_index is None or not rec.width or not rec.height:
            return None
        return rec.path, video.frame_count, (rec.width, rec.height)

    def relabel_track(self, ann: Annotation, name: str) -> bool:
        """A box of a clip: its whole track takes the label (one step); ``False`` elsewhere."""
        clip, opened = self._clip_size(), self._nav.opened
        if clip is None or opened is None:
            return False
        command = relabel_track_command(opened.undo_stack.store, clip[0], ann.id, name, clip[2])
        if command is None:
            return False
        opened.undo_stack.push(command)
        opened.undo_stack.end_merge()
        return True

    def interpolate(self) -> int:
        """Fill the clip's frames between keyframes of each object (I); returns the frames changed."""
        clip, opened = self._clip_size(), self._nav.opened
        if clip is None or opened is None:
            self._bus.status("interpolation works on a video: place an object's box on two frames first")
            return 0
        command = interpolate_command(opened.undo_stack.store, *clip)
        if command is None:
            self._bus.status("nothing to interpolate: place an object's box on two frames (keyframes) first")
            return 0
        opened.undo_stack.push(command)
        opened.undo_stack.end_merge()
        filled = sum(1 for anns, _state in command.after.values()
                     if any(a.source is AnnotationSource.INTERPOLATED for a in anns))
        self._bus.status(f"interpolated {filled} frame(s) between keyframes (Ctrl+Z takes them back)")
        return filled


__all__ = ["Keyframes"]
