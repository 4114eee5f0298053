"""One-click creation, planned: a narration's sentences, one shot each, and a music bed
become an edit (no media is touched here).

- Each sentence owns the picture from the cut before it to the cut after it; a cut sits in
  the middle of the pause between two sentences, then moves onto the nearest music beat
  when one is within the snap tolerance (and both neighbours keep MIN_SLOT_S), then onto
  the frame grid. The first shot starts at 0 and the last ends with the narration: the
  shots cover the narration exactly.
- A shot longer than its slot plays its middle part; a shorter one is slowed down (never
  below MIN_SPEED: slower looks broken) and only when even that is too short is it looped,
  as few times as fit at MIN_SPEED or faster.
- The music starts on its first downbeat, so its beats fall where the cuts snapped to; when
  it is shorter than the narration it is looped from downbeat to downbeat.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

MIN_SPEED = 0.5
MIN_SLOT_S = 0.5  # no shot is shorter than this on screen
DEFAULT_SNAP_S = 0.3
MUSIC_FADE_OUT_S = 2.0
MUSIC_FADE_IN_S = 0.05


class PlanError(ValueError):
    """The inputs cannot make an edit; `field_name` names the offending element."""

    def __init__(self, message: str, field_name: str) -> None:
        super().__init__(message)
        self.field_name = field_name


@dataclass(frozen=True)
class Sentence:
    text: str
    start: float  # when it is heard, narration seconds
    end: float


@dataclass(frozen=True)
class SourceShot:
    start: float  # source seconds
    length: float | None  # None: a still picture, as long as needed


@dataclass(frozen=True)
class Music:
    duration: float  # seconds of the source
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]


@dataclass(frozen=True)
class Placement:
    """One shot on the timeline: `loops` back-to-back plays of the source part, each
    `(output_end - output_start) / loops` long."""
    sentence_index: int
    output_start: float
    output_end: float
    source_start: float
    source_end: float | None  # None: a still
    speed: float
    loops: int
    cut_on_beat: bool  # the cut ending it moved onto a beat

    @property
    def pieces(self) -> list[tuple[float, float]]:
        """The output span of each play."""
        step = (self.output_end - self.output_start) / self.loops
        return [(self.output_start + k * step,
                 self.output_end if k == self.loops - 1 else self.output_start + (k + 1) * step)
                for k in range(self.loops)]


@dataclass(frozen=True)
class MusicClip:
    source_start: float
    source_end: float
    output_start: float


@dataclass(frozen=True)
class CreationPlan:
    duration: float
    shots: list[Placement]
    music: list[MusicClip]
    cues: list[tuple[float, float, str]]  # subtitle per sentence: its shot's span

    @property
    def cuts_on_beat(self) -> int:
        return sum(p.cut_on_beat for p in self.shots[:-1])


def check_inputs(sentences: list[Sentence], shots: list[SourceShot], duration: float) -> None:
    if not sentences:
        raise PlanError("sentences is empty: a creation needs the narration's sentences",
                        "sentences")
    if len(shots) != len(sentences):
        raise PlanError(f"{len(sentences)} sentences but {len(shots)} shots: give one shot "
                        "per sentence", "shots")
    if not duration > 0:
        raise PlanError(f"narration_duration must be > 0 s, got {duration:g}",
                        "narration_duration")
    previous = 0.0
    for i, s in enumerate(sentences):
        if not s.text.strip():
            raise PlanError(f"sentences[{i}].text is empty", f"sentences[{i}].text")
        if not previous <= s.start < s.end <= duration + 1e-6:
            raise PlanError(f"sentences[{i}].range {s.start:.3f}-{s.end:.3f} s must follow "
                            f"the previous sentence (ends {previous:.3f} s) and end within "
                            f"the narration ({duration:.3f} s)", f"sentences[{i}].range")
        previous = s.end
    if duration / len(sentences) < MIN_SLOT_S:
        raise PlanError(f"{len(sentences)} sentences in {duration:.2f} s leave less than "
                        f"{MIN_SLOT_S} s per shot", "sentences")
    for i, shot in enumerate(shots):
        if shot.length is not None and not shot.length > 0:
            raise PlanError(f"shots[{i}].range is empty ({shot.length:g} s)",
                            f"shots[{i}].range")


def nominal_cuts(sentences: list[Sentence], duration: float) -> list[float]:
    """0, the middle of each pause between sentences, the end of the narration."""
    inner = [(a.end + b.start) / 2 for a, b in itertools.pairwise(sentences)]
    return [0.0, *inner, duration]


def timeline_beats(music: Music | None, clips: list[MusicClip]) -> list[float]:
    """The music's beats where they are heard on the timeline."""
    if music is None:
        return []
    out = []
    for clip in clips:
        out += [clip.output_start + b - clip.source_start for b in music.beats
                if clip.source_start <= b < clip.source_end]
    return out


def snap_cuts(cuts: list[float], beats: list[float], tolerance: float, fps: float
              ) -> tuple[list[float], list[bool]]:
    """Inner cuts moved onto the nearest beat within `tolerance` when the shots on either
    side keep MIN_SLOT_S, then every inner cut onto the frame grid; with which moved."""
    out, snapped = list(cuts), [False] * len(cuts)
    ordered = sorted(beats)
    for i in range(1, len(cuts) - 1):
        if tolerance > 0 and ordered:
            beat = min(ordered, key=lambda b: abs(b - cuts[i]))
            fits = out[i - 1] + MIN_SLOT_S <= beat <= cuts[i + 1] - MIN_SLOT_S
            if abs(beat - cuts[i]) <= tolerance and fits:
                out[i], snapped[i] = beat, True
        out[i] = round(out[i] * fps) / fps
    return out, snapped


def fit_shot(shot: SourceShot, slot: float) -> tuple[float, float | None, float, int]:
    """(source start, source end, speed, loops) filling `slot` seconds from the shot."""
    if shot.length is None:
        return shot.start, None, 1.0, 1
    if shot.length >= slot:
        start = shot.start + (shot.length - slot) / 2
        return start, start + slot, 1.0, 1
    if shot.length >= slot * MIN_SPEED:
        return shot.start, shot.start + shot.length, shot.length / slot, 1
    loops = math.ceil(slot * MIN_SPEED / shot.length)
    return shot.start, shot.start + shot.length, shot.length * loops / slot, loops


def music_clips(music: Music, duration: float) -> list[MusicClip]:
    """The music from its first downbeat, looped downbeat to downbeat until it covers
    `duration` (the last clip cut at the end)."""
    first = music.downbeats[0] if music.downbeats else (music.beats[0] if music.beats else 0.0)
    last = music.downbeats[-1] if len(music.downbeats) > 1 else music.duration
    loop_end = last if last - first > 1.0 else music.duration
    if loop_end - first <= 0.5:
        raise PlanError(f"the music has {music.duration:.2f} s after its first downbeat; too "
                        "short for a bed", "music")
    clips, at = [], 0.0
    while at < duration - 1e-6:
        # the last pass plays on to the end of the music if that covers the rest
        end = first + (duration - at)
        if end > loop_end and end > music.duration:
            end = loop_end
        clips.append(MusicClip(first, min(end, music.duration), at))
        at += min(end, music.duration) - first
    return clips


def plan_creation(sentences: list[Sentence], shots: list[SourceShot], duration: float,
                  music: Music | None, fps: float, snap_tolerance: float = DEFAULT_SNAP_S
                  ) -> CreationPlan:
    """The edit: placements covering [0, duration] back to back, music clips, cues."""
    check_inputs(sentences, shots, duration)
    bed = music_clips(music, duration) if music is not None else []
    cuts, snapped = snap_cuts(nominal_cuts(sentences, duration), timeline_beats(music, bed),
                              snap_tolerance, fps)
    placements = []
    for i, shot in enumerate(shots):
        start, end = cuts[i], cuts[i + 1]
        source_start, source_end, speed, loops = fit_shot(shot, end - start)
        placements.append(Placement(i, start, end, source_start, source_end, speed, loops,
                                    snapped[i + 1]))
    cues = [(p.output_start, p.output_end, s.text) for p, s in zip(placements, sentences,
                                                                    strict=True)]
    return CreationPlan(duration, placements, bed, cues)
