"""RenderTimeline end to end: check the edit, open and probe every source, resolve what
needed the sources (clip ends, overlaps, the timeline's length), build the soundtrack,
then paint and encode the frames in worker-thread chunks with progress in between.

Memory: the picture streams (one decoded frame per clip on screen); the soundtrack is
held whole (48 kHz stereo float32, 384 kB per second), which is why a timeline with sound
is limited to `max_song_seconds`.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mediamesh import fonts, media
from mediamesh.audio import mixing
from mediamesh.errors import InvalidArgument
from mediamesh.media_inputs import decode_audio_input, is_still_image, probe_audio, probe_picture
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import common_pb2, compose_pb2
from mediamesh.worker_threads import run_in_thread
from services.compose.audio_requests import ClipSpec, media_name
from services.compose.timeline import soundtrack
from services.compose.timeline.captions import CaptionTrack, caption_track, parse_srt, resolve_font
from services.compose.timeline.compositor import Compositor, clip_opener
from services.compose.timeline.layers import OverlayLayer
from services.compose.timeline.spec import (
    FRAME_SLACK,
    ROOT,
    TimelineSpec,
    TrackKind,
    VideoClipSpec,
    check_track_overlaps,
    fill_format,
    snap_to_frames,
    timeline_spec,
)

VIDEO_CONTAINERS = ("mp4", "mov", "mkv", "webm")
FONT_FILE_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
CHUNK_SECONDS = 1.0  # frames painted per worker-thread call (progress granularity)


@dataclass(frozen=True)
class RenderProgress:
    done: int
    total: int
    stage: str
    message: str = ""


@dataclass(frozen=True)
class RenderResult:
    frames: int
    duration: float
    width: int
    height: int
    integrated_lufs: float | None
    notes: list[str] = field(default_factory=list)


@dataclass
class Sources:
    """Local paths and headers of every input, keyed by the field path that names it."""

    paths: dict[str, Path] = field(default_factory=dict)
    infos: dict[str, media.MediaInfo] = field(default_factory=dict)

    async def open_picture(self, ctx: ServiceContext, stack: contextlib.AsyncExitStack,
                           ref: common_pb2.MediaRef, where: str) -> media.MediaInfo:
        path = await stack.enter_async_context(ctx.store.local_file(ref, where))
        info = await probe_picture(path, where)
        if not is_still_image(info) and info.duration > ctx.settings.max_video_seconds:
            raise InvalidArgument(f"{where} ({media_name(ref, 'video')}) is {info.duration:.0f} s "
                                  f"long; sources of up to {ctx.settings.max_video_seconds:.0f} s "
                                  "are rendered", field_name=where)
        self.paths[where], self.infos[where] = path, info
        return info

    async def open_audio(self, ctx: ServiceContext, stack: contextlib.AsyncExitStack,
                         clip: ClipSpec) -> media.MediaInfo:
        where = f"{clip.where}.source"
        path = await stack.enter_async_context(ctx.store.local_file(clip.source, where))
        info = await probe_audio(path, where, label=clip.label,
                                 max_seconds=ctx.settings.max_video_seconds)
        self.paths[clip.where], self.infos[clip.where] = path, info
        return info


def resolve_clip(clip: VideoClipSpec, info: media.MediaInfo) -> None:
    """Fill in the clip's source end and kind from its source's headers."""
    where = clip.where
    if is_still_image(info):
        clip.still = True
        if clip.source_end is None:
            raise InvalidArgument(f"{where}.source is a still image: give source_range.end, the "
                                  "seconds it stays on screen (e.g. start 0, end 4)",
                                  field_name=f"{where}.source_range.end")
        return
    duration = info.duration
    frame = 1.0 / (info.fps or 25.0)
    if clip.source_start >= duration - frame / 2:
        raise InvalidArgument(f"{where}.source_range.start ({clip.source_start:g} s) is not before "
                              f"the end of {media_name(clip.source, 'the source')} "
                              f"({duration:.3f} s)", field_name=f"{where}.source_range.start")
    if clip.source_end is None:
        clip.source_end = duration
    elif clip.source_end > duration + frame * FRAME_SLACK + 1e-6:
        raise InvalidArgument(f"{where}.source_range.end ({clip.source_end:g} s) is past the end of "
                              f"{media_name(clip.source, 'the source')} ({duration:.3f} s)",
                              field_name=f"{where}.source_range.end")
    else:
        clip.source_end = min(clip.source_end, duration)


async def _open_everything(ctx: ServiceContext, spec: TimelineSpec,
                           stack: contextlib.AsyncExitStack) -> Sources:
    sources = Sources()
    for clips in spec.video_tracks:
        for clip in clips:
            resolve_clip(clip, await sources.open_picture(ctx, stack, clip.source,
                                                          f"{clip.where}.source"))
            sources.paths[clip.where] = sources.paths[f"{clip.where}.source"]
            sources.infos[clip.where] = sources.infos[f"{clip.where}.source"]
    for overlay in spec.overlays:
        await sources.open_picture(ctx, stack, overlay.image, f"{overlay.where}.image")
        if overlay.alpha is not None:
            await sources.open_picture(ctx, stack, overlay.alpha, f"{overlay.where}.alpha")
    for track in spec.audio_tracks:
        for clip in track.clips:
            info = await sources.open_audio(ctx, stack, clip)
            if clip.source_start >= info.duration:
                raise InvalidArgument(f"{clip.label}: source_range starts at "
                                      f"{clip.source_start:g} s but the audio is "
                                      f"{info.duration:.2f} s long",
                                      field_name=f"{clip.where}.source_range")
    return sources


def _first_clip_format(spec: TimelineSpec, sources: Sources) -> tuple[int, int, float] | None:
    """(width, height, fps) of the earliest video clip (a still counts for its size)."""
    clips = sorted((c for track in spec.video_tracks for c in track), key=lambda c: c.start)
    for clip in clips:
        info = sources.infos[clip.where]
        if info.width and info.height:
            return info.width, info.height, info.fps or 25.0
    return None


def _timeline_length(spec: TimelineSpec, sources: Sources) -> float:
    """The requested duration, or the end of the last video or audio clip."""
    if spec.duration > 0:
        return spec.duration
    ends = [clip.end for clips in spec.video_tracks for clip in clips]
    for track in spec.audio_tracks:
        for clip in track.clips:
            ends.append(clip.start + clip.output_seconds(sources.infos[clip.where].duration))
    return max(ends, default=0.0)


async def _captions(ctx: ServiceContext, spec: TimelineSpec,
                    stack: contextlib.AsyncExitStack) -> list[CaptionTrack]:
    tracks = []
    for track in spec.text_tracks:
        srt_cues = []
        if track.srt is not None:
            path = await stack.enter_async_context(ctx.store.local_file(track.srt,
                                                                        f"{track.where}.srt"))
            srt_cues = parse_srt(await run_in_thread(path.read_bytes), track.where)
        font_file = None
        if track.style.font.lower().endswith(FONT_FILE_SUFFIXES):
            where = f"{track.where}.style.font"
            path = await stack.enter_async_context(
                ctx.store.local_file(common_pb2.MediaRef(uri=track.style.font), where))
            try:
                font_file = fonts.face_from_file(path)
            except OSError as exc:
                raise InvalidArgument(f"{where} '{track.style.font}' is not a font FreeType can "
                                      f"read: {exc}", field_name=where) from exc
        face = await run_in_thread(resolve_font, track.style, srt_cues + track.cues,
                                   track.where, font_file)
        tracks.append(caption_track(track, srt_cues, face, (spec.width, spec.height)))
    return tracks


async def _clip_audio(ctx: ServiceContext, clip: ClipSpec, path: Path) -> np.ndarray:
    duration = None if clip.source_end is None else clip.source_end - clip.source_start
    samples = await decode_audio_input(path, f"{clip.where}.source", soundtrack.RATE, mono=False,
                                       start=clip.source_start, duration=duration,
                                       label=clip.label)
    planar = mixing.match_channels(samples, soundtrack.CHANNELS)
    return await run_in_thread(soundtrack.retimed, clip, planar)


async def _soundtrack(ctx: ServiceContext, spec: TimelineSpec, sources: Sources
                      ) -> np.ndarray | None:
    """The mastered mix, (2, n) float32 at 48 kHz covering every frame; None if silent."""
    if not spec.audio_tracks:
        return None
    total = soundtrack.total_samples(spec)
    mixes: list[tuple[bool, np.ndarray]] = []
    voice = np.zeros((soundtrack.CHANNELS, total), np.float32)
    for track in spec.audio_tracks:
        clips, paths = list(track.clips), [sources.paths.get(c.where) for c in track.clips]
        if track.kind is TrackKind.CLIP and not clips and spec.video_tracks:
            has_audio = {c.where: sources.infos[c.where].has_audio for c in spec.video_tracks[0]}
            clips, notes = soundtrack.clip_sound(spec.video_tracks[0], has_audio)
            spec.notes.extend(notes)
            paths = [sources.paths[c.where] for c in clips]
        pieces = [await _clip_audio(ctx, clip, path) for clip, path in zip(clips, paths)]
        mixed = await run_in_thread(soundtrack.track_mix, track, clips, pieces, total)
        del pieces
        if soundtrack.is_voice(track):
            voice += mixed
        mixes.append((track.duck, mixed))
    if any(duck for duck, _ in mixes):
        segments = await soundtrack.speech_segments(ctx.triton, voice)
        gains: dict[float, np.ndarray] = {}  # one gain curve per depth asked
        for track, (duck, mixed) in zip(spec.audio_tracks, mixes):
            if duck:
                if track.duck_db not in gains:
                    gains[track.duck_db] = await run_in_thread(
                        soundtrack.duck_gain, segments, total, track.duck_db)
                mixed *= gains[track.duck_db]
    mix = mixes[0][1]
    for _, mixed in mixes[1:]:
        mix += mixed
    mastered = await run_in_thread(mixing.master, mix, soundtrack.RATE, spec.target_lufs,
                                   spec.ceiling_dbtp)
    return mastered.samples


def _overlay_layers(spec: TimelineSpec, sources: Sources) -> list[OverlayLayer]:
    layers = []
    for overlay in spec.overlays:
        image_info = sources.infos[f"{overlay.where}.image"]
        alpha_key = f"{overlay.where}.alpha"
        layers.append(OverlayLayer(
            overlay, sources.paths[f"{overlay.where}.image"], is_still_image(image_info),
            sources.paths.get(alpha_key), alpha_key in sources.infos
            and is_still_image(sources.infos[alpha_key]), (spec.width, spec.height)))
    return layers


def _paint_chunk(compositor: Compositor, writer: media.VideoWriter, first: int, last: int,
                 audio: np.ndarray | None, fps: float, total: int) -> None:
    """Frames [first, last) and the sound that plays under them (interleaved per chunk,
    so players can stream the file)."""
    for index in range(first, last):
        picture = compositor.frame(index)
        if isinstance(picture, media.YuvPlanes):
            writer.write_planes(picture)
        else:
            writer.write(picture)
    if audio is not None:
        a = round(first / fps * soundtrack.RATE)
        b = audio.shape[1] if last >= total else round(last / fps * soundtrack.RATE)
        writer.write_audio(audio[:, a:b])


def _loudness(audio: np.ndarray) -> float | None:
    measured = mixing.Mastered(audio, 0.0, 0.0, soundtrack.RATE).integrated_lufs
    return measured if math.isfinite(measured) else None


async def render_timeline(ctx: ServiceContext, timeline: compose_pb2.Timeline, output: Path
                          ) -> AsyncIterator[RenderProgress | RenderResult]:
    """Render `timeline` to `output` (a staging path the caller publishes); on any failure
    the partial file is deleted."""
    spec = timeline_spec(timeline)
    async with contextlib.AsyncExitStack() as stack:
        yield RenderProgress(0, 1, "open", "opening and probing the sources")
        sources = await _open_everything(ctx, spec, stack)
        fill_format(spec, _first_clip_format(spec, sources))
        for clips in spec.video_tracks:
            check_track_overlaps(clips, spec.fps)  # on the times as given, then snapped
            for clip in clips:
                snap_to_frames(clip, spec.fps, sources.infos[clip.where])
        spec.duration = _timeline_length(spec, sources)
        if spec.duration <= 0:
            raise InvalidArgument(f"{ROOT} has nothing to show: its clips are empty",
                                  field_name=ROOT)
        if spec.duration > ctx.settings.max_video_seconds:
            raise InvalidArgument(f"{ROOT} is {spec.duration:.0f} s long; at most "
                                  f"{ctx.settings.max_video_seconds:.0f} s",
                                  field_name=f"{ROOT}.duration")
        if spec.audio_tracks and spec.duration > ctx.settings.max_song_seconds:
            raise InvalidArgument(f"{ROOT} with audio is {spec.duration:.0f} s long; the "
                                  f"soundtrack is mixed in memory, up to "
                                  f"{ctx.settings.max_song_seconds:.0f} s: render it in parts",
                                  field_name=f"{ROOT}.duration")
        captions = await _captions(ctx, spec, stack)
        yield RenderProgress(0, 1, "audio", "mixing the soundtrack")
        audio = await _soundtrack(ctx, spec, sources)
        total = spec.frame_count
        frame = (spec.width, spec.height)
        opener = clip_opener(sources.paths, sources.infos, frame)
        compositor = Compositor(spec, opener, _overlay_layers(spec, sources), captions)
        writer = media.VideoWriter(output, spec.width, spec.height, spec.fps,
                                   audio_sample_rate=soundtrack.RATE if audio is not None
                                   else None)
        finished = False
        try:
            step = max(1, math.ceil(CHUNK_SECONDS * spec.fps))
            for first in range(0, total, step):
                last = min(total, first + step)
                await run_in_thread(_paint_chunk, compositor, writer, first, last, audio,
                                    spec.fps, total)
                yield RenderProgress(last, total, "render", f"frame {last}/{total}")
            await run_in_thread(writer.close)
            finished = True
        finally:
            compositor.close()
            if not finished:
                writer.abort()
        lufs = await run_in_thread(_loudness, audio) if audio is not None else None
        yield RenderResult(total, total / spec.fps, spec.width, spec.height, lufs,
                           list(spec.notes))
