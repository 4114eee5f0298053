"""Fingerprint as a job: decode frames at 64x64 -> frame_hash on Triton -> pooled samples,
hashes and signatures (services.vision.fingerprint).

Every frame is decoded (H.264 has no other way) but only those at the analysis rate (four
per sample period) are scaled and sent, in chunks of 32: one batched request each (12 KB
of pixels a frame), joined with other callers' by Triton's dynamic batcher, while this
process decodes the next chunk. Per-frame features of a 2-hour video at 8 frames a second
take 30 MB (float16) until they are pooled.
"""
from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.errors import InvalidArgument
from mediamesh.frame_pipeline import pipelined
from mediamesh.inference import TritonClient
from mediamesh.models.frame_hash import SIZE
from mediamesh.worker_threads import run_in_thread
from services.vision.fingerprint import Samples, analysis_fps, pool_samples

MODEL = "frame_hash"
CHUNK_FRAMES = 32
PROGRESS_EVERY_S = 0.5
DEFAULT_SAMPLE_FPS = 2.0
MAX_SAMPLE_FPS = 30.0


@dataclass(frozen=True)
class FingerprintJob:
    source: Path
    sample_fps: float


@dataclass(frozen=True)
class FingerprintOutcome:
    samples: Samples
    duration: float  # seconds


@dataclass(frozen=True)
class FingerprintProgress:
    done: int  # samples hashed
    total: int


def sample_rate(requested: float) -> float:
    """The sampling rate to use (0 = default); INVALID_ARGUMENT outside (0, 30]."""
    if requested == 0:
        return DEFAULT_SAMPLE_FPS
    if not 0 < requested <= MAX_SAMPLE_FPS:
        raise InvalidArgument(f"sample_fps must be in (0, {MAX_SAMPLE_FPS:g}] frames per "
                              f"second (0 = {DEFAULT_SAMPLE_FPS:g}), got {requested:g}",
                              field_name="sample_fps")
    return requested


class Fingerprinter:
    """Runs one FingerprintJob against Triton; yields progress, then one Fingerprint."""

    def __init__(self, triton: TritonClient) -> None:
        self.triton = triton

    async def features(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """DCT coefficients (N, 16, 16) and quality (N,) of uint8 frames (N, 64, 64, 3)."""
        out = await self.triton.infer(MODEL, {"image": frames}, ["dct", "quality"])
        return out["dct"], out["quality"][:, 0]

    async def _featurise(self, chunk: list[media.VideoFrame]
                         ) -> tuple[np.ndarray, np.ndarray]:
        return await self.features(np.stack([f.rgb for f in chunk]))

    async def run(self, job: FingerprintJob, info: media.MediaInfo
                  ) -> AsyncIterator[FingerprintProgress | FingerprintOutcome]:
        """Progress in decoded frames, then the outcome."""
        rate = analysis_fps(job.sample_fps)
        total = max(1, int(info.duration * min(rate, info.fps or rate)) + 1)
        frames: Iterator[media.VideoFrame] = media.iter_frames(
            job.source, fps=rate, size=(SIZE, SIZE))
        times: list[float] = []
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        last_report = time.monotonic()
        async for chunk, (dct, quality) in pipelined(frames, CHUNK_FRAMES, self._featurise):
            times += [f.time for f in chunk]
            parts.append((dct.astype(np.float16), quality))  # 3 decimals are plenty
            if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                last_report = time.monotonic()
                yield FingerprintProgress(len(times), max(total, len(times)))
        if not times:
            raise InvalidArgument("video has no decodable frames to fingerprint",
                                  field_name="video")
        yield FingerprintProgress(len(times), len(times))
        duration = float(max(info.duration, times[-1]))
        samples = await run_in_thread(
            pool_samples, np.asarray(times), np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]), job.sample_fps, duration)
        yield FingerprintOutcome(samples, duration)
