"""TagMedia as a job: the media's on-screen text (subtitle cues from the subtitle job, scene
text read on whole frames every SCENE_TEXT_INTERVAL_S) and its speech (the transcriber),
then tags with occurrence times (services.text.tagging).

A still picture is read once; an audio file has only speech; a video has both.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediamesh import media, ocr
from mediamesh.audio.whisper_features import RATE
from mediamesh.inference import TritonClient
from mediamesh.media_inputs import decode_audio_input, decode_chunk, is_still_image
from mediamesh.ocr_reader import TextReader
from mediamesh.worker_threads import run_in_thread
from services.text import speech_job, subtitle_band, subtitle_cues, subtitles_job, tagging
from services.text.tagging import Source, TimedText

SCENE_TEXT_INTERVAL_S = 2.5  # whole-frame reads (~0.5-0.9 s each on one core)
DEFAULT_TOP_K = 10
MAX_TOP_K = 100


@dataclass(frozen=True)
class TagJob:
    source: Path
    use_ocr: bool
    use_speech: bool
    top_k: int


@dataclass(frozen=True)
class TagProgress:
    stage: str  # "subtitles" | "scene text" | "speech" | "tags"
    done: int
    total: int


@dataclass(frozen=True)
class TagOutcome:
    tags: list[tagging.Tag]
    ocr_text: str
    transcript: str


class MediaTagger:
    def __init__(self, triton: TritonClient, reader: TextReader,
                 embed: tagging.keywords.Embed) -> None:
        self.triton, self.reader, self.embed = triton, reader, embed

    async def run(self, job: TagJob, info: media.MediaInfo
                  ) -> AsyncIterator[TagProgress | TagOutcome]:
        written: list[TimedText] = []
        spoken: list[TimedText] = []
        if job.use_ocr and info.width:
            if is_still_image(info):
                rgb = await run_in_thread(media.read_image, job.source)
                written = [TimedText(line.text, 0.0, 0.0, Source.OCR)
                           for line in await self.reader.read(rgb[..., :3])]
            else:
                async for item in self._video_text(job, info):
                    if isinstance(item, TagProgress):
                        yield item
                    else:
                        written = item
        if job.use_speech and info.has_audio:
            samples = await decode_audio_input(job.source, "media", RATE)
            async for item in self._speech(samples):
                if isinstance(item, TagProgress):
                    yield item
                else:
                    spoken = item
        yield TagProgress("tags", 0, 1)
        tags = await tagging.tag(written + spoken, job.top_k, self.embed)
        yield TagOutcome(tags, tagging.deduplicated(written), tagging.deduplicated(spoken))

    async def _video_text(self, job: TagJob, info: media.MediaInfo
                          ) -> AsyncIterator[TagProgress | list[TimedText]]:
        """Subtitle cues, then scene text on frames in the middle of every
        SCENE_TEXT_INTERVAL_S: the lines that are not subtitles (outside the band, or in it
        but not shaped like one: off-centre, too small, too tall)."""
        subtitle_job = subtitles_job.SubtitleJob(
            job.source, None, subtitles_job.DEFAULT_SAMPLE_FPS, subtitles_job.DEFAULT_MIN_CUE_S,
            subtitles_job.DEFAULT_SIMILARITY, False, ())
        found: list[TimedText] = []
        band = subtitles_job.DEFAULT_BAND
        async for item in subtitles_job.SubtitleExtractor(self.reader).cues(subtitle_job, info):
            if isinstance(item, subtitles_job.SubtitleProgress):
                yield TagProgress("subtitles", item.done, item.total)
                continue
            band = item.band
            found += [TimedText(line, c.start, c.end, Source.OCR)
                      for c in item.cues for line in c.text.split("\n")]
        cue_lines = [t.text for t in found]
        width, height = int(info.width or 0), int(info.height or 0)
        top, bottom = band.y * height, (band.y + band.height) * height
        half = SCENE_TEXT_INTERVAL_S / 2
        duration = info.duration or 0.0
        frames = media.iter_frames(job.source, start=min(half, duration / 2),
                                   fps=1.0 / SCENE_TEXT_INTERVAL_S)
        total = max(1, round(duration / SCENE_TEXT_INTERVAL_S))
        done = 0
        while chunk := await decode_chunk(frames, 1, "media"):
            frame = chunk[0]
            for line in await self.reader.read(frame.rgb, ocr.BAND_MAX_SIDE):
                x0, y0, x1, y1 = line.quad.bounds
                shape = (x0 / width, y0 / height, x1 / width, y1 / height)
                subtitle_like = top <= (y0 + y1) / 2 <= bottom \
                    and subtitle_band.subtitle_shaped(shape)
                # a subtitle-like line the subtitle pass did not report stayed put (a caption,
                # a title, a channel name): the cues drop it as a watermark, but it is text
                # on screen all the same
                if not subtitle_like or not _among(line.text, cue_lines):
                    found.append(TimedText(line.text, max(0.0, frame.time - half),
                                           frame.time + half, Source.OCR))
            done += 1
            yield TagProgress("scene text", done, max(done, total))
        yield found

    async def _speech(self, samples: np.ndarray
                      ) -> AsyncIterator[TagProgress | list[TimedText]]:
        """The transcript's segments, with the transcriber's progress streamed as it goes."""
        async for item in speech_job.transcribe_streaming(self.triton, samples):
            if isinstance(item, tuple):
                yield TagProgress("speech", *item)
            else:
                yield [TimedText(s.text, s.start, s.end, Source.SPEECH) for s in item.segments]


def _among(text: str, lines: list[str], threshold: float = 0.8) -> bool:
    """True if `text` reads as one of `lines` (OCR of the same words on another frame)."""
    return any(subtitle_cues.similar(text, line) >= threshold for line in lines)
