"""Image width/height from the first bytes of a file, without decoding pixels.

Standard library only, so the project store can list 10,000 images quickly
and the YOLO reader (``formats``, which may not use OpenCV) can convert
normalised boxes. Supports PNG, JPEG, BMP, GIF, WebP (VP8, VP8L, VP8X) and
Netpbm (PBM, PGM, PPM).
EXIF orientation 5-8 (JPEG APP1, PNG ``eXIf``, WebP ``EXIF``) swaps width
and height, as the decoder rotates the image upright. Anything else or anything truncated gives ``None``;
``detector_app.media.imagesize.image_size`` then falls back to decoding.
"""

from __future__ import annotations

import errno
import struct
from pathlib import Path
from typing import BinaryIO

#: How far into a JPEG we look for the frame header (EXIF thumbnails come first).
JPEG_SCAN_LIMIT = 4 * 1024 * 1024

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _positive(w: int, h: int) -> tuple[int, int] | None:
    return (w, h) if w > 0 and h > 0 else None


def _swap(size: tuple[int, int] | None, orientation: int) -> tuple[int, int] | None:
    """The upright size: orientations 5-8 turn the image by 90 degrees."""
    return (size[1], size[0]) if size is not None and orientation in (5, 6, 7, 8) else size


def _png(head: bytes, fh: BinaryIO) -> tuple[int, int] | None:
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", head[16:24])
    # an eXIf chunk (raw TIFF data, before the image data) rotates it, as for JPEG;
    # a payload with the JPEG-style "Exif\0\0" prefix is ignored, by OpenCV too
    fh.seek(8)
    pos = 8
    while pos < JPEG_SCAN_LIMIT:
        raw = fh.read(8)
        if len(raw) < 8:
            break
        length, kind = struct.unpack(">I", raw[:4])[0], raw[4:]
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"eXIf":
            return _swap(_positive(w, h), exif_orientation(fh.read(min(length, 65536))))
        fh.seek(length + 4, 1)
        pos = fh.tell()
    return _positive(w, h)


def _gif(head: bytes) -> tuple[int, int] | None:
    if len(head) < 10:
        return None
    w, h = struct.unpack("<HH", head[6:10])
    return _positive(w, h)


def _bmp(head: bytes) -> tuple[int, int] | None:
    if len(head) < 26:
        return None
    (dib,) = struct.unpack("<I", head[14:18])
    if dib == 12:
        w, h = struct.unpack("<HH", head[18:22])
    else:
        w, h = struct.unpack("<ii", head[18:26])
    return _positive(abs(w), abs(h))


def _webp_orientation(fh: BinaryIO) -> int:
    """Orientation from the EXIF chunk (raw TIFF data, as OpenCV reads it) of an
    extended (VP8X) WebP file; 1 if none."""
    fh.seek(12)
    while fh.tell() < JPEG_SCAN_LIMIT:
        raw = fh.read(8)
        if len(raw) < 8:
            return 1
        kind, (length,) = raw[:4], struct.unpack("<I", raw[4:])
        if kind == b"EXIF":
            return exif_orientation(fh.read(min(length, 65536)))
        fh.seek(length + (length & 1), 1)
    return 1


def _webp(head: bytes) -> tuple[int, int] | None:
    if len(head) < 30:
        return None
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", head[26:30])
        return _positive(w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L" and head[20] == 0x2F:
        (bits,) = struct.unpack("<I", head[21:25])
        return _positive((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return _positive(w, h)
    return None


def exif_orientation(tiff: bytes) -> int:
    """EXIF orientation (1..8) from a TIFF block (APP1 payload after ``Exif\\0\\0``); 1 if absent."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    end = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(end + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(end + "H", tiff[ifd:ifd + 2])
    for i in range(count):
        off = ifd + 2 + 12 * i
        if off + 12 > len(tiff):
            break
        tag, typ = struct.unpack(end + "HH", tiff[off:off + 4])
        if tag == 0x0112 and typ == 3:
            (value,) = struct.unpack(end + "H", tiff[off + 8:off + 10])
            return value if 1 <= value <= 8 else 1
    return 1


def _jpeg(fh: BinaryIO) -> tuple[int, int] | None:
    fh.seek(2)
    orientation = 1
    pos = 2
    while pos < JPEG_SCAN_LIMIT:
        byte = fh.read(1)
        if not byte:
            return None
        if byte != b"\xff":
            # bytes between segments: libjpeg skips them to the next 0xFF ("extraneous bytes
            # before marker") and decodes the image, so the size must be found past them too
            chunk = fh.read(65536)
            i = chunk.find(b"\xff")
            if i < 0:
                if not chunk:
                    return None
                pos = fh.tell()
                continue
            fh.seek(pos + 1 + i)
            pos = fh.tell()
            continue
        marker = fh.read(1)
        while marker == b"\xff":  # fill bytes
            marker = fh.read(1)
        if not marker:
            return None
        m = marker[0]
        if m in (0x01, *range(0xD0, 0xD8)):  # standalone markers
            pos = fh.tell()
            continue
        if m in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        raw = fh.read(2)
        if len(raw) < 2:
            return None
        (length,) = struct.unpack(">H", raw)
        if length < 2:
            return None
        if m in _SOF:
            seg = fh.read(5)
            if len(seg) < 5:
                return None
            h, w = struct.unpack(">HH", seg[1:5])
            if orientation in (5, 6, 7, 8):
                w, h = h, w
            return _positive(w, h)
        if m == 0xE1 and orientation == 1:
            payload = fh.read(length - 2)
            if payload[:6] == b"Exif\x00\x00":
                orientation = exif_orientation(payload[6:])
        else:
            fh.seek(length - 2, 1)
        pos = fh.tell()
    return None


_PNM_MAGIC = (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")


def _pnm(fh: BinaryIO) -> tuple[int, int] | None:
    """Netpbm (PBM / PGM / PPM): magic, then width and height as decimal text,
    separated by whitespace and ``#`` comments."""
    fh.seek(2)
    text = fh.read(4096)
    numbers: list[int] = []
    i = 0
    while len(numbers) < 2 and i < len(text):
        c = text[i:i + 1]
        if c == b"#":
            end = text.find(b"\n", i)
            i = len(text) if end < 0 else end + 1
        elif c.isspace():
            i += 1
        elif c.isdigit():
            j = i
            while j < len(text) and text[j:j + 1].isdigit() and j - i < 12:
                j += 1
            numbers.append(int(text[i:j]))
            i = j
        else:
            return None
    return _positive(numbers[0], numbers[1]) if len(numbers) == 2 else None


def read_header_size(path: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` of an image file from its header, or ``None``.

    ``None`` for unsupported formats (e.g. TIFF), truncated or corrupt
    headers; ``OSError`` propagates for missing/unreadable files, and is raised
    for a name holding a NUL byte or a lone surrogate (no file has one; ``open``
    raises ``ValueError``, which the callers catching ``OSError`` let escape).
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with block below
    except ValueError:  # no file has such a name
        why = "it holds a NUL byte" if "\x00" in str(path) else "it holds a character that cannot be encoded"
        raise OSError(errno.EINVAL, f"invalid file name ({why})", str(path)) from None
    with fh:
        head = fh.read(32)
        try:
            if head.startswith(b"\x89PNG\r\n\x1a\n"):
                return _png(head, fh)
            if head[:2] == b"\xff\xd8":
                return _jpeg(fh)
            if head[:6] in (b"GIF87a", b"GIF89a"):
                return _gif(head)
            if head[:2] == b"BM":
                return _bmp(head)
            if head[:2] in _PNM_MAGIC and head[2:3].isspace():
                return _pnm(fh)
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                size = _webp(head)
                exif = head[12:16] == b"VP8X" and len(head) > 20 and head[20] & 0x08
                return _swap(size, _webp_orientation(fh)) if exif else size
        except (struct.error, IndexError, ValueError):
            return None
    return None


__all__ = ["JPEG_SCAN_LIMIT", "exif_orientation", "read_header_size"]
