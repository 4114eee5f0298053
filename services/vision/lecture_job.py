"""SplitLecture as a job: every frame at 256 px wide through the slide-change detector
(services/vision/slide_changes.py), then each chapter's settled frame at full size
through OCR on Triton (mediamesh.ocr_reader.TextReader; the tallest line is the title),
then the chapter files and a stream copy of the video with the chapters muxed in. Every
output is written to its staging path and removed again if anything fails: a failed job
leaves no half set behind."""
from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from mediamesh import media
from mediamesh.errors import InvalidArgument
from mediamesh.media import remux
from mediamesh.media_inputs import decode_chunk
from mediamesh.ocr_reader import ReadLine, TextReader
from mediamesh.storage import StoredOutput
from mediamesh.worker_threads import run_in_thread
from services.vision import lecture_chapters
from services.vision.lecture_chapters import Chapter
from services.vision.slide_changes import (
    SlideChangeDetector,
    SlideParams,
    SlideSplit,
    analysis_size,
    grey,
)

DEFAULT_SAMPLE_FPS = 3.0
SAMPLE_FPS_RANGE = (0.5, 10.0)
DEFAULT_MIN_SEGMENT_S = 2.0
MIN_SEGMENT_RANGE = (0.5, 600.0)
CHUNK_FRAMES = 64
DETECT_SHARE, TITLES_SHARE = 0.75, 0.22  # of the progress; writing is the rest
OUTPUT_EXTENSIONS = (".mp4", ".mkv")


def slide_params(sample_fps: float, min_segment_s: float) -> SlideParams:
    """The request's sampling rate and shortest chapter (0 = default), checked."""
    fps = sample_fps or DEFAULT_SAMPLE_FPS
    if not SAMPLE_FPS_RANGE[0] <= fps <= SAMPLE_FPS_RANGE[1]:  # NaN fails too
        raise InvalidArgument(f"sample_fps must be {SAMPLE_FPS_RANGE[0]:g}-"
                              f"{SAMPLE_FPS_RANGE[1]:g} frames per second (0 = "
                              f"{DEFAULT_SAMPLE_FPS:g}), got {sample_fps:g}",
                              field_name="sample_fps")
    gap = min_segment_s or DEFAULT_MIN_SEGMENT_S
    if not MIN_SEGMENT_RANGE[0] <= gap <= MIN_SEGMENT_RANGE[1]:
        raise InvalidArgument(f"min_segment_seconds must be {MIN_SEGMENT_RANGE[0]:g}-"
                              f"{MIN_SEGMENT_RANGE[1]:g} s (0 = {DEFAULT_MIN_SEGMENT_S:g}), "
                              f"got {min_segment_s:g}", field_name="min_segment_seconds")
    return SlideParams(sample_fps=fps, min_segment_s=gap)


def output_extension(uri: str, info: media.MediaInfo) -> str:
    """The muxed video's extension: the uri's, else mp4 when the streams fit in it
    (media.remux.container_for), else mkv; INVALID_ARGUMENT for anything else."""
    natural = remux.container_for(info)
    suffix = Path(uri).suffix.lower()
    if not uri:
        return natural
    if suffix not in OUTPUT_EXTENSIONS:
        raise InvalidArgument(f"output.uri must end in .mp4 or .mkv (the video with chapters), "
                              f"got '{suffix or uri}'", field_name="output.uri")
    if suffix == ".mp4" and natural != "mp4":
        raise InvalidArgument(f"the video's codecs ({info.video_codec}, {info.audio_codec}) "
                              "cannot be copied into mp4 unchanged: use an .mkv output.uri",
                              field_name="output.uri")
    return suffix[1:]


@dataclass(frozen=True)
class LectureJob:
    source: Path
    params: SlideParams


@dataclass(frozen=True)
class LectureOutputs:
    video: StoredOutput
    chapters_json: StoredOutput
    webvtt: StoredOutput
    ffmetadata: StoredOutput

    def all(self) -> tuple[StoredOutput, ...]:
        return (self.video, self.chapters_json, self.webvtt, self.ffmetadata)


@dataclass(frozen=True)
class LectureProgress:
    stage: str  # "detecting" | "reading titles" | "writing"
    done: int
    total: int
    fraction: float


@dataclass(frozen=True)
class LectureOutcome:
    chapters: list[Chapter]
    split: SlideSplit
    duration: float
    outputs: LectureOutputs


class LectureSplitter:
    """Runs one LectureJob; yields LectureProgress then one LectureOutcome."""

    def __init__(self, reader: TextReader) -> None:
        self.reader = reader

    async def run(self, job: LectureJob, info: media.MediaInfo, outputs: LectureOutputs
                  ) -> AsyncIterator[LectureProgress | LectureOutcome]:
        try:
            detector = SlideChangeDetector(job.params)
            duration = 0.0
            async for item in self._detect(job, info, detector):
                if isinstance(item, float):
                    duration = item
                else:
                    yield item
            split = detector.split(max(info.duration, duration))
            chapters: list[Chapter] = []
            async for step in self._titles(job.source, split, chapters):
                yield step
            end = split.segments[-1].end
            yield LectureProgress("writing", 0, 1, DETECT_SHARE + TITLES_SHARE)
            await run_in_thread(_write, chapters, end, job.source, outputs)
            yield LectureProgress("writing", 1, 1, 1.0)
        except BaseException:
            for output in outputs.all():  # never leave half a set behind
                output.path.unlink(missing_ok=True)
            raise
        yield LectureOutcome(chapters, split, end, outputs)

    @staticmethod
    async def _detect(job: LectureJob, info: media.MediaInfo, detector: SlideChangeDetector
                      ) -> AsyncIterator[LectureProgress | float]:
        """Feed every frame to `detector`; progress, then the last frame's end (seconds)."""
        size = analysis_size(int(info.width or 0), int(info.height or 0))
        frames = media.iter_frames(job.source, size=size)
        expected = max(1, info.frame_count or math.ceil(info.duration * (info.fps or 25)))
        done, last = 0, 0.0

        def feed(chunk: list[media.VideoFrame]) -> None:
            for frame in chunk:
                detector.process(frame.time, grey(frame.rgb))

        while chunk := await decode_chunk(frames, CHUNK_FRAMES, "video"):
            await run_in_thread(feed, chunk)
            done += len(chunk)
            last = chunk[-1].time
            total = max(expected, done)
            yield LectureProgress("detecting", done, total, DETECT_SHARE * done / total)
        if done == 0:
            raise InvalidArgument("video has a video stream but not one decodable frame: "
                                  "give a lecture recording with pictures", field_name="video")
        yield last + 1 / (info.fps or 25)

    async def _titles(self, source: Path, split: SlideSplit, chapters: list[Chapter]
                      ) -> AsyncIterator[LectureProgress]:
        """Read each segment's key frame and append its Chapter to `chapters`."""
        segments = split.segments
        frames = media.iter_frames_at(source, [s.key_time for s in segments])
        for index, segment in enumerate(segments):
            chunk = await decode_chunk(frames, 1, "video")
            line = None
            if chunk:
                lines = await self.reader.read(chunk[0].rgb)
                line = lecture_chapters.title_of(_outside(lines, split.masked,
                                                          chunk[0].rgb.shape))
            chapters.append(Chapter(
                index, segment.start, segment.end,
                line.text.strip() if line else lecture_chapters.fallback_title(index),
                line.confidence if line else 0.0, chunk[0].time if chunk else segment.key_time))
            yield LectureProgress("reading titles", index + 1, len(segments),
                                  DETECT_SHARE + TITLES_SHARE * (index + 1) / len(segments))


def _outside(lines: list[ReadLine], masked: list[tuple[float, float, float, float]],
             shape: tuple[int, ...]) -> list[ReadLine]:
    """Lines whose centre is not in a masked area (text in the presenter's picture)."""
    height, width = shape[:2]
    kept = []
    for line in lines:
        left, top, right, bottom = line.quad.bounds
        cx, cy = (left + right) / 2 / width, (top + bottom) / 2 / height
        if not any(x <= cx <= x + w and y <= cy <= y + h for x, y, w, h in masked):
            kept.append(line)
    return kept


def _write(chapters: list[Chapter], duration: float, source: Path,
           outputs: LectureOutputs) -> None:
    outputs.chapters_json.path.write_text(lecture_chapters.to_json(chapters, duration),
                                          encoding="utf-8")
    outputs.webvtt.path.write_text(lecture_chapters.to_webvtt(chapters), encoding="utf-8")
    outputs.ffmetadata.path.write_text(lecture_chapters.to_ffmetadata(chapters),
                                       encoding="utf-8")
    try:
        remux.remux(source, outputs.video.path,
                    chapters=[remux.Chapter(c.start, c.end, c.title) for c in chapters])
    except media.MediaEncodeError as exc:
        raise InvalidArgument(f"video: {exc}", field_name="video") from exc

