"""TextService. RecognizeText reads the text of a picture or a video frame and
ExtractSubtitles turns a video's burned-in subtitles into SRT (PP-OCRv6 on Triton); the
other RPCs answer UNIMPLEMENTED until the rest of issue 6 lands."""
from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import numpy as np

from mediamesh import media
from mediamesh.boxes import NormBox, check_box
from mediamesh.errors import InvalidArgument
from mediamesh.grpc_server import ServiceBinding
from mediamesh.media_inputs import check_video, is_still_image, probe_picture
from mediamesh.protocol import media_ref, progress
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import common_pb2, text_pb2, text_pb2_grpc
from mediamesh.worker_threads import run_in_thread
from services.text import subtitles_job
from services.text.reader import ReadLine, TextReader
from services.text.subtitle_cues import Cue

LANGUAGES = ("zh", "en")


class TextServicer(text_pb2_grpc.TextServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.reader = TextReader(ctx.triton)

    async def RecognizeText(self, request: text_pb2.RecognizeTextRequest,  # noqa: N802
                            context: grpc.aio.ServicerContext) -> text_pb2.RecognizeTextResponse:
        region = None
        if request.HasField("region"):
            r = request.region
            region = check_box(NormBox(r.x, r.y, r.width, r.height), "region")
        async with self.ctx.store.local_file(request.image, "image") as path:
            info = await probe_picture(path, "image")
            if is_still_image(info):
                if request.frame_time:
                    raise InvalidArgument("frame_time is for a video; image is a still "
                                          "picture (leave frame_time unset)",
                                          field_name="frame_time")
                picture = await run_in_thread(media.read_image, path)
            else:
                picture = (await run_in_thread(media.read_frame_at, path,
                                               _frame_time(request.frame_time, info))).rgb
        height, width = picture.shape[:2]
        left, top, right, bottom = region.pixels(width, height) if region else (0, 0, width,
                                                                               height)
        lines = await self.reader.read(np.ascontiguousarray(picture[top:bottom, left:right,
                                                                    :3]))
        return text_pb2.RecognizeTextResponse(
            lines=[_text_line(line, left, top, width, height) for line in lines],
            width=width, height=height)


    async def ExtractSubtitles(self, request: text_pb2.ExtractSubtitlesRequest,  # noqa: N802
                               context: grpc.aio.ServicerContext
                               ) -> AsyncIterator[text_pb2.ExtractSubtitlesEvent]:
        job_options = _subtitle_options(request)
        store = self.ctx.store
        async with store.local_file(request.video, "video") as path:
            info = await probe_picture(path, "video")
            if is_still_image(info):
                raise InvalidArgument("video is a still picture; ExtractSubtitles reads a "
                                      "video (use RecognizeText for one picture)",
                                      field_name="video")
            check_video(info, 0.0, None, self.ctx.settings.max_video_seconds, "video",
                        "ExtractSubtitles")
            srt = await store.output_path(request.output.uri, "srt",
                                          overwrite=request.output.overwrite)
            cues_json = store.sibling(srt, "", "json")
            by_language = {code: store.sibling(srt, f".{code}", "srt")
                           for code in (job_options.languages or LANGUAGES)}
            o = job_options
            job = subtitles_job.SubtitleJob(
                path, band=o.band, sample_fps=o.sample_fps, min_cue_duration=o.min_cue,
                similarity=o.similarity, split_languages=o.split, languages=o.languages)
            extractor = subtitles_job.SubtitleExtractor(self.reader)
            async for item in extractor.run(job, info, srt, cues_json, by_language):
                if isinstance(item, subtitles_job.SubtitleProgress):
                    yield text_pb2.ExtractSubtitlesEvent(progress=progress(
                        item.done, item.total, "ocr", f"{item.ocr_calls} frames read"))
                    continue
                published = [await store.publish(o) for o in
                             (item.srt, item.json, *item.srt_by_language.values())]
                result = text_pb2.ExtractSubtitlesResult(
                    srt=media_ref(published[0], "application/x-subrip"),
                    json=media_ref(published[1], "application/json"),
                    cues=[_cue(i, c) for i, c in enumerate(item.cues, start=1)])
                for code, ref in zip(item.srt_by_language, published[2:], strict=True):
                    result.srt_by_language[code].CopyFrom(
                        media_ref(ref, "application/x-subrip"))
                yield text_pb2.ExtractSubtitlesEvent(result=result)


@dataclass(frozen=True)
class _SubtitleOptions:
    """ExtractSubtitles' request fields, checked, defaults filled in (before the video is
    fetched: a bad request costs no download)."""

    band: NormBox
    sample_fps: float
    min_cue: float
    similarity: float
    split: bool
    languages: tuple[str, ...]


def _subtitle_options(request: text_pb2.ExtractSubtitlesRequest) -> _SubtitleOptions:
    band = subtitles_job.DEFAULT_BAND
    if request.HasField("region"):
        r = request.region
        band = check_box(NormBox(r.x, r.y, r.width, r.height), "region")
    fps = request.sample_fps or subtitles_job.DEFAULT_SAMPLE_FPS
    if not 0 < fps <= subtitles_job.MAX_SAMPLE_FPS:
        raise InvalidArgument(f"sample_fps must be in (0, {subtitles_job.MAX_SAMPLE_FPS:g}] "
                              f"(0 = {subtitles_job.DEFAULT_SAMPLE_FPS:g}), got {fps:g}",
                              field_name="sample_fps")
    min_cue = request.min_cue_duration or subtitles_job.DEFAULT_MIN_CUE_S
    if not 0 < min_cue <= 60:
        raise InvalidArgument(f"min_cue_duration must be in (0, 60] seconds, got {min_cue:g}",
                              field_name="min_cue_duration")
    similarity = request.merge_similarity or subtitles_job.DEFAULT_SIMILARITY
    if not 0 < similarity <= 1:
        raise InvalidArgument(f"merge_similarity must be in (0, 1], got {similarity:g}",
                              field_name="merge_similarity")
    languages = tuple(code.split("-")[0].lower() for code in request.languages)
    unknown = [code for code in languages if code not in LANGUAGES]
    if unknown:
        raise InvalidArgument(f"languages {unknown} are not supported; use {list(LANGUAGES)} "
                              "(or leave languages empty for both)", field_name="languages")
    return _SubtitleOptions(band, fps, min_cue, similarity, request.split_languages, languages)


def _cue(index: int, cue: Cue) -> text_pb2.Cue:
    x, y, w, h = cue.box
    return text_pb2.Cue(index=index, range=common_pb2.TimeRange(start=cue.start, end=cue.end),
                        text=cue.text, language=cue.language, confidence=cue.confidence,
                        box=common_pb2.Box(x=x, y=y, width=w, height=h))


def _frame_time(seconds: float, info: media.MediaInfo) -> float:
    duration = info.duration or 0.0
    if not math.isfinite(seconds) or not 0 <= seconds < max(duration, 1e-9):
        raise InvalidArgument(f"frame_time {seconds:g} s is outside the video (0 to "
                              f"{duration:.3f} s)", field_name="frame_time")
    return seconds


def _text_line(line: ReadLine, left: int, top: int, width: int,
               height: int) -> text_pb2.TextLine:
    """A line in the whole picture's normalised coordinates (a region's offset added)."""
    corners = (line.quad.corners + [left, top]) / [width, height]
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return text_pb2.TextLine(
        text=line.text, confidence=line.confidence,
        box=common_pb2.Box(x=float(x0), y=float(y0), width=float(x1 - x0),
                           height=float(y1 - y0)),
        polygon=[float(v) for v in corners.ravel()])


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(TextServicer(ctx), text_pb2, text_pb2_grpc, "TextService")]
