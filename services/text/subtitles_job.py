"""ExtractSubtitles as a job: frames sampled at `sample_fps` -> the subtitle band ->
change gate (a band that looks as it did at the last OCR keeps that reading) -> OCR on
Triton (TextReader) -> cues (services.text.subtitle_cues) -> SRT and JSON."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.boxes import NormBox
from mediamesh.media_inputs import decode_chunk
from mediamesh.storage import StoredOutput
from mediamesh.worker_threads import run_in_thread
from services.text import ocr, subtitle_cues
from services.text.reader import ReadLine, TextReader

DEFAULT_SAMPLE_FPS = 4.0
MAX_SAMPLE_FPS = 30.0
DEFAULT_MIN_CUE_S = 0.5
DEFAULT_SIMILARITY = 0.8
#: Unset region: the bottom of the frame, where subtitles are burned in.
DEFAULT_BAND = NormBox(0.0, 0.65, 1.0, 0.35)
#: Mean absolute difference (0-255) of the band's 1/4-scale luma below which a sample is
#: the same picture as the last one read: its OCR is reused.
UNCHANGED_MAD = 3.0
CHUNK_SAMPLES = 8


@dataclass(frozen=True)
class SubtitleJob:
    source: Path
    band: NormBox
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
class SubtitleOutcome:
    cues: list[subtitle_cues.Cue]
    srt: StoredOutput
    json: StoredOutput
    srt_by_language: dict[str, StoredOutput]
    samples: int
    ocr_calls: int


def _signature(band: np.ndarray) -> np.ndarray:
    """A small grey picture of the band for the change gate."""
    grey = band[::4, ::4].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return grey


class SubtitleExtractor:
    def __init__(self, reader: TextReader) -> None:
        self.reader = reader

    async def run(self, job: SubtitleJob, info: media.MediaInfo, srt: StoredOutput,
                  cues_json: StoredOutput, by_language: dict[str, StoredOutput]
                  ) -> AsyncIterator[SubtitleProgress | SubtitleOutcome]:
        width, height = int(info.width or 0), int(info.height or 0)
        left, top, right, bottom = job.band.pixels(width, height)
        duration = info.duration or 0.0
        total = max(1, int(duration * job.sample_fps))
        frames = media.iter_frames(job.source, fps=job.sample_fps)
        samples: list[subtitle_cues.Sample] = []
        last: tuple[np.ndarray, tuple[subtitle_cues.SampledLine, ...]] | None = None
        calls = 0
        while chunk := await decode_chunk(frames, CHUNK_SAMPLES, "video"):
            for frame in chunk:
                band = np.ascontiguousarray(frame.rgb[top:bottom, left:right])
                signature = _signature(band)
                if last is not None and float(np.abs(signature - last[0]).mean()) < UNCHANGED_MAD:
                    lines = last[1]
                else:
                    read = await self.reader.read(band, ocr.BAND_MAX_SIDE)
                    calls += 1
                    lines = tuple(_sampled(line, left, top, width, height) for line in read
                                  if _wanted(line.text, job.languages))
                    last = (signature, lines)
                samples.append(subtitle_cues.Sample(frame.time, lines))
            yield SubtitleProgress(len(samples), max(total, len(samples)), calls)
        cues = subtitle_cues.build_cues(samples, 1.0 / job.sample_fps,
                                        similarity=job.similarity,
                                        min_duration=job.min_cue_duration,
                                        end_of_video=duration or None)
        await run_in_thread(_write_outputs, cues, srt, cues_json, by_language,
                            job.split_languages)
        yield SubtitleOutcome(cues, srt, cues_json,
                              by_language if job.split_languages else {}, len(samples), calls)


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
