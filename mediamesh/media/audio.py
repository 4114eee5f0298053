"""Decode any audio (or the audio track of a video) to numpy, and write audio files.

Samples are float32 in [-1, 1]; rates are in Hz; times in seconds.
"""

from __future__ import annotations

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer

from mediamesh.media._convert import as_planar_samples
from mediamesh.media._encode import AudioEncoder, OutputPath, extension, writing
from mediamesh.media._source import (
    MediaSource,
    find_stream,
    open_input,
    seek_before,
    source_name,
    stream_origin,
)

__all__ = ["decode_audio", "write_audio"]

# Seconds decoded (then dropped) before ``start``: after a seek, MP3's bit
# reservoir and AAC's overlapping transform make the first frames garbage.
_SEEK_PREROLL = 0.25

# extension -> (muxer, encoder). AudioEncoder resamples Opus to 48 kHz.
_AUDIO_OUTPUTS: dict[str, tuple[str, str]] = {
    ".wav": ("wav", "pcm_s16le"),
    ".flac": ("flac", "flac"),
    ".mp3": ("mp3", "libmp3lame"),
    ".m4a": ("mp4", "aac"),
    ".aac": ("adts", "aac"),
    ".ogg": ("ogg", "libopus"),
    ".opus": ("opus", "libopus"),
}


def decode_audio(
    source: MediaSource,
    sample_rate: int = 44100,
    mono: bool = True,
    start: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode the first audio stream to float32 samples in [-1, 1] at ``sample_rate`` Hz.

    Returns shape (n,) when ``mono`` (channels are mixed down), else
    (channels, n). ``start``/``duration`` are seconds from the stream's first
    timestamp; we seek to just before ``start`` and trim by timestamp, so
    slicing a long file is cheap and sample-accurate. A ``start`` past the end
    yields an empty array.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive (Hz), got {sample_rate}")
    if start < 0 or (duration is not None and duration < 0):
        raise ValueError(f"start and duration must be >= 0 seconds, got {start}, {duration}")
    name = source_name(source)
    with open_input(source) as container:
        stream = find_stream(container, "audio", name)
        channels = 1 if mono else stream.codec_context.channels
        first_time, planar = _decode_resampled(
            container, stream, sample_rate, mono, start, duration
        )
        end = _declared_end(container, stream)
    if planar.shape[0] == 0:  # nothing decoded (e.g. start past the end)
        planar = np.zeros((channels, 0), np.float32)
    skip = max(0, round((start - first_time) * sample_rate))
    stop = planar.shape[1]
    if duration is not None:
        stop = min(stop, skip + round(duration * sample_rate))
    if end is not None:
        stop = min(stop, round((end - first_time) * sample_rate))
    planar = planar[:, skip:stop]
    return np.ascontiguousarray(planar[0] if mono else planar)


def _decode_resampled(
    container: InputContainer,
    stream: AudioStream,
    sample_rate: int,
    mono: bool,
    start: float,
    duration: float | None,
) -> tuple[float, np.ndarray]:
    """Resampled (channels, n) samples from shortly before ``start``, plus the time (s) of sample 0.

    Stops decoding as soon as enough samples for ``start + duration`` exist.
    """
    seek_before(container, stream, start - _SEEK_PREROLL)
    origin = stream_origin(stream)
    resampler = av.AudioResampler(format="fltp", layout="mono" if mono else None, rate=sample_rate)
    chunks: list[np.ndarray] = []
    first_time: float | None = None
    have = 0
    needed: float | None = None
    for frame in container.decode(stream):
        if first_time is None:
            first_time = frame.time - origin if frame.time is not None else 0.0
            if duration is not None:
                needed = (start - first_time + duration) * sample_rate
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray())
            have += out.samples
        if needed is not None and have > needed:
            break
    else:
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    planar = np.concatenate(chunks, axis=1) if chunks else np.zeros((0, 0), np.float32)
    return (first_time or 0.0), planar.astype(np.float32, copy=False)


def _declared_end(container: InputContainer, stream: AudioStream) -> float | None:
    """Exact end time (s) from an MP4/MOV header, else None.

    FFmpeg applies the MP4 edit list's start trim (encoder priming) but not the
    end trim, so AAC would come back with up to 1024 samples of padding.
    """
    if "mp4" not in container.format.name or stream.duration is None or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def write_audio(
    path: OutputPath,
    samples: np.ndarray,
    sample_rate: int,
    bitrate: int | None = None,
) -> None:
    """Write float samples ((n,) mono or (channels, n)) at ``sample_rate`` Hz to ``path``.

    The codec follows the extension: .wav (16-bit PCM), .flac, .mp3, .m4a
    (AAC in MP4), .aac (ADTS), .ogg/.opus (Opus, resampled to 48 kHz).
    ``bitrate`` (bits/s) applies to lossy codecs. Samples are clipped to [-1, 1].
    """
    fmt, codec = _AUDIO_OUTPUTS[extension(path, _AUDIO_OUTPUTS, "audio")]
    planar = as_planar_samples(samples)
    with writing(path, fmt) as container:
        encoder = AudioEncoder(container, codec, sample_rate, planar.shape[0], bitrate)
        encoder.write(planar)
        encoder.flush()
