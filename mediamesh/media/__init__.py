"""Shared media I/O for mediamesh: probe, decode and encode audio, video and images.

Everything is numpy in, numpy out: images/frames are uint8 HxWx3 RGB (HxWx4
RGBA where alpha is supported), audio is float32 in [-1, 1] shaped (n,) or
(channels, n), times are seconds and rates Hz / frames per second. Inputs
(``MediaSource``) are paths or the bytes of a whole file. Failures surface as
``MediaError`` subclasses (ValueError), never as PyAV exceptions.
"""

from __future__ import annotations

from mediamesh.media._encode import OutputPath
from mediamesh.media._source import MediaSource
from mediamesh.media.animated import write_gif, write_webp
from mediamesh.media.audio import decode_audio, write_audio
from mediamesh.media.errors import (
    MediaDecodeError,
    MediaEncodeError,
    MediaError,
    MediaTooLargeError,
)
from mediamesh.media.image import encode_image, read_image, write_image
from mediamesh.media.planes import YuvPlanes
from mediamesh.media.probe import MediaInfo, check_limits, probe
from mediamesh.media.video import (
    DecodedFrame,
    VideoFrame,
    VideoWriter,
    YuvFrame,
    iter_frames,
    iter_frames_at,
    iter_yuv_frames,
    read_frame_at,
)

__all__ = [
    "DecodedFrame",
    "MediaDecodeError",
    "MediaEncodeError",
    "MediaError",
    "MediaInfo",
    "MediaSource",
    "MediaTooLargeError",
    "OutputPath",
    "VideoFrame",
    "VideoWriter",
    "YuvFrame",
    "YuvPlanes",
    "check_limits",
    "decode_audio",
    "encode_image",
    "iter_frames",
    "iter_frames_at",
    "iter_yuv_frames",
    "probe",
    "read_frame_at",
    "read_image",
    "write_audio",
    "write_gif",
    "write_image",
    "write_webp",
]
