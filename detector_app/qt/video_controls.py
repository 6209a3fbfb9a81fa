"""``VideoControls``: play/pause, step frame by frame, and a frame slider.

The widget only asks: ``frameRequested(index)`` when the user (or the play
timer) wants another frame. The window shows the frame and calls
``set_frame`` (emits nothing). While playing, the timer runs at the video's
fps; detection requests go to the worker with newest-frame-wins, so a slow
model skips frames instead of falling behind.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QStyle, QStyleOptionSlider, QToolButton, QWidget


class _MarkedSlider(QSlider):
    """A frame slider with a coloured tick under each marked frame (annotated, verified)."""

    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.marks: dict[int, QColor] = {}

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        super().paintEvent(event)
        if not self.marks or self.maximum() <= self.minimum():
            return
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderHandle, self)
        span = groove.width() - handle.width()
        painter = QPainter(self)
        for frame, color in self.marks.items():
            x = groove.x() + handle.width() / 2 + QStyle.sliderPositionFromValue(
                self.minimum(), self.maximum(), frame, span)
            painter.setPen(QPen(color, 3))
            painter.drawLine(int(x), self.height() - 6, int(x), self.height() - 1)
        painter.end()


class VideoControls(QWidget):
    """Transport bar for one video (hidden when the current item is an image)."""

    frameRequested = Signal(int)
    playingChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._count = 0
        self._fps = 25.0
        self._frame = 0
        style = self.style()
        self._play = QToolButton()
        self._play.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self._play.setToolTip("Play / pause (P)")
        self._prev = QToolButton()
        self._prev.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self._prev.setToolTip("Previous frame (,)")
        self._next = QToolButton()
        self._next.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self._next.setToolTip("Next frame (.)")
        self._slider = _MarkedSlider()
        self._slider.setTracking(True)
        self._label = QLabel()
        self._label.setMinimumWidth(self._label.fontMetrics().horizontalAdvance("frame 00000 / 00000  (0000.00 s)"))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for w in (self._prev, self._play, self._next, self._slider, self._label):
            layout.addWidget(w)
        layout.setStretch(3, 1)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._play.clicked.connect(self.toggle)
        self._prev.clicked.connect(lambda: self.step(-1))
        self._next.clicked.connect(lambda: self.step(1))
        self._slider.valueChanged.connect(self._slider_moved)
        self._update_label()

    # -- owner API -------------------------------------------------------------
    def set_video(self, frame_count: int, fps: float) -> None:
        self.pause()
        self._count = max(int(frame_count), 0)
        self._fps = float(fps) if fps and fps > 0 else 25.0
        self._slider.blockSignals(True)
        self._slider.setRange(0, max(self._count - 1, 0))
        self._slider.blockSignals(False)
        self.set_frame(0)

    def set_marks(self, marks: dict[int, QColor]) -> None:
        """Colour ticks under these frames (the annotated and verified ones)."""
        self._slider.marks = dict(marks)
        self._slider.setToolTip(f"{len(marks)} frame(s) annotated or verified (ticks)" if marks else "")
        self._slider.update()

    def marks(self) -> dict[int, QColor]:
        return dict(self._slider.marks)

    def set_frame(self, index: int) -> None:
        """Show ``index`` as the current frame (emits nothing)."""
        self._frame = int(index)
        self._slider.blockSignals(True)
        self._slider.setValue(self._frame)
        self._slider.blockSignals(False)
        self._update_label()

    def step(self, delta: int) -> None:
        """Ask for the frame ``delta`` away (clamped)."""
        target = min(max(self._frame + int(delta), 0), max(self._count - 1, 0))
        if target != self._frame:
            self.frameRequested.emit(target)

    def play(self) -> None:
        if self._count == 0 or self._timer.isActive():
            return
        if self._frame >= self._count - 1:
            self.frameRequested.emit(0)
        self._timer.start(max(int(round(1000.0 / self._fps)), 1))
        self._play.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self.playingChanged.emit(True)

    def pause(self) -> None:
        if not self._timer.isActive():
            return
        self._timer.stop()
        self._play.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.playingChanged.emit(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    # -- queries ---------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    @property
    def frame(self) -> int:
        return self._frame

    @property
    def frame_count(self) -> int:
        return self._count

    @property
    def fps(self) -> float:
        return self._fps

    def label_text(self) -> str:
        return self._label.text()

    # -- internals ---------------------------------------------------------------
    def _tick(self) -> None:
        if self._frame >= self._count - 1:
            self.pause()
            return
        self.frameRequested.emit(self._frame + 1)

    def _slider_moved(self, value: int) -> None:
        if value != self._frame:
            self.frameRequested.emit(int(value))

    def _update_label(self) -> None:
        if self._count == 0:
            self._label.setText("no video")
            return
        seconds = self._frame / self._fps
        self._label.setText(f"frame {self._frame + 1} / {self._count}  ({seconds:.2f} s)")
