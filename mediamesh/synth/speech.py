"""Spoken lines with exact times, said by espeak-ng (GPL-3, a Debian tool the tests and
benches run as a data generator; `make system` installs it), for speech recognition tests.

Voices: American English, and Mandarin read from Chinese characters by the pinyin voice
with a female variant: espeak-ng 1.51's plain `cmn` voice spells its own pinyin as English
words, and Whisper base takes its male Mandarin voice for Thai; "+Annie" it reads best.
"""
from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io.wavfile
import scipy.signal

RATE = 16_000
VOICES = {"en": ("en-us", 150), "zh": ("cmn-latn-pinyin+Annie", 120)}  # voice, words/min


@dataclass(frozen=True)
class SpokenLine:
    text: str
    start: float  # seconds: where espeak-ng's sound starts and ends (silence trimmed)
    end: float


def say(text: str, language: str = "en") -> np.ndarray:
    """16 kHz mono float32 of espeak-ng saying `text`, its leading and trailing silence
    trimmed."""
    voice, speed = VOICES[language]
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "said.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
                       check=True, capture_output=True)
        rate, pcm = scipy.io.wavfile.read(wav)
    audio = scipy.signal.resample_poly(pcm.astype(np.float32) / 32768.0, RATE, rate)
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    return audio[loud[0]:loud[-1] + 1].astype(np.float32) if loud.size else audio[:0]


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
