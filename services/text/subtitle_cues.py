"""Burned-in subtitles as cues: OCR results of frames sampled at a fixed step become timed
cues (numpy-free, pure; ExtractSubtitles feeds it).

As video-subtitle-extractor does: consecutive samples whose text is similar (difflib ratio
>= `similarity`) are one cue, so an OCR slip on one sample does not split it; the cue's
text is the text read most often. A cue starts halfway between the last sample without
it and the first with it, and ends halfway between its last sample and the next one (the
true change lies somewhere in that step: the midpoint halves the worst error). Cues
shorter than `min_duration` are dropped (a flash of scene text, a misread).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class SampledLine:
    text: str
    confidence: float
    box: tuple[float, float, float, float]  # x, y, width, height, normalised to the frame


@dataclass(frozen=True)
class Sample:
    time: float  # seconds
    lines: tuple[SampledLine, ...]  # in reading order; empty = no text

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    language: str
    confidence: float
    box: tuple[float, float, float, float]


@dataclass
class _Open:
    start: float
    samples: list[Sample] = field(default_factory=list)


def language_of(text: str) -> str:
    """"zh" when the text has CJK characters, else "en" (the two the issue covers)."""
    return "zh" if _CJK.search(text) else "en"


def similar(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio() if a and b else float(a == b)


def _same_place(a: tuple[float, float, float, float], b: tuple[float, float, float, float],
                min_iou: float) -> bool:
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - w * h
    return union > 0 and w * h / union >= min_iou


def drop_static_lines(samples: list[Sample], *, min_share: float = 0.6,
                      min_samples: int = 20, min_iou: float = 0.8) -> list[Sample]:
    """The samples without lines that stay put with the same text on at least `min_share`
    of them (a watermark, a channel name): no subtitle stays on screen for most of a video.
    Counted on exact reads at a 2%-grid position (linear in the samples); a line then goes
    wherever a read similar to a static one is at its place. Needs `min_samples`."""
    if len(samples) < min_samples:
        return samples
    counts: Counter[tuple[str, int, int]] = Counter()
    first: dict[tuple[str, int, int], SampledLine] = {}
    for sample in samples:
        keys = {(line.text, round(line.box[0] / 0.02), round(line.box[1] / 0.02)): line
                for line in sample.lines}
        counts.update(keys.keys())
        for key, line in keys.items():
            first.setdefault(key, line)
    static = [first[key] for key, n in counts.items() if n >= min_share * len(samples)]
    if not static:
        return samples
    return [Sample(sample.time, tuple(
        line for line in sample.lines
        if not any(_same_place(line.box, s.box, min_iou) and similar(line.text, s.text) >= 0.8
                   for s in static))) for sample in samples]


def build_cues(samples: list[Sample], step: float, *, similarity: float = 0.8,
               min_duration: float = 0.5, end_of_video: float | None = None) -> list[Cue]:
    """Cues from samples taken every `step` seconds, in time order."""
    cues: list[Cue] = []
    current: _Open | None = None
    previous_time: float | None = None
    for sample in samples:
        text = sample.text
        boundary = sample.time if previous_time is None else (previous_time + sample.time) / 2
        if current is not None and (not text or similar(text, current.samples[-1].text)
                                    < similarity):
            cues += _close(current, boundary, min_duration)
            current = None
        if text and current is None:
            current = _Open(boundary if previous_time is not None else sample.time)
        if current is not None:
            current.samples.append(sample)
        previous_time = sample.time
    if current is not None and previous_time is not None:
        end = previous_time + step / 2
        cues += _close(current, min(end, end_of_video) if end_of_video else end, min_duration)
    return cues


def _close(cue: _Open, end: float, min_duration: float) -> list[Cue]:
    if end - cue.start < min_duration:
        return []
    text = Counter(s.text for s in cue.samples).most_common(1)[0][0]
    lines = [line for s in cue.samples for line in s.lines]
    confidence = sum(line.confidence for line in lines) / len(lines)
    left = min(line.box[0] for line in lines)
    top = min(line.box[1] for line in lines)
    right = max(line.box[0] + line.box[2] for line in lines)
    bottom = max(line.box[1] + line.box[3] for line in lines)
    return [Cue(cue.start, end, text, language_of(text), confidence,
                (left, top, right - left, bottom - top))]


def split_by_language(cues: list[Cue]) -> dict[str, list[Cue]]:
    """One track per language: a bilingual cue's lines go to their own language's track."""
    tracks: dict[str, list[Cue]] = {}
    for cue in cues:
        by_language: dict[str, list[str]] = {}
        for line in cue.text.split("\n"):
            by_language.setdefault(language_of(line), []).append(line)
        for language, lines in by_language.items():
            tracks.setdefault(language, []).append(
                Cue(cue.start, cue.end, "\n".join(lines), language, cue.confidence, cue.box))
    return tracks


def srt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def to_srt(cues: list[Cue]) -> str:
    return "".join(f"{i}\n{srt_time(c.start)} --> {srt_time(c.end)}\n{c.text}\n\n"
                   for i, c in enumerate(cues, start=1))
