"""Opening inputs for decoding, with every FFmpeg failure turned into MediaDecodeError.

Why a shared module: every decoder must accept the same ``MediaSource`` forms,
describe the input the same way in error messages, and never leak ``av.error``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal, TypeAlias, overload

import av
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.stream import Disposition, Stream
from av.video.stream import VideoStream

from mediamesh.media.errors import MediaDecodeError

MediaSource: TypeAlias = str | os.PathLike[str] | bytes
"""A file path, or the complete bytes of an in-memory file."""

_BYTES_LIKE = (bytes, bytearray, memoryview)


def source_name(source: MediaSource) -> str:
    """Human-readable name of ``source`` for error messages ('x.mp4' or in-memory data)."""
    if isinstance(source, _BYTES_LIKE):
        return f"in-memory data ({len(source)} bytes)"
    return repr(os.fspath(source))


def av_reason(exc: BaseException) -> str:
    """FFmpeg's reason in lower case, e.g. 'invalid data found when processing input'."""
    if isinstance(exc, av.error.EOFError):
        return "unexpected end of file (is it truncated?)"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


@contextmanager
def decode_errors(name: str) -> Iterator[None]:
    """Re-raise any PyAV error inside the block as MediaDecodeError naming the input."""
    try:
        yield
    except av.FFmpegError as exc:
        raise MediaDecodeError(f"cannot decode {name}: {av_reason(exc)}") from exc


def _file_arg(source: MediaSource, name: str) -> str | io.BytesIO:
    if isinstance(source, _BYTES_LIKE):
        if len(source) == 0:
            raise MediaDecodeError(f"cannot decode {name}: the data is empty")
        return io.BytesIO(bytes(source))
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a path or bytes, got {type(source).__name__}")
    path = os.fspath(source)
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise MediaDecodeError(f"cannot decode {name}: the file is empty (0 bytes)")
    return path


@contextmanager
def open_input(source: MediaSource) -> Iterator[InputContainer]:
    """Open ``source`` for demuxing; PyAV errors raised in the block become MediaDecodeError."""
    name = source_name(source)
    with decode_errors(name):
        container = av.open(_file_arg(source, name), mode="r", metadata_errors="replace")
    try:
        with decode_errors(name):
            yield container
    finally:
        container.close()


@overload
def first_stream(container: InputContainer, kind: Literal["audio"]) -> AudioStream | None: ...
@overload
def first_stream(container: InputContainer, kind: Literal["video"]) -> VideoStream | None: ...
def first_stream(container: InputContainer, kind: Literal["audio", "video"]) -> Stream | None:
    """First ``kind`` stream FFmpeg can decode, or None; cover art (an attached picture)
    does not count as video. A stream without a codec (a WAV header saying 0 bits per
    sample, an unknown tag) has no codec context to read rates or sizes from: not usable."""
    for stream in container.streams:
        if stream.type == kind and stream.codec_context is not None and not (
            kind == "video" and stream.disposition & Disposition.attached_pic
        ):
            return stream
    return None


@overload
def find_stream(container: InputContainer, kind: Literal["audio"], name: str) -> AudioStream: ...
@overload
def find_stream(container: InputContainer, kind: Literal["video"], name: str) -> VideoStream: ...
def find_stream(container: InputContainer, kind: Literal["audio", "video"], name: str) -> Stream:
    """First decodable ``kind`` stream, or MediaDecodeError saying why there is none."""
    stream = first_stream(container, kind)
    if stream is None:
        if any(s.type == kind for s in container.streams):
            raise MediaDecodeError(f"the {kind} stream of {name} is in a codec FFmpeg cannot "
                                   "decode (or its header is broken)")
        raise MediaDecodeError(f"no {kind} stream in {name}")
    if is_undecodable_webp(container, stream):
        raise MediaDecodeError(
            f"cannot decode {name}: animated WebP is not supported by FFmpeg's "
            "WebP decoder (probe() can still read its header)"
        )
    return stream


def is_undecodable_webp(container: InputContainer, stream: Stream) -> bool:
    """FFmpeg 8 opens animated WebP as 'webp_pipe' with a 0x0 stream it cannot decode."""
    return container.format.name == "webp_pipe" and getattr(stream.codec_context, "width", 0) == 0


def stream_fps(stream: Stream) -> float | None:
    """Frames per second from the header (average, else FFmpeg's guess), None if unknown."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def stream_origin(stream: Stream) -> float:
    """Seconds of the stream's first timestamp; frame times are reported relative to it."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def seek_before(container: InputContainer, stream: Stream, seconds: float) -> None:
    """Seek to the keyframe at or before ``seconds`` (relative to the stream origin).

    Callers still skip frames by timestamp, so a failed or imprecise seek only
    costs decoding time; that is why seek errors are swallowed here.
    """
    if seconds <= 0 or stream.time_base is None:
        return
    target = int((seconds + stream_origin(stream)) / stream.time_base)
    with suppress(av.FFmpegError):  # unseekable input: decode from the start instead
        container.seek(target, stream=stream, backward=True, any_frame=False)
