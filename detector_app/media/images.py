"""Image reading with clear errors.

``read_image`` returns ``uint8[H, W, 3]`` RGB, whatever the file holds
(grayscale, RGBA, palette, 16-bit), upright per EXIF orientation, and reads
paths with non-ASCII characters (bytes decoded with ``cv2.imdecode``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detector_app.domain.errors import MediaError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Larger images are refused for detection (they would exhaust memory).
MAX_PIXELS = 100_000_000


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``uint8[H, W, 3]`` RGB.

    Raises :class:`MediaError` naming the file for a missing, empty, truncated
    or non-image file.
    """
    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MediaError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise MediaError(f"{path}: not a readable image (unknown format or corrupt data)")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise MediaError(
            f"{path}: image is {image.shape[1]}x{image.shape[0]} pixels, over the "
            f"{MAX_PIXELS // 1_000_000} megapixel limit"
        )
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    """Write ``uint8[H, W, 3]`` RGB to ``path`` (format from the extension)."""
    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise MediaError(f"{path}: cannot encode image as {path.suffix!r}")
    buf.tofile(str(path))
