"""Reading images and video frames (OpenCV + numpy only, no Qt, no torch).

Below ``detection`` and ``app`` (both read pixels), beside ``formats``.
"""

from detector_app.media.images import IMAGE_EXTENSIONS, read_image, write_image
from detector_app.media.imagesize import image_size
from detector_app.media.video import VIDEO_EXTENSIONS, VideoReader, is_video_path, open_video

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "VideoReader",
    "image_size",
    "is_video_path",
    "open_video",
    "read_image",
    "write_image",
]
