"""RenderGif: a range of a video as an animated GIF or WebP, palette-optimised, size-capped.

The size cap is met by stepping down frame rate and width (the two levers that change size
the most while keeping motion readable) until the file fits, or failing clearly.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from mediamesh import media
from mediamesh.errors import InvalidArgument, MeshError, StatusCode
from mediamesh.worker_threads import run_in_thread

DEFAULT_WIDTH = 320
DEFAULT_FPS = 10.0
MAX_WIDTH = 1920
MAX_FPS = 50.0
MAX_SECONDS = 60.0
SHRINK_STEPS = ((1.0, 1.0), (0.75, 1.0), (0.75, 0.75), (0.5, 0.75), (0.5, 0.5), (0.35, 0.5))


class AnimatedFormat(StrEnum):
    GIF = "gif"
    WEBP = "webp"


@dataclass(frozen=True)
class PreviewSpec:
    """A validated request: where, what format, how big."""

    start: float
    end: float
    width: int
    fps: float
    fmt: AnimatedFormat
    max_bytes: int  # 0 = no cap

    @classmethod
    def from_request(cls, info: media.MediaInfo, start: float, end: float | None, width: int,
                     fps: float, fmt: AnimatedFormat, max_bytes: int) -> PreviewSpec:
        stop = min(end, info.duration) if end else info.duration
        if stop <= start:
            raise InvalidArgument(f"range starts at {start:.3f} s but the video ends at "
                                  f"{info.duration:.3f} s", field_name="range")
        if stop - start > MAX_SECONDS:
            raise InvalidArgument(f"an animated preview is at most {MAX_SECONDS:.0f} s; the "
                                  f"range is {stop - start:.1f} s: set range", field_name="range")
        width = width or min(DEFAULT_WIDTH, int(info.width or DEFAULT_WIDTH))
        if not 16 <= width <= MAX_WIDTH:
            raise InvalidArgument(f"width must be 16-{MAX_WIDTH} pixels, got {width}",
                                  field_name="width")
        fps = fps or DEFAULT_FPS
        if not 0 < fps <= MAX_FPS:
            raise InvalidArgument(f"fps must be in (0, {MAX_FPS:.0f}], got {fps}",
                                  field_name="fps")
        return cls(start, stop, width, fps, fmt, max_bytes)


@dataclass(frozen=True)
class PreviewProgress:
    attempt: int
    attempts: int


@dataclass(frozen=True)
class PreviewResult:
    path: Path
    size_bytes: int
    width: int
    height: int
    frames: int


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def render_once(source: Path, target: Path, spec: PreviewSpec, source_width: int,
                source_height: int, scale: float, rate: float) -> PreviewResult:
    """Decode the range at the scaled size and rate and write the animation."""
    width = _even(spec.width * scale)
    height = _even(width * source_height / max(1, source_width))
    fps = max(1.0, spec.fps * rate)
    frames = [f.rgb for f in media.iter_frames(source, spec.start, spec.end, fps=fps,
                                                size=(width, height))]
    if not frames:
        raise InvalidArgument(f"no frames between {spec.start:.3f} s and {spec.end:.3f} s",
                              field_name="range")
    writer = media.write_gif if spec.fmt is AnimatedFormat.GIF else media.write_webp
    writer(target, frames, fps)
    return PreviewResult(target, target.stat().st_size, width, height, len(frames))


async def render_preview(source: Path, target: Path, info: media.MediaInfo,
                         spec: PreviewSpec, *, budget_field: str = "max_bytes",
                         shorten: str = "the range"
                         ) -> AsyncIterator[PreviewProgress | PreviewResult]:
    """Render, shrinking until under `max_bytes`; RESOURCE_EXHAUSTED when it never fits,
    naming the request's size-cap field `budget_field` and what to shorten (`shorten`)."""
    steps = SHRINK_STEPS if spec.max_bytes else SHRINK_STEPS[:1]
    smallest = 0
    for attempt, (scale, rate) in enumerate(steps, start=1):
        yield PreviewProgress(attempt - 1, len(steps))
        result = await run_in_thread(render_once, source, target, spec, int(info.width or 0),
                                     int(info.height or 0), scale, rate)
        smallest = result.size_bytes
        if not spec.max_bytes or result.size_bytes <= spec.max_bytes:
            yield PreviewProgress(len(steps), len(steps))
            yield result
            return
    target.unlink(missing_ok=True)
    raise MeshError(f"the smallest preview ({smallest} bytes at {_even(spec.width * steps[-1][0])}"
                    f" px, {spec.fps * steps[-1][1]:.1f} fps) is still over {budget_field}="
                    f"{spec.max_bytes}; shorten {shorten} or raise {budget_field}",
                    StatusCode.RESOURCE_EXHAUSTED, "OUTPUT_TOO_LARGE", field_name=budget_field)
