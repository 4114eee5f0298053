"""ComposeService.PlanCreation and RenderContactSheet, as a mixin of ComposeServicer.

PlanCreation checks and probes its inputs (every shot's media must exist and hold its
range), plans with services.compose.creation_plan and answers the Timeline that
RenderTimeline renders, also written as JSON. RenderContactSheet reads frames at given
times into one PNG grid (services.compose.contact_sheet).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from google.protobuf import json_format

from mediamesh import media
from mediamesh.errors import InvalidArgument, MeshError, StatusCode
from mediamesh.media_inputs import is_still_image, probe_audio, probe_picture, probe_video
from mediamesh.protocol import media_ref, mime_for, progress, time_range
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import common_pb2, compose_pb2
from mediamesh.worker_threads import run_in_thread
from services.compose import contact_sheet, creation_plan
from services.compose.creation_plan import CreationPlan, Music, PlanError, Sentence, SourceShot

DEFAULT_SIZE = (1280, 720)
DEFAULT_FPS = 25.0
MAX_SIDE = 4096
MAX_FPS = 120.0
DEFAULT_MUSIC_GAIN_DB = -6.0
MUSIC_GAIN_RANGE = (-60.0, 12.0)
MAX_SNAP_S = 2.0
MAX_SENTENCES = 500
DUCK_DB = -12.0
RANGE_SLACK_S = 0.05  # a shot range may end this much past the probed end (rounding)


class CreationMixin:
    ctx: ServiceContext

    async def PlanCreation(self, request: compose_pb2.PlanCreationRequest,
                           context: grpc.aio.ServicerContext
                           ) -> compose_pb2.PlanCreationResponse:
        width, height, fps = _output_format(request)
        if len(request.sentences) > MAX_SENTENCES:
            raise MeshError(f"{len(request.sentences)} sentences; a creation plans at most "
                            f"{MAX_SENTENCES}", StatusCode.RESOURCE_EXHAUSTED,
                            "QUOTA_EXCEEDED", field_name="sentences",
                            metadata={"limit": str(MAX_SENTENCES)})
        sentences = [_sentence(s, i) for i, s in enumerate(request.sentences)]
        if len(request.shots) != len(sentences):
            raise InvalidArgument(f"{len(sentences)} sentences but {len(request.shots)} shots: "
                                  "give one shot per sentence", field_name="shots")
        async with self.ctx.store.local_file(request.narration, "narration") as path:
            info = await probe_audio(path, "narration")
        duration = _narration_duration(request.narration_duration, info.duration)
        tolerance, _ = _mix_settings(request)
        shots = [await self._source_shot(shot, i) for i, shot in enumerate(request.shots)]
        music = await self._music(request)
        try:
            plan = await run_in_thread(creation_plan.plan_creation, sentences, shots,
                                       duration, music, fps, tolerance)
        except PlanError as exc:
            raise InvalidArgument(str(exc), field_name=exc.field_name) from exc
        timeline = build_timeline(request, plan, width, height, fps)
        output = await self.ctx.store.output_path(request.output.uri, "json",
                                                  overwrite=request.output.overwrite)
        try:
            text = json_format.MessageToJson(timeline, preserving_proto_field_name=True,
                                             indent=2)
            await run_in_thread(output.path.write_text, text + "\n")
            published = await self.ctx.store.publish(output)
        except BaseException:
            output.path.unlink(missing_ok=True)
            raise
        return compose_pb2.PlanCreationResponse(
            timeline=timeline, timeline_json=media_ref(output, mime_for(published)),
            shots=[_planned(p) for p in plan.shots], duration=plan.duration,
            shot_midpoints=[(p.output_start + p.output_end) / 2 for p in plan.shots],
            cuts_on_beat=plan.cuts_on_beat)

    async def _source_shot(self, shot: compose_pb2.CreationShot, index: int) -> SourceShot:
        """The shot's start and length, checked against its media."""
        name = f"shots[{index}]"
        start, end = time_range(shot.range, f"{name}.range")
        async with self.ctx.store.local_file(shot.media, f"{name}.media") as path:
            info = await probe_picture(path, f"{name}.media")
        if is_still_image(info):
            return SourceShot(0.0, None)
        length = info.duration
        if start >= length or (end is not None and end > length + RANGE_SLACK_S):
            raise InvalidArgument(f"{name}.range {start:.3f}-{end or length:.3f} s is not "
                                  f"inside its media ({length:.3f} s)",
                                  field_name=f"{name}.range")
        return SourceShot(start, min(end or length, length) - start)

    async def _music(self, request: compose_pb2.PlanCreationRequest) -> Music | None:
        if not request.HasField("music"):
            return None
        rhythm = request.music_rhythm
        async with self.ctx.store.local_file(request.music, "music") as path:
            info = await probe_audio(path, "music")
        beats = tuple(sorted(b for b in rhythm.beats if 0 <= b < info.duration))
        downbeats = tuple(sorted(b for b in rhythm.downbeats if 0 <= b < info.duration))
        return Music(info.duration, beats, downbeats)

    async def RenderContactSheet(self, request: compose_pb2.RenderContactSheetRequest,
                                 context: grpc.aio.ServicerContext
                                 ) -> AsyncIterator[compose_pb2.RenderContactSheetEvent]:
        layout = contact_sheet.SheetLayout.of(request.columns, request.thumb_width)
        store = self.ctx.store
        async with store.local_file(request.video, "video") as source:
            info = await probe_video(source, "video", "RenderContactSheet")
            times = contact_sheet.frame_times(list(request.times), request.count,
                                              info.duration)
            output = await store.output_path(request.output.uri, "png",
                                             overwrite=request.output.overwrite)
            frames = []
            try:
                for i, t in enumerate(times):
                    yield compose_pb2.RenderContactSheetEvent(progress=progress(
                        i, len(times) + 1, "decode"))
                    frames.append(await run_in_thread(_frame_at, source, t, i))
                sheet = await run_in_thread(contact_sheet.compose, frames, times, layout)
                await run_in_thread(media.write_image, output.path, sheet)
                published = await store.publish(output)
            except BaseException:
                output.path.unlink(missing_ok=True)
                raise
        yield compose_pb2.RenderContactSheetEvent(result=compose_pb2.RenderContactSheetResult(
            output=media_ref(output, mime_for(published)), width=sheet.shape[1],
            height=sheet.shape[0], times=times))


def _frame_at(source: Path, time: float, index: int) -> media.VideoFrame:
    try:
        return media.read_frame_at(source, time)
    except media.MediaError as exc:
        raise InvalidArgument(f"times[{index}] = {time:.3f} s: {exc}",
                              field_name=f"times[{index}]") from exc


def _output_format(request: compose_pb2.PlanCreationRequest) -> tuple[int, int, float]:
    width, height = (request.width, request.height) if request.width or request.height \
        else DEFAULT_SIZE
    for name, value in (("width", width), ("height", height)):
        if not 16 <= value <= MAX_SIDE or value % 2:
            raise InvalidArgument(f"{name} must be an even number of pixels in 16..{MAX_SIDE} "
                                  f"(both or neither set), got {value}", field_name=name)
    fps = request.fps or DEFAULT_FPS
    if not 1 <= fps <= MAX_FPS:
        raise InvalidArgument(f"fps must be 1..{MAX_FPS:g}, got {fps:g}", field_name="fps")
    return width, height, fps


def _narration_duration(given: float, probed: float) -> float:
    """The request's duration when set (it may trim the file's end), else the file's."""
    if not given:
        return probed
    if not 0 < given <= probed + RANGE_SLACK_S:
        raise InvalidArgument(f"narration_duration {given:g} s must be > 0 and at most the "
                              f"narration's length ({probed:.3f} s); 0 = the whole file",
                              field_name="narration_duration")
    return given


def _mix_settings(request: compose_pb2.PlanCreationRequest) -> tuple[float, float]:
    """(snap tolerance, music gain dB), defaults applied and bounds checked."""
    tolerance = request.snap_tolerance or creation_plan.DEFAULT_SNAP_S
    if not tolerance <= MAX_SNAP_S:  # negative: no snapping
        raise InvalidArgument(f"snap_tolerance must be at most {MAX_SNAP_S:g} s, got "
                              f"{tolerance:g}", field_name="snap_tolerance")
    gain = request.music_gain_db or DEFAULT_MUSIC_GAIN_DB
    if not MUSIC_GAIN_RANGE[0] <= gain <= MUSIC_GAIN_RANGE[1]:
        raise InvalidArgument(f"music_gain_db must be {MUSIC_GAIN_RANGE[0]:g}..."
                              f"{MUSIC_GAIN_RANGE[1]:g} dB, got {gain:g}",
                              field_name="music_gain_db")
    return max(tolerance, 0.0), gain


def _sentence(sentence: compose_pb2.CreationSentence, index: int) -> Sentence:
    start, end = time_range(sentence.range, f"sentences[{index}].range")
    if end is None:
        raise InvalidArgument(f"sentences[{index}].range needs an end (when the sentence is "
                              "over)", field_name=f"sentences[{index}].range")
    return Sentence(sentence.text, start, end)


def _span(start: float, end: float) -> common_pb2.TimeRange:
    return common_pb2.TimeRange(start=start, end=end)


def _planned(p: creation_plan.Placement) -> compose_pb2.PlannedShot:
    shot = compose_pb2.PlannedShot(sentence_index=p.sentence_index,
                                   output_range=_span(p.output_start, p.output_end),
                                   speed=p.speed, loops=p.loops, cut_on_beat=p.cut_on_beat)
    if p.source_end is not None:
        shot.source_range.CopyFrom(_span(p.source_start, p.source_end))
    return shot


def subtitle_style(request: compose_pb2.PlanCreationRequest, height: int
                   ) -> compose_pb2.TextStyle:
    """The request's style, or white on a black outline in the bottom band."""
    if request.HasField("subtitle_style"):
        return request.subtitle_style
    size = round(height * 0.055)
    return compose_pb2.TextStyle(
        size=size, color=common_pb2.RgbColor(r=255, g=255, b=255),
        outline_color=common_pb2.RgbColor(r=0, g=0, b=0), outline_width=max(1, size // 12),
        region=common_pb2.Box(x=0.05, y=0.80, width=0.90, height=0.16))


def build_timeline(request: compose_pb2.PlanCreationRequest, plan: CreationPlan, width: int,
                   height: int, fps: float) -> compose_pb2.Timeline:
    """The plan as a Timeline: one video track, the subtitles, the voice and the music."""
    timeline = compose_pb2.Timeline(width=width, height=height, fps=fps,
                                    duration=plan.duration,
                                    background=common_pb2.RgbColor(r=0, g=0, b=0))
    track = timeline.video_tracks.add()
    for placement, shot in zip(plan.shots, request.shots, strict=True):
        for start, _ in placement.pieces:
            clip = track.clips.add(source=shot.media, start=start, speed=placement.speed,
                                   fit=compose_pb2.FIT_MODE_CROP)
            if placement.source_end is not None:
                clip.source_range.CopyFrom(_span(placement.source_start, placement.source_end))
            else:  # a still: shown for its slot
                clip.source_range.CopyFrom(_span(0.0, placement.output_end - start))
    text = timeline.text_tracks.add(style=subtitle_style(request, height))
    for start, end, cue in plan.cues:
        text.cues.add(range=_span(start, end), text=cue)
    voice = timeline.audio_tracks.add(kind=compose_pb2.AUDIO_TRACK_KIND_VOICE)
    voice.clips.add(source=request.narration, start=0.0,
                    source_range=_span(0.0, plan.duration))
    if plan.music:
        bed = timeline.audio_tracks.add(
            kind=compose_pb2.AUDIO_TRACK_KIND_MUSIC, duck_under_speech=True, duck_db=DUCK_DB,
            gain_db=_mix_settings(request)[1])
        fade_out = min(creation_plan.MUSIC_FADE_OUT_S, plan.duration / 4)
        for k, piece in enumerate(plan.music):
            clip = bed.clips.add(source=request.music, start=piece.output_start,
                                 source_range=_span(piece.source_start, piece.source_end),
                                 fade_in=compose_pb2.Fade(duration=creation_plan.MUSIC_FADE_IN_S))
            if k == len(plan.music) - 1:
                clip.fade_out.CopyFrom(compose_pb2.Fade(duration=fade_out))
    return timeline
