"""Still images <-> uint8 numpy arrays (PNG, JPEG, WebP), decoded and encoded by FFmpeg.

Why PyAV instead of Pillow: one dependency and one error model for all media.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any, cast

import av
import numpy as np

from mediamesh.media._convert import as_image, frame_rgb, image_frame, with_channels
from mediamesh.media._encode import OutputPath, encode_errors, extension
from mediamesh.media._source import MediaSource, find_stream, open_input, source_name
from mediamesh.media.errors import MediaDecodeError

__all__ = ["encode_image", "read_image", "write_image"]

_EXTENSION_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


def read_image(source: MediaSource, keep_alpha: bool = False) -> np.ndarray:
    """Decode a still image (or a video's first frame) to uint8 HxWx3 RGB. With
    ``keep_alpha``, an image that has an alpha channel (PNG, WebP) comes back HxWx4 RGBA."""
    name = source_name(source)
    with open_input(source) as container:
        stream = find_stream(container, "video", name)
        for frame in container.decode(stream):
            if keep_alpha and _has_alpha(frame.format):
                return np.ascontiguousarray(frame.to_ndarray(format="rgba"))
            return frame_rgb(frame)
    raise MediaDecodeError(f"cannot decode {name}: it contains no image")


def _has_alpha(fmt: av.VideoFormat) -> bool:
    """Pixel formats with an alpha component (rgba, yuva420p, ya8, pal8 with transparency)."""
    return fmt.name.startswith(("rgba", "bgra", "argb", "abgr", "yuva", "gbrap", "ya")) \
        or fmt.name == "pal8"


def write_image(path: OutputPath, image: np.ndarray, quality: int = 90) -> None:
    """Write uint8 HxWx3 RGB or HxWx4 RGBA to .png (keeps alpha), .jpg/.jpeg or .webp.

    ``quality`` (1-100) applies to JPEG and WebP. JPEG has no alpha, so it is dropped.
    """
    fmt = _EXTENSION_FORMATS[extension(path, _EXTENSION_FORMATS, "an image")]
    data = encode_image(image, fmt, quality)
    with open(os.fspath(path), "wb") as handle:
        handle.write(data)


def encode_image(image: np.ndarray, fmt: str = "png", quality: int = 90) -> bytes:
    """Encode uint8 HxWx3/HxWx4 to the bytes of a 'png', 'jpeg' (alias 'jpg') or 'webp' file."""
    rgb = as_image(image)
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    fmt = "jpeg" if fmt.lower() == "jpg" else fmt.lower()
    alpha = rgb.shape[2] == 4
    if fmt == "png":
        codec, pix_fmt, options = "png", "rgba" if alpha else "rgb24", {}
    elif fmt == "jpeg":
        rgb = with_channels(rgb, 3)
        # mjpeg's rate control ignores quality; pin the quantiser instead (2 best .. 31 worst)
        qscale = str(round(2 + (100 - quality) * 29 / 99))
        codec, pix_fmt, options = "mjpeg", "yuvj420p", {"qmin": qscale, "qmax": qscale}
    elif fmt == "webp":
        codec, pix_fmt, options = (
            "libwebp",
            "yuva420p" if alpha else "yuv420p",
            {"quality": str(quality)},
        )
    else:
        raise ValueError(f"unsupported image format {fmt!r}; use 'png', 'jpeg' or 'webp'")
    return _encode_single(rgb, codec, pix_fmt, options, fmt)


def _encode_single(
    rgb: np.ndarray, codec: str, pix_fmt: str, options: dict[str, str], fmt: str
) -> bytes:
    """Run one frame through an image encoder; its packets are the complete file."""
    with encode_errors(f"a {fmt} image"):
        context = cast(Any, av.CodecContext.create(codec, "w"))  # a video encoder context
        context.width, context.height = rgb.shape[1], rgb.shape[0]
        context.pix_fmt = pix_fmt
        context.time_base = Fraction(1, 1)
        context.options = options
        frame = image_frame(rgb)
        frame.pts = 0
        packets = context.encode(frame) + context.encode(None)
    return b"".join(bytes(packet) for packet in packets)
