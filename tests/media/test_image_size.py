"""Image sizes from headers (PNG, JPEG incl. EXIF orientation, BMP, GIF, WebP)
agree with the decoder; fallback and errors."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.domain.errors import MediaError
from detector_app.domain.imageheader import exif_orientation, read_header_size
from detector_app.media.images import read_image
from detector_app.media.imagesize import image_size


def _img(w: int = 53, h: int = 37) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext, params", [
    (".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), (".bmp", []),
    (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),
])
def test_header_matches_decoder(tmp_path: Path, ext: str, params: list[int]) -> None:
    path = tmp_path / f"a{ext}"
    assert cv2.imwrite(str(path), _img(), params)
    assert read_header_size(path) == (53, 37)
    assert image_size(path) == (53, 37)
    assert read_image(path).shape[:2] == (37, 53)


def test_gif_and_grayscale_bmp(tmp_path: Path) -> None:
    gif = tmp_path / "a.gif"
    gif.write_bytes(b"GIF89a" + struct.pack("<HH", 300, 7) + b"\x00" * 20)
    assert read_header_size(gif) == (300, 7)
    bmp = tmp_path / "g.bmp"
    cv2.imwrite(str(bmp), np.zeros((9, 11), np.uint8))
    assert read_header_size(bmp) == (11, 9)


def _exif_app1(orientation: int, big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    tiff = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(e + "I", 8)
    tiff += struct.pack(e + "H", 1) + struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    tiff += struct.pack(e + "I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


@pytest.mark.parametrize("orientation, big_endian", [(1, False), (3, True), (6, False), (8, True)])
def test_jpeg_exif_orientation_swaps_like_the_decoder(tmp_path: Path, orientation: int, big_endian: bool) -> None:
    ok, buf = cv2.imencode(".jpg", _img(40, 20))
    assert ok
    data = buf.tobytes()
    path = tmp_path / "o.jpg"
    path.write_bytes(data[:2] + _exif_app1(orientation, big_endian) + data[2:])
    expected = (20, 40) if orientation in (5, 6, 7, 8) else (40, 20)
    assert read_header_size(path) == expected
    decoded = read_image(path)
    assert (decoded.shape[1], decoded.shape[0]) == expected  # what the app will actually show


def test_exif_orientation_parser_edge_cases() -> None:
    assert exif_orientation(b"") == 1
    assert exif_orientation(b"XX\x2a\x00\x08\x00\x00\x00") == 1
    assert exif_orientation(b"II\x2a\x00\xff\x00\x00\x00") == 1  # IFD offset past the end


def test_unsupported_or_truncated_headers_fall_back(tmp_path: Path) -> None:
    tif = tmp_path / "a.tif"
    cv2.imwrite(str(tif), _img())
    assert read_header_size(tif) is None
    assert image_size(tif) == (53, 37)  # decoded instead
    png = tmp_path / "t.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert read_header_size(png) is None
    with pytest.raises(MediaError, match=r"t\.png: not a readable image"):
        image_size(png)
    jpg = tmp_path / "t.jpg"
    jpg.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    assert read_header_size(jpg) is None


def test_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        image_size(tmp_path / "nope.png")
    with pytest.raises(MediaError, match="is a folder"):
        image_size(tmp_path)


def test_random_headers_never_raise(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    prefixes = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
                b"RIFF\x00\x00\x00\x00WEBPVP8L", b"RIFF\x00\x00\x00\x00WEBPVP8X", b""]
    path = tmp_path / "x.img"

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from(prefixes), st.binary(max_size=80))
    def check(prefix: bytes, rest: bytes) -> None:
        path.write_bytes(prefix + rest)
        size = read_header_size(path)
        assert size is None or (size[0] > 0 and size[1] > 0)

    check()
