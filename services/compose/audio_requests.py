"""Validation of MixAudioRequest and RenderMedleyRequest: one helper per message turns the
request into domain values, or raises INVALID_ARGUMENT naming the field (and, for inputs,
the index and file name) with what to change."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from mediamesh.audio.mixing import Fade, FadeCurve
from mediamesh.errors import InvalidArgument
from mediamesh.protocol import output_container, time_range
from mediamesh.v1 import audio_pb2, common_pb2, compose_pb2
from services.compose.audio_io import AUDIO_CONTAINERS
from services.compose.medley import (
    DEFAULT_CROSSFADE_BARS,
    MIN_BPM,
    BeatGrid,
    MedleyOptions,
    SongPlanInput,
    Transition,
    choose_part,
)

DEFAULT_RATE = 44_100
DEFAULT_CHANNELS = 2
DEFAULT_CEILING_DBTP = -1.0
MAX_CLIPS = 64
MIN_SONGS, MAX_SONGS = 2, 20
MIN_SONG_SECONDS = 5.0
MAX_CROSSFADE_BARS = 16
TEMPO_RATIO_RANGE = (0.5, 2.0)
PITCH_RANGE = 12.0  # semitones either way
GAIN_RANGE_DB = (-60.0, 24.0)
LUFS_RANGE = (-60.0, -5.0)
CEILING_RANGE_DBTP = (-20.0, 0.0)
BPM_RANGE = (MIN_BPM, 250.0)
RANGE_SLACK_S = 0.5  # segments may end a little past the decoded end (container rounding)

_CURVES = {compose_pb2.FADE_CURVE_UNSPECIFIED: FadeCurve.EQUAL_POWER,
           compose_pb2.FADE_CURVE_LINEAR: FadeCurve.LINEAR,
           compose_pb2.FADE_CURVE_EQUAL_POWER: FadeCurve.EQUAL_POWER,
           compose_pb2.FADE_CURVE_EXPONENTIAL: FadeCurve.EXPONENTIAL,
           compose_pb2.FADE_CURVE_S_CURVE: FadeCurve.S_CURVE}
_TRANSITIONS = {compose_pb2.TRANSITION_STYLE_UNSPECIFIED: Transition.BEAT_MATCHED,
                compose_pb2.TRANSITION_STYLE_CROSSFADE: Transition.CROSSFADE,
                compose_pb2.TRANSITION_STYLE_BEAT_MATCHED: Transition.BEAT_MATCHED,
                compose_pb2.TRANSITION_STYLE_CUT: Transition.CUT}


def within(value: float, bounds: tuple[float, float], field_name: str, what: str) -> float:
    if not (math.isfinite(value) and bounds[0] <= value <= bounds[1]):
        raise InvalidArgument(f"{field_name} must be {what} in [{bounds[0]:g}, {bounds[1]:g}], "
                              f"got {value:g}", field_name=field_name)
    return value


def target_lufs_value(value: float, field_name: str = "target_lufs") -> float | None:
    return None if value == 0 else within(value, LUFS_RANGE, field_name, "LUFS")


def ceiling_value(value: float, default: float | None, field_name: str) -> float | None:
    if value == 0:
        return default
    return within(value, CEILING_RANGE_DBTP, field_name, "dBTP")


def media_name(ref: common_pb2.MediaRef, fallback: str) -> str:
    """The file name a person knows an input by."""
    if ref.name:
        return ref.name
    if ref.WhichOneof("source") == "uri" and ref.uri:
        return PurePosixPath(ref.uri).name or ref.uri
    return fallback


# ---------------------------------------------------------------- MixAudio


@dataclass(frozen=True)
class ClipSpec:
    index: int
    where: str  # the clip's field path, e.g. "clips[1]" or "timeline.audio_tracks[0].clips[2]"
    label: str  # "clips[1] (drums.wav)"
    source: common_pb2.MediaRef
    source_start: float
    source_end: float | None
    start: float
    gain_db: float
    fade_in: Fade
    fade_out: Fade
    tempo_ratio: float
    semitones: float

    def output_seconds(self, source_seconds: float) -> float:
        """Length of the clip on the timeline, given the source's length."""
        end = min(self.source_end, source_seconds) if self.source_end else source_seconds
        return max(0.0, end - self.source_start) / self.tempo_ratio


@dataclass(frozen=True)
class MixSpec:
    clips: list[ClipSpec]
    rate: int
    channels: int
    target_lufs: float | None
    ceiling_dbtp: float | None
    container: str


def _fade(fade: compose_pb2.Fade, field_name: str) -> Fade:
    if not (math.isfinite(fade.duration) and fade.duration >= 0):
        raise InvalidArgument(f"{field_name}.duration must be >= 0 s, got {fade.duration:g}",
                              field_name=f"{field_name}.duration")
    curve = _CURVES.get(fade.curve)
    if curve is None:
        raise InvalidArgument(f"{field_name}.curve {fade.curve} is not a FadeCurve",
                              field_name=f"{field_name}.curve")
    return Fade(fade.duration, curve)


def audio_clip(clip: compose_pb2.AudioClip, index: int, where: str) -> ClipSpec:
    """One AudioClip checked and in domain values; `where` prefixes every field name."""
    start, end = time_range(clip.source_range, f"{where}.source_range")
    ratio = clip.tempo_ratio or 1.0
    return ClipSpec(
        index=index, where=where, label=f"{where} ({media_name(clip.source, 'inline audio')})",
        source=clip.source, source_start=start, source_end=end,
        start=within(clip.start, (0.0, 24 * 3600.0), f"{where}.start", "seconds"),
        gain_db=within(clip.gain_db, GAIN_RANGE_DB, f"{where}.gain_db", "dB"),
        fade_in=_fade(clip.fade_in, f"{where}.fade_in"),
        fade_out=_fade(clip.fade_out, f"{where}.fade_out"),
        tempo_ratio=within(ratio, TEMPO_RATIO_RANGE, f"{where}.tempo_ratio", "a speed factor"),
        semitones=within(clip.pitch_semitones, (-PITCH_RANGE, PITCH_RANGE),
                          f"{where}.pitch_semitones", "semitones"))


def mix_spec(request: compose_pb2.MixAudioRequest) -> MixSpec:
    if not request.clips:
        raise InvalidArgument("clips is empty: give at least one clip to mix",
                              field_name="clips")
    if len(request.clips) > MAX_CLIPS:
        raise InvalidArgument(f"at most {MAX_CLIPS} clips per mix, got {len(request.clips)}",
                              field_name="clips")
    clips = [audio_clip(clip, i, f"clips[{i}]") for i, clip in enumerate(request.clips)]
    rate = request.sample_rate or DEFAULT_RATE
    if not 8_000 <= rate <= 96_000:
        raise InvalidArgument(f"sample_rate must be 8000-96000 Hz, got {rate}",
                              field_name="sample_rate")
    channels = request.channels or DEFAULT_CHANNELS
    if channels not in (1, 2):
        raise InvalidArgument(f"channels must be 1 or 2, got {channels}", field_name="channels")
    return MixSpec(clips, rate, channels, target_lufs_value(request.target_lufs),
                   ceiling_value(request.true_peak_limit_dbtp, None, "true_peak_limit_dbtp"),
                   output_container(request.output, AUDIO_CONTAINERS, "wav", "audio"))


def check_clip(clip: ClipSpec, source_seconds: float) -> None:
    """Checks that need the decoded source: the range lies in it, the fades fit the clip."""
    if clip.source_start >= source_seconds:
        raise InvalidArgument(f"{clip.label}: source_range starts at {clip.source_start:g} s "
                              f"but the audio is {source_seconds:.2f} s long",
                              field_name=f"{clip.where}.source_range")
    length = clip.output_seconds(source_seconds)
    fades = clip.fade_in.duration + clip.fade_out.duration
    if fades > length + 1e-9:
        raise InvalidArgument(
            f"{clip.label}: fade_in ({clip.fade_in.duration:g} s) + fade_out "
            f"({clip.fade_out.duration:g} s) are longer than the clip ({length:.2f} s); "
            "shorten the fades", field_name=f"{clip.where}.fade_out.duration")


# ---------------------------------------------------------------- RenderMedley


@dataclass(frozen=True)
class MedleySpec:
    options: MedleyOptions
    target_lufs: float | None
    ceiling_dbtp: float
    container: str
    write_plot: bool
    full_songs: bool
    labels: list[str]  # "songs[2] (b.mp3)"


def medley_spec(request: compose_pb2.RenderMedleyRequest) -> MedleySpec:
    count = len(request.songs)
    if not MIN_SONGS <= count <= MAX_SONGS:
        raise InvalidArgument(f"a medley takes {MIN_SONGS}-{MAX_SONGS} songs, got {count}",
                              field_name="songs")
    transition = _TRANSITIONS.get(request.transition)
    if transition is None:
        raise InvalidArgument(f"transition {request.transition} is not a TransitionStyle",
                              field_name="transition")
    bars = request.crossfade_bars or DEFAULT_CROSSFADE_BARS
    if bars > MAX_CROSSFADE_BARS:
        raise InvalidArgument(f"crossfade_bars must be 1-{MAX_CROSSFADE_BARS}, got {bars}",
                              field_name="crossfade_bars")
    bpm = 0.0 if request.target_bpm == 0 else within(request.target_bpm, BPM_RANGE,
                                                       "target_bpm", "BPM")
    ceiling = ceiling_value(request.true_peak_limit_dbtp, DEFAULT_CEILING_DBTP,
                       "true_peak_limit_dbtp")
    assert ceiling is not None
    labels = [f"songs[{i}] ({media_name(s.audio, 'inline audio')})"
              for i, s in enumerate(request.songs)]
    for i, song in enumerate(request.songs):
        within(song.gain_db, GAIN_RANGE_DB, f"songs[{i}].gain_db", "dB")
        needs_grid = transition is not Transition.CROSSFADE
        if needs_grid and not song.rhythm.beats:
            raise InvalidArgument(
                f"{labels[i]} has no beat grid: pass the AnalyzeRhythm result in "
                f"songs[{i}].rhythm, or use transition CROSSFADE",
                field_name=f"songs[{i}].rhythm")
    return MedleySpec(MedleyOptions(transition, bpm, bars), target_lufs_value(request.target_lufs),
                      ceiling, output_container(request.output, AUDIO_CONTAINERS, "wav", "audio"),
                      request.write_plot, request.full_songs, labels)


def _grid(index: int, label: str, rhythm: audio_pb2.AnalyzeRhythmResponse,
          seconds: float) -> BeatGrid | None:
    if not rhythm.beats:
        return None
    downbeats = list(rhythm.downbeats) or [b.time for b in rhythm.beat_positions
                                            if b.position_in_bar == 1]
    field_name = f"songs[{index}].rhythm"
    try:
        grid = BeatGrid.from_times(list(rhythm.beats), downbeats, rhythm.tempo_bpm,
                                   rhythm.beats_per_bar)
    except ValueError as exc:
        raise InvalidArgument(f"{label}: its rhythm {exc}", field_name=field_name) from exc
    if grid.beats[-1] > seconds + RANGE_SLACK_S or grid.beats[0] < 0:
        raise InvalidArgument(f"{label}: its rhythm has beats from {grid.beats[0]:.2f} s to "
                              f"{grid.beats[-1]:.2f} s but the song is {seconds:.2f} s long; "
                              "is it the rhythm of another file?", field_name=field_name)
    return grid


def _range_in_song(label: str, r: common_pb2.TimeRange, field_name: str,
                   seconds: float) -> tuple[float, float | None]:
    start, end = time_range(r, field_name)
    if start >= seconds or (end is not None and end > seconds + RANGE_SLACK_S):
        shown = f"{start:g}-{end:g} s" if end is not None else f"from {start:g} s"
        raise InvalidArgument(f"{label}: {field_name.split('.')[-1]} {shown} is outside the "
                              f"song (0-{seconds:.2f} s)", field_name=field_name)
    return start, end


def song_input(index: int, label: str, song: compose_pb2.MedleySong, samples: np.ndarray,
               rate: int, full_songs: bool) -> SongPlanInput:
    """A decoded song as the planner sees it: its grid, the part to feature, its title."""
    seconds = samples.shape[-1] / rate
    segment = _range_in_song(label, song.segment, f"songs[{index}].segment", seconds) \
        if song.HasField("segment") else None
    chorus = None
    if song.HasField("chorus") and song.chorus.range.end > song.chorus.range.start:
        start, end = _range_in_song(label, song.chorus.range, f"songs[{index}].chorus.range",
                                    seconds)
        chorus = (start, end if end is not None else seconds)
    title = song.title or media_name(song.audio, f"song {index + 1}")
    return SongPlanInput(title, seconds, choose_part(seconds, segment, chorus, full_songs),
                         _grid(index, label, song.rhythm, seconds), song.gain_db)
