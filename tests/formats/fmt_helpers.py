"""Helpers for the format tests (a plain module: test files import it by name)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def tiny_png(path: Path, width: int, height: int) -> Path:
    """A valid grey PNG of ``width x height`` (written by hand: fast for any size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1))
                     + chunk(b"IEND", b""))
    return path

