"""KeyGreenScreen as a job: decode -> key on Triton (green_keyer) -> composite -> encode.

Images give one output image; videos stream through in chunks of frames (one batched
Triton request per chunk), so memory stays bounded for long inputs. Audio is kept.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.errors import InvalidArgument, MeshError, StatusCode
from mediamesh.inference import TritonClient
from mediamesh.storage import StoredOutput
from services.vision.keying import (
    KeyChannel,
    KeyParams,
    composite,
    detect_key_channel,
    fit_background,
)

MODEL = "green_keyer"
CHUNK_FRAMES = 4  # frames per Triton request: amortises the call, bounded memory
PROGRESS_EVERY_S = 0.5
AUDIO_RATE = 48000


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

    async def key_frames(self, frames: np.ndarray, channel: KeyChannel,
                         params: KeyParams) -> tuple[np.ndarray, np.ndarray]:
        """alpha (N,H,W,1) and de-spilled foreground (N,H,W,3) for a stack of frames."""
        rows = np.repeat(params.row(channel)[None], len(frames), axis=0)
        out = await self.triton.infer(MODEL, {"image": frames, "params": rows},
                                      ["alpha", "foreground"])
        return out["alpha"], out["foreground"]

    def _render(self, job: KeyJob, foreground: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        if job.mode is OutputMode.ALPHA_ONLY:
            return np.repeat(alpha, 3, axis=-1)
        if job.mode is OutputMode.FOREGROUND_ALPHA:
            return np.concatenate([foreground, alpha], axis=-1)
        h, w = foreground.shape[:2]
        if job.background_image is not None:
            background = fit_background(job.background_image, h, w)
        else:
            background = np.array(job.background_color or (0, 0, 0), dtype=np.uint8)
        return composite(foreground, alpha, background)

    async def run(self, job: KeyJob, info: media.MediaInfo, output: StoredOutput,
                  preview: StoredOutput) -> AsyncIterator[KeyProgress | KeyOutcome]:
        is_image = info.frame_count == 1 and not info.fps
        if is_image:
            frame = await asyncio.to_thread(media.read_image, job.source)
            channel = job.key_channel or detect_key_channel(frame)
            alpha, fg = await self.key_frames(frame[None], channel, job.params)
            await asyncio.to_thread(media.write_image, output.path, self._render(job, fg[0], alpha[0]))
            await asyncio.to_thread(media.write_image, preview.path, np.repeat(alpha[0], 3, -1))
            yield KeyOutcome(output, preview, 1, 0.0, channel, float(alpha.mean() / 255.0))
            return
        async for item in self._run_video(job, info, output, preview):
            yield item

    async def _run_video(self, job: KeyJob, info: media.MediaInfo, output: StoredOutput,
                         preview: StoredOutput) -> AsyncIterator[KeyProgress | KeyOutcome]:
        fps = info.fps or 25.0
        end = min(job.end, info.duration) if job.end else info.duration
        total = max(1, round((end - job.start) * fps))
        frames: Iterator[media.VideoFrame] = media.iter_frames(job.source, start=job.start,
                                                               end=end)
        channel = job.key_channel
        done, alpha_sum, last_report = 0, 0.0, 0.0
        keep_audio = self._keeps_audio(job, info)
        writer = media.VideoWriter(output.path, int(info.width or 0), int(info.height or 0), fps,
                                   alpha=job.mode is OutputMode.FOREGROUND_ALPHA,
                                   audio_sample_rate=AUDIO_RATE if keep_audio else None)
        try:
            while True:
                chunk = await asyncio.to_thread(_next_chunk, frames, CHUNK_FRAMES)
                if not chunk:
                    break
                stack = np.stack([f.rgb for f in chunk])
                if channel is None:
                    channel = detect_key_channel(stack[0])
                alpha, fg = await self.key_frames(stack, channel, job.params)
                if done == 0:
                    await asyncio.to_thread(media.write_image, preview.path,
                                            np.repeat(alpha[0], 3, -1))
                rendered = [self._render(job, fg[i], alpha[i]) for i in range(len(chunk))]
                await asyncio.to_thread(_write_all, writer, rendered)
                done += len(chunk)
                alpha_sum += float(alpha.mean()) / 255.0 * len(chunk)
                if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                    last_report = time.monotonic()
                    yield KeyProgress(done, max(total, done))
            if done == 0:
                raise InvalidArgument(f"no video frames between {job.start:.3f} s and "
                                      f"{end:.3f} s", field_name="range")
            if keep_audio:
                samples = await asyncio.to_thread(
                    media.decode_audio, job.source, AUDIO_RATE, False, job.start, end - job.start)
                await asyncio.to_thread(writer.write_audio, samples)
            await asyncio.to_thread(writer.close)
        except BaseException:
            writer.close()
            output.path.unlink(missing_ok=True)  # never leave half a file behind
            preview.path.unlink(missing_ok=True)
            raise
        yield KeyProgress(done, done)
        yield KeyOutcome(output, preview, done, done / fps, channel or KeyChannel.GREEN,
                         alpha_sum / done)

    @staticmethod
    def _keeps_audio(job: KeyJob, info: media.MediaInfo) -> bool:
        return info.has_audio and job.mode is OutputMode.COMPOSITE


def _next_chunk(frames: Iterator[media.VideoFrame], size: int) -> list[media.VideoFrame]:
    chunk = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            break
    return chunk


def _write_all(writer: media.VideoWriter, images: list[np.ndarray]) -> None:
    for image in images:
        writer.write(image)


def unsupported(what: str) -> MeshError:
    return MeshError(f"{what} is not supported yet", StatusCode.UNIMPLEMENTED, "NOT_IMPLEMENTED")
