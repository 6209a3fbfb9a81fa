"""Video frames as ``uint8[H, W, 3]`` RGB with clear errors.

:class:`VideoReader` wraps ``cv2.VideoCapture``:

* opening a missing, empty, corrupt or undecodable file raises
  :class:`MediaError` naming the file (the first frame is decoded on open,
  so "opens but decodes nothing", e.g. an unknown codec, is caught early);
* ``frame_count`` is the container's estimate, which may lie (truncated
  files, a header that claims more frames); when a read fails before it, the
  count is corrected to the number of frames actually readable (found by
  bisection when the failed read came after a seek) and the error says so;
  a frame that fails while a later one (already read, or probed) decodes is
  a corrupt frame in the middle: an error, the count stays;
* ``read(index)`` decodes sequentially when ``index`` is the next frame (or a
  few ahead: frames are grabbed, not decoded), re-uses the last frame when
  asked again, and seeks otherwise.

One reader is not thread-safe; give each thread its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from detector_app.domain import media_types
from detector_app.domain.errors import MediaError

VIDEO_EXTENSIONS = media_types.VIDEO_EXTENSIONS
#: Up to this many frames ahead, ``read`` grabs forward instead of seeking.
GRAB_AHEAD = 24
_UNKNOWN = -(1 << 30)  # ``_next`` when the decoder's position is not known: the next read seeks


def is_video_path(path: str | Path) -> bool:
    """Whether ``path`` has a video file extension."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


class VideoReader:
    """Random and sequential access to the frames of one video file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise MediaError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise MediaError(f"{self.path}: is a folder, not a video")
        try:
            size = self.path.stat().st_size
        except OSError as exc:
            raise MediaError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        if size == 0:
            raise MediaError(f"{self.path}: empty file (0 bytes)")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            self._cap.release()
            raise MediaError(f"{self.path}: cannot open video (corrupt file or unknown container/codec)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if np.isfinite(fps) and 0.0 < fps < 1000.0 else 25.0
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self._count = int(count) if np.isfinite(count) and count > 0 else 0
        self._next = 0
        self._last_index = -1
        self._last: np.ndarray | None = None
        self._max_good = -1  # the highest frame index decoded (or grabbed) so far
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._cap.release()
            raise MediaError(
                f"{self.path}: no frame could be decoded (zero frames, corrupt data or unsupported codec)"
            )
        self._remember(0, frame)
        self.height, self.width = int(frame.shape[0]), int(frame.shape[1])
        if self._count <= 0:
            self._count = self._count_by_reading()

    # -- info -----------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        """Number of frames (an estimate until a read near the end corrects it)."""
        return self._count

    def __len__(self) -> int:
        return self._count

    @property
    def duration(self) -> float:
        """Seconds, from ``frame_count / fps``."""
        return self._count / self.fps

    # -- reading ----------------------------------------------------------------
    def _remember(self, index: int, bgr: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self._max_good = max(self._max_good, index)
        self._last_index, self._last, self._next = index, rgb, index + 1
        return rgb

    def _count_by_reading(self) -> int:
        """Count frames by grabbing through the file (no usable estimate)."""
        n = self._next
        while self._cap.grab():
            n += 1
        self._seek(0)
        return n

    def _seek(self, index: int) -> None:
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, float(index))
        self._next = index

    def _first_unreadable(self, lo: int, hi: int) -> int:
        """Bisect for the first frame in ``(lo, hi]`` that cannot be grabbed
        (``lo`` readable, ``hi`` not): ~log2(hi - lo) seeks."""
        while hi - lo > 1:
            mid = (lo + hi) // 2
            self._seek(mid)
            if self._cap.grab():
                lo = mid
            else:
                hi = mid
        self._next = _UNKNOWN
        return hi

    def _fail(self, index: int) -> MediaError:
        if index >= self._count:
            return MediaError(f"{self.path}: frame {index} cannot be decoded")
        if index < self._max_good:
            self._next = _UNKNOWN
            return MediaError(f"{self.path}: frame {index} cannot be decoded (corrupt data)")
        if index + 1 < self._count:  # one bad frame, or the end of the readable part?
            self._seek(index + 1)
            later = self._cap.grab()
            self._next = _UNKNOWN
            if later:
                return MediaError(f"{self.path}: frame {index} cannot be decoded (corrupt data); "
                                  "the frames after it are readable")
        readable = self._first_unreadable(self._max_good, index)
        self._count = max(readable, self._max_good + 1, 1)
        return MediaError(
            f"{self.path}: frame {index} cannot be decoded (file truncated or corrupt?); "
            f"{self._count} frames are readable"
        )

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as ``uint8[H, W, 3]`` RGB.

        Raises :class:`MediaError` for an index outside ``0..frame_count-1`` or
        a frame that cannot be decoded (``frame_count`` is then corrected).
        """
        index = int(index)
        if not 0 <= index < self._count:
            raise MediaError(f"{self.path}: frame {index} out of range 0..{self._count - 1}")
        if index == self._last_index and self._last is not None:
            return self._last.copy()
        if not (self._next <= index <= self._next + GRAB_AHEAD):
            self._seek(index)
        while self._next < index:
            if not self._cap.grab():
                raise self._fail(self._next)
            self._max_good = max(self._max_good, self._next)
            self._next += 1
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._last_index = -1
            raise self._fail(index)
        return self._remember(index, frame).copy()

    def __iter__(self) -> Iterator[np.ndarray]:
        """All frames in order, ``uint8[H, W, 3]`` RGB; stops quietly at the first
        unreadable frame (and corrects ``frame_count``)."""
        index = 0
        while index < self._count:
            try:
                yield self.read(index)
            except MediaError:
                return
            index += 1

    # -- lifetime ---------------------------------------------------------------
    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()


def open_video(path: str | Path) -> VideoReader:
    """Open a video; :class:`MediaError` naming the file on failure."""
    return VideoReader(path)


__all__ = ["GRAB_AHEAD", "VIDEO_EXTENSIONS", "VideoReader", "is_video_path", "open_video"]
