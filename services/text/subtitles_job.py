"""ExtractSubtitles as a job: the subtitle band (the request's, or found on probe frames:
services.text.subtitle_band) -> frames sampled at `sample_fps` -> change gate (a band that
shows the same text as at the last OCR keeps that reading) -> OCR on Triton (TextReader) ->
watermarks dropped (the same text at the same place on most samples) -> cues
(services.text.subtitle_cues) -> SRT and JSON.

Lines taller than a fifth of the frame are detector slips, not subtitle lines. With a found
band, lines off the middle of the frame are left out too: subtitles are centred, scene text
caught in the band (a sign, a caption in the picture) rarely is."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from mediamesh import media, ocr
from mediamesh.boxes import NormBox
from mediamesh.media_inputs import decode_chunk
from mediamesh.ocr_reader import ReadLine, TextReader
from mediamesh.storage import StoredOutput
from mediamesh.worker_threads import run_in_thread
from services.text import subtitle_band, subtitle_cues

DEFAULT_SAMPLE_FPS = 4.0
MAX_SAMPLE_FPS = 30.0
DEFAULT_MIN_CUE_S = 0.5
DEFAULT_SIMILARITY = 0.8
#: Unset region: the bottom of the frame, where subtitles are burned in.
DEFAULT_BAND = NormBox(0.0, 0.65, 1.0, 0.35)
#: Mean absolute difference (0-255) of the band's 1/4-scale luma below which a sample is
#: the same picture as the last one read: its OCR is reused.
UNCHANGED_MAD = 3.0
#: Subtitle ink: bright pixels (luma above INK_BRIGHT) next to dark ones (below INK_DARK):
#: the fill of outlined, shadowed or boxed text. A band whose ink overlaps the last read
#: band's by at least INK_SAME (IoU), or that has almost none where the last had none,
#: shows the same text over whatever moves behind it: its OCR is reused.
INK_BRIGHT, INK_DARK = 180.0, 70.0
INK_SAME = 0.8
INK_NONE = 0.0005  # share of the band's pixels
CHUNK_SAMPLES = 8


@dataclass(frozen=True)
class SubtitleJob:
    source: Path
    band: NormBox | None  # None: find it (subtitle_band), else the default
    sample_fps: float
    min_cue_duration: float
    similarity: float
    split_languages: bool
    languages: tuple[str, ...]  # keep only these (empty: all)


@dataclass(frozen=True)
class SubtitleProgress:
    done: int
    total: int
    ocr_calls: int


@dataclass(frozen=True)
class Cues:
    cues: list[subtitle_cues.Cue]
    samples: int
    ocr_calls: int
    band: NormBox
    band_detected: bool


@dataclass(frozen=True)
class SubtitleOutcome(Cues):
    """The cues and the files they were written to."""

    srt: StoredOutput
    json: StoredOutput
    srt_by_language: dict[str, StoredOutput]


@dataclass(frozen=True)
class _Look:
    """What the change gate compares between samples."""

    grey: np.ndarray  # the band's luma at 1/4 scale
    ink: np.ndarray  # subtitle ink at 1/2 scale, bool

    @classmethod
    def of(cls, band: np.ndarray) -> _Look:
        luma = band[::2, ::2].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        dark = cv2.dilate((luma < INK_DARK).astype(np.uint8), np.ones((3, 3), np.uint8))
        return cls(luma[::2, ::2], (luma > INK_BRIGHT) & dark.astype(bool))

    def same_text_as(self, other: _Look) -> bool:
        if float(np.abs(self.grey - other.grey).mean()) < UNCHANGED_MAD:
            return True
        mine, theirs = int(self.ink.sum()), int(other.ink.sum())
        if max(mine, theirs) <= INK_NONE * self.ink.size:
            return True
        union = int((self.ink | other.ink).sum())
        return int((self.ink & other.ink).sum()) >= INK_SAME * union


class SubtitleExtractor:
    def __init__(self, reader: TextReader) -> None:
        self.reader = reader

    async def run(self, job: SubtitleJob, info: media.MediaInfo, srt: StoredOutput,
                  cues_json: StoredOutput, by_language: dict[str, StoredOutput]
                  ) -> AsyncIterator[SubtitleProgress | SubtitleOutcome]:
        """Progress, then the outcome with the SRT / JSON files written."""
        async for item in self.cues(job, info):
            if isinstance(item, SubtitleProgress):
                yield item
                continue
            await run_in_thread(_write_outputs, item.cues, srt, cues_json, by_language,
                                job.split_languages)
            yield SubtitleOutcome(**vars(item), srt=srt, json=cues_json,
                                  srt_by_language=by_language if job.split_languages else {})

    async def cues(self, job: SubtitleJob, info: media.MediaInfo
                   ) -> AsyncIterator[SubtitleProgress | Cues]:
        """Progress, then the cues (no files: TagMedia wants only the text and times)."""
        width, height = int(info.width or 0), int(info.height or 0)
        if job.band is None:
            guess = await subtitle_band.find_band(self.reader, job.source, info, DEFAULT_BAND)
            region, detected = guess.band, guess.detected
        else:
            region, detected = job.band, False
        left, top, right, bottom = region.pixels(width, height)
        duration = info.duration or 0.0
        total = max(1, int(duration * job.sample_fps))
        frames = media.iter_frames(job.source, fps=job.sample_fps)
        samples: list[subtitle_cues.Sample] = []
        last: tuple[_Look, tuple[subtitle_cues.SampledLine, ...]] | None = None
        calls = 0
        while chunk := await decode_chunk(frames, CHUNK_SAMPLES, "video"):
            for frame in chunk:
                band = np.ascontiguousarray(frame.rgb[top:bottom, left:right])
                look = await run_in_thread(_Look.of, band)
                if last is not None and look.same_text_as(last[0]):
                    lines = last[1]
                else:
                    read = await self.reader.read(band, ocr.BAND_MAX_SIDE)
                    calls += 1
                    lines = tuple(
                        sampled for line in read if _wanted(line.text, job.languages)
                        for sampled in [_sampled(line, left, top, width, height)]
                        if sampled.box[3] <= subtitle_band.MAX_HEIGHT
                        and (not detected or subtitle_band.centred(
                            sampled.box[0], sampled.box[0] + sampled.box[2])))
                    last = (look, lines)
                samples.append(subtitle_cues.Sample(frame.time, lines))
            yield SubtitleProgress(len(samples), max(total, len(samples)), calls)
        cues = subtitle_cues.build_cues(subtitle_cues.drop_static_lines(samples),
                                        1.0 / job.sample_fps,
                                        similarity=job.similarity,
                                        min_duration=job.min_cue_duration,
                                        end_of_video=duration or None)
        yield Cues(cues, len(samples), calls, region, detected)


def _wanted(text: str, languages: tuple[str, ...]) -> bool:
    return not languages or subtitle_cues.language_of(text) in languages


def _sampled(line: ReadLine, left: int, top: int, width: int,
             height: int) -> subtitle_cues.SampledLine:
    x0, y0, x1, y1 = line.quad.bounds
    return subtitle_cues.SampledLine(
        line.text, line.confidence,
        ((x0 + left) / width, (y0 + top) / height, (x1 - x0) / width, (y1 - y0) / height))


def _write_outputs(cues: list[subtitle_cues.Cue], srt: StoredOutput, cues_json: StoredOutput,
                   by_language: dict[str, StoredOutput], split: bool) -> None:
    srt.path.write_text(subtitle_cues.to_srt(cues), encoding="utf-8")
    cues_json.path.write_text(json.dumps({"cues": [asdict(c) for c in cues]},
                                         ensure_ascii=False, indent=1), encoding="utf-8")
    if split:
        tracks = subtitle_cues.split_by_language(cues)
        for language, output in by_language.items():
            output.path.write_text(subtitle_cues.to_srt(tracks.get(language, [])),
                                   encoding="utf-8")
