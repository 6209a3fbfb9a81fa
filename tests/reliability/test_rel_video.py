"""Video: zero frames, unknown codec, corrupt frames, a frame count
that lies, non-ASCII paths. Every failure is a MediaError naming the file;
after one the reader still serves the frames that are readable."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from detector_app.domain.errors import MediaError
from detector_app.media.video import VideoReader
from tests.helpers.files import write_video

N = 10


def _level(rgb: np.ndarray) -> int:
    """The grey level ``write_video`` gave a frame: ``(i * 20) % 256``, as a frame index."""
    return round(float(np.median(rgb[:8, :])) / 20)


@pytest.fixture(scope="module")
def avi_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_video(tmp_path_factory.mktemp("v") / "ok.avi", frames=N).read_bytes()


def _patch_u32(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack("<I", value) + data[offset + 4:]


def _frame_chunks(data: bytes) -> list[int]:
    """Offsets of the ``00dc`` frame chunks of an AVI's ``movi`` list (not its index)."""
    movi, idx1 = data.find(b"movi"), data.find(b"idx1")
    out, pos = [], movi + 4
    while True:
        pos = data.find(b"00dc", pos)
        if pos < 0 or pos >= idx1:
            return out
        out.append(pos)
        pos += 8 + struct.unpack("<I", data[pos + 4:pos + 8])[0]


@pytest.mark.parametrize("fourcc, ext", [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_zero_frames(tmp_path: Path, fourcc: str, ext: str) -> None:
    path = write_video(tmp_path / f"zero{ext}", frames=0, fourcc=fourcc)
    with pytest.raises(MediaError, match=rf"zero{ext}: (cannot open video|no frame could be decoded)"):
        VideoReader(path)


def test_unknown_codec(tmp_path: Path, avi_bytes: bytes) -> None:
    path = tmp_path / "codec.avi"
    path.write_bytes(avi_bytes.replace(b"MJPG", b"QQQQ"))  # a FourCC no decoder knows
    with pytest.raises(MediaError, match=r"codec\.avi: cannot open video \(corrupt file or unknown container/codec\)"):
        VideoReader(path)


def test_header_claims_more_frames_than_there_are(tmp_path: Path, avi_bytes: bytes) -> None:
    """avih/strh say 100 frames, no index: 10 exist. A jump to frame 50 fails with
    the exact readable count (bisection), and frames 0..9 still read."""
    data = avi_bytes[: avi_bytes.find(b"idx1")]
    avih, strh = data.find(b"avih"), data.find(b"strh")
    data = _patch_u32(_patch_u32(data, avih + 8 + 16, 100), strh + 8 + 32, 100)
    path = tmp_path / "lies.avi"
    path.write_bytes(data)
    r = VideoReader(path)
    assert r.frame_count == 100
    with pytest.raises(MediaError, match=r"lies\.avi: frame 50 cannot be decoded .*; 10 frames are readable"):
        r.read(50)
    assert r.frame_count == 10
    assert [_level(r.read(i)) for i in (9, 3, 4, 0)] == [9, 3, 4, 0]
    with pytest.raises(MediaError, match=r"frame 10 out of range 0\.\.9"):
        r.read(10)
    r2 = VideoReader(path)
    assert len(list(r2)) == 10 and r2.frame_count == 10  # played through: the same correction


def test_header_claims_fewer_frames(tmp_path: Path, avi_bytes: bytes) -> None:
    """A count that lies low hides the extra frames (a known limit), nothing worse."""
    avih, strh = avi_bytes.find(b"avih"), avi_bytes.find(b"strh")
    path = tmp_path / "few.avi"
    path.write_bytes(_patch_u32(_patch_u32(avi_bytes, avih + 24, 3), strh + 40, 3))
    r = VideoReader(path)
    assert r.frame_count == 3 and [_level(f) for f in r] == [0, 1, 2]


def test_one_corrupt_frame_in_the_middle(tmp_path: Path, avi_bytes: bytes) -> None:
    chunk = _frame_chunks(avi_bytes)[5]
    size = struct.unpack("<I", avi_bytes[chunk + 4:chunk + 8])[0]
    data = avi_bytes[: chunk + 8] + bytes(size) + avi_bytes[chunk + 8 + size:]
    path = tmp_path / "mid.avi"
    path.write_bytes(data)
    r = VideoReader(path)
    assert [_level(r.read(i)) for i in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(MediaError, match=r"mid\.avi: frame 5 cannot be decoded \(corrupt data\); the frames after"):
        r.read(5)
    assert r.frame_count == N  # not mistaken for the end
    assert [_level(r.read(i)) for i in (6, 9, 2)] == [6, 9, 2]
    with pytest.raises(MediaError, match="frame 5 cannot be decoded"):
        r.read(5)  # again, now with later frames already read


def test_truncated_video_found_by_a_jump(tmp_path: Path, avi_bytes: bytes) -> None:
    chunks = _frame_chunks(avi_bytes)
    path = tmp_path / "cut.avi"
    path.write_bytes(avi_bytes[: chunks[7] + 4])  # frames 0..6 complete, the rest cut
    r = VideoReader(path)
    if r.frame_count == 7:
        pytest.skip("the container reported the truncated count")
    with pytest.raises(MediaError, match=r"cut\.avi: frame \d+ cannot be decoded .*; 7 frames are readable"):
        r.read(r.frame_count - 1)
    assert r.frame_count == 7 and _level(r.read(6)) == 6


@pytest.mark.parametrize("name", ["vidéo/clip ñ.avi", "動画/クリップ.mp4"])
def test_non_ascii_video_path(tmp_path: Path, name: str) -> None:
    path = write_video(tmp_path / name, frames=4, fourcc="MJPG" if name.endswith(".avi") else "mp4v")
    with VideoReader(path) as r:
        assert r.frame_count == 4 and [_level(f) for f in r] == [0, 1, 2, 3]
    with pytest.raises(MediaError, match="動画"):
        VideoReader(tmp_path / "動画" / "missing.mp4")
