"""VideoReader on small generated videos (mp4v, MJPG), truncated and broken files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.domain.errors import MediaError
from detector_app.media.video import VideoReader, is_video_path
from tests.helpers.files import write_video

W, H, N = 64, 48, 30


def _frame(i: int) -> np.ndarray:
    """BGR frame ``i``: a flat grey level that identifies it, plus its number."""
    f = np.full((H, W, 3), (i * 8) % 256, np.uint8)
    cv2.putText(f, str(i), (4, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
    return f


def _write(path: Path, fourcc: str, n: int = N) -> Path:
    return write_video(path, n, (W, H), fourcc, frame=_frame)


@pytest.fixture(scope="module", params=[("mp4v", ".mp4"), ("MJPG", ".avi")], ids=["mp4v", "mjpg"])
def video(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    fourcc, ext = request.param
    return _write(tmp_path_factory.mktemp("video") / f"clip{ext}", fourcc)


def _level(rgb: np.ndarray) -> float:
    return float(np.median(rgb[40:, 40:]))


def test_metadata_and_sequential_frames(video: Path) -> None:
    with VideoReader(video) as r:
        assert (r.frame_count, r.width, r.height) == (N, W, H)
        assert r.fps == pytest.approx(10.0) and r.duration == pytest.approx(3.0)
        frames = list(r)
    assert len(frames) == N
    assert all(f.dtype == np.uint8 and f.shape == (H, W, 3) for f in frames)
    for i, f in enumerate(frames):
        assert abs(_level(f) - (i * 8) % 256) <= 6  # the frame we wrote, in order


def test_random_access_equals_sequential(video: Path) -> None:
    with VideoReader(video) as r:
        frames = list(r)
    with VideoReader(video) as r:
        for i in [17, 3, 29, 0, 5, 6, 7, 28, 12, 12]:
            assert np.array_equal(r.read(i), frames[i]), i
        with pytest.raises(MediaError, match=r"frame 30 out of range 0\.\.29"):
            r.read(N)
        with pytest.raises(MediaError, match="out of range"):
            r.read(-1)


def test_rgb_channel_order(tmp_path: Path) -> None:
    path = tmp_path / "red.avi"
    red = np.tile(np.array([0, 0, 255], np.uint8), (32, 32, 1))  # pure red in BGR
    write_video(path, 3, (32, 32), fps=5.0, frame=lambda _i: red)
    rgb = VideoReader(path).read(1)
    assert rgb[..., 0].mean() > 200 and rgb[..., 2].mean() < 50


def test_truncated_file_corrects_frame_count(tmp_path: Path) -> None:
    full = _write(tmp_path / "full.avi", "MJPG")
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 2 // 3])
    r = VideoReader(cut)
    estimate = r.frame_count
    frames = list(r)  # stops quietly at the first unreadable frame
    assert 0 < len(frames) < N
    assert r.frame_count == len(frames) <= estimate
    with pytest.raises(MediaError, match="out of range"):
        r.read(N - 1)
    assert np.array_equal(r.read(len(frames) - 1), frames[-1])


def test_read_failure_near_the_end_names_the_readable_count(tmp_path: Path) -> None:
    full = _write(tmp_path / "full.avi", "MJPG")
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 2 // 3])
    r = VideoReader(cut)
    if r.frame_count <= 20:
        pytest.skip("container reported the truncated count")
    with pytest.raises(MediaError, match=r"cut\.avi: frame \d+ cannot be decoded .* frames are readable"):
        for i in range(r.frame_count):
            r.read(i)
    assert r.frame_count < N


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    (b"", r"empty file \(0 bytes\)"),
    (b"this is not a video at all" * 50, "cannot open video|no frame could be decoded"),
])
def test_bad_files(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError, match=r"bad\.mp4: (" + expected + ")"):
        VideoReader(path)


def test_truncated_mp4_without_index_is_refused(tmp_path: Path) -> None:
    data = _write(tmp_path / "full.mp4", "mp4v").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the moov index is at the end: unreadable
    with pytest.raises(MediaError, match=r"cut\.mp4: "):
        VideoReader(cut)


def test_folder_and_extension_helpers(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="is a folder"):
        VideoReader(tmp_path)
    assert is_video_path("a/B.MP4") and not is_video_path("a.png")
