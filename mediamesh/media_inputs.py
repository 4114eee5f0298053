"""Checks every service makes on an input file before decoding it, with errors that name
the request field."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.errors import (
    InvalidArgument,
    MediaTooLong,
    MediaUndecodable,
    MediaUnusable,
    PictureTooLarge,
)
from mediamesh.worker_threads import run_in_thread

F = media.DecodedFrame
#: Largest picture (or video frame) a service decodes, from the headers: 8K UHD is 33 MP;
#: beyond ~50 MP an RGB frame alone is 150 MB, and a tiny file can declare one.
MAX_PICTURE_PIXELS = 50_000_000
#: Most frames a video input may declare: 4.6 hours at 60 fps. Jobs stream frames, but a
#: header can claim a billion tiny frames, and every frame costs a Triton call's share.
MAX_VIDEO_FRAMES = 1_000_000


async def probe_picture(path: Path, field_name: str) -> media.MediaInfo:
    """Headers of an image or video input; INVALID_ARGUMENT when it has no picture."""
    try:
        info = await run_in_thread(media.probe, path)
    except media.MediaError as exc:
        raise MediaUndecodable(f"{field_name}: {exc}", field_name=field_name) from exc
    if not info.has_video or not info.width:
        raise InvalidArgument(f"{field_name} has no picture (an image or a video is needed)",
                              field_name=field_name)
    check_picture_size(info, field_name)
    return info


async def probe_video(path: Path, field_name: str, rpc: str) -> media.MediaInfo:
    """Headers of a video input: INVALID_ARGUMENT when it has no picture or is a still
    image (`rpc` names what needs the video)."""
    info = await probe_picture(path, field_name)
    if is_still_image(info):
        raise InvalidArgument(f"{field_name} is a still image; {rpc} needs a video",
                              field_name=field_name)
    return info


def check_picture_size(info: media.MediaInfo, field_name: str) -> None:
    """RESOURCE_EXHAUSTED when the headers declare more pixels than a service decodes,
    INVALID_ARGUMENT (MEDIA_TOO_LONG) when they declare more frames than one job takes."""
    pixels = int(info.width or 0) * int(info.height or 0)
    if pixels > MAX_PICTURE_PIXELS:
        raise PictureTooLarge(
            f"{field_name} is {info.width}x{info.height} ({pixels / 1e6:.0f} MP); pictures of "
            f"up to {MAX_PICTURE_PIXELS / 1e6:.0f} MP are decoded: scale it down first",
            field_name=field_name, limit=MAX_PICTURE_PIXELS)
    if (info.frame_count or 0) > MAX_VIDEO_FRAMES:
        raise MediaTooLong(
            f"{field_name} declares {info.frame_count} frames; videos of up to "
            f"{MAX_VIDEO_FRAMES} frames are processed: cut it into parts first",
            field_name=field_name)


def is_still_image(info: media.MediaInfo) -> bool:
    return info.frame_count == 1 and not info.fps


async def probe_audio(path: Path, field_name: str, *, label: str | None = None,
                      min_seconds: float = 0.0, max_seconds: float | None = None
                      ) -> media.MediaInfo:
    """Headers of an audio input (or a video's audio track), checked before decoding:
    INVALID_ARGUMENT when undecodable, without audio or over the limit; FAILED_PRECONDITION
    when shorter than the analysis needs. `label` (default: the field) opens every message,
    e.g. "songs[2] (b.mp3)", so a person knows which input to fix."""
    who = label or field_name
    try:
        info = await run_in_thread(media.probe, path)
    except media.MediaError as exc:
        raise MediaUndecodable(f"{who} cannot be decoded: {exc}", field_name=field_name) from exc
    if not info.has_audio:
        raise InvalidArgument(f"{who} has no audio stream (give an audio file, or a video "
                              "with sound)", field_name=field_name)
    if max_seconds is not None and info.duration > max_seconds:
        raise MediaTooLong(f"{who} is {info.duration:.0f} s long; the limit is "
                           f"{max_seconds:.0f} s: cut it, or raise the limit in the mesh "
                           "config", field_name=field_name)
    if info.duration and info.duration < min_seconds:
        raise MediaUnusable(f"{who} is {info.duration:.1f} s long; this analysis needs "
                            f"at least {min_seconds:g} s of audio", field_name=field_name)
    return info


#: Samples (every channel, at the analysis rate) one request may decode for an analysis that
#: holds the whole signal: 2 h of speech at 16 kHz mono, or 20 min of stereo at 48 kHz, the
#: longest inputs the mesh takes elsewhere (max_video_seconds for speech, max_song_seconds
#: for songs). As float32 that is 460 MB; the analyses hold a few such arrays at once.
MAX_DECODED_SAMPLES = 115_200_000


def check_decoded_samples(info: media.MediaInfo, rate: int, channels: int, field_name: str,
                          rpc: str, max_samples: int = MAX_DECODED_SAMPLES) -> None:
    """MEDIA_TOO_LONG when decoding the input's audio at `rate` Hz into `channels` would
    make more than `max_samples` samples. Duration limits alone do not bound memory: a 7 KB
    WAV declaring 1 sample a second holds an hour, 172 M samples at 48 kHz."""
    channels = max(1, channels)
    if info.duration * rate * channels > max_samples:
        longest = max_samples / (rate * channels)
        raise MediaTooLong(f"{field_name} is {info.duration:.0f} s of audio; {rpc} analyses at "
                           f"most {longest / 60:.0f} min of it in one request ({channels} "
                           f"channel(s) at {rate} Hz): cut it into parts",
                           field_name=field_name)


async def decode_audio_input(path: Path, field_name: str, rate: int, *, mono: bool = True,
                             start: float = 0.0, duration: float | None = None,
                             label: str | None = None) -> np.ndarray:
    """Decoded samples; a file that fails mid-stream is INVALID_ARGUMENT naming the input."""
    try:
        return await run_in_thread(media.decode_audio, path, rate, mono, start, duration)
    except media.MediaError as exc:
        raise MediaUndecodable(f"{label or field_name} cannot be decoded: {exc}",
                               field_name=field_name) from exc


def check_video(info: media.MediaInfo, start: float, end: float | None, max_seconds: float,
                field_name: str = "video", rpc: str = "DetectShots") -> None:
    """A video with frames after `start` and at most `max_seconds` of them to analyse, or
    INVALID_ARGUMENT (MEDIA_TOO_LONG for the length) saying what is wrong."""
    if is_still_image(info):
        raise InvalidArgument(f"{field_name} is a still image; {rpc} needs a video",
                              field_name=field_name)
    if info.duration and start >= info.duration:
        raise InvalidArgument(f"range.start ({start:g} s) is not before the end of the video "
                              f"({info.duration:.3f} s)", field_name="range.start")
    stop = min(end, info.duration) if end and info.duration else (end or info.duration)
    if stop and stop - start > max_seconds:
        raise MediaTooLong(f"{field_name}: {stop - start:.0f} s to analyse; one request takes "
                           f"at most {max_seconds:.0f} s: set range to analyse it in parts, "
                           "or raise max_video_seconds in the mesh config",
                           field_name=field_name)


async def decode_chunk(frames: Iterator[F], size: int, field_name: str = "video") -> list[F]:
    """The next `size` frames (fewer at the end), decoded in a worker thread; a stream that
    breaks mid-way is INVALID_ARGUMENT naming the input."""
    try:
        return await run_in_thread(lambda: list(itertools.islice(frames, size)))
    except media.MediaError as exc:
        raise MediaUndecodable(f"{field_name} cannot be decoded: {exc}",
                               field_name=field_name) from exc
