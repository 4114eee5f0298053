"""Tags for media from what is written on screen and what is said, with when each occurs:
the smart-tags product's "text labels with occurrence times" plus the raw OCR and speech.

The texts come timed (subtitle cues, scene text read on frames every few seconds,
transcript segments); their keywords (services.text.keywords over all of them together)
become tags, and a tag occurs wherever one of the timed texts contains it. Occurrences
closer than MERGE_GAP_S join, so a word repeated over a scene is one span.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.text import keywords

MERGE_GAP_S = 1.0
CANDIDATES_PER_TAG = 2  # keywords asked for per tag wanted: some occur nowhere verbatim


class Source(StrEnum):
    OCR = "ocr"
    SPEECH = "speech"
    BOTH = "both"  # written and said: TAG_SOURCE_KEYWORD on the wire


@dataclass(frozen=True)
class TimedText:
    text: str
    start: float
    end: float
    source: Source  # OCR or SPEECH


@dataclass(frozen=True)
class Tag:
    label: str
    score: float
    occurrences: list[tuple[float, float]]
    source: Source


def merge_spans(spans: Sequence[tuple[float, float]], gap: float = MERGE_GAP_S
                ) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def deduplicated(texts: Sequence[TimedText]) -> str:
    """Each distinct text once, in time order: the raw OCR or transcript of a result."""
    seen: set[str] = set()
    lines = []
    for t in sorted(texts, key=lambda t: t.start):
        if t.text not in seen:
            seen.add(t.text)
            lines.append(t.text)
    return "\n".join(lines)


def occurrences(label: str, texts: Sequence[TimedText]) -> tuple[list[tuple[float, float]],
                                                                 set[Source]]:
    wanted = label.lower()
    found = [t for t in texts if wanted in t.text.lower()]
    return merge_spans([(t.start, t.end) for t in found]), {t.source for t in found}


async def tag(texts: Sequence[TimedText], top_k: int, embed: keywords.Embed) -> list[Tag]:
    """The media's tags, best first (fewer than top_k when its text has fewer keywords)."""
    combined = deduplicated(texts)
    if not combined.strip():
        return []
    language = keywords.language_of(combined, "")
    found = await keywords.extract(combined, language, top_k * CANDIDATES_PER_TAG, [], 0.3,
                                   embed)
    tags: list[Tag] = []
    for keyword in found:
        spans, sources = occurrences(keyword.text, texts)
        if not spans:
            continue
        source = sources.pop() if len(sources) == 1 else Source.BOTH
        tags.append(Tag(keyword.text, keyword.score, spans, source))
        if len(tags) == top_k:
            break
    return tags
