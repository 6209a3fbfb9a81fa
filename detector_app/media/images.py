"""Image reading with clear errors.

``read_image`` returns ``uint8[H, W, 3]`` RGB, whatever the file holds
(grayscale, RGBA, palette, 16-bit), upright per EXIF orientation, and reads
paths with non-ASCII characters (bytes decoded with ``cv2.imdecode``):

* grayscale becomes three equal channels; alpha is dropped (the stored
  colours are kept, no compositing); palette images are expanded;
* 16-bit images are scaled to 8 bits (``v / 257``, rounded or truncated by
  the codec: within 1 of it);
* an image over :data:`MAX_PIXELS` is refused with :class:`ImageTooLarge`
  *before* its pixels are decoded (the size comes from the header: PNG,
  JPEG, BMP, GIF, WebP, TIFF), so a 20000 x 20000 file costs no gigabytes.
  :func:`read_preview` shows such an image downscaled (JPEG only, decoded at
  1/2, 1/4 or 1/8 scale by the codec itself, never at full size).
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from detector_app.domain import media_types
from detector_app.domain.errors import MediaError
from detector_app.domain.imageheader import read_header_size

IMAGE_EXTENSIONS = media_types.IMAGE_EXTENSIONS
#: Larger images are refused for viewing at full size, detection and editing:
#: 100 megapixels is 300 MB as RGB, ~1 GB at the decoder's peak; Faster R-CNN
#: resizes its input to ~800-1333 px anyway.
MAX_PIXELS = 100_000_000
#: The largest downscaled preview :func:`read_preview` makes (a 4096 x 4096 view).
PREVIEW_PIXELS = 16_777_216
_REDUCED = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))


class ImageTooLarge(MediaError):
    """An image over :data:`MAX_PIXELS`; ``width`` and ``height`` are its size."""

    def __init__(self, message: str, width: int, height: int) -> None:
        super().__init__(message)
        self.width, self.height = width, height


def _tiff_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from the first IFD of a TIFF file, or ``None``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head[:4] not in (b"II*\x00", b"MM\x00*"):
                return None
            end = "<" if head[:2] == b"II" else ">"
            (ifd,) = struct.unpack(end + "I", head[4:8])
            fh.seek(ifd)
            (count,) = struct.unpack(end + "H", fh.read(2))
            entries = fh.read(12 * min(count, 512))
    except (OSError, struct.error):
        return None
    dims: dict[int, int] = {}
    for off in range(0, len(entries) - 11, 12):
        tag, typ = struct.unpack(end + "HH", entries[off:off + 4])
        if tag in (256, 257):
            fmt = end + ("H" if typ == 3 else "I")
            dims[tag] = struct.unpack(fmt, entries[off + 8:off + 8 + struct.calcsize(fmt)])[0]
    w, h = dims.get(256, 0), dims.get(257, 0)
    return (w, h) if w > 0 and h > 0 else None


def _declared_size(path: Path) -> tuple[int, int] | None:
    """The size the file's header declares (without decoding), or ``None``."""
    try:
        size = read_header_size(path)
    except OSError:
        return None
    return size if size is not None else _tiff_size(path)


def _too_large(path: Path, w: int, h: int) -> ImageTooLarge:
    return ImageTooLarge(
        f"{path}: image is {w}x{h} pixels ({w * h / 1e6:.3g} megapixels), over the "
        f"{MAX_PIXELS / 1e6:.3g} megapixel limit; downscale it to view, detect or annotate it",
        w, h,
    )


def _read_bytes(path: Path) -> np.ndarray:
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
    return data


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``uint8[H, W, 3]`` RGB.

    Raises :class:`MediaError` naming the file for a missing, empty, truncated
    or non-image file, :class:`ImageTooLarge` for one over :data:`MAX_PIXELS`.
    """
    path = Path(path)
    size = _declared_size(path)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise _too_large(path, *size)
    data = _read_bytes(path)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise MediaError(f"{path}: not a readable image (unknown format or corrupt data)")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:  # a header we could not read
        raise _too_large(path, image.shape[1], image.shape[0])
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image)  # in place: no second full-size copy


def read_preview(path: str | Path, max_pixels: int = PREVIEW_PIXELS) -> tuple[np.ndarray, int]:
    """A downscaled view of a (too large) image: ``(uint8[h, w, 3] RGB, factor)``
    with ``h ~ H / factor``, ``factor`` in 1, 2, 4, 8 (the smallest that fits in
    ``max_pixels`` and :data:`MAX_PIXELS`).

    A JPEG is downscaled by the codec while decoding (the full-size pixels
    never exist); another format is decoded and resized, so only up to
    :data:`MAX_PIXELS` (over it: :class:`MediaError`, as for a JPEG too
    large even at 1/8).
    """
    path = Path(path)
    size = _declared_size(path)
    if size is None:
        return read_image(path), 1
    w, h = size
    limit = min(max_pixels, MAX_PIXELS)
    if w * h <= limit:
        return read_image(path), 1
    for factor, flag in _REDUCED:  # noqa: B007 - the flag of the factor found is used after the loop
        if -(-w // factor) * -(-h // factor) <= limit:
            break
    else:
        raise MediaError(f"{path}: image is {w}x{h} pixels, too large even for a 1/8 preview")
    with open(path, "rb") as fh:
        is_jpeg = fh.read(2) == b"\xff\xd8"
    if is_jpeg:
        image = cv2.imdecode(_read_bytes(path), flag)
        if image is None:
            raise MediaError(f"{path}: not a readable image (unknown format or corrupt data)")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), factor
    if w * h > MAX_PIXELS:
        raise MediaError(f"{path}: image is {w}x{h} pixels; only JPEG files this large can be "
                         "previewed (they are decoded at reduced size)")
    rgb = read_image(path)
    small = (-(-rgb.shape[1] // factor), -(-rgb.shape[0] // factor))
    return cv2.resize(rgb, small, interpolation=cv2.INTER_AREA), factor


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    """Write ``uint8[H, W, 3]`` RGB to ``path`` (format from the extension)."""
    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise MediaError(f"{path}: cannot encode image as {path.suffix!r}")
    try:
        buf.tofile(str(path))
    except OSError as exc:
        raise MediaError(f"{path}: cannot write ({exc.strerror or exc})") from None
