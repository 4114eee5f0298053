"""SegmentPortrait as a job: decode -> person probability on Triton (selfie_segmentation)
-> steady matte -> background treatment -> encode.

Images give one PNG. Videos stream through in chunks (one batched Triton request each,
the next chunk decoding and inferring while this one is matted and encoded:
mediamesh.frame_pipeline), so memory stays bounded for long inputs; the matte's temporal
state is carried from chunk to chunk. Composites keep the source audio.

What ALPHA_ONLY writes. For a video: the matte as a greyscale H.264 mp4 (255 = person),
same size, frame count and rate as the input, no audio. Not a VP9 webm with an alpha
plane: a matte track is what editors and FFmpeg (`alphamerge`, track mattes) take, H.264
encodes 720p several times faster than libvpx-vp9 does on two cores, and many players
and browsers silently drop VP9's alpha (it is a side channel in WebM), so the matte would
vanish without a word. For an image: an RGBA PNG, the person cut out (the PNG carries
the alpha, as the contract asks: "foreground + alpha if the container carries alpha").
"""
from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.errors import InvalidArgument
from mediamesh.inference import TritonClient
from mediamesh.media_inputs import is_still_image
from mediamesh.storage import StoredOutput
from mediamesh.worker_threads import run_in_thread
from services.vision.backgrounds import BackgroundVideo
from services.vision.keying import composite, fit_background
from services.vision.matting import (
    DEFAULT_BLUR_FRACTION,
    EdgeParams,
    Smoothing,
    blur_background,
    default_blur_radius,
    matte,
    model_input,
    person_coverage,
    stabilize,
)
from services.vision.video_output import OutputFormat, Rewrite, Span, rewrite_video

MODEL = "selfie_segmentation"
CHUNK_FRAMES = 8  # 8 x 110 KB per request: amortises the call, bounded memory
MAX_BLUR_RADIUS = 250.0  # px (sigma); beyond this the background is one flat colour anyway


class Background(StrEnum):
    """What happens behind the people (the contract's PortraitBackground)."""

    ALPHA_ONLY = "alpha_only"
    REPLACE_COLOR = "replace_color"
    REPLACE_IMAGE = "replace_image"
    REPLACE_VIDEO = "replace_video"
    BLUR = "blur"

    @classmethod
    def from_contract(cls, value: int, name_of: Callable[[int], str]) -> Background:
        """From the contract's enum value and its name lookup (PortraitBackground.Name):
        PORTRAIT_BACKGROUND_BLUR -> BLUR; UNSPECIFIED is the default, ALPHA_ONLY."""
        try:
            short = name_of(value).removeprefix("PORTRAIT_BACKGROUND_").lower()
        except ValueError:
            raise InvalidArgument(f"unknown mode {value}; use one of "
                                  f"{', '.join(b.contract_name for b in cls)}",
                                  field_name="mode") from None
        return cls.ALPHA_ONLY if short == "unspecified" else cls(short)

    @property
    def needs(self) -> str | None:
        """The request's background field this mode needs (None: it takes none)."""
        return {Background.REPLACE_COLOR: "background_color",
                Background.REPLACE_IMAGE: "background_image",
                Background.REPLACE_VIDEO: "background_video"}.get(self)

    @property
    def contract_name(self) -> str:
        return f"PORTRAIT_BACKGROUND_{self.name}"


@dataclass(frozen=True)
class PortraitOptions:
    """The request's numbers and mode, checked."""

    background: Background
    blur_radius: float | None  # output px (Gaussian sigma); None = default for the frame
    smoothing: Smoothing

    @classmethod
    def from_request(cls, mode: Background, background_field: str | None, blur_radius: float,
                     temporal_smoothing: float) -> PortraitOptions:
        """Refuses, naming the field, a background that does not fit the mode, a blur radius
        outside [0, MAX_BLUR_RADIUS] or used without BLUR, smoothing outside [0, 1]."""
        if mode.needs and background_field != mode.needs:
            raise InvalidArgument(f"mode {mode.contract_name} needs {mode.needs} set"
                                  + (f", not {background_field}" if background_field else ""),
                                  field_name=mode.needs)
        if not mode.needs and background_field:
            wanted = next(b for b in Background if b.needs == background_field)
            raise InvalidArgument(f"{background_field} is set but mode is {mode.contract_name}"
                                  f", which uses no background: set mode to "
                                  f"{wanted.contract_name}", field_name=background_field)
        if not math.isfinite(blur_radius) or not 0 <= blur_radius <= MAX_BLUR_RADIUS:
            raise InvalidArgument(f"blur_radius must be in [0, {MAX_BLUR_RADIUS:g}] pixels of "
                                  f"the output frame (0 = {100 * DEFAULT_BLUR_FRACTION:g}% "
                                  f"of the frame height), got {blur_radius:g}",
                                  field_name="blur_radius")
        if blur_radius and mode is not Background.BLUR:
            raise InvalidArgument(f"blur_radius is only used with mode "
                                  f"{Background.BLUR.contract_name}, and mode is "
                                  f"{mode.contract_name}", field_name="blur_radius")
        if not 0 <= temporal_smoothing <= 1:  # NaN fails too
            raise InvalidArgument(f"temporal_smoothing must be in [0, 1] (0 = none, higher = "
                                  f"steadier but laggier edges), got {temporal_smoothing:g}",
                                  field_name="temporal_smoothing")
        return cls(mode, blur_radius or None, Smoothing(strength=temporal_smoothing))


@dataclass(frozen=True)
class PortraitJob:
    """A validated request, in domain terms (times in seconds)."""

    source: Path
    options: PortraitOptions
    background_color: tuple[int, int, int] | None
    background_image: np.ndarray | None
    background_video: tuple[Path, media.MediaInfo] | None
    start: float
    end: float | None
    edge: EdgeParams = field(default_factory=EdgeParams)


@dataclass(frozen=True)
class PortraitProgress:
    done: int
    total: int


@dataclass(frozen=True)
class PortraitOutcome:
    output: StoredOutput
    frames: int
    duration: float
    mean_person_coverage: float


def output_extension(is_image: bool) -> str:
    return "png" if is_image else "mp4"


class _Renderer:
    """Turns frames and their smoothed probabilities into output pictures; holds what a
    job keeps between frames (the fitted background image, the background video)."""

    def __init__(self, job: PortraitJob, width: int, height: int) -> None:
        self.job, self.width, self.height = job, width, height
        self.sigma = job.options.blur_radius or default_blur_radius(height)
        self.image = (fit_background(job.background_image, height, width)
                      if job.background_image is not None else None)
        self.video = (BackgroundVideo(*job.background_video, width, height)
                      if job.background_video is not None else None)
        self.coverage_sum = 0.0

    def render(self, rgb: np.ndarray, probability: np.ndarray, seconds: float,
               still: bool = False) -> np.ndarray:
        alpha = matte(probability, self.height, self.width, self.job.edge)
        self.coverage_sum += person_coverage(alpha)
        mode = self.job.options.background
        if mode is Background.ALPHA_ONLY:
            return np.concatenate([rgb, alpha], -1) if still else np.repeat(alpha, 3, -1)
        if mode is Background.BLUR:
            background = blur_background(rgb, alpha, self.sigma)
        elif mode is Background.REPLACE_IMAGE:
            background = self.image
        elif mode is Background.REPLACE_VIDEO:
            assert self.video is not None
            background = self.video.frame_at(seconds)
        else:
            background = np.array(self.job.background_color or (0, 0, 0), dtype=np.uint8)
        return composite(rgb, alpha, background)


class PortraitSegmenter:
    """Runs one PortraitJob against Triton; yields PortraitProgress then one
    PortraitOutcome."""

    def __init__(self, triton: TritonClient) -> None:
        self.triton = triton

    async def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Person probability float32 (N, 144, 256) of uint8 frames (N, H, W, 3), from
        Triton (the downscale to the model's input runs in a worker thread)."""
        small = await run_in_thread(model_input, frames)
        out = await self.triton.infer(MODEL, {"image": small}, ["mask"])
        return out["mask"][..., 0]

    async def _chunk_probabilities(self, chunk: list[media.VideoFrame]) -> np.ndarray:
        return await self.probabilities(np.stack([f.rgb for f in chunk]))

    async def run(self, job: PortraitJob, info: media.MediaInfo, output: StoredOutput
                  ) -> AsyncIterator[PortraitProgress | PortraitOutcome]:
        if is_still_image(info):
            frame = await run_in_thread(media.read_image, job.source)
            probability = (await self.probabilities(frame[None]))[0]
            renderer = _Renderer(job, frame.shape[1], frame.shape[0])
            picture = await run_in_thread(renderer.render, frame, probability, 0.0, True)
            try:
                await run_in_thread(media.write_image, output.path, picture)
            except BaseException:
                output.path.unlink(missing_ok=True)
                raise
            yield PortraitOutcome(output, 1, 0.0, renderer.coverage_sum)
            return
        async for item in self._run_video(job, info, output):
            yield item

    async def _run_video(self, job: PortraitJob, info: media.MediaInfo, output: StoredOutput
                         ) -> AsyncIterator[PortraitProgress | PortraitOutcome]:
        span = Span.of(job.source, info, job.start, job.end)
        width, height = int(info.width or 0), int(info.height or 0)
        keep_audio = info.has_audio and job.options.background is not Background.ALPHA_ONLY
        renderer = _Renderer(job, width, height)
        state: np.ndarray | None = None

        def render(chunk: list[media.VideoFrame], probabilities: np.ndarray
                   ) -> list[np.ndarray]:
            """Smooth, matte and composite one chunk; the smoothing state carries over."""
            nonlocal state
            smoothed, state = stabilize(probabilities, state, job.options.smoothing)
            return [renderer.render(frame.rgb, probability, frame.time - job.start)
                    for frame, probability in zip(chunk, smoothed, strict=True)]

        done = 0
        async for done, total in rewrite_video(
                span, output.path, OutputFormat(width, height, keep_audio),
                Rewrite(self._chunk_probabilities, render, CHUNK_FRAMES)):
            yield PortraitProgress(done, total)
        yield PortraitOutcome(output, done, done / span.fps, renderer.coverage_sum / done)
