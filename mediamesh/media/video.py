"""Frame-accurate video reading and writing with numpy RGB frames.

Frames are uint8 HxWx3 RGB (HxWx4 RGBA accepted when writing); times are
seconds from the stream's first timestamp; frame rates are frames per second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypeVar

import av
import numpy as np
from av.codec.codec import UnknownCodecError
from av.container import InputContainer
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from mediamesh.media._convert import (
    as_image,
    as_planar_samples,
    frame_rgb,
    image_frame,
    match_channels,
    with_channels,
)
from mediamesh.media._encode import (
    AudioEncoder,
    OutputPath,
    add_video_stream,
    discard,
    encode,
    encode_errors,
    extension,
    frame_rate,
    needs_even_size,
    open_output,
    path_name,
    pick_pixel_format,
)
from mediamesh.media._source import (
    MediaSource,
    find_stream,
    open_input,
    seek_before,
    source_name,
    stream_fps,
    stream_origin,
)
from mediamesh.media.errors import MediaDecodeError, MediaEncodeError
from mediamesh.media.planes import PIXEL_FORMAT, YuvPlanes

__all__ = ["VideoFrame", "VideoWriter", "YuvFrame", "iter_frames", "iter_frames_at",
           "iter_yuv_frames", "read_frame_at"]

_EPS = 1e-6  # seconds; absorbs float rounding of rational timestamps


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One decoded frame.

    ``index`` is the source frame number, computed as round(time * stream fps)
    (exact for constant-frame-rate video, so it survives seeking); ``time`` is
    in seconds; ``rgb`` is uint8 HxWx3.
    """

    index: int
    time: float
    rgb: np.ndarray


@dataclass(frozen=True, eq=False)
class YuvFrame:
    """One decoded frame as 4:2:0 planes (see iter_yuv_frames); ``index`` and ``time`` as
    in VideoFrame."""

    index: int
    time: float
    planes: YuvPlanes


def iter_frames(
    source: MediaSource,
    start: float = 0.0,
    end: float | None = None,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
) -> Iterator[VideoFrame]:
    """Yield frames with start <= time < end (seconds).

    Seeks to the keyframe before ``start`` and decodes forward, so the first
    frame is exact. ``fps`` subsamples by time (keeps the first frame at or
    after each 1/fps tick; never duplicates frames). ``size`` is (width, height)
    in pixels for resizing.
    """
    _check_span(start, end)
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if size is not None and min(size) <= 0:
        raise ValueError(f"size must be positive (width, height) pixels, got {size}")
    def convert(index: int, time: float, frame: av.VideoFrame,
                reformatter: VideoReformatter) -> VideoFrame:
        return VideoFrame(index, time, frame_rgb(frame, size, reformatter))

    return _iter_frames(source, start, end, 1.0 / fps if fps else None, convert)


def iter_yuv_frames(
    source: MediaSource, start: float = 0.0, end: float | None = None
) -> Iterator[YuvFrame]:
    """Like iter_frames (every frame, no resizing), as yuv420p planes: copied straight
    from the decoder when the video is yuv420p (most H.264 is), else converted."""
    _check_span(start, end)

    def convert(index: int, time: float, frame: av.VideoFrame,
                reformatter: VideoReformatter) -> YuvFrame:
        return YuvFrame(index, time, YuvPlanes.from_frame(frame, reformatter))

    return _iter_frames(source, start, end, None, convert)


#: Either kind of decoded frame, for code that passes frames along without looking inside.
DecodedFrame = TypeVar("DecodedFrame", VideoFrame, YuvFrame)


def _check_span(start: float, end: float | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"need 0 <= start <= end (seconds), got start={start}, end={end}")


def _iter_frames(
    source: MediaSource,
    start: float,
    end: float | None,
    step: float | None,
    convert: Callable[[int, float, av.VideoFrame, VideoReformatter], DecodedFrame],
) -> Iterator[DecodedFrame]:
    """The generator behind iter_frames (split so bad arguments raise at call time).

    ``step`` is the subsampling interval in seconds (None keeps every frame).
    """
    name = source_name(source)
    with open_input(source) as container:
        stream = find_stream(container, "video", name)
        next_tick = start
        reformatter = VideoReformatter()  # one swscale context for the whole run
        for time, frame in _decode_from(container, stream, start):
            if end is not None and time >= end - _EPS:
                return
            if step is not None:
                if time < next_tick - _EPS:
                    continue
                while next_tick <= time + _EPS:
                    next_tick += step
            yield convert(_frame_index(stream, time), time, frame, reformatter)


def read_frame_at(source: MediaSource, time: float) -> VideoFrame:
    """The frame on screen at ``time`` seconds: the last one starting at or before it.

    Raises MediaDecodeError when ``time`` is after the end of the video.
    """
    if time < 0:
        raise ValueError(f"time must be >= 0 seconds, got {time}")
    name = source_name(source)
    with open_input(source) as container:
        stream = find_stream(container, "video", name)
        shown: tuple[float, av.VideoFrame] | None = None
        for frame_time, frame in _decode_from(container, stream, time, keep_preroll=True):
            if shown is not None and frame_time > time + _EPS:
                break  # the previous frame is still on screen at `time`
            shown = (frame_time, frame)
        else:  # reached the end: `time` must fall within the last frame's duration
            if shown is None or time > shown[0] + _frame_duration(stream) + _EPS:
                raise MediaDecodeError(
                    f"no frame at {time:g} s in {name}: the video ends before that"
                )
        assert shown is not None  # the loop either broke with a frame or raised
        frame_time, frame = shown
        return VideoFrame(_frame_index(stream, frame_time), frame_time, frame_rgb(frame))


def iter_frames_at(source: MediaSource, times: list[float]) -> Iterator[VideoFrame]:
    """For each of ``times`` (seconds), the first frame at or after it, in time order.

    One forward decode from the earliest time; only the frames asked for are converted
    to RGB (cheaper than read_frame_at per time when there are many: no seek each).
    Times after the last frame get nothing.
    """
    wanted = sorted(times)
    if not wanted:
        return
    name = source_name(source)
    with open_input(source) as container:
        stream = find_stream(container, "video", name)
        reformatter = VideoReformatter()
        k = 0
        for time, frame in _decode_from(container, stream, max(0.0, wanted[0])):
            if time < wanted[k] - _EPS:
                continue
            decoded = VideoFrame(_frame_index(stream, time), time,
                                 frame_rgb(frame, None, reformatter))
            while k < len(wanted) and wanted[k] <= time + _EPS:
                yield decoded
                k += 1
            if k == len(wanted):
                return


def _decode_from(
    container: InputContainer, stream: VideoStream, start: float, keep_preroll: bool = False
) -> Iterator[tuple[float, av.VideoFrame]]:
    """(time, frame) pairs from the keyframe before ``start``.

    Frames before ``start`` are dropped unless ``keep_preroll``.
    """
    stream.thread_type = "AUTO"
    seek_before(container, stream, start)
    origin = stream_origin(stream)
    fallback_step = _frame_duration(stream)
    for count, frame in enumerate(container.decode(stream)):
        time = frame.time - origin if frame.time is not None else count * fallback_step
        if keep_preroll or time >= start - _EPS:
            yield time, frame


def _frame_duration(stream: VideoStream) -> float:
    """Nominal seconds per frame (0.0 if the rate is unknown)."""
    fps = stream_fps(stream)
    return 1.0 / fps if fps else 0.0


def _frame_index(stream: VideoStream, time: float) -> int:
    """Source frame number from the timestamp, so it is the same with or without seeking."""
    fps = stream_fps(stream)
    return round(time * fps) if fps else 0


# extension -> (muxer, default video codec, audio codec)
_VIDEO_OUTPUTS: dict[str, tuple[str, str, str]] = {
    ".mp4": ("mp4", "libx264", "aac"),
    ".mov": ("mov", "libx264", "aac"),
    ".mkv": ("matroska", "libx264", "aac"),
    ".webm": ("webm", "libvpx-vp9", "libopus"),
}
_CODEC_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"crf": "20", "preset": "veryfast"},
    # constant quality; 'good' + cpu-used 5 keeps VP9 usable on small machines
    "libvpx-vp9": {"crf": "32", "b": "0", "deadline": "good", "cpu-used": "5", "row-mt": "1"},
}
_OPAQUE_FORMATS = ("yuv420p", "yuvj420p", "rgb24", "bgr24", "pal8", "rgb8")
_ALPHA_FORMATS = ("yuva420p", "rgba", "bgra", "argb", "yuva444p", "gbrap")


class VideoWriter:
    """Encode RGB(A) frames (and optionally audio) to a video file; use as a context manager.

    The codec follows the extension (.mp4/.mov/.mkv: H.264 yuv420p, crf 20,
    preset veryfast; .webm: VP9, yuva420p when ``alpha``). Audio is AAC
    (Opus for .webm) at ``audio_sample_rate`` Hz with ``audio_channels``.

    Odd sizes: 4:2:0 video needs even width and height, so frames are padded
    by one replicated edge row/column and the file is up to 1 px larger than
    ``width`` x ``height`` (``encoded_size`` tells the real size).
    """

    def __init__(
        self,
        path: OutputPath,
        width: int,
        height: int,
        fps: float,
        codec: str | None = None,
        alpha: bool = False,
        audio_sample_rate: int | None = None,
        audio_channels: int = 2,
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"width and height must be positive pixels, got {width}x{height}")
        rate = frame_rate(fps)
        fmt, default_codec, audio_codec = _VIDEO_OUTPUTS[extension(path, _VIDEO_OUTPUTS, "video")]
        codec = codec or default_codec
        pix_fmt = _pixel_format(codec, alpha, path)
        pad_w, pad_h = needs_even_size(pix_fmt)
        self.path = path
        self.width, self.height = width, height
        self.encoded_size = (
            width + (width % 2 if pad_w else 0),
            height + (height % 2 if pad_h else 0),
        )
        self.frames_written = 0
        self._channels = 4 if alpha else 3
        self._closed = False
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else None
        self._container = open_output(path, fmt, options)
        try:
            with encode_errors(path_name(path)):
                self._video = add_video_stream(
                    self._container,
                    codec,
                    *self.encoded_size,
                    rate,
                    pix_fmt,
                    _CODEC_OPTIONS.get(codec),
                )
                self._audio = (
                    AudioEncoder(self._container, audio_codec, audio_sample_rate, audio_channels)
                    if audio_sample_rate is not None
                    else None
                )
        except BaseException:
            discard(self._container, path)
            raise

    def write(self, image: np.ndarray) -> None:
        """Append one uint8 frame, (height, width, 3 or 4); alpha is kept only if ``alpha``."""
        self._check_open()
        rgb = as_image(image, "video frame")
        if rgb.shape[:2] != (self.height, self.width):
            got, want = f"{rgb.shape[1]}x{rgb.shape[0]}", f"{self.width}x{self.height}"
            raise ValueError(f"frame is {got}, but the writer expects {want}")
        rgb = _pad_to(with_channels(rgb, self._channels), self.encoded_size)
        frame = image_frame(rgb)
        frame.pts = self.frames_written
        with encode_errors(path_name(self.path)):
            encode(self._container, self._video, frame)
        self.frames_written += 1

    def write_planes(self, planes: YuvPlanes) -> None:
        """Append one frame given as 4:2:0 planes of the writer's size: encoded as they are
        when the stream is yuv420p (no RGB round trip), else through RGB."""
        self._check_open()
        if (planes.width, planes.height) != (self.width, self.height):
            got, want = f"{planes.width}x{planes.height}", f"{self.width}x{self.height}"
            raise ValueError(f"frame is {got}, but the writer expects {want}")
        if self._video.pix_fmt != PIXEL_FORMAT:
            self.write(planes.to_rgb())
            return
        frame = planes.to_frame(*self.encoded_size)
        frame.pts = self.frames_written
        with encode_errors(path_name(self.path)):
            encode(self._container, self._video, frame)
        self.frames_written += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Append float32 samples in [-1, 1], (n,) or (channels, n), at ``audio_sample_rate`` Hz."""
        self._check_open()
        if self._audio is None:
            raise ValueError(
                "this VideoWriter has no audio track; pass audio_sample_rate to create one"
            )
        planar = match_channels(as_planar_samples(samples), self._audio.channels)
        with encode_errors(path_name(self.path)):
            self._audio.write(planar)

    def close(self) -> None:
        """Flush the encoders and finish the file. Safe to call twice.

        Leaving the ``with`` block by an exception still finishes the file with
        the frames written so far (a valid, shorter video).
        """
        if self._closed:
            return
        self._closed = True
        try:
            with encode_errors(path_name(self.path)):
                encode(self._container, self._video, None)
                if self._audio is not None:
                    self._audio.flush()
                self._container.close()
        except BaseException:
            discard(self._container, self.path)
            raise

    def abort(self) -> None:
        """Give up on the file: close without flushing the encoders and delete it, so no
        partial output is mistaken for a result. Safe after close (the file goes too)."""
        self._closed = True
        discard(self._container, self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"VideoWriter for {path_name(self.path)} is closed")


def _pixel_format(codec: str, alpha: bool, path: OutputPath) -> str:
    """Encoder pixel format: 4:2:0 for compatibility, or one with alpha when asked."""
    try:
        pix_fmt = pick_pixel_format(codec, _ALPHA_FORMATS if alpha else _OPAQUE_FORMATS)
    except UnknownCodecError as exc:
        raise MediaEncodeError(
            f"cannot write {path_name(path)}: unknown video codec {codec!r}"
        ) from exc
    if pix_fmt is None:
        what = "an alpha channel" if alpha else "RGB video"
        hint = " (use .webm for alpha)" if alpha else ""
        raise MediaEncodeError(
            f"cannot write {path_name(path)}: codec {codec!r} does not support {what}{hint}"
        )
    return pix_fmt


def _pad_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pad right/bottom by replicating edge pixels up to (width, height)."""
    extra_w, extra_h = size[0] - image.shape[1], size[1] - image.shape[0]
    if extra_w == 0 and extra_h == 0:
        return image
    return np.pad(image, ((0, extra_h), (0, extra_w), (0, 0)), mode="edge")
