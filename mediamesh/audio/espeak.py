"""Speech from espeak-ng, run as an external program.

espeak-ng is GPL-3: it is installed from Debian (`make system`, `apt-get install espeak-ng`)
and only ever executed, never linked or imported, so nothing in mediamesh depends on a GPL
library. Text goes in on stdin (a text starting with "-" is never read as an option) and
the WAV comes back on stdout: no temporary files.

Voices: American English, and Mandarin read from Chinese characters by the pinyin voice
with a female variant: espeak-ng 1.51's plain `cmn` voice spells its own pinyin as English
words, and Whisper base takes its male Mandarin voice for Thai; "+Annie" it reads best.
"""
from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import scipy.io.wavfile
import scipy.signal

PROGRAM = "espeak-ng"
LICENCE = "espeak-ng (GPL-3.0-or-later), run as a separate program from Debian's package"
VOICES = {"en": ("en-us", 150), "zh": ("cmn-latn-pinyin+Annie", 120)}  # voice, words/min
INSTALL_HINT = "install it with `sudo apt-get install espeak-ng` (or `make system`)"
TIMEOUT_S = 120.0
SILENCE = 1e-3  # |sample| below this counts as silence when trimming


class EspeakMissing(RuntimeError):
    """espeak-ng is not on PATH."""


class EspeakFailed(RuntimeError):
    """espeak-ng ran but produced no usable audio."""


def available() -> bool:
    return shutil.which(PROGRAM) is not None


def say(text: str, language: str = "en", rate: int = 16_000, words_per_minute: int = 0
        ) -> np.ndarray:
    """Mono float32 at `rate` Hz of espeak-ng saying `text` in `language` ("en" or "zh"),
    its leading and trailing silence trimmed."""
    if not available():
        raise EspeakMissing(f"{PROGRAM} is not installed: {INSTALL_HINT}")
    voice, speed = VOICES[language]
    command = [PROGRAM, "--stdout", "-b", "1", "-v", voice, "-s",
               str(words_per_minute or speed)]
    try:
        done = subprocess.run(command, input=text.encode("utf-8"), capture_output=True,
                              timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EspeakFailed(f"{PROGRAM} took more than {TIMEOUT_S:g} s") from exc
    if done.returncode != 0 or not done.stdout:
        raise EspeakFailed(f"{PROGRAM} failed (exit {done.returncode}): "
                           f"{done.stderr.decode(errors='replace').strip()[:200]}")
    source_rate, pcm = scipy.io.wavfile.read(io.BytesIO(_fixed_sizes(done.stdout)))
    audio = scipy.signal.resample_poly(pcm.astype(np.float32) / 32768.0, rate, source_rate)
    loud = np.flatnonzero(np.abs(audio) > SILENCE)
    return audio[loud[0]:loud[-1] + 1].astype(np.float32) if loud.size else audio[:0]


def _fixed_sizes(wav: bytes) -> bytes:
    """espeak-ng streams WAV to stdout with placeholder RIFF and data sizes (it cannot seek
    back): write the real ones so a strict reader takes the file."""
    data = wav.find(b"data", 12)
    if wav[:4] != b"RIFF" or data < 0:
        raise EspeakFailed(f"{PROGRAM} wrote no WAV")
    body = len(wav) - (data + 8)
    return (wav[:4] + (len(wav) - 8).to_bytes(4, "little") + wav[8:data + 4]
            + body.to_bytes(4, "little") + wav[data + 8:])
