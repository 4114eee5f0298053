"""Lecture chapters: the title a slide's OCR gives, and the chapter files (JSON, WebVTT
chapters, FFmpeg ffmetadata). Pure functions; the muxing is mediamesh.media.remux's."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from mediamesh.ocr_reader import ReadLine

TITLE_TIE = 0.12  # lines within this share of the tallest line's height tie; topmost wins


@dataclass(frozen=True)
class Chapter:
    """One chapter: [start, end) seconds, its title (`Chapter <n>` with confidence 0 when
    the slide has no readable text), and the settled frame the title was read from."""

    index: int
    start: float
    end: float
    title: str
    title_confidence: float
    key_frame_time: float


def line_height(line: ReadLine) -> float:
    """A read line's text height, pixels: its outline's mean left and right edge."""
    tl, tr, br, bl = line.quad.corners
    return float((((bl - tl) ** 2).sum() ** 0.5 + ((br - tr) ** 2).sum() ** 0.5) / 2)


MIN_TITLE_CHARACTERS = 2  # letters, digits or CJK characters


def is_wordlike(line: ReadLine) -> bool:
    """A line that can be a title: wider than tall, with at least MIN_TITLE_CHARACTERS
    letters or digits (a chart's bar or a rule reads as '1', '_' or '-' and is tall or
    long, never a title)."""
    left, top, right, bottom = line.quad.bounds
    characters = sum(ch.isalnum() for ch in line.text)
    return right - left > bottom - top and characters >= MIN_TITLE_CHARACTERS


def title_of(lines: list[ReadLine]) -> ReadLine | None:
    """A slide's title: of the word-like lines, the one with the tallest text; lines
    about as tall tie and the topmost of them wins (a title sits above equally large
    text). None when there is no word-like line."""
    lines = [line for line in lines if is_wordlike(line)]
    if not lines:
        return None
    tallest = max(line_height(line) for line in lines)
    tied = [line for line in lines if line_height(line) >= (1 - TITLE_TIE) * tallest]
    return min(tied, key=lambda line: line.quad.bounds[1])


def fallback_title(index: int) -> str:
    return f"Chapter {index + 1}"


def to_json(chapters: list[Chapter], duration: float) -> str:
    return json.dumps({"duration": duration, "chapters": [asdict(c) for c in chapters]},
                      ensure_ascii=False, indent=1)


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _vtt_text(title: str) -> str:
    """A cue payload: one line, no '-->', HTML-like characters escaped (WebVTT §4.2)."""
    one_line = " ".join(title.split()).replace("-->", "->")
    return one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(chapters: list[Chapter]) -> str:
    """A WebVTT file for a `<track kind="chapters">`: one cue per chapter."""
    cues = [f"{c.index + 1}\n{_vtt_time(c.start)} --> {_vtt_time(c.end)}\n{_vtt_text(c.title)}"
            for c in chapters]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def _ff_escape(text: str) -> str:
    """ffmetadata values escape '=', ';', '#', '\\' and newlines with a backslash."""
    out = text
    for ch in ("\\", "=", ";", "#", "\n"):
        out = out.replace(ch, "\\" + ch)
    return out


def to_ffmetadata(chapters: list[Chapter]) -> str:
    """An FFmpeg metadata file (`ffmpeg -i in.mp4 -i this -map_chapters 1 ...`)."""
    parts = [";FFMETADATA1"]
    for c in chapters:
        parts.append(f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={round(c.start * 1000)}\n"
                     f"END={round(c.end * 1000)}\ntitle={_ff_escape(c.title)}")
    return "\n".join(parts) + "\n"
