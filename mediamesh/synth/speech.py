"""Spoken lines with exact times, said by espeak-ng (mediamesh.audio.espeak: GPL-3, a
Debian tool run as a separate program; `make system` installs it), for speech recognition
tests."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mediamesh.audio import espeak

RATE = 16_000
VOICES = espeak.VOICES


@dataclass(frozen=True)
class SpokenLine:
    text: str
    start: float  # seconds: where espeak-ng's sound starts and ends (silence trimmed)
    end: float


def say(text: str, language: str = "en") -> np.ndarray:
    """16 kHz mono float32 of espeak-ng saying `text`, its leading and trailing silence
    trimmed."""
    return espeak.say(text, language, RATE)


def programme(lines: list[str], language: str = "en", gaps: list[float] | None = None,
              lead: float = 1.0) -> tuple[np.ndarray, list[SpokenLine]]:
    """The lines said one after another, `gaps[i]` seconds of silence before line i (1 s
    by default) and `lead` after the last; with each line's time."""
    pieces, spoken, at = [], [], 0.0
    for i, text in enumerate(lines):
        gap = np.zeros(round((gaps[i] if gaps else 1.0) * RATE), np.float32)
        voice = say(text, language)
        start = at + len(gap) / RATE
        spoken.append(SpokenLine(text, start, start + len(voice) / RATE))
        pieces += [gap, voice]
        at = spoken[-1].end
    pieces.append(np.zeros(round(lead * RATE), np.float32))
    return np.concatenate(pieces), spoken
