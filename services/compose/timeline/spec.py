"""A Timeline message checked and turned into plain values, before any media is opened.

Every error names the offending element by its field path (``timeline.video_tracks[0]
.clips[2].speed``) and says what to change: a producer editing a 200-clip edit must find
the bad clip at once. Checks that need the sources (their length, whether a range fits)
happen later, in `resolve`, once the media are probed.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from enum import StrEnum

from mediamesh.errors import InvalidArgument
from mediamesh.media import MediaInfo
from mediamesh.protocol import time_range
from mediamesh.v1 import common_pb2, compose_pb2
from services.compose.audio_requests import (
    ClipSpec,
    audio_clip,
    ceiling_value,
    target_lufs_value,
    within,
)

MIN_SIDE, MAX_SIDE = 16, 4096  # output pixels
MAX_ASPECT = 8.0  # width / height (and the inverse)
FPS_RANGE = (1.0, 120.0)
SPEED_RANGE = (0.1, 10.0)
MAX_TRANSITION_S = 10.0
MAX_VIDEO_TRACKS = 8
MAX_CLIPS_PER_TRACK = 1000
MAX_OVERLAYS = 32
MAX_TEXT_TRACKS = 8
MAX_CUES = 10_000
MAX_CUE_CHARS = 500
MAX_AUDIO_TRACKS = 8
MAX_AUDIO_CLIPS = 500
FONT_SIZE_RANGE = (6.0, 400.0)
MAX_OUTLINE_PX = 40.0
DUCK_RANGE_DB = (-60.0, -1.0)
DEFAULT_DUCK_DB = -12.0
DEFAULT_CEILING_DBTP = -1.0
DEFAULT_TEXT_REGION = (0.05, 0.70, 0.90, 0.25)  # x, y, w, h: the bottom band
FRAME_SLACK = 0.5  # frames: overlaps and ends within this are rounding, not errors
ROOT = "timeline"


class Fit(StrEnum):
    CROP = "crop"
    PAD = "pad"
    STRETCH = "stretch"


class TransitionKind(StrEnum):
    CUT = "cut"
    CROSSFADE = "crossfade"
    DIP_TO_BLACK = "dip_to_black"
    WIPE = "wipe"


class TrackKind(StrEnum):
    MUSIC = "music"
    VOICE = "voice"
    CLIP = "clip"


_FITS = {compose_pb2.FIT_MODE_UNSPECIFIED: Fit.CROP, compose_pb2.FIT_MODE_CROP: Fit.CROP,
         compose_pb2.FIT_MODE_PAD: Fit.PAD, compose_pb2.FIT_MODE_STRETCH: Fit.STRETCH}
_TRANSITIONS = {compose_pb2.TRANSITION_KIND_UNSPECIFIED: TransitionKind.CUT,
                compose_pb2.TRANSITION_KIND_CUT: TransitionKind.CUT,
                compose_pb2.TRANSITION_KIND_CROSSFADE: TransitionKind.CROSSFADE,
                compose_pb2.TRANSITION_KIND_DIP_TO_BLACK: TransitionKind.DIP_TO_BLACK,
                compose_pb2.TRANSITION_KIND_WIPE: TransitionKind.WIPE}
_TRACK_KINDS = {compose_pb2.AUDIO_TRACK_KIND_UNSPECIFIED: TrackKind.MUSIC,
                compose_pb2.AUDIO_TRACK_KIND_MUSIC: TrackKind.MUSIC,
                compose_pb2.AUDIO_TRACK_KIND_VOICE: TrackKind.VOICE,
                compose_pb2.AUDIO_TRACK_KIND_CLIP: TrackKind.CLIP}

Rgb = tuple[int, int, int]
Rect = tuple[float, float, float, float]  # x, y, width, height, fractions of the frame


@dataclass(frozen=True)
class TransitionSpec:
    kind: TransitionKind
    duration: float  # seconds; 0 for a cut

    def weight(self, since_start: float) -> float:
        """How far the transition is at `since_start` seconds into it: 0 = all outgoing,
        1 = all incoming. The frame at the clip's start is still the outgoing picture."""
        if self.duration <= 0:
            return 1.0
        return min(1.0, max(0.0, since_start / self.duration))


CUT = TransitionSpec(TransitionKind.CUT, 0.0)


@dataclass
class VideoClipSpec:
    where: str
    source: common_pb2.MediaRef
    source_start: float
    source_end: float | None  # None until resolved against the source's length
    start: float
    speed: float
    fit: Fit
    transition: TransitionSpec
    still: bool = False  # set when the source turns out to be an image

    @property
    def end(self) -> float:
        """Timeline second where the clip stops (needs a resolved source_end)."""
        assert self.source_end is not None, "resolve the clip against its source first"
        return self.start + (self.source_end - self.source_start) / self.speed

    def source_time(self, t: float) -> float:
        """Second of the source shown at timeline second `t`."""
        return self.source_start + (t - self.start) * self.speed


@dataclass(frozen=True)
class OverlaySpec:
    where: str
    image: common_pb2.MediaRef
    alpha: common_pb2.MediaRef | None
    rect: Rect
    opacity: float
    start: float
    end: float | None  # None = to the end of the timeline


@dataclass(frozen=True)
class TextStyleSpec:
    font: str  # "" = default; a family name or a font file in the media root
    size: float  # pixels; 0 = default (from the output height)
    color: Rgb
    outline_color: Rgb
    outline_width: float  # pixels; 0 = default; < 0 = none
    region: Rect


@dataclass(frozen=True)
class CueSpec:
    where: str
    start: float
    end: float
    text: str


@dataclass
class TextTrackSpec:
    where: str
    srt: common_pb2.MediaRef | None
    cues: list[CueSpec]
    style: TextStyleSpec


@dataclass(frozen=True)
class AudioTrackSpec:
    where: str
    kind: TrackKind
    clips: list[ClipSpec]
    gain_db: float
    duck: bool
    duck_db: float


@dataclass
class TimelineSpec:
    width: int
    height: int
    fps: float
    duration: float  # 0 = until the last clip ends (set by resolve)
    background: Rgb
    video_tracks: list[list[VideoClipSpec]]
    overlays: list[OverlaySpec]
    text_tracks: list[TextTrackSpec]
    audio_tracks: list[AudioTrackSpec]
    target_lufs: float | None
    ceiling_dbtp: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return max(1, round(self.duration * self.fps))


def _finite(value: float, where: str, what: str) -> float:
    if not math.isfinite(value):
        raise InvalidArgument(f"{where} must be a finite {what}, got {value}", field_name=where)
    return value


def _rgb(color: common_pb2.RgbColor, where: str) -> Rgb:
    for name in ("r", "g", "b"):
        if getattr(color, name) > 255:
            raise InvalidArgument(f"{where}.{name} must be 0-255, got {getattr(color, name)}",
                                  field_name=f"{where}.{name}")
    return (color.r, color.g, color.b)


def _rect(box: common_pb2.Box, where: str) -> Rect:
    values = (box.x, box.y, box.width, box.height)
    if not all(math.isfinite(v) for v in values):
        raise InvalidArgument(f"{where} must be finite fractions of the frame", field_name=where)
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise InvalidArgument(f"{where} needs a positive width and height (fractions of the "
                              f"frame), got {w:g} x {h:g}", field_name=where)
    if x < -1e-6 or y < -1e-6 or x + w > 1 + 1e-6 or y + h > 1 + 1e-6:
        raise InvalidArgument(f"{where} ({x:g}, {y:g}, {w:g} x {h:g}) reaches outside the frame: "
                              "x, y >= 0 and x + width, y + height <= 1", field_name=where)
    return (x, y, w, h)


def _transition(t: compose_pb2.Transition, where: str) -> TransitionSpec:
    kind = _TRANSITIONS.get(t.kind)
    if kind is None:
        raise InvalidArgument(f"{where}.kind {t.kind} is not a TransitionKind",
                              field_name=f"{where}.kind")
    if kind is TransitionKind.CUT:
        return CUT
    duration = within(t.duration, (0.0, MAX_TRANSITION_S), f"{where}.duration", "seconds")
    if duration <= 0:
        raise InvalidArgument(f"{where}.duration must be > 0 s for a {kind.value}; use CUT for "
                              "no transition", field_name=f"{where}.duration")
    return TransitionSpec(kind, duration)


def _video_clip(clip: compose_pb2.TimelineClip, where: str) -> VideoClipSpec:
    if clip.source.WhichOneof("source") is None:
        raise InvalidArgument(f"{where}.source is empty: set its uri (a path in the media root)",
                              field_name=f"{where}.source")
    start, end = time_range(clip.source_range, f"{where}.source_range")
    fit = _FITS.get(clip.fit)
    if fit is None:
        raise InvalidArgument(f"{where}.fit {clip.fit} is not a FitMode", field_name=f"{where}.fit")
    return VideoClipSpec(
        where=where, source=clip.source, source_start=start, source_end=end,
        start=within(clip.start, (0.0, 24 * 3600.0), f"{where}.start", "seconds"),
        speed=within(clip.speed or 1.0, SPEED_RANGE, f"{where}.speed", "a speed factor"),
        fit=fit, transition=_transition(clip.transition_in, f"{where}.transition_in"))


def _video_tracks(timeline: compose_pb2.Timeline) -> list[list[VideoClipSpec]]:
    if len(timeline.video_tracks) > MAX_VIDEO_TRACKS:
        raise InvalidArgument(f"at most {MAX_VIDEO_TRACKS} video tracks, got "
                              f"{len(timeline.video_tracks)}", field_name=f"{ROOT}.video_tracks")
    tracks = []
    for t, track in enumerate(timeline.video_tracks):
        where = f"{ROOT}.video_tracks[{t}]"
        if len(track.clips) > MAX_CLIPS_PER_TRACK:
            raise InvalidArgument(f"{where} has {len(track.clips)} clips; at most "
                                  f"{MAX_CLIPS_PER_TRACK} per track", field_name=f"{where}.clips")
        clips = [_video_clip(c, f"{where}.clips[{i}]") for i, c in enumerate(track.clips)]
        for before, clip in itertools.pairwise(clips):
            if clip.start < before.start:
                raise InvalidArgument(
                    f"{clip.where}.start ({clip.start:g} s) is before {before.where}.start "
                    f"({before.start:g} s); list a track's clips in timeline order",
                    field_name=f"{clip.where}.start")
        tracks.append(clips)
    return tracks


def _overlays(timeline: compose_pb2.Timeline) -> list[OverlaySpec]:
    if len(timeline.overlays) > MAX_OVERLAYS:
        raise InvalidArgument(f"at most {MAX_OVERLAYS} overlays, got {len(timeline.overlays)}",
                              field_name=f"{ROOT}.overlays")
    out = []
    for i, overlay in enumerate(timeline.overlays):
        where = f"{ROOT}.overlays[{i}]"
        if overlay.image.WhichOneof("source") is None:
            raise InvalidArgument(f"{where}.image is empty: set its uri", field_name=f"{where}.image")
        if not overlay.HasField("position"):
            raise InvalidArgument(f"{where}.position is unset: give the box it fills (fractions "
                                  "of the frame, e.g. x=0.8 y=0.05 width=0.15 height=0.1)",
                                  field_name=f"{where}.position")
        start, end = time_range(overlay.range, f"{where}.range")
        opacity = within(overlay.opacity or 1.0, (0.0, 1.0), f"{where}.opacity", "an opacity")
        alpha = overlay.alpha if overlay.alpha.WhichOneof("source") else None
        out.append(OverlaySpec(where, overlay.image, alpha, _rect(overlay.position,
                                                                   f"{where}.position"),
                               opacity, start, end))
    return out


def _style(style: compose_pb2.TextStyle, where: str, has_style: bool) -> TextStyleSpec:
    size = style.size
    if size != 0:
        within(size, FONT_SIZE_RANGE, f"{where}.size", "pixels")
    outline = _finite(style.outline_width, f"{where}.outline_width", "pixel width")
    if outline > MAX_OUTLINE_PX:
        raise InvalidArgument(f"{where}.outline_width must be <= {MAX_OUTLINE_PX:g} px, got "
                              f"{outline:g}", field_name=f"{where}.outline_width")
    color = _rgb(style.color, f"{where}.color") if has_style and style.HasField("color") \
        else (255, 255, 255)
    outline_color = _rgb(style.outline_color, f"{where}.outline_color")
    region = _rect(style.region, f"{where}.region") if style.HasField("region") \
        else DEFAULT_TEXT_REGION
    if len(style.font) > 1024:
        raise InvalidArgument(f"{where}.font is {len(style.font)} characters long; give a family "
                              "name or a font file path", field_name=f"{where}.font")
    return TextStyleSpec(style.font.strip(), size, color, outline_color, outline, region)


def cue(start: float, end: float, text: str, where: str) -> CueSpec:
    """A checked cue (also used for the cues read from an SRT file)."""
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
        raise InvalidArgument(f"{where}: the cue needs 0 <= start < end (seconds), got "
                              f"{start:g}-{end:g}", field_name=f"{where}.range")
    text = text.strip()
    if not text:
        raise InvalidArgument(f"{where}.text is empty", field_name=f"{where}.text")
    if len(text) > MAX_CUE_CHARS:
        raise InvalidArgument(f"{where}.text has {len(text)} characters; at most {MAX_CUE_CHARS} "
                              "fit on screen: split it into several cues",
                              field_name=f"{where}.text")
    return CueSpec(where, start, end, text)


def _text_tracks(timeline: compose_pb2.Timeline) -> list[TextTrackSpec]:
    if len(timeline.text_tracks) > MAX_TEXT_TRACKS:
        raise InvalidArgument(f"at most {MAX_TEXT_TRACKS} text tracks, got "
                              f"{len(timeline.text_tracks)}", field_name=f"{ROOT}.text_tracks")
    out = []
    for t, track in enumerate(timeline.text_tracks):
        where = f"{ROOT}.text_tracks[{t}]"
        srt = track.srt if track.srt.WhichOneof("source") else None
        if srt is None and not track.cues:
            raise InvalidArgument(f"{where} has neither srt nor cues: give an SRT file or inline "
                                  "cues", field_name=where)
        if len(track.cues) > MAX_CUES:
            raise InvalidArgument(f"{where} has {len(track.cues)} cues; at most {MAX_CUES}",
                                  field_name=f"{where}.cues")
        cues = [cue(c.range.start, c.range.end, c.text, f"{where}.cues[{i}]")
                for i, c in enumerate(track.cues)]
        out.append(TextTrackSpec(where, srt, cues,
                                 _style(track.style, f"{where}.style", track.HasField("style"))))
    return out


def _audio_tracks(timeline: compose_pb2.Timeline) -> list[AudioTrackSpec]:
    if len(timeline.audio_tracks) > MAX_AUDIO_TRACKS:
        raise InvalidArgument(f"at most {MAX_AUDIO_TRACKS} audio tracks, got "
                              f"{len(timeline.audio_tracks)}", field_name=f"{ROOT}.audio_tracks")
    out, total = [], 0
    for t, track in enumerate(timeline.audio_tracks):
        where = f"{ROOT}.audio_tracks[{t}]"
        kind = _TRACK_KINDS.get(track.kind)
        if kind is None:
            raise InvalidArgument(f"{where}.kind {track.kind} is not an AudioTrackKind",
                                  field_name=f"{where}.kind")
        total += len(track.clips)
        if total > MAX_AUDIO_CLIPS:
            raise InvalidArgument(f"at most {MAX_AUDIO_CLIPS} audio clips in all",
                                  field_name=f"{where}.clips")
        if not track.clips and kind is not TrackKind.CLIP:
            raise InvalidArgument(f"{where} ({kind.value}) has no clips; only a CLIP track may be "
                                  "empty (it then carries the sound of video_tracks[0])",
                                  field_name=f"{where}.clips")
        clips = [audio_clip(c, i, f"{where}.clips[{i}]") for i, c in enumerate(track.clips)]
        duck_db = track.duck_db or DEFAULT_DUCK_DB
        within(duck_db, DUCK_RANGE_DB, f"{where}.duck_db", "dB")
        out.append(AudioTrackSpec(where, kind, clips,
                                  within(track.gain_db, (-60.0, 24.0), f"{where}.gain_db", "dB"),
                                  track.duck_under_speech, duck_db))
    if any(t.duck for t in out) and not any(t.kind is TrackKind.VOICE for t in out):
        ducked = next(t for t in out if t.duck)
        raise InvalidArgument(f"{ducked.where}.duck_under_speech needs a VOICE track to duck "
                              "under; add one or clear the flag",
                              field_name=f"{ducked.where}.duck_under_speech")
    return out


def check_format(width: int, height: int, fps: float) -> None:
    """The output frame: sides in range, a plausible aspect ratio, a frame rate in range."""
    for name, value in (("width", width), ("height", height)):
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise InvalidArgument(f"{ROOT}.{name} must be {MIN_SIDE}-{MAX_SIDE} pixels, got {value}",
                                  field_name=f"{ROOT}.{name}")
    if max(width / height, height / width) > MAX_ASPECT:
        raise InvalidArgument(f"{ROOT} is {width}x{height}: an aspect ratio beyond "
                              f"{MAX_ASPECT:g}:1 is not a video frame; check width and height",
                              field_name=f"{ROOT}.width")
    within(fps, FPS_RANGE, f"{ROOT}.fps", "frames per second")


def fill_format(spec: TimelineSpec, first: tuple[int, int, float] | None) -> None:
    """Width, height and fps left at 0 take the first video clip's (`first`: its width,
    height and fps; one side given, the other keeps the clip's aspect, rounded even)."""
    if spec.width and spec.height and spec.fps:
        return
    if first is None:
        raise InvalidArgument(f"{ROOT} has no video clip to take its size and frame rate from: "
                              "give width, height and fps", field_name=f"{ROOT}.width")
    w, h, rate = first
    if spec.width and not spec.height:
        spec.height = max(2, round(spec.width * h / w / 2) * 2)
    elif spec.height and not spec.width:
        spec.width = max(2, round(spec.height * w / h / 2) * 2)
    elif not spec.width and not spec.height:
        spec.width, spec.height = w + w % 2, h + h % 2
    spec.fps = spec.fps or rate
    check_format(spec.width, spec.height, spec.fps)


def timeline_spec(timeline: compose_pb2.Timeline) -> TimelineSpec:
    """Everything that can be checked without opening a file."""
    width, height = timeline.width, timeline.height
    fps = timeline.fps
    if width and height and fps:
        check_format(width, height, fps)
    else:  # 0 = the first video clip's: checked once it is probed (fill_format)
        for name, value in (("width", width), ("height", height)):
            if value and not MIN_SIDE <= value <= MAX_SIDE:
                raise InvalidArgument(f"{ROOT}.{name} must be {MIN_SIDE}-{MAX_SIDE} pixels, "
                                      f"got {value}", field_name=f"{ROOT}.{name}")
        if fps:
            within(fps, FPS_RANGE, f"{ROOT}.fps", "frames per second")
    duration = within(timeline.duration, (0.0, 24 * 3600.0), f"{ROOT}.duration", "seconds")
    spec = TimelineSpec(
        width=width, height=height, fps=fps, duration=duration,
        background=_rgb(timeline.background, f"{ROOT}.background"),
        video_tracks=_video_tracks(timeline), overlays=_overlays(timeline),
        text_tracks=_text_tracks(timeline), audio_tracks=_audio_tracks(timeline),
        target_lufs=target_lufs_value(timeline.target_lufs, f"{ROOT}.target_lufs"),
        ceiling_dbtp=ceiling_value(timeline.true_peak_limit_dbtp, DEFAULT_CEILING_DBTP,
                              f"{ROOT}.true_peak_limit_dbtp"))
    has_clips = any(spec.video_tracks) or any(t.clips for t in spec.audio_tracks)
    if not has_clips and duration <= 0:
        raise InvalidArgument(f"{ROOT} is empty: add clips to a video or audio track, or give a "
                              "duration for a timeline of overlays and text only",
                              field_name=ROOT)
    return spec


def on_grid(seconds: float, fps: float) -> float:
    """`seconds` moved to the nearest frame boundary at `fps`."""
    return math.floor(seconds * fps + 0.5) / fps


def snap_to_frames(clip: VideoClipSpec, fps: float, source: MediaInfo) -> None:
    """A clip starts on an output frame and its in-point is a source frame, as in an
    editor: the picture cannot start between frames, and the clip's sound (cut at the
    same times) then stays in step with it. Each move is under half a frame and the clip
    keeps its length (its out-point moves with its in-point, within the source)."""
    clip.start = on_grid(clip.start, fps)
    if clip.still or not source.fps or clip.source_end is None:
        return
    snapped = on_grid(clip.source_start, source.fps)
    shift = snapped - clip.source_start
    clip.source_start = snapped
    clip.source_end = min(clip.source_end + shift, source.duration or clip.source_end + shift)
    if clip.source_end <= clip.source_start:
        clip.source_end = clip.source_start + 1.0 / source.fps


def check_track_overlaps(clips: list[VideoClipSpec], fps: float) -> None:
    """After resolving: a clip may overlap the one before only by its transition_in."""
    slack = FRAME_SLACK / fps
    for before, clip in itertools.pairwise(clips):
        overlap = before.end - clip.start
        allowed = clip.transition.duration
        if overlap > allowed + slack:
            raise InvalidArgument(
                f"{clip.where} starts at {clip.start:g} s, {overlap:.3f} s before "
                f"{before.where} ends ({before.end:.3f} s); clips on one track may only overlap "
                f"by the incoming clip's transition_in ({allowed:g} s): move it to "
                f">= {before.end - allowed:.3f} s or put it on another track",
                field_name=f"{clip.where}.start")
        if clip.transition.duration > clip.end - clip.start + slack:
            raise InvalidArgument(
                f"{clip.where}.transition_in lasts {clip.transition.duration:g} s but the clip "
                f"is only {clip.end - clip.start:.3f} s long", field_name=f"{clip.where}."
                "transition_in.duration")

