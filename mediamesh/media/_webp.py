"""Header-only parsing of animated WebP files.

Why: FFmpeg 8's WebP decoder rejects animated WebP (its 'webp_pipe' demuxer
reports a 0x0 stream), yet we write such files and must be able to probe them.
The RIFF layout is simple: a VP8X chunk with the canvas size, an ANIM chunk,
then one ANMF chunk per frame whose header holds the frame duration in ms.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from mediamesh.media._source import MediaSource

_ANIMATION_FLAG = 0x02


@dataclass(frozen=True)
class AnimatedWebp:
    """Canvas size in pixels, frame count and total duration in seconds."""

    width: int
    height: int
    frame_count: int
    duration: float


def read_animated_webp(source: MediaSource) -> AnimatedWebp | None:
    """Parse an animated WebP's chunk headers; None if ``source`` is not one (or is malformed)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _parse(io.BytesIO(bytes(source)))
    with open(os.fspath(source), "rb") as handle:
        return _parse(handle)


def _uint24(data: bytes) -> int:
    return int.from_bytes(data[:3], "little")


def _parse(handle: BinaryIO) -> AnimatedWebp | None:
    header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WEBP":
        return None
    width = height = frames = duration_ms = 0
    animated = False
    while True:
        chunk = handle.read(8)
        if len(chunk) < 8:
            break
        fourcc, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        payload_start = handle.tell()
        if fourcc == b"VP8X":
            body = handle.read(10)
            animated = len(body) == 10 and bool(body[0] & _ANIMATION_FLAG)
            width, height = _uint24(body[4:7]) + 1, _uint24(body[7:10]) + 1
        elif fourcc == b"ANMF":
            body = handle.read(16)
            if len(body) < 16:
                break
            frames += 1
            duration_ms += _uint24(body[12:15])
        handle.seek(payload_start + size + (size & 1))  # chunks are padded to even sizes
    if not animated or frames == 0:
        return None
    return AnimatedWebp(width, height, frames, duration_ms / 1000.0)
