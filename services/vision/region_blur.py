"""BlurRegions as a job: (optionally) find static logos from gradients on Triton
(edge_features), then rewrite the video with every active box obscured, audio kept.

The logo search samples up to MAX_LOGO_SAMPLES frames across the whole video, decoded
straight to the graph's 320x180, before the rewrite starts: an overlay is only told from
the scene by what stays put over time (services/vision/logos.py). The rewrite itself needs
nothing from Triton: boxes come from the request (keyframed, interpolated) and from the
search, and `regions.obscure` hides them (Gaussian or mosaic).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.frame_pipeline import pipelined
from mediamesh.inference import TritonClient
from mediamesh.media_inputs import is_still_image
from mediamesh.models.edge_features import HEIGHT as EDGE_HEIGHT
from mediamesh.models.edge_features import WIDTH as EDGE_WIDTH
from mediamesh.storage import StoredOutput
from mediamesh.worker_threads import run_in_thread
from services.vision.logos import FoundLogo, LogoParams, find_logos
from services.vision.regions import Region, Style, boxes_at, obscure
from services.vision.video_output import (
    OutputFormat,
    Rewrite,
    Span,
    no_inference,
    rewrite_video,
)

MODEL = "edge_features"
MAX_LOGO_SAMPLES = 48  # enough for a stable median; 48 x 460 KB of gradients
LOGO_SAMPLES_PER_SECOND = 2.0
SEARCH_CHUNK = 16  # sampled frames per Triton request
CHUNK_FRAMES = 8  # frames per rewrite chunk (no inference: just bounded memory)
DEFAULT_STRENGTH = 0.5


@dataclass(frozen=True)
class BlurJob:
    source: Path
    regions: tuple[Region, ...]
    style: Style
    strength: float  # 0..1
    find_logos: bool


@dataclass(frozen=True)
class BlurProgress:
    stage: str  # "finding logos" | "blurring"
    done: int
    total: int


@dataclass(frozen=True)
class BlurOutcome:
    output: StoredOutput
    detected: list[FoundLogo]
    frames: int


@dataclass(frozen=True)
class EdgeSamples:
    """The logo search's evidence: frames sampled across the video, their features."""

    times: np.ndarray  # (N,) seconds
    gradients: np.ndarray  # (N, 180, 320, 2)
    luma: np.ndarray  # (N, 180, 320)
    duration: float


def as_region(logo: FoundLogo) -> Region:
    return Region(((logo.start, logo.box),), logo.start, logo.end)


class RegionBlurrer:
    """Runs one BlurJob; yields BlurProgress then one BlurOutcome."""

    def __init__(self, triton: TritonClient, logo_params: LogoParams = LogoParams()) -> None:
        self.triton, self.logo_params = triton, logo_params

    async def _features(self, chunk: list[media.VideoFrame]) -> tuple[np.ndarray, np.ndarray]:
        out = await self.triton.infer(MODEL, {"image": np.stack([f.rgb for f in chunk])},
                                      ["gradient", "luma"])
        return out["gradient"], out["luma"][..., 0]

    async def edge_samples(self, source: Path, info: media.MediaInfo
                           ) -> AsyncIterator[BlurProgress | EdgeSamples]:
        """Progress over the frames sampled across the video, then their features."""
        duration = info.duration
        wanted = max(1, min(MAX_LOGO_SAMPLES, round(duration * LOGO_SAMPLES_PER_SECOND)))
        frames = media.iter_frames(source, fps=wanted / duration if duration else None,
                                   size=(EDGE_WIDTH, EDGE_HEIGHT))
        times: list[float] = []
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        async for chunk, features in pipelined(frames, SEARCH_CHUNK, self._features):
            times += [f.time for f in chunk]
            parts.append(features)
            yield BlurProgress("finding logos", len(times), max(wanted, len(times)))
        if not parts:  # no frame decoded: no evidence (the search finds nothing)
            parts = [(np.zeros((0, EDGE_HEIGHT, EDGE_WIDTH, 2), np.float32),
                      np.zeros((0, EDGE_HEIGHT, EDGE_WIDTH), np.float32))]
        yield EdgeSamples(np.array(times), np.concatenate([g for g, _ in parts]),
                          np.concatenate([y for _, y in parts]), duration)

    async def search_logos(self, source: Path, info: media.MediaInfo
                           ) -> AsyncIterator[BlurProgress | list[FoundLogo]]:
        """Progress over the sampled frames, then the logos found (maybe none)."""
        async for item in self.edge_samples(source, info):
            if isinstance(item, BlurProgress):
                yield item
            else:
                yield await run_in_thread(find_logos, item.times, item.gradients,
                                          item.luma, item.duration, self.logo_params)

    async def run(self, job: BlurJob, info: media.MediaInfo, output: StoredOutput
                  ) -> AsyncIterator[BlurProgress | BlurOutcome]:
        detected: list[FoundLogo] = []
        if job.find_logos:
            async for item in self.search_logos(job.source, info):
                if isinstance(item, BlurProgress):
                    yield item
                else:
                    detected = item
        regions = [*job.regions, *(as_region(logo) for logo in detected)]
        if is_still_image(info):
            picture = await run_in_thread(media.read_image, job.source)
            await run_in_thread(self._obscure, picture, regions, 0.0, job)
            try:
                await run_in_thread(media.write_image, output.path, picture)
            except BaseException:
                output.path.unlink(missing_ok=True)
                raise
            yield BlurOutcome(output, detected, 1)
            return

        def render(chunk: list[media.VideoFrame], _: None) -> list[np.ndarray]:
            for frame in chunk:
                self._obscure(frame.rgb, regions, frame.time, job)
            return [frame.rgb for frame in chunk]

        span = Span.of(job.source, info, 0.0, None)
        fmt = OutputFormat(int(info.width or 0), int(info.height or 0), info.has_audio)
        done = 0
        async for done, total in rewrite_video(span, output.path, fmt,
                                               Rewrite(no_inference, render, CHUNK_FRAMES),
                                               "video"):
            yield BlurProgress("blurring", done, total)
        yield BlurOutcome(output, detected, done)

    @staticmethod
    def _obscure(picture: np.ndarray, regions: list[Region], seconds: float,
                 job: BlurJob) -> None:
        height, width = picture.shape[:2]
        for box in boxes_at(regions, seconds):
            obscure(picture, box.pixels(width, height), job.style, job.strength)
