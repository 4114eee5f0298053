"""KeyGreenScreen as a job: decode -> key on Triton (green_keyer) -> composite -> encode.

Images give one output image; videos stream through in chunks of frames (one batched
Triton request per chunk), so memory stays bounded for long inputs. Audio is kept.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.inference import TritonClient
from mediamesh.media_inputs import is_still_image
from mediamesh.storage import StoredOutput
from mediamesh.worker_threads import run_in_thread
from services.vision.backgrounds import BackgroundVideo
from services.vision.keying import (
    KeyChannel,
    KeyParams,
    ScreenEstimate,
    composite,
    estimate_screen,
    fit_background,
)
from services.vision.video_output import OutputFormat, Picture, Rewrite, Span, rewrite_video

MODEL = "green_keyer"
CHUNK_FRAMES = 4  # frames per Triton request: amortises the call, bounded memory
#: alpha (0-255) -> limited-range luma (16-235), so a player shows the matte as it is
ALPHA_TO_LUMA = np.round(16 + np.arange(256) * (219 / 255)).astype(np.uint8)


class OutputMode(StrEnum):
    COMPOSITE = "composite"
    ALPHA_ONLY = "alpha_only"
    FOREGROUND_ALPHA = "foreground_alpha"


@dataclass(frozen=True)
class KeyJob:
    """A validated request, in domain terms."""

    source: Path
    key_channel: KeyChannel | None  # None: detect from the first frame's border
    params: KeyParams
    mode: OutputMode
    background_color: tuple[int, int, int] | None
    background_image: np.ndarray | None
    start: float
    end: float | None
    background_video: tuple[Path, media.MediaInfo] | None = None  # looped, covers the frame


@dataclass(frozen=True)
class KeyedPlanes:
    """What the green_keyer model returns for a stack of N frames (on the even-sized grid
    of their chroma: crop alpha to the picture)."""

    alpha: np.ndarray  # uint8 (N, 1, 2h, 2w), 255 = subject
    alpha_chroma: np.ndarray  # uint8 (N, 1, h, w), alpha at the chroma samples
    despilled_chroma: np.ndarray  # uint8 (N, 2, h, w), U and V after spill suppression

    def frame_alpha(self, i: int, planes: media.YuvPlanes) -> np.ndarray:
        """Frame i's alpha (H, W) on `planes`' luma grid."""
        return self.alpha[i, 0, :planes.height, :planes.width]


@dataclass(frozen=True)
class KeyProgress:
    done: int
    total: int


@dataclass(frozen=True)
class KeyOutcome:
    output: StoredOutput
    alpha_preview: StoredOutput
    frames: int
    duration: float
    key_channel: KeyChannel
    mean_alpha: float


def output_extension(is_image: bool, mode: OutputMode) -> str:
    if is_image:
        return "png"
    return "webm" if mode is OutputMode.FOREGROUND_ALPHA else "mp4"


class GreenScreenKeyer:
    """Runs one KeyJob against Triton; yields KeyProgress then one KeyOutcome. Frames stay
    4:2:0 planes from decoder to encoder: the keyer reads their chroma, the composite
    mixes each plane."""

    def __init__(self, triton: TritonClient) -> None:
        self.triton = triton

    async def key_planes(self, frames: list[media.YuvPlanes], row: np.ndarray) -> KeyedPlanes:
        """The model's planes for a stack of same-sized frames, from Triton."""
        chroma = np.stack([f.chroma for f in frames])
        plane = chroma[:, 0].nbytes  # one chroma plane of every frame, uint8
        out = await self.triton.infer(
            MODEL, {"chroma": chroma, "params": np.repeat(row[None], len(frames), axis=0)},
            ["alpha", "alpha_chroma", "despilled_chroma"],
            output_bytes={"alpha": 4 * plane, "alpha_chroma": plane,
                          "despilled_chroma": 2 * plane})
        return KeyedPlanes(out["alpha"], out["alpha_chroma"], out["despilled_chroma"])

    def _render(self, job: KeyJob, planes: media.YuvPlanes, keyed: KeyedPlanes, i: int,
                backdrop: Backdrop, seconds: float) -> Picture:
        """Frame i of a keyed chunk (`seconds` into the output) as the output wants it;
        runs in a worker thread."""
        alpha = keyed.frame_alpha(i, planes)
        if job.mode is OutputMode.ALPHA_ONLY:
            grey = np.full_like(planes.u, 128)
            return media.YuvPlanes(ALPHA_TO_LUMA[alpha], grey, grey)
        u, v = keyed.despilled_chroma[i]
        if job.mode is OutputMode.FOREGROUND_ALPHA:
            foreground = media.YuvPlanes(planes.y, u, v).to_rgb()
            return np.concatenate([foreground, alpha[..., None]], axis=-1)
        behind = backdrop(seconds)
        block = keyed.alpha_chroma[i, 0]
        return media.YuvPlanes(composite(planes.y, alpha, behind[0]),
                               composite(u, block, behind[1]), composite(v, block, behind[2]))

    def _backdrop(self, job: KeyJob, width: int, height: int) -> Backdrop:
        """What goes behind the subject, as planes (or one Y, U, V colour) per frame; only
        a composite has one."""
        colour = media.YuvPlanes.of_colour(job.background_color or (0, 0, 0))
        if job.mode is not OutputMode.COMPOSITE:
            return lambda seconds: colour
        if job.background_video:
            video = BackgroundVideo(*job.background_video, width, height)
            return lambda seconds: _planes_of(media.YuvPlanes.from_rgb(video.frame_at(seconds)))
        if job.background_image is not None:
            still = _planes_of(media.YuvPlanes.from_rgb(
                fit_background(job.background_image, height, width)))
            return lambda seconds: still
        return lambda seconds: colour

    async def run(self, job: KeyJob, info: media.MediaInfo, output: StoredOutput,
                  preview: StoredOutput) -> AsyncIterator[KeyProgress | KeyOutcome]:
        if is_still_image(info):
            yield await self._run_still(job, output, preview)
            return
        async for item in self._run_video(job, info, output, preview):
            yield item

    async def _run_still(self, job: KeyJob, output: StoredOutput,
                         preview: StoredOutput) -> KeyOutcome:
        image = await run_in_thread(media.read_image, job.source)
        planes = media.YuvPlanes.from_rgb(image)
        screen = estimate_screen(planes, job.key_channel)
        keyed = await self.key_planes([planes], screen.row(job.params))
        alpha = keyed.frame_alpha(0, planes)
        backdrop = self._backdrop(job, planes.width, planes.height)
        if job.mode is OutputMode.ALPHA_ONLY:
            picture: Picture = np.repeat(alpha[..., None], 3, -1)
        else:
            picture = await run_in_thread(self._render, job, planes, keyed, 0, backdrop,
                                          0.0)
        rgb = picture.to_rgb() if isinstance(picture, media.YuvPlanes) else picture
        await run_in_thread(media.write_image, output.path, rgb)
        await run_in_thread(media.write_image, preview.path, np.repeat(alpha[..., None], 3, -1))
        return KeyOutcome(output, preview, 1, 0.0, screen.channel, float(alpha.mean() / 255.0))

    async def _run_video(self, job: KeyJob, info: media.MediaInfo, output: StoredOutput,
                         preview: StoredOutput) -> AsyncIterator[KeyProgress | KeyOutcome]:
        span = Span.of(job.source, info, job.start, job.end)
        width, height = int(info.width or 0), int(info.height or 0)
        screen: ScreenEstimate | None = None
        row = np.zeros(0, np.float32)
        done, keyed_frames, alpha_sum = 0, 0, 0.0
        backdrop = self._backdrop(job, width, height)

        def key(chunk: list[media.YuvFrame]) -> Awaitable[KeyedPlanes]:
            nonlocal screen, row  # the screen is read off the first frame
            if screen is None:
                screen = estimate_screen(chunk[0].planes, job.key_channel)
                row = screen.row(job.params)
            return self.key_planes([f.planes for f in chunk], row)

        def render(chunk: list[media.YuvFrame], keyed: KeyedPlanes) -> list[Picture]:
            nonlocal keyed_frames, alpha_sum
            first = keyed.frame_alpha(0, chunk[0].planes)
            if keyed_frames == 0:  # the first frame's matte is the preview
                media.write_image(preview.path, np.repeat(first[..., None], 3, -1))
            keyed_frames += len(chunk)
            alpha_sum += float(keyed.alpha_chroma.mean()) / 255.0 * len(chunk)
            return [self._render(job, f.planes, keyed, i, backdrop, f.time - job.start)
                    for i, f in enumerate(chunk)]

        fmt = OutputFormat(width, height, self._keeps_audio(job, info),
                           alpha=job.mode is OutputMode.FOREGROUND_ALPHA)
        try:
            # Triton keys chunk n+1 while this process composites and encodes chunk n
            async for done, total in rewrite_video(span, output.path, fmt,
                                                   Rewrite(key, render, CHUNK_FRAMES,
                                                           planes=True)):
                yield KeyProgress(done, total)
        except BaseException:
            preview.path.unlink(missing_ok=True)
            raise
        channel = screen.channel if screen else job.key_channel or KeyChannel.GREEN
        yield KeyOutcome(output, preview, done, done / span.fps, channel, alpha_sum / done)

    @staticmethod
    def _keeps_audio(job: KeyJob, info: media.MediaInfo) -> bool:
        return info.has_audio and job.mode is OutputMode.COMPOSITE





#: A background as (Y, U, V) planes or values, for a time in seconds of the output.
BackgroundPlanes = tuple[np.ndarray | int, np.ndarray | int, np.ndarray | int]
Backdrop = Callable[[float], BackgroundPlanes]


def _planes_of(planes: media.YuvPlanes) -> BackgroundPlanes:
    return planes.y, planes.u, planes.v
