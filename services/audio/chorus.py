"""DetectChorus's algorithm: the chorus, ranked alternatives and the section structure of a
song, from its spectrogram and beat grid (numpy only, no servers).

The chorus is the repeated material that is loudest and busiest, not the intro or outro;
consecutive chorus sections (a double chorus) form one block, and every time is snapped to a
downbeat. The structure itself comes from `sections` (bar features -> novelty -> sections ->
labels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mediamesh.audio import spectral
from mediamesh.v1 import audio_pb2, common_pb2
from services.audio import sections as S

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


def _label_scores(feats: S.BarFeatures, blocks: list[_Block], bars: int) -> dict[int, float]:
    """How chorus-like each label is: louder and busier than the song's median bar, repeated
    as separate blocks, and not only at the very start or end."""
    loud_ref = float(np.median(feats.loudness))
    act = np.log(feats.activity + 1e-4)
    act_ref = float(np.median(act))
    scores: dict[int, float] = {}
    for lab in sorted({b.label for b in blocks}):
        mine = [b for b in blocks if b.label == lab]
        mask = np.zeros(bars, bool)
        for b in mine:
            mask[b.first:b.stop] = True
        loud = float(feats.loudness[mask].mean()) - loud_ref
        busy = float(act[mask].mean()) - act_ref
        repeats = min(len(mine), 4)
        edge = any(b.first == 0 for b in mine) or all(b.stop == bars for b in mine)
        scores[lab] = (loud / 3.0 + busy + 0.5 * np.log2(repeats) - (1.0 if edge else 0.0)
                       - (0.7 if repeats < 2 else 0.0) - (1.0 if mask.sum() < 4 else 0.0))
    return scores


def _fit(block: _Block, times: np.ndarray, lo: float, hi: float) -> tuple[int, int]:
    """The block's bars, trimmed at the end to at most `hi` seconds, extended forward (or
    backward at the song's end) to at least `lo` seconds, whole bars."""
    first, stop = block.first, block.stop
    bars = len(times) - 1
    while stop - first > 1 and times[stop] - times[first] > hi:
        stop -= 1
    while times[stop] - times[first] < lo and (stop < bars or first > 0):
        if stop < bars:
            stop += 1
        else:
            first -= 1
    return first, stop


def detect(spectrum: np.ndarray, beats: np.ndarray, positions: np.ndarray, beats_per_bar: int,
           *, min_duration: float = 0, max_duration: float = 0, max_alternatives: int = 3
           ) -> ChorusAnalysis:
    """The chorus, up to `max_alternatives` other candidates (best first) and the sections
    of a song. `spectrum` is `spectral.spectrogram(mono)`; `beats` in seconds with
    `positions` 1-based in the bar (1 = downbeat). `min_duration`/`max_duration` (seconds,
    0 = defaults) bound the chorus. Never fails on odd input: a song without repeats gets a
    low-confidence chorus on its most chorus-like section."""
    duration = max(len(spectrum) - 1, 1) / spectral.FPS
    lo = min_duration or DEFAULT_MIN_DURATION
    hi = max(max_duration or DEFAULT_MAX_DURATION, lo)
    grid = S.bar_grid(beats, positions, beats_per_bar, duration)
    times = grid.edges
    bars = grid.bars
    feats = S.bar_features(spectrum, grid)
    edges = S.segment(feats) if bars > 1 else np.array([0, bars])
    chroma_sim = S.chroma_similarity(feats.chroma)
    sim = S.section_similarity(feats, chroma_sim, edges)
    labels = S.label(sim)
    blocks = _blocks(edges, labels)
    scores = _label_scores(feats, blocks, bars)

    ranked = sorted(blocks, key=lambda b: (-scores[b.label], b.first))
    candidates: list[ChorusSegment] = []
    for b in ranked:
        first, stop = _fit(b, times, lo, hi)
        if any(c.start_bar < stop and first < c.start_bar + c.bar_count for c in candidates):
            continue
        candidates.append(ChorusSegment(
            float(times[first]), float(times[stop]), _confidence(scores, b.label, blocks),
            first, stop - first, _letters(b.label)))
    sections = _sections(edges, labels, blocks, scores, times, duration)
    return ChorusAnalysis(candidates[0], candidates[1:1 + max_alternatives], sections, duration)


def _confidence(scores: dict[int, float], lab: int, blocks: list[_Block]) -> float:
    repeats = sum(b.label == lab for b in blocks)
    others = [s for k, s in scores.items() if k != lab]
    margin = scores[lab] - (max(others) if others else 0.0)
    base = 1.0 / (1.0 + np.exp(-(scores[lab] - 0.5)))
    sure = base * (0.5 + 0.5 * np.tanh(max(margin, 0.0)))
    return float(np.clip(sure if repeats >= 2 else min(sure, 0.3), 0.0, 1.0))


def _sections(edges: np.ndarray, labels: np.ndarray, blocks: list[_Block],
              scores: dict[int, float], times: np.ndarray, duration: float
              ) -> list[SongSection]:
    chorus = max(scores, key=lambda k: scores[k])
    counts = {lab: sum(b.label == lab for b in blocks) for lab in scores}
    chorus_bars = [i for i, lab in enumerate(labels) if lab == chorus]
    first_chorus = chorus_bars[0] if chorus_bars else len(labels)
    last_chorus = chorus_bars[-1] if chorus_bars else -1
    out: list[SongSection] = []
    seen: dict[int, int] = {}
    n = len(labels)
    for i, lab in enumerate(labels):
        if lab == chorus and counts[lab] >= 2:
            kind = CHORUS
        elif i == 0 and n > 1:
            kind = INTRO
        elif i == n - 1 and n > 1:
            kind = OUTRO
        elif i + 1 < n and labels[i + 1] == chorus and i > 0 and labels[i - 1] != chorus:
            kind = PRE_CHORUS if counts[lab] >= 2 else OTHER
        elif i > last_chorus:
            kind = OUTRO
        elif counts[lab] >= 2 and i < first_chorus or counts[lab] >= 2:
            kind = VERSE
        elif first_chorus < i < last_chorus:
            kind = BRIDGE
        else:
            kind = OTHER
        start = 0.0 if i == 0 else float(times[edges[i]])
        end = duration if i == n - 1 else float(times[edges[i + 1]])
        out.append(SongSection(start, end, _letters(lab), kind, seen.get(lab, 0),
                               int(edges[i]), int(edges[i + 1] - edges[i])))
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
