"""Reading images and video frames (OpenCV + numpy only, no Qt, no torch).

Below ``detection`` and ``app`` (both read pixels), beside ``formats``.
"""

from detector_app.media.images import IMAGE_EXTENSIONS, read_image

__all__ = ["IMAGE_EXTENSIONS", "read_image"]
