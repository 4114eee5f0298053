"""Cheap metadata about a media file, for limit checks before any decoding.

Only container/stream headers are read, so this is fast even for long files.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
from av.container import InputContainer
from av.stream import Stream

from mediamesh.media._source import (
    MediaSource,
    first_stream,
    is_undecodable_webp,
    open_input,
    source_name,
    stream_fps,
)
from mediamesh.media._webp import read_animated_webp
from mediamesh.media.errors import MediaDecodeError, MediaTooLargeError

__all__ = ["MediaInfo", "check_limits", "probe"]


@dataclass(frozen=True)
class MediaInfo:
    """What a file contains. Durations in seconds, rates in Hz / frames per second.

    ``container`` is FFmpeg's demuxer name (e.g. 'wav', 'mov,mp4,m4a,3gp,3g2,mj2',
    'png_pipe'). ``frame_count`` comes from the header when present, otherwise
    it is estimated as duration * fps. Still images have one frame, no fps and
    duration 0.
    """

    duration: float
    container: str
    has_audio: bool
    has_video: bool
    sample_rate: int | None
    channels: int | None
    width: int | None
    height: int | None
    fps: float | None
    frame_count: int | None
    video_codec: str | None
    audio_codec: str | None


_STILL_IMAGE_DEMUXERS = ("image2",)  # plus every '*_pipe' demuxer (png_pipe, jpeg_pipe, ...)


def probe(source: MediaSource) -> MediaInfo:
    """Read headers of ``source`` (path or bytes) and describe its first audio and video streams."""
    name = source_name(source)
    with open_input(source) as container:
        audio = first_stream(container, "audio")
        video = first_stream(container, "video")
        if video is not None and is_undecodable_webp(container, video):
            return _probe_animated_webp(source, name)
        still = video is not None and _is_still_image(container)
        duration = 0.0 if still else _duration(container)
        fps: float | None = None
        frame_count: int | None = 1 if still else None
        if video is not None and not still:
            fps = stream_fps(video)
            frame_count = _frame_count(video, duration, fps)
        return MediaInfo(
            duration=duration,
            container=container.format.name,
            has_audio=audio is not None,
            has_video=video is not None,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            channels=audio.codec_context.channels if audio is not None else None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            fps=fps,
            frame_count=frame_count,
            video_codec=_codec_name(video),
            audio_codec=_codec_name(audio),
        )


def check_limits(
    info: MediaInfo,
    *,
    max_duration: float | None = None,
    max_pixels: int | None = None,
    max_frames: int | None = None,
    label: str = "input",
) -> None:
    """Raise MediaTooLargeError if ``info`` exceeds a limit (seconds, width*height, frames).

    ``label`` names the input in the message (e.g. the request field or file name).
    """
    if max_duration is not None and info.duration > max_duration:
        raise MediaTooLargeError(
            f"{label} is {info.duration:.1f} s long; the limit is {max_duration:g} s"
        )
    if (
        max_pixels is not None
        and info.width
        and info.height
        and info.width * info.height > max_pixels
    ):
        raise MediaTooLargeError(
            f"{label} is {info.width}x{info.height} ({info.width * info.height} pixels); "
            f"the limit is {max_pixels} pixels"
        )
    if max_frames is not None and info.frame_count is not None and info.frame_count > max_frames:
        raise MediaTooLargeError(
            f"{label} has {info.frame_count} frames; the limit is {max_frames}"
        )


def _duration(container: InputContainer) -> float:
    """Container duration in seconds, falling back to the longest stream; 0.0 if unknown."""
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    durations = [
        float(s.duration * s.time_base)
        for s in container.streams
        if s.duration is not None and s.time_base is not None
    ]
    return max(durations, default=0.0)


def _frame_count(stream: Stream, duration: float, fps: float | None) -> int | None:
    """Header frame count (MP4, GIF), else stream (or container) duration * fps."""
    if stream.frames:
        return int(stream.frames)
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    return round(duration * fps) if fps and duration > 0 else None


def _codec_name(stream: Stream | None) -> str | None:
    """Codec id name ('h264', 'vp9', 'aac'), not the decoder's (e.g. 'libdav1d')."""
    return stream.codec_context.codec.canonical_name if stream is not None else None


def _is_still_image(container: InputContainer) -> bool:
    """Single-image demuxers; their streams report a made-up 25 fps."""
    fmt = container.format.name
    return fmt.endswith("_pipe") or fmt in _STILL_IMAGE_DEMUXERS


def _probe_animated_webp(source: MediaSource, name: str) -> MediaInfo:
    """MediaInfo from the RIFF chunks, because FFmpeg sees animated WebP as a 0x0 stream."""
    anim = read_animated_webp(source)
    if anim is None:
        raise MediaDecodeError(f"cannot decode {name}: unreadable WebP header")
    return MediaInfo(
        duration=anim.duration,
        container="webp_pipe",
        has_audio=False,
        has_video=True,
        sample_rate=None,
        channels=None,
        width=anim.width,
        height=anim.height,
        fps=anim.frame_count / anim.duration if anim.duration > 0 else None,
        frame_count=anim.frame_count,
        video_codec="webp",
        audio_codec=None,
    )
