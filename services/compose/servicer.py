"""ComposeService: audio mixes and medleys, timelines (RenderTimeline, and ConcatVideo and
RenderSummary built as timelines), animated previews."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

import grpc

from mediamesh import media
from mediamesh.animated_preview import (
    AnimatedFormat,
    PreviewResult,
    PreviewSpec,
    render_preview,
)
from mediamesh.audio import loudness
from mediamesh.errors import InvalidArgument, MediaUnusable
from mediamesh.grpc_server import ServiceBinding
from mediamesh.media.remux import remux
from mediamesh.media_inputs import probe_video
from mediamesh.protocol import media_ref, mime_for, output_container, progress, time_range
from mediamesh.service_runtime import ServiceContext
from mediamesh.storage import StoredOutput
from mediamesh.v1 import common_pb2, compose_pb2, compose_pb2_grpc
from mediamesh.worker_threads import run_in_thread
from services.compose.audio_io import load_audio, write_mastered
from services.compose.audio_mix import clip_samples, mix_clips
from services.compose.audio_requests import (
    MIN_SONG_SECONDS,
    check_clip,
    medley_spec,
    mix_spec,
    song_input,
)
from services.compose.creation_servicer import CreationMixin
from services.compose.medley import PartPlan, PlanError, excerpt_bounds, plan_medley
from services.compose.medley_render import MedleyResult, SongAudio, render_medley
from services.compose.subtitle_tracks import SUBTITLED_VIDEO, checked_tracks
from services.compose.timeline import edits
from services.compose.timeline.render import (
    VIDEO_CONTAINERS,
    RenderProgress,
    RenderResult,
    render_timeline,
)

MEDLEY_RATE = 44_100  # songs are decoded, stretched and mixed at this rate, in stereo
MEDLEY_CHANNELS = 2

_FORMATS = {compose_pb2.GIF_FORMAT_UNSPECIFIED: AnimatedFormat.GIF,
            compose_pb2.GIF_FORMAT_GIF: AnimatedFormat.GIF,
            compose_pb2.GIF_FORMAT_WEBP: AnimatedFormat.WEBP}


class ComposeServicer(CreationMixin, compose_pb2_grpc.ComposeServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    async def RenderGif(self, request: compose_pb2.RenderGifRequest,
                        context: grpc.aio.ServicerContext
                        ) -> AsyncIterator[compose_pb2.RenderGifEvent]:
        fmt = _FORMATS.get(request.format)
        if fmt is None:
            raise InvalidArgument(f"unknown format {request.format}", field_name="format")
        start, end = time_range(request.range)
        store = self.ctx.store
        async with store.local_file(request.video, "video") as source:
            info = await probe_video(source, "video", "RenderGif")
            spec = PreviewSpec.from_request(info, start, end, request.width, request.fps, fmt,
                                            request.max_bytes)
            output = await store.output_path(request.output.uri, fmt.value,
                                             overwrite=request.output.overwrite)
            finished = False
            try:
                async for item in render_preview(source, output.path, info, spec):
                    if isinstance(item, PreviewResult):
                        await store.publish(output)
                        finished = True
                        yield compose_pb2.RenderGifEvent(result=compose_pb2.RenderGifResult(
                            output=media_ref(output, mime_for(output)),
                            size_bytes=item.size_bytes, width=item.width, height=item.height,
                            frames=item.frames))
                    else:
                        yield compose_pb2.RenderGifEvent(progress=progress(
                            item.attempt, item.attempts, "rendering"))
            except BaseException:
                if not finished:
                    output.path.unlink(missing_ok=True)  # never leave half a file
                raise

    async def RenderTimeline(self, request: compose_pb2.RenderTimelineRequest,
                             context: grpc.aio.ServicerContext
                             ) -> AsyncIterator[compose_pb2.RenderTimelineEvent]:
        async for progress_or_result in self._render(request.timeline, request.output):
            if isinstance(progress_or_result, compose_pb2.RenderTimelineResult):
                yield compose_pb2.RenderTimelineEvent(result=progress_or_result)
            else:
                yield compose_pb2.RenderTimelineEvent(progress=progress_or_result)

    async def ConcatVideo(self, request: compose_pb2.ConcatVideoRequest,
                          context: grpc.aio.ServicerContext
                          ) -> AsyncIterator[compose_pb2.ConcatVideoEvent]:
        if not request.clips:
            raise InvalidArgument("clips is empty: give the videos to join, in order",
                                  field_name="clips")
        if len(request.clips) > edits.MAX_CONCAT_CLIPS:
            raise InvalidArgument(f"at most {edits.MAX_CONCAT_CLIPS} clips, got "
                                  f"{len(request.clips)}", field_name="clips")
        infos = [await self._probe_video(clip.source, f"clips[{i}].source", "ConcatVideo")
                 for i, clip in enumerate(request.clips)]
        size = edits.output_format(request.width, request.height, request.fps, infos[0])
        async for progress_or_result in self._render_pieces(
                edits.concat_pieces(request, infos), request.transition, size, request.output):
            if isinstance(progress_or_result, compose_pb2.RenderTimelineResult):
                yield compose_pb2.ConcatVideoEvent(result=compose_pb2.ConcatVideoResult(
                    output=progress_or_result.output, duration=progress_or_result.duration))
            else:
                yield compose_pb2.ConcatVideoEvent(progress=progress_or_result)

    async def RenderSummary(self, request: compose_pb2.RenderSummaryRequest,
                            context: grpc.aio.ServicerContext
                            ) -> AsyncIterator[compose_pb2.RenderSummaryEvent]:
        info = await self._probe_video(request.video, "video", "RenderSummary")
        async for progress_or_result in self._render_pieces(
                edits.summary_pieces(request, info), request.transition,
                edits.output_format(0, 0, 0.0, info), request.output):
            if isinstance(progress_or_result, compose_pb2.RenderTimelineResult):
                yield compose_pb2.RenderSummaryEvent(result=compose_pb2.RenderSummaryResult(
                    output=progress_or_result.output, duration=progress_or_result.duration))
            else:
                yield compose_pb2.RenderSummaryEvent(progress=progress_or_result)

    async def MuxSubtitles(self, request: compose_pb2.MuxSubtitlesRequest,
                           context: grpc.aio.ServicerContext) -> compose_pb2.MuxSubtitlesResponse:
        store = self.ctx.store
        container = output_container(request.output, ("mkv",), "mkv", SUBTITLED_VIDEO)
        async with contextlib.AsyncExitStack() as stack:
            video = await stack.enter_async_context(store.local_file(request.video, "video"))
            await probe_video(video, "video", "MuxSubtitles")
            tracks, counts = await checked_tracks(store, request, stack)
            output = await store.output_path(request.output.uri, container,
                                             overwrite=request.output.overwrite)
            async with _kept_on_success([output]) as finish:
                try:
                    await run_in_thread(remux, video, output.path, subtitles=tracks)
                except media.MediaEncodeError as exc:
                    raise MediaUnusable(f"video: {exc}", field_name="video") from exc
                await store.publish(output)
                finish()
        return compose_pb2.MuxSubtitlesResponse(output=media_ref(output, mime_for(output)),
                                                cues=counts)

    async def _probe_video(self, ref: common_pb2.MediaRef, field_name: str, rpc: str
                           ) -> media.MediaInfo:
        async with self.ctx.store.local_file(ref, field_name) as path:
            return await probe_video(path, field_name, rpc)

    def _render_pieces(self, pieces: list[tuple[common_pb2.MediaRef, float, float]],
                       transition: compose_pb2.Transition, size: tuple[int, int, float],
                       spec: common_pb2.OutputSpec
                       ) -> AsyncIterator[common_pb2.Progress | compose_pb2.RenderTimelineResult]:
        """ConcatVideo's and RenderSummary's pieces back to back as one timeline, rendered."""
        edits.check_transition(transition, min(e - s for _, s, e in pieces), "transition")
        return self._render(edits.sequence(pieces, transition, size), spec)

    async def _render(self, timeline: compose_pb2.Timeline, spec: common_pb2.OutputSpec
                      ) -> AsyncIterator[common_pb2.Progress | compose_pb2.RenderTimelineResult]:
        """The renderer's progress, then its result with the output published (the output
        is removed if anything fails first)."""
        store = self.ctx.store
        output = await store.output_path(spec.uri, output_container(
            spec, VIDEO_CONTAINERS, "mp4", "video"),
                                         overwrite=spec.overwrite)
        async with _kept_on_success([output]) as finish:
            async for item in render_timeline(self.ctx, timeline, output.path):
                if isinstance(item, RenderProgress):
                    yield progress(item.done, item.total, item.stage, item.message)
                    continue
                assert isinstance(item, RenderResult)
                await store.publish(output)
                finish()
                result = compose_pb2.RenderTimelineResult(
                    output=media_ref(output, mime_for(output)), duration=item.duration,
                    frames=item.frames, width=item.width, height=item.height,
                    notes=item.notes)
                if item.integrated_lufs is not None:
                    result.integrated_lufs = item.integrated_lufs
                yield result

    async def MixAudio(self, request: compose_pb2.MixAudioRequest,
                       context: grpc.aio.ServicerContext
                       ) -> AsyncIterator[compose_pb2.MixAudioEvent]:
        spec = mix_spec(request)
        total = len(spec.clips) + 2
        audio = []
        for clip in spec.clips:
            yield compose_pb2.MixAudioEvent(progress=progress(
                clip.index, total, "decode", f"decoding {clip.label}"))
            source = await load_audio(self.ctx.store, clip.source, f"{clip.where}.source",
                                      clip.label, spec.rate, spec.channels,
                                      self.ctx.settings.max_song_seconds)
            check_clip(clip, source.shape[-1] / spec.rate)
            audio.append(await run_in_thread(clip_samples, clip, source, spec.rate))
        yield compose_pb2.MixAudioEvent(progress=progress(len(audio), total, "mix"))
        mix = await run_in_thread(mix_clips, spec.clips, audio, spec.rate, spec.channels)
        del audio
        output = await self.ctx.store.output_path(request.output.uri, spec.container,
                                                  overwrite=request.output.overwrite)
        async with _kept_on_success([output]) as finish:
            yield compose_pb2.MixAudioEvent(progress=progress(
                len(spec.clips) + 1, total, "encode", "mastering and encoding"))
            written = await run_in_thread(write_mastered, output.path, mix, spec.rate,
                                          spec.target_lufs, spec.ceiling_dbtp)
            await self.ctx.store.publish(output)
            finish()
            yield compose_pb2.MixAudioEvent(result=compose_pb2.MixAudioResult(
                output=media_ref(output, mime_for(output)), duration=written.duration,
                integrated_lufs=loudness.reportable(written.integrated_lufs),
                true_peak_dbtp=loudness.reportable(written.true_peak_dbtp)))

    async def RenderMedley(self, request: compose_pb2.RenderMedleyRequest,
                           context: grpc.aio.ServicerContext
                           ) -> AsyncIterator[compose_pb2.RenderMedleyEvent]:
        spec = medley_spec(request)
        count = len(request.songs)
        songs, inputs = [], []
        for i, song in enumerate(request.songs):
            label = spec.labels[i]
            yield compose_pb2.RenderMedleyEvent(progress=progress(
                i, count, "decode", f"decoding {label}"))
            samples = await load_audio(self.ctx.store, song.audio, f"songs[{i}].audio", label,
                                       MEDLEY_RATE, MEDLEY_CHANNELS,
                                       self.ctx.settings.max_song_seconds, MIN_SONG_SECONDS)
            planned = song_input(i, label, song, samples, MEDLEY_RATE, spec.full_songs)
            lo, hi = excerpt_bounds(planned, spec.options)
            keep = samples[:, int(lo * MEDLEY_RATE):int(hi * MEDLEY_RATE)].copy()
            songs.append(SongAudio(keep, int(lo * MEDLEY_RATE) / MEDLEY_RATE))
            inputs.append(planned)
            del samples
        try:
            plan = await run_in_thread(plan_medley, inputs, spec.options)
        except PlanError as exc:
            raise InvalidArgument(str(exc), field_name=exc.field_name) from exc
        store = self.ctx.store
        output = await store.output_path(request.output.uri, spec.container,
                                         overwrite=request.output.overwrite)
        cue = store.sibling(output, ".cue", "json")
        plot = store.sibling(output, ".plot", "png") if spec.write_plot else None
        outputs = [output, cue] + ([plot] if plot is not None else [])
        async with _kept_on_success(outputs) as finish:
            async for item in render_medley(plan, songs, MEDLEY_RATE, spec.target_lufs,
                                            spec.ceiling_dbtp, output.path, output.uri,
                                            cue.path, plot.path if plot else None):
                if not isinstance(item, MedleyResult):
                    yield compose_pb2.RenderMedleyEvent(progress=progress(
                        item.done, item.total, item.stage, item.message))
                    continue
                for stored in outputs:
                    await store.publish(stored)
                finish()
                yield compose_pb2.RenderMedleyEvent(result=_medley_result(
                    item, plan.parts, output, cue, plot, plan.bpm))


def _medley_result(item: MedleyResult, parts: Sequence[PartPlan], output: StoredOutput,
                   cue: StoredOutput, plot: StoredOutput | None,
                   bpm: float) -> compose_pb2.RenderMedleyResult:
    written = item.written
    result = compose_pb2.RenderMedleyResult(
        output=media_ref(output, mime_for(output)), cue_sheet=media_ref(cue, mime_for(cue)),
        duration=written.duration, integrated_lufs=loudness.reportable(written.integrated_lufs),
        true_peak_dbtp=loudness.reportable(written.true_peak_dbtp), bpm=bpm)
    if plot is not None:
        result.plot.CopyFrom(media_ref(plot, mime_for(plot)))
    for part, level in zip(parts, item.levels):
        result.parts.append(compose_pb2.MedleyPart(
            song_index=part.song_index, title=part.title,
            source_range=common_pb2.TimeRange(start=part.source_range[0],
                                              end=part.source_range[1]),
            output_range=common_pb2.TimeRange(start=part.output_range[0],
                                              end=part.output_range[1]),
            tempo_ratio=part.tempo_ratio, source_bpm=part.source_bpm, gain_db=level.gain_db))
    return result


@contextlib.asynccontextmanager
async def _kept_on_success(outputs: list[StoredOutput]) -> AsyncIterator[Callable[[], None]]:
    """Removes the outputs' local files if the block fails (or is cancelled) before it
    calls the yielded `finish`: a client never finds half a result."""
    done = False

    def finish() -> None:
        nonlocal done
        done = True

    try:
        yield finish
    except BaseException:
        if not done:
            for stored in outputs:
                stored.path.unlink(missing_ok=True)
        raise


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(ComposeServicer(ctx), compose_pb2, compose_pb2_grpc,
                              "ComposeService")]
