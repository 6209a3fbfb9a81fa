"""Image size without decoding pixels where possible.

:func:`image_size` reads the header (``detector_app.domain.imageheader``:
PNG, JPEG with EXIF orientation, BMP, GIF, WebP) and falls back to decoding
with OpenCV for anything else (TIFF, odd JPEGs). The size is that of the
upright image :func:`detector_app.media.images.read_image` returns.
"""

from __future__ import annotations

from pathlib import Path

from detector_app.domain.errors import MediaError
from detector_app.domain.imageheader import read_header_size
from detector_app.media.images import read_image


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image file; :class:`MediaError` naming the file if unreadable."""
    path = Path(path)
    try:
        size = read_header_size(path)
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MediaError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size is not None:
        return size
    rgb = read_image(path)
    return int(rgb.shape[1]), int(rgb.shape[0])


__all__ = ["image_size"]
