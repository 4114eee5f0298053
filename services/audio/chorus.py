"""DetectChorus's algorithm: the chorus, ranked alternatives and the section structure of a
song, from its spectrogram and beat grid (numpy only, no servers).

The chorus is the repeated material that is loudest and busiest, not the intro or outro;
consecutive chorus sections (a double chorus) form one block, and every time is snapped to a
downbeat. The bar grid and features come from `bars`, the sections and
their labels from `sections`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mediamesh.audio import spectral
from mediamesh.v1 import audio_pb2, common_pb2
from services.audio import bars, sections

DEFAULT_MIN_DURATION = 6.0  # seconds: an 8-bar chorus at 180 BPM in 3/4 lasts 8 s
DEFAULT_MAX_DURATION = 60.0  # a 16-bar chorus at 72 BPM lasts 53 s

INTRO, VERSE, PRE_CHORUS, CHORUS, BRIDGE, OUTRO, OTHER = (
    "intro", "verse", "pre_chorus", "chorus", "bridge", "outro", "other")


@dataclass(frozen=True)
class ChorusSegment:
    """A chorus candidate: seconds, snapped to downbeats; bars counted from the first
    downbeat (bar 0)."""
    start: float
    end: float
    confidence: float  # 0..1
    start_bar: int
    bar_count: int
    label: str


@dataclass(frozen=True)
class SongSection:
    """One section; the sections of a song tile it from 0 s to its end, in order."""
    start: float
    end: float
    label: str  # same label = same material ("A", "B", ...)
    kind: str  # INTRO, VERSE, PRE_CHORUS, CHORUS, BRIDGE, OUTRO or OTHER
    repeat_index: int  # 0 = first time this label's material appears
    start_bar: int
    bar_count: int


@dataclass(frozen=True)
class ChorusAnalysis:
    chorus: ChorusSegment
    alternatives: list[ChorusSegment]
    sections: list[SongSection]
    duration: float  # seconds of audio analysed


def _letters(index: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA"."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


@dataclass(frozen=True)
class _Block:
    """A run of consecutive sections with one label, in bars."""
    label: int
    first: int  # bar
    stop: int  # bar (exclusive)


def _blocks(edges: np.ndarray, labels: np.ndarray) -> list[_Block]:
    blocks: list[_Block] = []
    for i, lab in enumerate(labels):
        if blocks and blocks[-1].label == lab:
            blocks[-1] = _Block(int(lab), blocks[-1].first, int(edges[i + 1]))
        else:
            blocks.append(_Block(int(lab), int(edges[i]), int(edges[i + 1])))
    return blocks


def _label_scores(feats: bars.BarFeatures, blocks: list[_Block], n_bars: int
                  ) -> dict[int, float]:
    """How chorus-like each label is: louder and busier than the song's median bar, repeated
    as separate blocks, and not only at the very start or end."""
    loud_ref = float(np.median(feats.loudness))
    act = np.log(feats.activity + 1e-4)
    act_ref = float(np.median(act))
    scores: dict[int, float] = {}
    for lab in sorted({b.label for b in blocks}):
        mine = [b for b in blocks if b.label == lab]
        mask = np.zeros(n_bars, bool)
        for b in mine:
            mask[b.first:b.stop] = True
        loud = float(feats.loudness[mask].mean()) - loud_ref
        busy = float(act[mask].mean()) - act_ref
        repeats = min(len(mine), 4)
        edge = any(b.first == 0 for b in mine) or all(b.stop == n_bars for b in mine)
        scores[lab] = (loud / 3.0 + busy + 0.5 * np.log2(repeats) - (1.0 if edge else 0.0)
                       - (0.7 if repeats < 2 else 0.0) - (1.0 if mask.sum() < 4 else 0.0))
    return scores


def _fit(block: _Block, times: np.ndarray, lo: float, hi: float) -> tuple[int, int]:
    """The block's bars, trimmed at the end to at most `hi` seconds, extended forward (or
    backward at the song's end) to at least `lo` seconds, whole bars."""
    first, stop = block.first, block.stop
    n_bars = len(times) - 1
    while stop - first > 1 and times[stop] - times[first] > hi:
        stop -= 1
    while times[stop] - times[first] < lo and (stop < n_bars or first > 0):
        if stop < n_bars:
            stop += 1
        else:
            first -= 1
    return first, stop


class _Snap:
    """Maps analysis times to the caller's grid: the nearest of its downbeats, and the bar
    numbers of Beat.bar (0 at the first downbeat), whatever the analysis repaired."""

    def __init__(self, beats: np.ndarray, positions: np.ndarray, grid: bars.BarGrid,
                 duration: float) -> None:
        beats = np.asarray(beats, float)
        positions = np.asarray(positions, int)
        down = beats[positions == 1] if len(positions) == len(beats) else beats[:0]
        self.downbeats = down if len(down) else grid.edges[:-1]
        self.end = float(grid.edges[-1]) if len(down) == 0 else max(
            float(grid.edges[-1]), float(self.downbeats[-1]))
        self.duration = duration

    def bar(self, t: float) -> int:
        """Index of the downbeat nearest to t; len(downbeats) for the end of the last bar."""
        d = self.downbeats
        i = int(np.clip(np.searchsorted(d, t), 1, len(d) - 1)) if len(d) > 1 else 0
        near = i if len(d) > 1 and abs(d[i] - t) < abs(d[i - 1] - t) else max(i - 1, 0)
        if t - d[near] > 0.5 * (self.end - d[-1]) and near == len(d) - 1 and self.end > d[-1]:
            return len(d)
        return near

    def time(self, bar: int) -> float:
        t = float(self.downbeats[bar]) if bar < len(self.downbeats) else self.end
        return min(t, self.duration)

    def span(self, start: float, end: float) -> tuple[int, int]:
        """Whole bars from the downbeat nearest `start` to the one nearest `end`; never
        empty."""
        first, stop = self.bar(start), self.bar(end)
        return first, max(stop, first + 1) if first < len(self.downbeats) else first + 1


def detect(frames: bars.FrameFeatures, beats: np.ndarray, positions: np.ndarray, beats_per_bar: int,
           *, min_duration: float = 0, max_duration: float = 0, max_alternatives: int = 3
           ) -> ChorusAnalysis:
    """The chorus, up to `max_alternatives` other candidates (best first) and the sections
    of a song. `frames` is `bars.FrameFeatures.of(spectral.spectrogram(mono))`; `beats` in seconds with
    `positions` 1-based in the bar (1 = downbeat). `min_duration`/`max_duration` (seconds,
    0 = defaults) bound the chorus. Times are snapped to the given downbeats and bars
    counted from the first of them (Beat.bar). Of the chorus's blocks, the first that fits
    the bounds is the chorus and the others lead the alternatives. Never fails on odd
    input: a song without repeats gets a low-confidence (< 0.5) chorus on its loudest and
    busiest section, fitted to the bounds."""
    duration = max(len(frames) - 1, 1) / spectral.FPS
    lo = min_duration or DEFAULT_MIN_DURATION
    hi = max(max_duration or DEFAULT_MAX_DURATION, lo)
    beats = np.asarray(beats, float)
    positions = np.asarray(positions, int)
    if len(positions) != len(beats):
        positions = np.zeros(len(beats), int)  # no usable bar positions
    inside = (beats >= 0) & (beats < duration)
    beats, positions = beats[inside], positions[inside]
    harmony = bars.beat_harmony(frames, beats)
    phased = bars.rephase(harmony.change, positions, beats_per_bar)
    phased, meter = bars.pair_bars(harmony, beats, phased, beats_per_bar)
    grid = bars.bar_grid(beats, phased, meter, duration)
    snap = _Snap(beats, positions, grid, duration)
    times = grid.edges
    feats = bars.bar_features(frames, grid)
    chroma_sim = sections.chroma_similarity(feats.chroma)
    edges = sections.segment(feats) if grid.bars > 1 else np.array([0, grid.bars])
    edges = sections.split_at_repeats(edges, chroma_sim, feats.loudness)
    labels = sections.label(sections.section_similarity(feats, chroma_sim, edges))
    blocks = _blocks(edges, labels)
    scores = _label_scores(feats, blocks, grid.bars)

    def rank(b: _Block) -> tuple[float, bool, int]:
        """Best label first; of its blocks, those that fit the duration bounds, earliest."""
        length = times[b.stop] - times[b.first]
        return -scores[b.label], not lo <= length <= hi, b.first

    ranked = sorted(blocks, key=rank)
    candidates: list[ChorusSegment] = []
    for b in ranked:
        first, stop = _fit(b, times, lo, hi)
        start_bar, end_bar = snap.span(times[first], times[stop])
        if any(c.start_bar < end_bar and start_bar < c.start_bar + c.bar_count
               for c in candidates):
            continue
        candidates.append(ChorusSegment(
            snap.time(start_bar), snap.time(end_bar), _confidence(scores, b.label, blocks),
            start_bar, end_bar - start_bar, _letters(b.label)))
    best = max(scores, key=lambda k: scores[k])
    repeated = sum(b.label == best for b in blocks) >= 2
    song = _sections(edges, labels, best if repeated else None, feats, times, snap)
    return ChorusAnalysis(candidates[0], candidates[1:1 + max_alternatives], song, duration)


def _confidence(scores: dict[int, float], lab: int, blocks: list[_Block]) -> float:
    """0.5..0.95 for a label that repeats (higher the more chorus-like it is and the more it
    stands out from the next label), under 0.3 for one that does not."""
    repeats = sum(b.label == lab for b in blocks)
    others = [s for k, s in scores.items() if k != lab]
    margin = scores[lab] - (max(others) if others else 0.0)
    strength = 1.0 / (1.0 + np.exp(-(scores[lab] - 0.5)))
    sure = strength * (0.5 + 0.5 * np.tanh(max(margin, 0.0)))
    return float(0.5 + 0.45 * sure if repeats >= 2 else 0.3 * sure)


def _kinds(labels: np.ndarray, loudness: np.ndarray, chorus: int | None) -> list[str]:
    """Section functions from the label sequence: the chorus label; before the first chorus,
    sections whose material never returns between the choruses are the intro; after the
    last, such sections (or quiet ones, or the last) are the outro; a label always followed
    by the chorus and mostly preceded by other repeated material is the pre-chorus; other
    repeated labels are verses; one-off sections between choruses are bridges. Without a
    chorus: first and last sections are intro and outro, the rest verse or other."""
    n = len(labels)
    counts = {lab: int(np.sum(labels == lab)) for lab in set(labels.tolist())}
    at = [i for i in range(n) if labels[i] == chorus]
    first_c, last_c = (at[0], at[-1]) if at else (n, -1)
    body = set(labels[first_c + 1:last_c].tolist()) - {chorus}
    quiet = float(np.median(loudness)) - 3.0
    intro = 0
    if at:
        while intro < first_c and labels[intro] not in body:
            intro += 1
    else:
        intro = 1 if n > 1 else 0
    outro = n
    if at:
        while outro - 1 > last_c and (labels[outro - 1] not in body or outro == n
                                      or loudness[outro - 1] < quiet):
            outro -= 1
    elif n > 1:
        outro = n - 1

    def pre_chorus(lab: int) -> bool:
        where = [i for i in range(n) if labels[i] == lab]
        followed = all(i + 1 < n and labels[i + 1] == chorus for i in where)
        after_verse = sum(i > 0 and labels[i - 1] != chorus and counts[labels[i - 1]] >= 2
                          for i in where)
        return followed and after_verse * 2 > len(where)

    kinds = []
    for i, lab in enumerate(labels):
        if lab == chorus:
            kind = CHORUS
        elif i < intro:
            kind = INTRO
        elif i >= outro:
            kind = OUTRO
        elif counts[lab] >= 2:
            kind = PRE_CHORUS if at and pre_chorus(lab) else VERSE
        elif first_c < i < last_c:
            kind = BRIDGE
        else:
            kind = OTHER
        kinds.append(kind)
    return kinds


def _sections(edges: np.ndarray, labels: np.ndarray, chorus: int | None,
              feats: bars.BarFeatures, times: np.ndarray, snap: _Snap) -> list[SongSection]:
    """Sections on the caller's downbeats, tiling 0 s .. the end of the audio; sections that
    snap to nothing are dropped."""
    loud = np.array([feats.loudness[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    kinds = _kinds(labels, loud, chorus)
    bounds = [0] + [snap.bar(float(times[e])) for e in edges[1:-1]]
    keep: list[int] = []
    for i, bar in enumerate(bounds):
        if bar > 0 and snap.time(bar) >= snap.duration:
            break
        if keep and bar <= bounds[keep[-1]]:
            keep.pop()  # the earlier section snapped to nothing
        keep.append(i)
    out: list[SongSection] = []
    seen: dict[int, int] = {}
    for j, i in enumerate(keep):
        lab = int(labels[i])
        last = j == len(keep) - 1
        start_bar = bounds[i]
        end_bar = len(snap.downbeats) if last else bounds[keep[j + 1]]
        start = 0.0 if j == 0 else snap.time(start_bar)
        end = snap.duration if last else snap.time(end_bar)
        out.append(SongSection(start, end, _letters(lab), kinds[i], seen.get(lab, 0),
                               start_bar, max(end_bar - start_bar, 0)))
        seen[lab] = seen.get(lab, 0) + 1
    return out


_KINDS = {INTRO: audio_pb2.SECTION_KIND_INTRO, VERSE: audio_pb2.SECTION_KIND_VERSE,
          PRE_CHORUS: audio_pb2.SECTION_KIND_PRE_CHORUS, CHORUS: audio_pb2.SECTION_KIND_CHORUS,
          BRIDGE: audio_pb2.SECTION_KIND_BRIDGE, OUTRO: audio_pb2.SECTION_KIND_OUTRO,
          OTHER: audio_pb2.SECTION_KIND_OTHER}


def _segment_pb(seg: ChorusSegment) -> audio_pb2.Segment:
    return audio_pb2.Segment(range=common_pb2.TimeRange(start=seg.start, end=seg.end),
                             confidence=seg.confidence, start_bar=seg.start_bar,
                             bar_count=seg.bar_count, label=seg.label)


def to_response(analysis: ChorusAnalysis) -> audio_pb2.DetectChorusResponse:
    """The chorus, alternatives, sections and duration as a DetectChorusResponse (the caller
    adds the echoed audio and rhythm)."""
    return audio_pb2.DetectChorusResponse(
        chorus=_segment_pb(analysis.chorus),
        alternatives=[_segment_pb(a) for a in analysis.alternatives],
        sections=[audio_pb2.Section(range=common_pb2.TimeRange(start=s.start, end=s.end),
                                    label=s.label, kind=_KINDS[s.kind],
                                    repeat_index=s.repeat_index)
                  for s in analysis.sections],
        duration=analysis.duration)
