"""TextService. RecognizeText reads the text of a picture or a video frame and
ExtractSubtitles turns a video's burned-in subtitles into SRT (PP-OCRv6 on Triton);
Transcribe turns speech into timed text and SRT (Whisper base on Triton); TagMedia tags
media from both. Embed, IndexMedia and Search put texts in one multilingual vector space
(USE multilingual v3 on Triton) and search indexes kept in NATS JetStream; ExtractKeywords
ranks a text's terms (jieba TF-IDF for Chinese, embedding similarity for English);
Moderate applies the policy files' terms and example phrases."""
from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from mediamesh import media
from mediamesh.audio import whisper_features
from mediamesh.boxes import NormBox, check_box
from mediamesh.errors import (
    InvalidArgument,
    MediaUndecodable,
    MediaUnusable,
    MeshError,
    StatusCode,
)
from mediamesh.grpc_server import ServiceBinding
from mediamesh.media_inputs import (
    check_decoded_samples,
    check_picture_size,
    check_video,
    decode_audio_input,
    is_still_image,
    probe_audio,
    probe_picture,
)
from mediamesh.nats_client import NatsConnection
from mediamesh.ocr_reader import ReadLine, TextReader
from mediamesh.protocol import media_ref, progress
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import common_pb2, text_pb2, text_pb2_grpc
from mediamesh.worker_threads import run_in_thread
from services.text import (
    keywords,
    search_index,
    speech_job,
    subtitles_job,
    tag_job,
    tagging,
    transcriber,
)
from services.text.embedder import MODEL_NAMES, Embedder, check_text, check_texts
from services.text.moderation import Policies, Verdict
from services.text.script_match_servicer import ScriptMatchMixin
from services.text.search_index import IndexedEntry, MediaEntries, SearchIndexes
from services.text.subtitle_cues import Cue

LANGUAGES = ("zh", "en")


class TextServicer(ScriptMatchMixin, text_pb2_grpc.TextServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.reader = TextReader(ctx.triton)
        self.embedder = Embedder(ctx.triton)
        self.indexes = SearchIndexes(NatsConnection.from_settings(ctx.settings))
        self.policies = Policies(ctx.settings.moderation_policies_dir)

    async def RecognizeText(self, request: text_pb2.RecognizeTextRequest,
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

    async def Embed(self, request: text_pb2.EmbedRequest,
                    context: grpc.aio.ServicerContext) -> text_pb2.EmbedResponse:
        if request.model not in MODEL_NAMES:
            raise MeshError(f"unknown embedding model '{request.model}'; this mesh has "
                            f"'{MODEL_NAMES[2]}' (or leave model empty)", StatusCode.NOT_FOUND,
                            "MODEL_NOT_FOUND", field_name="model", resource=request.model)
        texts = list(request.texts)
        check_texts(texts)
        vectors = await self.embedder.embed(texts)
        return text_pb2.EmbedResponse(
            embeddings=[text_pb2.Embedding(values=v.tolist()) for v in vectors],
            dimension=vectors.shape[1], model=MODEL_NAMES[2])

    async def ExtractKeywords(self, request: text_pb2.ExtractKeywordsRequest,
                              context: grpc.aio.ServicerContext
                              ) -> text_pb2.ExtractKeywordsResponse:
        check_text(request.text, "text")
        terms = list(request.user_dictionary)
        top_k = keywords.check_request(request.top_k, terms, request.diversity)
        language = keywords.language_of(request.text, request.language)
        found = await keywords.extract(request.text, language, top_k, terms,
                                       request.diversity, self.embedder.embed)
        return text_pb2.ExtractKeywordsResponse(
            keywords=[text_pb2.Keyword(text=k.text, score=k.score) for k in found],
            language=language)

    async def Moderate(self, request: text_pb2.ModerateRequest,
                       context: grpc.aio.ServicerContext) -> text_pb2.ModerateResponse:
        texts = list(request.texts)
        check_texts(texts)
        categories = self.policies.select(list(request.categories))
        verdicts = await self.policies.judge(texts, categories, self.embedder.embed)
        return text_pb2.ModerateResponse(results=[_moderation_result(v) for v in verdicts])

    async def IndexMedia(self, request: text_pb2.IndexMediaRequest,
                         context: grpc.aio.ServicerContext) -> text_pb2.IndexMediaResponse:
        index = search_index.check_index_name(request.index)
        media_id = search_index.check_media_id(request.media_id)
        entries = [_indexed_entry(i, t) for i, t in enumerate(request.texts)]
        if entries:
            check_texts([e.text for e in entries])
        vectors = await self.embedder.embed([e.text for e in entries]) if entries else \
            np.zeros((0, 0), np.float32)
        uri = request.media.uri if request.media.WhichOneof("source") == "uri" else ""
        await self.indexes.put(index, MediaEntries(media_id, uri, dict(request.metadata),
                                                   entries, vectors))
        return text_pb2.IndexMediaResponse(indexed=len(entries))

    async def Search(self, request: text_pb2.SearchRequest,
                     context: grpc.aio.ServicerContext) -> text_pb2.SearchResponse:
        index = search_index.check_index_name(request.index)
        top_k = request.top_k or search_index.DEFAULT_TOP_K
        if top_k > search_index.MAX_TOP_K:
            raise InvalidArgument(f"top_k must be at most {search_index.MAX_TOP_K}, got "
                                  f"{top_k}", field_name="top_k")
        if not 0 <= request.min_score <= 1:
            raise InvalidArgument(f"min_score must be in [0, 1], got {request.min_score:g}",
                                  field_name="min_score")
        check_text(request.query, "query")
        query = (await self.embedder.embed([request.query]))[0]
        hits = await self.indexes.search(index, query, top_k, request.min_score)
        return text_pb2.SearchResponse(hits=[_search_hit(h) for h in hits])

    async def TagMedia(self, request: text_pb2.TagMediaRequest,
                       context: grpc.aio.ServicerContext
                       ) -> AsyncIterator[text_pb2.TagMediaEvent]:
        if not request.use_ocr and not request.use_speech:
            raise InvalidArgument("nothing to tag from: set use_ocr (on-screen text), "
                                  "use_speech (what is said) or both", field_name="use_ocr")
        if request.top_k > tag_job.MAX_TOP_K:
            raise InvalidArgument(f"top_k must be at most {tag_job.MAX_TOP_K}, got "
                                  f"{request.top_k}", field_name="top_k")
        async with self.ctx.store.local_file(request.media, "media") as path:
            info = await _probe_for_tags(path, request)
            if info.width and not is_still_image(info):
                check_video(info, 0.0, None, self.ctx.settings.max_video_seconds, "media",
                            "TagMedia")
            if request.use_speech and info.has_audio:  # audio alone has no video limit
                check_decoded_samples(info, whisper_features.RATE, 1, "media", "TagMedia")
            job = tag_job.TagJob(path, request.use_ocr and bool(info.width),
                                 request.use_speech and info.has_audio,
                                 request.top_k or tag_job.DEFAULT_TOP_K)
            tagger = tag_job.MediaTagger(self.ctx.triton, self.reader, self.embedder.embed)
            async for item in tagger.run(job, info):
                if isinstance(item, tag_job.TagProgress):
                    yield text_pb2.TagMediaEvent(progress=progress(
                        item.done, item.total, item.stage))
                    continue
                yield text_pb2.TagMediaEvent(result=text_pb2.TagMediaResult(
                    tags=[_tag(t) for t in item.tags], ocr_text=item.ocr_text,
                    transcript=item.transcript))

    async def Transcribe(self, request: text_pb2.TranscribeRequest,
                         context: grpc.aio.ServicerContext
                         ) -> AsyncIterator[text_pb2.TranscribeEvent]:
        if request.word_timestamps:
            raise InvalidArgument("word_timestamps is not supported in this version: segments "
                                  "carry their times (leave it unset)",
                                  field_name="word_timestamps")
        if request.language:
            transcriber.whisper_language(request.language)  # INVALID_ARGUMENT if unknown
        store = self.ctx.store
        async with store.local_file(request.audio, "audio") as path:
            await probe_audio(path, "audio", max_seconds=self.ctx.settings.max_video_seconds)
            srt = await store.output_path(request.output.uri, "srt",
                                          overwrite=request.output.overwrite)
            samples = await decode_audio_input(path, "audio", whisper_features.RATE)
            async for item in speech_job.transcribe_streaming(self.ctx.triton, samples,
                                                              request.language):
                if isinstance(item, tuple):
                    yield text_pb2.TranscribeEvent(progress=progress(*item, "speech",
                                                                     "30 s windows"))
                    continue
                await run_in_thread(srt.path.write_text,
                                    transcriber.to_srt(item.segments, item.language), "utf-8")
                published = await store.publish(srt)
                yield text_pb2.TranscribeEvent(result=text_pb2.TranscribeResult(
                    segments=[_segment(s) for s in item.segments], language=item.language,
                    srt=media_ref(published, "application/x-subrip"), text=item.text))

    async def ExtractSubtitles(self, request: text_pb2.ExtractSubtitlesRequest,
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

    band: NormBox | None
    sample_fps: float
    min_cue: float
    similarity: float
    split: bool
    languages: tuple[str, ...]


def _subtitle_options(request: text_pb2.ExtractSubtitlesRequest) -> _SubtitleOptions:
    band = None  # found on probe frames
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


def _indexed_entry(i: int, text: text_pb2.IndexedText) -> IndexedEntry:
    if not text.HasField("range"):
        return IndexedEntry(text.text, None, None, text.kind)
    start, end = text.range.start, text.range.end
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end):
        raise InvalidArgument(f"texts[{i}].range must have 0 <= start <= end, got "
                              f"{start:g}..{end:g}", field_name=f"texts[{i}].range")
    return IndexedEntry(text.text, start, end, text.kind)


_TAG_SOURCES = {tagging.Source.OCR: text_pb2.TAG_SOURCE_OCR,
                tagging.Source.SPEECH: text_pb2.TAG_SOURCE_SPEECH,
                tagging.Source.BOTH: text_pb2.TAG_SOURCE_KEYWORD}


def _segment(segment: transcriber.Segment) -> text_pb2.TranscriptSegment:
    return text_pb2.TranscriptSegment(
        range=common_pb2.TimeRange(start=segment.start, end=segment.end), text=segment.text,
        confidence=segment.confidence)


def _tag(found: tagging.Tag) -> text_pb2.Tag:
    return text_pb2.Tag(label=found.label, score=found.score, source=_TAG_SOURCES[found.source],
                        occurrences=[common_pb2.TimeRange(start=a, end=b)
                                     for a, b in found.occurrences])


async def _probe_for_tags(path: Path, request: text_pb2.TagMediaRequest) -> media.MediaInfo:
    """The media's headers, and a clear refusal when it has nothing the request can use."""
    try:
        info = await run_in_thread(media.probe, path)
    except media.MediaError as exc:
        raise MediaUndecodable(f"media: {exc}", field_name="media") from exc
    if info.width:
        check_picture_size(info, "media")
    can_read = request.use_ocr and bool(info.width)
    can_hear = request.use_speech and info.has_audio
    if not can_read and not can_hear:
        has = "a picture and no audio" if info.width else "audio and no picture"
        raise MediaUnusable(f"media has {has}: nothing to tag with use_ocr={request.use_ocr}, "
                            f"use_speech={request.use_speech}", field_name="media")
    return info


def _moderation_result(verdict: Verdict) -> text_pb2.ModerationResult:
    return text_pb2.ModerationResult(
        flagged=verdict.flagged,
        categories=[text_pb2.CategoryScore(category=c, score=s)
                    for c, s in verdict.scores.items()],
        matched_terms=sorted({m.term for m in verdict.matches}),
        matches=[text_pb2.TermMatch(term=m.term, category=m.category, start=m.start, end=m.end)
                 for m in verdict.matches])


def _search_hit(hit: search_index.Hit) -> text_pb2.SearchHit:
    found = text_pb2.SearchHit(media_id=hit.media_id, score=hit.score, text=hit.entry.text,
                               metadata=hit.metadata)
    if hit.entry.start is not None and hit.entry.end is not None:
        found.range.CopyFrom(common_pb2.TimeRange(start=hit.entry.start, end=hit.entry.end))
    return found


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
