"""Rewriting a video frame by frame, the part every such job shares: decode the span in
chunks (the next chunk decoding and inferring while this one renders:
mediamesh.frame_pipeline), render and encode each chunk in a worker thread, report
progress, carry the source's audio over the same span, and never leave half a file
behind. Keying, matting, region blurring, reframing and subtitle removal all run on it."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from mediamesh import media
from mediamesh.errors import InvalidArgument
from mediamesh.frame_pipeline import pipelined
from mediamesh.worker_threads import run_in_thread

AUDIO_RATE = 48000
PROGRESS_EVERY_S = 0.5

R = TypeVar("R")


@dataclass(frozen=True)
class Span:
    """The stretch [start, end) seconds of `source` a job rewrites, at the source's rate."""

    source: Path
    start: float
    end: float
    fps: float

    @classmethod
    def of(cls, source: Path, info: media.MediaInfo, start: float, end: float | None) -> Span:
        """The request's range clipped to the video (end None or 0 = to the end)."""
        return cls(source, start, min(end, info.duration) if end else info.duration,
                   info.fps or 25.0)

    @property
    def expected_frames(self) -> int:
        return max(1, round((self.end - self.start) * self.fps))


@dataclass(frozen=True)
class OutputFormat:
    """The rewritten video's picture size, whether it carries alpha (webm) and audio."""

    width: int
    height: int
    keep_audio: bool
    alpha: bool = False


#: An output frame: RGB(A) uint8 (H, W, 3 or 4), or 4:2:0 planes encoded as they are.
Picture = np.ndarray | media.YuvPlanes


@dataclass(frozen=True)
class Rewrite(Generic[R]):
    """How to turn chunks into output frames. `infer` runs on the event loop (a Triton
    call), `render` in a worker thread, in order, once per chunk: it may keep state
    between chunks (temporal smoothing). `planes`: decode to media.YuvFrame (4:2:0
    planes, no RGB conversion) instead of media.VideoFrame."""

    infer: Callable[[list[Any]], Awaitable[R]]
    render: Callable[[list[Any], R], Iterable[Picture]]
    chunk_frames: int
    planes: bool = False


async def no_inference(chunk: list[media.VideoFrame]) -> None:
    """For rewrites that need nothing from Triton per chunk."""
    return None


async def _finish_video(writer: media.VideoWriter, source: Path, start: float, end: float,
                       frames: int, keep_audio: bool) -> None:
    """Close `writer` after `frames` frames of [start, end) seconds of `source`; its audio
    goes along when `keep_audio`. No frames is INVALID_ARGUMENT on the request's range."""
    if frames == 0:
        raise InvalidArgument(f"no video frames between {start:.3f} s and {end:.3f} s",
                              field_name="range")
    if keep_audio:
        samples = await run_in_thread(media.decode_audio, source, AUDIO_RATE, False, start,
                                      end - start)
        await run_in_thread(writer.write_audio, samples)
    await run_in_thread(writer.close)


def _render_chunk(writer: media.VideoWriter, rewrite: Rewrite[R], chunk: list[Any],
                  inferred: R) -> None:
    """Render a chunk and encode its frames (in a worker thread: the loop stays free)."""
    for frame in rewrite.render(chunk, inferred):
        if isinstance(frame, media.YuvPlanes):
            writer.write_planes(frame)
        else:
            writer.write(frame)


async def rewrite_video(span: Span, output: Path, fmt: OutputFormat, rewrite: Rewrite[R],
                        field_name: str = "input") -> AsyncIterator[tuple[int, int]]:
    """Yields (frames done, frames expected) every PROGRESS_EVERY_S and (n, n) once at the
    end, when `output` is complete. A stream that breaks mid-way is INVALID_ARGUMENT on
    `field_name`; on any failure `output` is removed."""
    frames: Iterator[Any] = (
        media.iter_yuv_frames(span.source, start=span.start, end=span.end) if rewrite.planes
        else media.iter_frames(span.source, start=span.start, end=span.end))
    writer = media.VideoWriter(output, fmt.width, fmt.height, span.fps, alpha=fmt.alpha,
                               audio_sample_rate=AUDIO_RATE if fmt.keep_audio else None)
    done, last_report = 0, time.monotonic()
    try:
        async for chunk, inferred in pipelined(frames, rewrite.chunk_frames, rewrite.infer,
                                               field_name):
            await run_in_thread(_render_chunk, writer, rewrite, chunk, inferred)
            done += len(chunk)
            if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                last_report = time.monotonic()
                yield done, max(span.expected_frames, done)
        await _finish_video(writer, span.source, span.start, span.end, done, fmt.keep_audio)
    except BaseException:
        writer.abort()  # never leave half a file behind
        raise
    yield done, done
