"""Shared plumbing for writing media: output containers, streams and error translation.

Why: every writer must pick formats by extension, give actionable errors, keep
timestamps exact, and not leave half-written files behind when encoding fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from fractions import Fraction
from typing import Any, TypeAlias, cast

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.stream import Stream
from av.video.stream import VideoStream

from mediamesh.media._convert import audio_frame, layout_name
from mediamesh.media._source import av_reason
from mediamesh.media.errors import MediaEncodeError

OutputPath: TypeAlias = str | os.PathLike[str]

_SAMPLE_FORMAT_PREFERENCE = ("fltp", "flt", "s16", "s16p", "s32", "s32p")
_AUDIO_CHUNK = 65536  # samples per frame handed to the encoder; bounds resampler memory
# bits/s per channel when the caller gives no bitrate; FFmpeg's own defaults
# (e.g. 64 kb/s for MP3 mono) are audibly poor for music.
_DEFAULT_BITRATE_PER_CHANNEL = {"libmp3lame": 96_000, "aac": 96_000, "libopus": 64_000}
# Encoder settings that trade search effort for speed: LAME's -q 7 (its "fast" preset; -q 5
# measured no faster here) and FFmpeg AAC's "fast" coder instead of "twoloop". On a 63 s
# stereo mix here: MP3 4.6 -> 2.4 s CPU, AAC 3.6 -> 1.1 s. At 96 kb/s per channel the
# quality cost is small; a mastering-grade export should pick WAV or FLAC anyway.
# AAC's intensity stereo is off: with the fast coder it rebuilds some bands of the two
# channels with opposite signs, spikes up to 3 dB over the input's true peak that no
# mastering headroom can predict (a -1 dBTP master came back at 0 dBTP); without it the
# overshoot is ~1 dB, at the same encoding speed, and both channels are coded in full.
_ENCODER_OPTIONS = {
    "libmp3lame": {"compression_level": "7"},
    "aac": {"aac_coder": "fast", "aac_is": "0"},
}
# Opus accepts 8-48 kHz but always codes (and decodes) at 48 kHz, so feed it that.
_FIXED_RATES = {"libopus": 48_000}


def path_name(path: OutputPath) -> str:
    """Quoted path for error messages."""
    return repr(os.fspath(path))


def extension(path: OutputPath, allowed: Mapping[str, object], what: str) -> str:
    """Lower-case extension of ``path`` (e.g. '.mp4'); MediaEncodeError if not in ``allowed``."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in allowed:
        choices = ", ".join(sorted(allowed))
        raise MediaEncodeError(
            f"cannot write {what} to {path_name(path)}: unsupported extension "
            f"{ext or '(none)'!r}; use one of {choices}"
        )
    return ext


@contextmanager
def encode_errors(name: str) -> Iterator[None]:
    """Re-raise any PyAV error inside the block as MediaEncodeError naming the output."""
    try:
        yield
    except av.FFmpegError as exc:
        raise MediaEncodeError(f"cannot write {name}: {av_reason(exc)}") from exc


def open_output(
    path: OutputPath, fmt: str, options: Mapping[str, str] | None = None
) -> OutputContainer:
    """Open ``path`` for writing with muxer ``fmt`` (e.g. 'mp4', 'wav').

    FFmpeg only creates the file when the first packet is muxed, so a bad
    directory is checked here to fail before any encoding work.
    """
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise MediaEncodeError(f"cannot write {path_name(path)}: folder {folder!r} does not exist")
    with encode_errors(path_name(path)):
        return av.open(os.fspath(path), mode="w", format=fmt, options=dict(options or {}))


def discard(container: OutputContainer, path: OutputPath) -> None:
    """Close a failed output and delete the partial file so nobody mistakes it for a result."""
    with suppress(av.FFmpegError):
        container.close()
    with suppress(OSError):
        os.remove(os.fspath(path))


@contextmanager
def writing(
    path: OutputPath, fmt: str, options: Mapping[str, str] | None = None
) -> Iterator[OutputContainer]:
    """Open an output for a one-shot writer: closed on success, removed on any failure."""
    container = open_output(path, fmt, options)
    try:
        with encode_errors(path_name(path)):
            yield container
    except BaseException:
        discard(container, path)
        raise
    with encode_errors(path_name(path)):
        container.close()


def encode(
    container: OutputContainer, stream: Stream, frame: av.VideoFrame | av.AudioFrame | None
) -> None:
    """Encode one frame (None flushes the encoder) and mux the resulting packets."""
    for packet in cast(Any, stream).encode(frame):  # PyAV's stubs omit Stream.encode
        container.mux(packet)


def frame_rate(fps: float) -> Fraction:
    """``fps`` as an exact rational (29.97 -> 2997/100) so timestamps don't drift."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return Fraction(fps).limit_denominator(1_000_000)


def add_video_stream(
    container: OutputContainer,
    codec: str,
    width: int,
    height: int,
    fps: Fraction,
    pix_fmt: str,
    options: Mapping[str, str] | None = None,
) -> VideoStream:
    """Add a video stream whose time base is 1/fps, so frame ``i`` simply has pts ``i``."""
    stream = cast(VideoStream, container.add_stream(codec, rate=fps, time_base=1 / fps))
    stream.width = width
    stream.height = height
    stream.pix_fmt = pix_fmt
    if options:
        stream.codec_context.options = dict(options)
    return stream


def pick_pixel_format(codec: str, preferred: tuple[str, ...]) -> str | None:
    """First of ``preferred`` that encoder ``codec`` accepts, or None."""
    supported = {f.name for f in av.Codec(codec, "w").video_formats or ()}
    return next((name for name in preferred if name in supported), None)


def needs_even_size(pix_fmt: str) -> tuple[bool, bool]:
    """(width, height) must be even for chroma-subsampled formats like yuv420p."""
    fmt = av.VideoFormat(pix_fmt)
    return fmt.chroma_width(3) != 3, fmt.chroma_height(3) != 3


def _encoder_rate(codec: av.Codec, rate: int) -> int:
    """``rate`` if the encoder takes it, else the closest higher one; Opus is always 48 kHz."""
    if codec.name in _FIXED_RATES:
        return _FIXED_RATES[codec.name]
    rates = sorted(codec.audio_rates or ())
    if not rates or rate in rates:
        return rate
    return next((r for r in rates if r >= rate), rates[-1])


class AudioEncoder:
    """Feeds float32 (channels, n) samples at a fixed input rate into one output audio stream.

    PyAV's encoder resamples to the stream's sample format/rate and re-chunks to
    the codec's frame size; we only keep pts contiguous (in 1/input-rate units).
    """

    def __init__(
        self,
        container: OutputContainer,
        codec: str,
        sample_rate: int,
        channels: int,
        bitrate: int | None = None,
    ) -> None:
        """``bitrate`` in bits/s; None picks a per-channel default for lossy codecs."""
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive (Hz), got {sample_rate}")
        info = av.Codec(codec, "w")
        supported = {f.name for f in info.audio_formats or ()}
        self._container = container
        self._sample_rate = sample_rate
        self._next_pts = 0
        self.stream = cast(AudioStream, container.add_stream(
            codec, rate=_encoder_rate(info, sample_rate), options=_ENCODER_OPTIONS.get(codec, {})
        ))
        self.stream.layout = layout_name(channels)
        preferred = [f for f in _SAMPLE_FORMAT_PREFERENCE if f in supported]
        if preferred:
            self.stream.format = preferred[0]
        bitrate = bitrate or _DEFAULT_BITRATE_PER_CHANNEL.get(codec, 0) * channels
        if bitrate:
            self.stream.bit_rate = bitrate
        self.channels = channels

    def write(self, planar: np.ndarray) -> None:
        """Append samples; ``planar`` must already have ``self.channels`` rows."""
        for begin in range(0, planar.shape[1], _AUDIO_CHUNK):
            chunk = np.ascontiguousarray(planar[:, begin : begin + _AUDIO_CHUNK])
            encode(
                self._container, self.stream, audio_frame(chunk, self._sample_rate, self._next_pts)
            )
            self._next_pts += chunk.shape[1]

    def flush(self) -> None:
        """Drain the resampler and encoder (call once, before closing the container)."""
        encode(self._container, self.stream, None)
