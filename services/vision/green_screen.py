"""KeyGreenScreen as a job: decode -> key on Triton (green_keyer) -> composite -> encode.

Images give one output image; videos stream through in chunks of frames (one batched
Triton request per chunk), so memory stays bounded for long inputs. Audio is kept.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.inference import TritonClient
from mediamesh.media_inputs import is_still_image
from mediamesh.models.green_keyer import apply_despill
from mediamesh.storage import StoredOutput
from services.vision.backgrounds import BackgroundVideo
from services.vision.keying import (
    KeyChannel,
    KeyParams,
    composite,
    detect_key_channel,
    fit_background,
)
from services.vision.video_output import OutputFormat, Rewrite, Span, rewrite_video

MODEL = "green_keyer"
CHUNK_FRAMES = 4  # frames per Triton request: amortises the call, bounded memory


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
    """What the green_keyer model returns for a stack of N frames."""

    alpha: np.ndarray  # uint8 (N, H, W, 1), 255 = subject
    despilled_key: np.ndarray  # uint8 (N, H, W, 1), the key channel after spill suppression


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
    """Runs one KeyJob against Triton; yields KeyProgress then one KeyOutcome."""

    def __init__(self, triton: TritonClient) -> None:
        self.triton = triton

    async def key_planes(self, frames: np.ndarray, channel: KeyChannel,
                         params: KeyParams) -> KeyedPlanes:
        """Alpha and de-spilled key planes (N,H,W,1 each) for a stack of frames, from Triton."""
        rows = np.repeat(params.row(channel)[None], len(frames), axis=0)
        out = await self.triton.infer(MODEL, {"image": frames, "params": rows},
                                      ["alpha", "despilled_key"])
        return KeyedPlanes(out["alpha"], out["despilled_key"])

    def _render_chunk(self, job: KeyJob, chunk: list[media.VideoFrame], planes: KeyedPlanes,
                      channel: KeyChannel, backdrop: BackgroundVideo | None
                      ) -> list[np.ndarray]:
        """Composite (or matte) a keyed chunk; runs in a worker thread."""
        out = []
        for i, frame in enumerate(chunk):
            foreground = apply_despill(frame.rgb, planes.despilled_key[i], channel.rgb_index)
            behind = backdrop.frame_at(frame.time - job.start) if backdrop else None
            out.append(self._render(job, foreground, planes.alpha[i], behind))
        return out

    def _render(self, job: KeyJob, foreground: np.ndarray, alpha: np.ndarray,
                behind: np.ndarray | None = None) -> np.ndarray:
        """The output picture; `behind` is the background video's frame, when there is one."""
        if job.mode is OutputMode.ALPHA_ONLY:
            return np.repeat(alpha, 3, axis=-1)
        if job.mode is OutputMode.FOREGROUND_ALPHA:
            return np.concatenate([foreground, alpha], axis=-1)
        h, w = foreground.shape[:2]
        if behind is not None:
            background = behind
        elif job.background_image is not None:
            background = fit_background(job.background_image, h, w)
        else:
            background = np.array(job.background_color or (0, 0, 0), dtype=np.uint8)
        return composite(foreground, alpha, background)

    async def run(self, job: KeyJob, info: media.MediaInfo, output: StoredOutput,
                  preview: StoredOutput) -> AsyncIterator[KeyProgress | KeyOutcome]:
        if is_still_image(info):
            frame = await asyncio.to_thread(media.read_image, job.source)
            channel = job.key_channel or detect_key_channel(frame)
            planes = await self.key_planes(frame[None], channel, job.params)
            alpha = planes.alpha[0]
            foreground = apply_despill(frame, planes.despilled_key[0], channel.rgb_index)
            behind = (await asyncio.to_thread(
                BackgroundVideo(*job.background_video, frame.shape[1], frame.shape[0]).frame_at,
                0.0) if job.background_video else None)
            await asyncio.to_thread(media.write_image, output.path,
                                    self._render(job, foreground, alpha, behind))
            await asyncio.to_thread(media.write_image, preview.path, np.repeat(alpha, 3, -1))
            yield KeyOutcome(output, preview, 1, 0.0, channel, float(alpha.mean() / 255.0))
            return
        async for item in self._run_video(job, info, output, preview):
            yield item

    async def _run_video(self, job: KeyJob, info: media.MediaInfo, output: StoredOutput,
                         preview: StoredOutput) -> AsyncIterator[KeyProgress | KeyOutcome]:
        span = Span.of(job.source, info, job.start, job.end)
        width, height = int(info.width or 0), int(info.height or 0)
        channel = job.key_channel
        done, keyed, alpha_sum = 0, 0, 0.0
        backdrop = (BackgroundVideo(*job.background_video, width, height)
                    if job.background_video and job.mode is OutputMode.COMPOSITE else None)

        def key(chunk: list[media.VideoFrame]) -> Awaitable[KeyedPlanes]:
            nonlocal channel  # an automatic key colour is read off the first frame
            channel = channel or detect_key_channel(chunk[0].rgb)
            return self.key_planes(np.stack([f.rgb for f in chunk]), channel, job.params)

        def render(chunk: list[media.VideoFrame], planes: KeyedPlanes) -> list[np.ndarray]:
            nonlocal keyed, alpha_sum
            if keyed == 0:  # the first frame's matte is the preview
                media.write_image(preview.path, np.repeat(planes.alpha[0], 3, -1))
            keyed += len(chunk)
            alpha_sum += float(planes.alpha.mean()) / 255.0 * len(chunk)
            return self._render_chunk(job, chunk, planes, channel or KeyChannel.GREEN, backdrop)

        fmt = OutputFormat(width, height, self._keeps_audio(job, info),
                           alpha=job.mode is OutputMode.FOREGROUND_ALPHA)
        try:
            # Triton keys chunk n+1 while this process composites and encodes chunk n
            async for done, total in rewrite_video(span, output.path, fmt,
                                                   Rewrite(key, render, CHUNK_FRAMES)):
                yield KeyProgress(done, total)
        except BaseException:
            preview.path.unlink(missing_ok=True)
            raise
        yield KeyOutcome(output, preview, done, done / span.fps, channel or KeyChannel.GREEN,
                         alpha_sum / done)

    @staticmethod
    def _keeps_audio(job: KeyJob, info: media.MediaInfo) -> bool:
        return info.has_audio and job.mode is OutputMode.COMPOSITE


