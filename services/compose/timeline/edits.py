"""ConcatVideo and RenderSummary as timelines: both are one video track of clips back to
back (overlapping by the transition) with the clips' own sound, so they share the
renderer, its checks and its frame accuracy instead of having their own."""
from __future__ import annotations

from collections.abc import Sequence

from mediamesh import media
from mediamesh.errors import InvalidArgument
from mediamesh.protocol import time_range
from mediamesh.v1 import common_pb2, compose_pb2

MAX_CONCAT_CLIPS = 500
MAX_SEGMENTS = 200
MIN_SEGMENT_S = 0.2  # a segment trimmed shorter than this is dropped from a summary
MAX_SIDE = 4096


def _transition_seconds(transition: compose_pb2.Transition) -> float:
    if transition.kind in (compose_pb2.TRANSITION_KIND_UNSPECIFIED, compose_pb2.TRANSITION_KIND_CUT):
        return 0.0
    return transition.duration


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def output_format(width: int, height: int, fps: float, first: media.MediaInfo
                  ) -> tuple[int, int, float]:
    """The requested size and rate, each defaulting to the first clip's (one side given:
    the other keeps the first clip's aspect)."""
    src_w, src_h = first.width or 640, first.height or 360
    if width and not height:
        height = _even(width * src_h / src_w)
    elif height and not width:
        width = _even(height * src_w / src_h)
    width, height = width or src_w, height or src_h
    if max(width, height) > MAX_SIDE:
        scale = MAX_SIDE / max(width, height)
        width, height = _even(width * scale), _even(height * scale)
    return width, height, fps or first.fps or 25.0


def sequence(pieces: Sequence[tuple[common_pb2.MediaRef, float, float]],
             transition: compose_pb2.Transition, size: tuple[int, int, float]
             ) -> compose_pb2.Timeline:
    """(source, start, end) pieces one after another, each overlapping the one before by
    the transition, fitted by padding, with their sound on a CLIP track."""
    width, height, fps = size
    overlap = _transition_seconds(transition)
    clips = []
    at = 0.0
    for i, (source, start, end) in enumerate(pieces):
        clip = compose_pb2.TimelineClip(source=source, start=at, fit=compose_pb2.FIT_MODE_PAD,
                                        source_range=common_pb2.TimeRange(start=start, end=end))
        if i > 0 and overlap > 0:
            clip.transition_in.CopyFrom(transition)
        clips.append(clip)
        at += (end - start) - overlap
    return compose_pb2.Timeline(
        width=width, height=height, fps=fps,
        video_tracks=[compose_pb2.VideoTrack(clips=clips)],
        audio_tracks=[compose_pb2.AudioTrack(kind=compose_pb2.AUDIO_TRACK_KIND_CLIP)])


def check_transition(transition: compose_pb2.Transition, shortest: float, field_name: str
                     ) -> None:
    """A transition must be shorter than every piece it joins."""
    seconds = _transition_seconds(transition)
    if seconds < 0 or seconds >= shortest:
        raise InvalidArgument(f"{field_name}.duration ({seconds:g} s) must be >= 0 and shorter "
                              f"than the shortest piece ({shortest:.3f} s)",
                              field_name=f"{field_name}.duration")


def concat_pieces(request: compose_pb2.ConcatVideoRequest, infos: Sequence[media.MediaInfo]
                  ) -> list[tuple[common_pb2.MediaRef, float, float]]:
    """Each clip's (source, start, end), its range clipped to the source."""
    pieces = []
    for i, (clip, info) in enumerate(zip(request.clips, infos)):
        start, end = time_range(clip.source_range, f"clips[{i}].source_range")
        end = min(end, info.duration) if end else info.duration
        if end - start <= 0:
            raise InvalidArgument(f"clips[{i}].source_range starts at {start:g} s, after the end "
                                  f"of the video ({info.duration:.3f} s)",
                                  field_name=f"clips[{i}].source_range")
        pieces.append((clip.source, start, end))
    return pieces


def summary_pieces(request: compose_pb2.RenderSummaryRequest, info: media.MediaInfo
                   ) -> list[tuple[common_pb2.MediaRef, float, float]]:
    """The segments in order, each trimmed (or widened, within the video) about its middle
    by the same factor so the summary lasts `duration`, transitions included; segments
    trimmed too short are dropped."""
    if not request.segments:
        raise InvalidArgument("segments is empty: give the parts of the video to keep (e.g. "
                              "VisionService SelectCover's summary plan)", field_name="segments")
    if len(request.segments) > MAX_SEGMENTS:
        raise InvalidArgument(f"at most {MAX_SEGMENTS} segments, got {len(request.segments)}",
                              field_name="segments")
    spans = []
    for i, segment in enumerate(request.segments):
        start, end = time_range(segment, f"segments[{i}]")
        end = min(end, info.duration) if end else info.duration
        if end - start <= 0:
            raise InvalidArgument(f"segments[{i}] ({start:g}-{end:g} s) lies outside the video "
                                  f"({info.duration:.3f} s)", field_name=f"segments[{i}]")
        spans.append((start, end))
    overlap = _transition_seconds(request.transition)
    if request.duration < 0:
        raise InvalidArgument(f"duration must be >= 0 s, got {request.duration:g}",
                              field_name="duration")
    if request.duration > 0:
        target = request.duration
        keep = (target + overlap * (len(spans) - 1)) / sum(e - s for s, e in spans)
        resized = []
        for start, end in spans:  # about each middle, kept inside the video
            length = min((end - start) * keep, info.duration)
            begin = min(max(0.0, (start + end) / 2 - length / 2), info.duration - length)
            resized.append((begin, begin + length))
        spans = [(s, e) for s, e in resized if e - s >= max(MIN_SEGMENT_S, overlap * 1.5)]
        if not spans:
            raise InvalidArgument(f"duration {target:g} s is too short for these segments "
                                  "and transition: every trimmed segment would be under "
                                  f"{MIN_SEGMENT_S:g} s", field_name="duration")
    return [(request.video, s, e) for s, e in spans]
