"""DetectShots as a job: decode at the analysis size -> shot_features on Triton -> detect
(services.vision.shots) -> keyframes.

Frames are decoded straight to 128x72 (FFmpeg scales while converting to RGB: no dearer
than a full-size conversion, and 100x fewer bytes go to Triton than at 720p) and sent in
chunks of 16: one batched request each, joined with other callers' by Triton's dynamic
batcher. Triton works on chunk n while this process decodes chunk n+1. Keyframes are read
again at full size.
"""
from __future__ import annotations

import bisect
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.errors import InvalidArgument, MediaUndecodable
from mediamesh.frame_pipeline import pipelined
from mediamesh.inference import TritonClient
from mediamesh.models.shot_features import HEIGHT, WIDTH
from mediamesh.storage import StoredOutput
from mediamesh.worker_threads import run_in_thread
from services.vision.shots import FrameFeatures, Shot, ShotParams, detect_shots

MODEL = "shot_features"
CHUNK_FRAMES = 16  # 16 x 27 KB per request: amortises the call, bounded memory
PROGRESS_EVERY_S = 0.5
KEYFRAME_QUALITY = 90
KEYFRAME_SHARE = 0.1  # of the progress bar, when keyframes are written

#: Where shot i's keyframe goes (the servicer decides; the job only writes).
KeyframeOutputs = Callable[[int], StoredOutput]


@dataclass(frozen=True)
class ShotJob:
    """A validated request, in domain terms (times in seconds)."""

    source: Path
    start: float
    end: float | None
    params: ShotParams
    with_keyframes: bool

    @classmethod
    def whole(cls, source: Path) -> ShotJob:
        """Every shot of the whole video, gradual transitions included, no keyframes: what
        the jobs that work shot by shot (SelectCover, Reframe) start from."""
        return cls(source, 0.0, None, ShotParams.from_sensitivity(0.0, True), False)


def shot_index(starts: Sequence[float], time: float) -> int:
    """The shot (by its start times, ascending) that shows `time`."""
    return max(0, bisect.bisect_right(starts, time + 1e-6) - 1)


@dataclass(frozen=True)
class ShotProgress:
    done: int
    total: int
    stage: str  # "features" (frames) or "keyframes" (shots)
    fraction: float  # of the whole job, 0..1


@dataclass(frozen=True)
class TimedShot:
    """A detected shot placed in the source: frame numbers and seconds."""

    shot: Shot
    start_frame: int
    end_frame: int  # exclusive
    start: float
    end: float
    keyframe_time: float  # seconds: the shot's most representative frame
    keyframe: StoredOutput | None = None


@dataclass(frozen=True)
class ShotOutcome:
    shots: list[TimedShot]
    fps: float
    frame_count: int


class ShotDetector:
    """Runs one ShotJob against Triton; yields ShotProgress then one ShotOutcome."""

    def __init__(self, triton: TritonClient) -> None:
        self.triton = triton

    async def features(self, frames: np.ndarray) -> FrameFeatures:
        """`shot_features` of uint8 frames (N, 72, 128, 3), from Triton. Thumbnails are kept
        as float16 (half the memory of a long video's features; 3 decimals are plenty)."""
        out = await self.triton.infer(MODEL, {"image": frames}, ["hist", "thumb"])
        return FrameFeatures(out["hist"], out["thumb"].astype(np.float16))

    async def run(self, job: ShotJob, info: media.MediaInfo,
                  keyframe_outputs: KeyframeOutputs | None
                  ) -> AsyncIterator[ShotProgress | ShotOutcome]:
        fps = info.fps or 25.0
        end = min(job.end, info.duration) if job.end else info.duration
        total = max(1, round((end - job.start) * fps))
        parts: list[FrameFeatures] = []
        indices: list[int] = []
        times: list[float] = []
        keyframes = job.with_keyframes and keyframe_outputs is not None
        share = KEYFRAME_SHARE if keyframes else 0.0  # of the progress bar
        async for done in self._analyse(job, end, parts, indices, times):
            yield ShotProgress(done, max(total, done), "features",
                               (1.0 - share) * done / max(total, done))
        if not indices:
            raise InvalidArgument(f"no video frames between {job.start:.3f} s and {end:.3f} s",
                                  field_name="range")
        yield ShotProgress(len(indices), len(indices), "features", 1.0 - share)
        shots = await run_in_thread(detect_shots, FrameFeatures.concat(parts), job.params)
        placed = _place(shots, indices, times, fps)
        if keyframes:
            assert keyframe_outputs is not None
            async for item in self._keyframes(job.source, placed, keyframe_outputs):
                if isinstance(item, ShotProgress):
                    yield item
                else:
                    placed = item
        yield ShotOutcome(placed, fps, len(indices))

    async def _analyse(self, job: ShotJob, end: float, parts: list[FrameFeatures],
                       indices: list[int], times: list[float]) -> AsyncIterator[int]:
        """Decode and featurise every frame in [start, end), appending to the lists; yields
        the frames done every PROGRESS_EVERY_S."""
        frames: Iterator[media.VideoFrame] = media.iter_frames(
            job.source, start=job.start, end=end, size=(WIDTH, HEIGHT))
        last_report = time.monotonic()
        async for chunk, features in pipelined(frames, CHUNK_FRAMES, self._featurise):
            indices += [f.index for f in chunk]
            times += [f.time for f in chunk]
            parts.append(features)
            if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                last_report = time.monotonic()
                yield len(indices)

    async def _featurise(self, chunk: list[media.VideoFrame]) -> FrameFeatures:
        return await self.features(np.stack([f.rgb for f in chunk]))

    async def _keyframes(self, source: Path, shots: list[TimedShot],
                         outputs: KeyframeOutputs
                         ) -> AsyncIterator[ShotProgress | list[TimedShot]]:
        """Write each shot's keyframe at full size (JPEG); yields progress, then the shots
        with their keyframes."""
        written: list[StoredOutput] = []
        try:
            with_frames = []
            for i, placed in enumerate(shots):
                output = outputs(i)
                frame = await run_in_thread(_read_frame, source, placed.keyframe_time)
                await run_in_thread(media.write_image, output.path, frame, KEYFRAME_QUALITY)
                written.append(output)
                with_frames.append(replace(placed, keyframe=output))
                yield ShotProgress(i + 1, len(shots), "keyframes",
                                   1.0 - KEYFRAME_SHARE * (1 - (i + 1) / len(shots)))
        except BaseException:
            for output in written:  # never leave half a set behind
                output.path.unlink(missing_ok=True)
            raise
        yield with_frames


def _read_frame(source: Path, when: float) -> np.ndarray:
    try:
        return media.read_frame_at(source, when).rgb
    except media.MediaError as exc:
        raise MediaUndecodable(f"video cannot be decoded at {when:.3f} s: {exc}",
                               field_name="video") from exc


def _place(shots: list[Shot], indices: list[int], times: list[float],
           fps: float) -> list[TimedShot]:
    """Shots in source frame numbers and seconds (the analysed frames may start anywhere)."""
    n = len(indices)
    after_last = (indices[-1] + 1, times[-1] + 1.0 / fps)
    placed = []
    for shot in shots:
        end_frame, end_time = (indices[shot.end], times[shot.end]) if shot.end < n \
            else after_last
        placed.append(TimedShot(shot, indices[shot.start], end_frame, times[shot.start],
                                end_time, times[shot.keyframe]))
    return placed
