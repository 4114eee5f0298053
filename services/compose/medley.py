"""Medley planning: which part of each song plays, at what tempo, where it sits in the output
and how consecutive songs overlap. Pure functions over numpy arrays and dataclasses.

Beat-matched medleys are planned in output beats on one uniform grid at the target tempo:
each song's own beats are mapped onto it (a time map per song, so tempo drift is removed),
and consecutive songs overlap by whole bars that start on a downbeat of both. That is what
lets a beat tracker follow the finished medley straight across the transitions.
Times are seconds; tempi BPM; beat positions are indices into a song's beat array
(fractional = interpolated between beats).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from mediamesh.audio.mixing import FadeCurve
from mediamesh.audio.stretch import TimeMap

DEFAULT_CROSSFADE_BARS = 2
DECLICK_S = 0.005  # fades at hard edges and cuts: long enough to avoid a click, short enough to hear as a cut
DOWNBEAT_MATCH_S = 0.07  # a downbeat further than this from every beat is not on the grid
FALLBACK_BPM = 120.0  # bar length for CROSSFADE when no song has a grid
FALLBACK_METER = 4
MIN_BPM = 40.0  # the slowest target tempo a request may ask for


class Transition(StrEnum):
    CROSSFADE = "crossfade"  # no stretch: each song at its own tempo, crossfaded
    BEAT_MATCHED = "beat_matched"  # warped onto one grid, downbeat-aligned crossfades
    CUT = "cut"  # warped onto one grid, joined on a downbeat with declick fades


class PlanError(ValueError):
    """A song cannot be planned as asked; `song_index` says which (None = the request)."""

    def __init__(self, message: str, song_index: int | None = None,
                 field_name: str | None = None) -> None:
        super().__init__(message)
        self.song_index = song_index
        self.field_name = field_name


@dataclass(frozen=True)
class BeatGrid:
    """A song's beats (seconds, increasing) and which of them are downbeats."""

    beats: np.ndarray
    downbeat_index: np.ndarray  # indices into `beats`
    tempo_bpm: float
    beats_per_bar: int

    @classmethod
    def from_times(cls, beats: Sequence[float] | np.ndarray,
                   downbeats: Sequence[float] | np.ndarray,
                   tempo_bpm: float = 0.0, beats_per_bar: int = 0) -> BeatGrid:
        """Validate an AnalyzeRhythm-style grid; ValueError says what is wrong with it."""
        times = np.asarray(beats, dtype=np.float64)
        if times.size < 4:
            raise ValueError(f"has {times.size} beats; a grid needs at least 4")
        if np.any(np.diff(times) <= 0):
            raise ValueError("has beats that are not strictly increasing")
        down = np.asarray(downbeats, dtype=np.float64)
        if down.size < 2:
            raise ValueError(f"has {down.size} downbeats; at least 2 are needed to find bars")
        nearest = np.clip(np.searchsorted(times, down), 1, times.size - 1)
        nearest = np.where(np.abs(times[nearest - 1] - down) <= np.abs(times[nearest] - down),
                           nearest - 1, nearest)
        off = np.abs(times[nearest] - down)
        if np.any(off > DOWNBEAT_MATCH_S):
            worst = float(down[int(np.argmax(off))])
            raise ValueError(f"has a downbeat at {worst:.3f} s that is not one of its beats")
        index = np.unique(nearest)
        if beats_per_bar <= 0:
            gaps = np.diff(index)
            beats_per_bar = int(Counter(gaps.tolist()).most_common(1)[0][0]) if gaps.size \
                else FALLBACK_METER
        period = float(np.median(np.diff(times)))
        if tempo_bpm <= 0:
            tempo_bpm = 60.0 / period
        return cls(times, index.astype(np.int64), float(tempo_bpm), int(beats_per_bar))

    @property
    def period(self) -> float:
        return float(np.median(np.diff(self.beats)))

    def time_at(self, position: float | np.ndarray) -> np.ndarray:
        """Seconds at fractional beat positions, extrapolated at the song's median period."""
        x = np.asarray(position, dtype=np.float64)
        n = self.beats.size
        inside = np.interp(x, np.arange(n), self.beats)
        before = self.beats[0] + x * self.period
        after = self.beats[-1] + (x - (n - 1)) * self.period
        return np.where(x < 0, before, np.where(x > n - 1, after, inside))

    def nearest_downbeat(self, seconds: float) -> int:
        """Index (into `beats`) of the downbeat nearest to `seconds`."""
        times = self.beats[self.downbeat_index]
        return int(self.downbeat_index[int(np.argmin(np.abs(times - seconds)))])


@dataclass(frozen=True)
class SongPlanInput:
    """What the planner needs of one song."""

    title: str
    duration: float  # seconds of audio
    part: tuple[float, float]  # the part to feature, source seconds (before snapping)
    grid: BeatGrid | None = None
    gain_db: float = 0.0


@dataclass(frozen=True)
class MedleyOptions:
    transition: Transition = Transition.BEAT_MATCHED
    target_bpm: float = 0.0  # 0 = automatic
    crossfade_bars: int = DEFAULT_CROSSFADE_BARS


@dataclass(frozen=True)
class PartPlan:
    """One song as placed: the full-gain `part` plus the fades around it."""

    song_index: int
    title: str
    source_range: tuple[float, float]  # audible span, source seconds
    part_range: tuple[float, float]  # full-gain part, source seconds (snapped to downbeats)
    output_range: tuple[float, float]  # audible span, output seconds
    part_output_range: tuple[float, float]  # the part, output seconds
    fade_in: float  # output seconds at the start of output_range
    fade_out: float  # output seconds at the end of output_range
    fade_in_curve: FadeCurve
    fade_out_curve: FadeCurve
    source_bpm: float
    tempo_ratio: float  # source seconds per output second over the part (2 = twice as fast)
    beat_multiplier: float  # output beats per source beat (2 = a half-tempo song doubled)
    time_map: TimeMap | None  # output seconds -> source seconds; None = played as is
    gain_db: float = 0.0  # the song's own gain (loudness matching is added when rendering)


@dataclass(frozen=True)
class MedleyPlan:
    parts: list[PartPlan]
    transition: Transition
    bpm: float  # the medley's tempo (CROSSFADE: the reference used for bar lengths)
    beats_per_bar: int
    crossfade_bars: int
    duration: float
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0))  # output seconds
    downbeats: np.ndarray = field(default_factory=lambda: np.zeros(0))


def choose_part(duration: float, segment: tuple[float, float | None] | None,
                chorus: tuple[float, float] | None, full_songs: bool) -> tuple[float, float]:
    """The part of a song to feature: the explicit segment, else the chorus (unless
    `full_songs`), else the whole song; seconds, clipped to the audio."""
    if segment is not None:
        start, end = segment
        return start, min(end if end is not None else duration, duration)
    if chorus is not None and not full_songs:
        return chorus[0], min(chorus[1], duration)
    return 0.0, duration


def excerpt_bounds(song: SongPlanInput, options: MedleyOptions) -> tuple[float, float]:
    """Source seconds a plan can read for this song: its part widened by the longest fade a
    plan may add (fades are bars of the output tempo: up to twice as many source beats for a
    song doubled in tempo, 1.25x for drift; CROSSFADE bars at the slowest tempo allowed),
    a bar of snapping and a margin. Songs are cropped to this right after decoding, so
    memory follows the parts, not the songs."""
    bars = max(options.crossfade_bars, 1)
    meter = max(song.grid.beats_per_bar if song.grid is not None else FALLBACK_METER,
                FALLBACK_METER)
    if options.transition is Transition.CROSSFADE or song.grid is None:
        beat = 60.0 / (options.target_bpm or MIN_BPM)
        snap = meter * song.grid.period if song.grid is not None else 0.0
    else:
        beat = 2.0 * 1.25 * song.grid.period
        snap = meter * song.grid.period
    pad = bars * meter * beat + snap + 2.0
    return max(0.0, song.part[0] - pad), min(song.duration, song.part[1] + pad)


def octave_multiplier(tempo_bpm: float, target_bpm: float) -> float:
    """Output beats per source beat: the power of two that brings the song's tempo nearest
    the target, so no song is stretched by more than sqrt(2) (a 70 BPM song next to 140 BPM
    ones plays two output beats per beat of its own)."""
    return float(2.0 ** round(math.log2(target_bpm / tempo_bpm)))


def choose_target_tempo(tempi: Sequence[float]) -> float:
    """The median tempo after folding every tempo by octaves towards the plain median, so
    half- and double-time readings of the same feel count together."""
    values = np.asarray([t for t in tempi if t > 0], dtype=np.float64)
    if values.size == 0:
        return FALLBACK_BPM
    reference = float(np.median(values))
    folded = values * 2.0 ** np.round(np.log2(reference / values))
    return float(np.median(folded))


def common_meter(grids: Sequence[BeatGrid]) -> int:
    """The medley's beats per bar: the most common meter, ties to the earliest song."""
    if not grids:
        return FALLBACK_METER
    counts = Counter(g.beats_per_bar for g in grids)
    best = max(counts.values())
    return next(g.beats_per_bar for g in grids if counts[g.beats_per_bar] == best)


def plan_medley(songs: Sequence[SongPlanInput], options: MedleyOptions) -> MedleyPlan:
    """Place every song; PlanError names the song that cannot be placed and why."""
    if len(songs) < 2:
        raise PlanError(f"a medley needs at least 2 songs, got {len(songs)}",
                        field_name="songs")
    if options.transition is Transition.CROSSFADE:
        return _plan_crossfade(songs, options)
    for index, song in enumerate(songs):
        if song.grid is None:
            raise PlanError(f"songs[{index}] ({song.title}) has no beat grid: pass the "
                            f"AnalyzeRhythm result in songs[{index}].rhythm, or use "
                            "transition CROSSFADE", index, f"songs[{index}].rhythm")
    return _plan_on_grid(songs, options)


@dataclass(frozen=True)
class _Span:
    """A song's audible span in its own beat positions, and its full-gain part."""

    start: float  # audible start (fade-in begins)
    part_start: int
    part_end: int
    end: float  # audible end (fade-out ends)


def _snap_part(index: int, song: SongPlanInput, grid: BeatGrid) -> tuple[int, int]:
    start = grid.nearest_downbeat(song.part[0])
    end = grid.nearest_downbeat(song.part[1])
    if end <= start:
        later = grid.downbeat_index[grid.downbeat_index > start]
        if later.size == 0:
            raise PlanError(f"songs[{index}] ({song.title}): its part {song.part[0]:.2f}-"
                            f"{song.part[1]:.2f} s holds no whole bar of its beat grid; "
                            "choose a longer segment", index, f"songs[{index}].segment")
        end = int(later[0])
    return start, end


def _plan_on_grid(songs: Sequence[SongPlanInput], options: MedleyOptions) -> MedleyPlan:
    grids = [s.grid for s in songs if s.grid is not None]
    meter = common_meter(grids)
    bpm = options.target_bpm or choose_target_tempo([g.tempo_bpm for g in grids])
    beat_s = 60.0 / bpm
    cut = options.transition is Transition.CUT
    # overlap between consecutive songs, in output beats
    overlap = DECLICK_S / beat_s if cut else float(options.crossfade_bars * meter)
    spans: list[_Span] = []
    for index, song in enumerate(songs):
        grid = song.grid
        assert grid is not None
        multiplier = octave_multiplier(grid.tempo_bpm, bpm)
        part_start, part_end = _snap_part(index, song, grid)
        fade = overlap / multiplier  # source beats
        last_beat = grid.beats.size - 1
        first, final = index == 0, index == len(songs) - 1
        inside_in = not first and part_start - fade < 0
        start = float(part_start) if first or inside_in else part_start - fade
        if final:
            tail = options.crossfade_bars * meter / multiplier
            end = part_end + tail if not cut and part_end + tail <= last_beat else float(part_end)
            inside_out = False
        else:
            inside_out = cut or part_end + fade > last_beat
            end = float(part_end) if inside_out else part_end + fade
        need = fade * (int(inside_in) + int(inside_out))
        if part_end - part_start < max(need, 1):
            raise PlanError(
                f"songs[{index}] ({song.title}): its part is {part_end - part_start} beats "
                f"long but the crossfades have to fit inside it ({need:g} beats; the song has "
                "no audio around the part): choose a longer segment or fewer crossfade_bars",
                index, f"songs[{index}].segment")
        spans.append(_Span(start, part_start, part_end, end))

    parts: list[PartPlan] = []
    owners: list[tuple[float, int, float, float]] = []  # (output beat, song, multiplier, start)
    position = 0.0  # output beat where the current song becomes audible
    for index, (song, span) in enumerate(zip(songs, spans)):
        grid = song.grid
        assert grid is not None
        multiplier = octave_multiplier(grid.tempo_bpm, bpm)
        length = (span.end - span.start) * multiplier
        first, final = index == 0, index == len(songs) - 1
        fade_in = DECLICK_S if first else overlap * beat_s
        if final:
            tail_beats = (span.end - span.part_end) * multiplier
            fade_out = tail_beats * beat_s if tail_beats > 0 else DECLICK_S
            out_curve = FadeCurve.S_CURVE
        else:
            fade_out, out_curve = overlap * beat_s, FadeCurve.EQUAL_POWER
        to_out = position - span.start * multiplier  # output beat = to_out + m * source beat
        part_seconds = grid.time_at(np.array([span.part_start, span.part_end]))
        part_out = ((to_out + span.part_start * multiplier) * beat_s,
                    (to_out + span.part_end * multiplier) * beat_s)
        ratio = float((part_seconds[1] - part_seconds[0]) / (part_out[1] - part_out[0]))
        inner = np.arange(math.ceil(span.start), math.floor(span.end) + 1, dtype=np.float64)
        positions = np.unique(np.concatenate([[span.start], inner, [span.end]]))
        time_map = TimeMap((to_out + positions * multiplier) * beat_s, grid.time_at(positions))
        source = grid.time_at(np.array([span.start, span.end]))
        parts.append(PartPlan(
            song_index=index, title=song.title,
            source_range=(float(source[0]), float(source[1])),
            part_range=(float(part_seconds[0]), float(part_seconds[1])),
            output_range=(position * beat_s, (position + length) * beat_s),
            part_output_range=part_out, fade_in=fade_in, fade_out=fade_out,
            fade_in_curve=FadeCurve.EQUAL_POWER, fade_out_curve=out_curve,
            source_bpm=grid.tempo_bpm, tempo_ratio=ratio, beat_multiplier=multiplier,
            time_map=time_map, gain_db=song.gain_db))
        owners.append((position, index, multiplier, to_out))
        position += length - (0.0 if final else overlap)
    total_beats = position
    beats = np.arange(0, math.floor(total_beats + 1e-6) + 1) * beat_s
    downbeats = _output_downbeats(songs, owners, total_beats, meter, beat_s)
    return MedleyPlan(parts, options.transition, bpm, meter,
                      0 if cut else options.crossfade_bars, total_beats * beat_s,
                      beats, downbeats)


def _output_downbeats(songs: Sequence[SongPlanInput], owners: list[tuple[float, int, float, float]],
                      total_beats: float, meter: int, beat_s: float) -> np.ndarray:
    """Output downbeats: each stretch of the output is owned by the song that entered last,
    and carries that song's downbeats; a song whose bars do not span `meter` output beats
    (a doubled half-time song) gets a downbeat every `meter` beats from its first one."""
    found: list[float] = []
    for k, (begin, index, multiplier, to_out) in enumerate(owners):
        grid = songs[index].grid
        assert grid is not None
        end = owners[k + 1][0] if k + 1 < len(owners) else total_beats + 1e-6
        mapped = to_out + grid.downbeat_index * multiplier
        if grid.beats_per_bar * multiplier != meter:
            phase = float(mapped[0])
            mapped = phase + meter * np.arange(math.floor((begin - phase) / meter) - 1,
                                               math.ceil((end - phase) / meter) + 2)
        found.extend(float(b) for b in mapped if begin - 1e-6 <= b < end - 1e-6)
    return np.array(sorted(found)) * beat_s


def _plan_crossfade(songs: Sequence[SongPlanInput], options: MedleyOptions) -> MedleyPlan:
    """No stretching: each song keeps its tempo; parts snap to downbeats when a grid is
    given, and songs overlap by `crossfade_bars` bars at the (median or requested) tempo."""
    grids = [s.grid for s in songs if s.grid is not None]
    meter = common_meter(grids)
    bpm = options.target_bpm or choose_target_tempo([g.tempo_bpm for g in grids])
    overlap = options.crossfade_bars * meter * 60.0 / bpm
    parts: list[PartPlan] = []
    owner_beats: list[np.ndarray] = []
    owner_downbeats: list[np.ndarray] = []
    position = 0.0
    for index, song in enumerate(songs):
        if song.grid is not None:
            a, b = _snap_part(index, song, song.grid)
            part_start, part_end = (float(t) for t in song.grid.time_at(np.array([a, b])))
        else:
            part_start, part_end = song.part
        first, final = index == 0, index == len(songs) - 1
        inside_in = not first and part_start - overlap < 0
        start = part_start if first or inside_in else part_start - overlap
        inside_out = not final and part_end + overlap > song.duration
        if final:
            end = min(part_end + overlap, song.duration)
        else:
            end = part_end if inside_out else part_end + overlap
        need = overlap * (int(inside_in) + int(inside_out))
        if part_end - part_start < max(need, 1.0):
            raise PlanError(f"songs[{index}] ({song.title}): its part is "
                            f"{part_end - part_start:.2f} s but the crossfades have to fit "
                            f"inside it ({need:.2f} s): choose a longer segment or fewer "
                            "crossfade_bars", index, f"songs[{index}].segment")
        length = end - start
        offset = position - start
        fade_out = overlap if not final else max(end - part_end, DECLICK_S)
        parts.append(PartPlan(
            song_index=index, title=song.title, source_range=(start, end),
            part_range=(part_start, part_end), output_range=(position, position + length),
            part_output_range=(part_start + offset, part_end + offset),
            fade_in=DECLICK_S if first else overlap, fade_out=fade_out,
            fade_in_curve=FadeCurve.EQUAL_POWER,
            fade_out_curve=FadeCurve.S_CURVE if final else FadeCurve.EQUAL_POWER,
            source_bpm=song.grid.tempo_bpm if song.grid is not None else 0.0,
            tempo_ratio=1.0, beat_multiplier=1.0, time_map=None, gain_db=song.gain_db))
        if song.grid is not None:
            owner_beats.append(song.grid.beats + offset)
            owner_downbeats.append(song.grid.beats[song.grid.downbeat_index] + offset)
        else:
            owner_beats.append(np.zeros(0))
            owner_downbeats.append(np.zeros(0))
        position += length - (0.0 if final else overlap)
    bounds = [p.output_range[0] for p in parts] + [position + 1e-6]
    beats = _owned(owner_beats, bounds)
    downbeats = _owned(owner_downbeats, bounds)
    return MedleyPlan(parts, Transition.CROSSFADE, bpm, meter, options.crossfade_bars,
                      position, beats, downbeats)


def _owned(per_song: list[np.ndarray], bounds: list[float]) -> np.ndarray:
    """Each song's times kept between its entry and the next song's entry."""
    kept = [t[(t >= bounds[i]) & (t < bounds[i + 1])] for i, t in enumerate(per_song)]
    return np.concatenate(kept) if kept else np.zeros(0)
