"""RemoveSubtitles as a job: find the subtitle band (sampled frames through Triton's
text_detection, unless the request gives it), then rewrite the video with every frame's
band detected (batched on Triton, the next chunk inferring while this one is cleaned) and
its text filled (services/vision/subtitle_removal.py), audio kept."""
from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mediamesh import media
from mediamesh.frame_pipeline import pipelined
from mediamesh.inference import TritonClient
from mediamesh.models.text_detection import INPUT, OUTPUT, model_input
from mediamesh.storage import StoredOutput
from mediamesh.worker_threads import run_in_thread
from services.vision.regions import NormBox
from services.vision.subtitle_removal import (
    BackgroundPlate,
    Band,
    Method,
    clean_band,
    line_height_limit,
    merge_spans,
    text_boxes,
    text_mask,
)
from services.vision.video_output import OutputFormat, Rewrite, Span, rewrite_video

MODEL = "text_detection"
SEARCH_AREA = NormBox(0.0, 0.6, 1.0, 0.4)  # where subtitles are looked for: bottom 40%
SEARCH_SAMPLES = 24
BAND_MARGIN = 0.02  # of the frame height, above and below the text found
ROW_VOTES = 0.25  # a row is in the band when this share of the busiest row's samples have text
CHUNK_FRAMES = 8
SPAN_GAP_S = 0.2  # erased frames this close form one span


@dataclass(frozen=True)
class SubtitleJob:
    source: Path
    band: NormBox | None  # None: found from samples
    method: Method
    temporal: bool = True  # False: spatial fill only (the evaluation's comparison)


@dataclass(frozen=True)
class SubtitleProgress:
    stage: str  # "finding the band" | "removing"
    done: int
    total: int


@dataclass(frozen=True)
class SubtitleOutcome:
    output: StoredOutput
    erased: list[tuple[float, float]]
    band: NormBox
    frames: int


def _band_pixels(frames: list[np.ndarray], band: Band) -> np.ndarray:
    """The band of each frame, scaled to the detector's size, uint8 (N, h, w, 3)."""
    size = band.analysis_size
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(
        f[band.top:band.bottom, band.left:band.right])).resize(size, Image.BILINEAR))
        for f in frames])


class SubtitleRemover:
    """Runs one SubtitleJob against Triton; yields SubtitleProgress then SubtitleOutcome."""

    def __init__(self, triton: TritonClient) -> None:
        self.triton = triton

    async def probabilities(self, frames: list[np.ndarray], band: Band) -> np.ndarray:
        """Text probability (N, h, w) over the band of each frame."""
        pixels = await run_in_thread(lambda: model_input(_band_pixels(frames, band)))
        out = await self.triton.infer(MODEL, {INPUT: pixels}, [OUTPUT])
        return out[OUTPUT][:, 0]

    async def _detect(self, band: Band, chunk: list[media.VideoFrame]) -> np.ndarray:
        return await self.probabilities([f.rgb for f in chunk], band)

    async def find_band(self, source: Path, info: media.MediaInfo
                        ) -> AsyncIterator[SubtitleProgress | NormBox]:
        """Progress over sampled frames, then the band the text lines occupy (the search
        area itself when none is found)."""
        width, height = int(info.width or 0), int(info.height or 0)
        area = Band.of(SEARCH_AREA, width, height)
        fps = SEARCH_SAMPLES / info.duration if info.duration else None
        frames = media.iter_frames(source, fps=fps)
        rows = np.zeros(100)  # per 1% of the search area's height: samples with text there
        limit = line_height_limit(SEARCH_AREA.height)
        done = 0

        async for chunk, probabilities in pipelined(frames, CHUNK_FRAMES,
                                                    functools.partial(self._detect, area)):
            for p in probabilities:
                covered = np.zeros(100, bool)
                for _, top, _, bottom in text_boxes(p, limit):
                    covered[int(top * 100):max(int(top * 100) + 1, int(np.ceil(bottom * 100)))] \
                        = True
                rows += covered
            done += len(chunk)
            yield SubtitleProgress("finding the band", done, max(done, SEARCH_SAMPLES))
        yield self._band_of(rows)

    @staticmethod
    def _band_of(rows: np.ndarray) -> NormBox:
        """The run of rows around the busiest one where text keeps coming back (sporadic
        detections elsewhere do not widen it), plus a margin; the search area if none."""
        if rows.max() < 2:  # text in fewer than two samples: no subtitles to speak of
            return SEARCH_AREA
        busy = rows >= ROW_VOTES * rows.max()
        first = last = int(np.argmax(rows))
        while first > 0 and busy[first - 1]:
            first -= 1
        while last < len(rows) and busy[last]:
            last += 1
        top = max(0.0, SEARCH_AREA.y + first / 100 * SEARCH_AREA.height - BAND_MARGIN)
        bottom = min(1.0, SEARCH_AREA.y + last / 100 * SEARCH_AREA.height + BAND_MARGIN)
        return NormBox(0.0, top, 1.0, bottom - top)

    async def run(self, job: SubtitleJob, info: media.MediaInfo, output: StoredOutput
                  ) -> AsyncIterator[SubtitleProgress | SubtitleOutcome]:
        width, height = int(info.width or 0), int(info.height or 0)
        band_box = job.band
        if band_box is None:
            async for item in self.find_band(job.source, info):
                if isinstance(item, NormBox):
                    band_box = item
                else:
                    yield item
        assert band_box is not None
        band = Band.of(band_box, width, height)
        band_h, band_w = band.bottom - band.top, band.right - band.left
        plate = BackgroundPlate(band_h, band_w, enabled=job.temporal)
        outline = max(2, round(height / 120))
        limit = line_height_limit(band_box.height)
        erased: list[float] = []

        def render(chunk: list[media.VideoFrame], probabilities: np.ndarray
                   ) -> list[np.ndarray]:
            for frame, p in zip(chunk, probabilities, strict=True):
                mask = text_mask(p, band_w, band_h, outline, limit)
                if mask.any():
                    erased.append(frame.time)
                region = frame.rgb[band.top:band.bottom, band.left:band.right]
                clean_band(region, mask, frame.time, plate, job.method)
            return [f.rgb for f in chunk]

        span = Span.of(job.source, info, 0.0, None)
        done = 0
        async for done, total in rewrite_video(span, output.path,
                                               OutputFormat(width, height, info.has_audio),
                                               Rewrite(functools.partial(self._detect, band),
                                                       render, CHUNK_FRAMES), "video"):
            yield SubtitleProgress("removing", done, total)
        yield SubtitleOutcome(output, merge_spans(erased, 1 / span.fps, SPAN_GAP_S),
                              band.box(width, height), done)
