"""A script said sentence by sentence into one narration, with each sentence's time span.

Each sentence is said on its own (so its time is exact, not estimated from characters) and
the sentences are joined with a pause: the times are what a subtitle cue and a shot of a
narrated video need. The voice is espeak-ng, run as a program (mediamesh.audio.espeak).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mediamesh.audio import espeak
from mediamesh.errors import InvalidArgument, MeshError, StatusCode, SystemPackageMissing
from mediamesh.sentences import detect_language, split_sentences

RATE = 22_050  # espeak-ng's own rate: no resampling loss, and ample for a voice
LANGUAGES = ("en", "zh")
MAX_CHARACTERS = 5000
MAX_SENTENCES = 200
DEFAULT_PAUSE_S = 0.4
MAX_PAUSE_S = 5.0
LEAD_S = 0.25  # silence before the first sentence
TAIL_S = 0.6  # and after the last: a video should not end on the last syllable
WPM_RANGE = (80, 400)
#: Lossless only: a lossy encoder's delay and padding would shift the sentences' times.
CONTAINERS = ("wav", "flac")


@dataclass(frozen=True)
class NarrationSpec:
    sentences: list[str]
    language: str
    pause: float
    words_per_minute: int

    @property
    def voice(self) -> str:
        return f"{espeak.PROGRAM}:{espeak.VOICES[self.language][0]}"


@dataclass(frozen=True)
class Narration:
    samples: np.ndarray  # mono float32 at RATE
    ranges: list[tuple[float, float]]  # per sentence, seconds

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE


def narration_spec(text: str, language: str, pause: float, words_per_minute: int
                   ) -> NarrationSpec:
    """The request checked: INVALID_ARGUMENT naming the field, RESOURCE_EXHAUSTED over the
    text limits."""
    if not text.strip():
        raise InvalidArgument("text is empty: give the sentences to say", field_name="text")
    if len(text) > MAX_CHARACTERS:
        raise MeshError(f"text has {len(text)} characters; at most {MAX_CHARACTERS} are said "
                        "in one call (split the script)", StatusCode.RESOURCE_EXHAUSTED,
                        "QUOTA_EXCEEDED", field_name="text",
                        metadata={"limit": str(MAX_CHARACTERS)})
    language = language.strip().lower()
    language = "" if language == "auto" else language
    if language and language not in LANGUAGES:
        raise InvalidArgument(f"language '{language}' has no voice here; use one of "
                              f"{', '.join(LANGUAGES)} (or leave it empty, or auto, to detect)",
                              field_name="language")
    language = language or detect_language(text)
    if not 0 <= pause <= MAX_PAUSE_S:
        raise InvalidArgument(f"pause must be 0..{MAX_PAUSE_S:g} s, got {pause:g}",
                              field_name="pause")
    lo, hi = WPM_RANGE
    if words_per_minute and not lo <= words_per_minute <= hi:
        raise InvalidArgument(f"words_per_minute must be {lo}..{hi} (0 = default), got "
                              f"{words_per_minute}", field_name="words_per_minute")
    sentences = split_sentences(text, language)
    if not any(_speakable(s) for s in sentences):
        raise InvalidArgument("text has no words to say (only punctuation or symbols)",
                              field_name="text")
    if len(sentences) > MAX_SENTENCES:
        raise MeshError(f"text has {len(sentences)} sentences; at most {MAX_SENTENCES} in "
                        "one call", StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED",
                        field_name="text", metadata={"limit": str(MAX_SENTENCES)})
    return NarrationSpec([s for s in sentences if _speakable(s)], language,
                         pause or DEFAULT_PAUSE_S, words_per_minute)


def output_container(container: str, uri: str) -> str:
    """wav (default) or flac, from OutputSpec.container or the uri's extension."""
    suffix = uri.rsplit("/", 1)[-1].rpartition(".")[2].lower() if "." in uri else ""
    chosen = (container or suffix or "wav").lower().lstrip(".")
    if chosen not in CONTAINERS:
        raise InvalidArgument(f"output: the narration is written as {' or '.join(CONTAINERS)} "
                              f"(its sentence times must be exact), not '{chosen}'",
                              field_name="output.container")
    if suffix and suffix != chosen:
        raise InvalidArgument(f"output.uri '{uri}' must end in .{chosen}",
                              field_name="output.uri")
    return chosen


def _speakable(sentence: str) -> bool:
    return any(ch.isalnum() for ch in sentence)


def say_sentence(spec: NarrationSpec, index: int) -> np.ndarray:
    """One sentence said (silence trimmed); FAILED_PRECONDITION when espeak-ng is missing."""
    try:
        voice = espeak.say(spec.sentences[index], spec.language, RATE, spec.words_per_minute)
    except espeak.EspeakMissing as exc:
        raise SystemPackageMissing(f"{exc}; SynthesizeSpeech runs it as its voice",
                                   resource=espeak.PROGRAM) from exc
    except espeak.EspeakFailed as exc:
        raise MeshError(f"sentences[{index}] could not be said: {exc}", StatusCode.INTERNAL,
                        "INTERNAL_ERROR", field_name="text") from exc
    if not voice.size:
        raise InvalidArgument(f"sentences[{index}] '{spec.sentences[index][:40]}' comes out "
                              "silent", field_name="text")
    return voice


def assemble(spoken: list[np.ndarray], pause: float) -> Narration:
    """The sentences one after another with `pause` seconds between them, LEAD_S before
    and TAIL_S after; the ranges are where each one is heard."""
    gap = np.zeros(round(pause * RATE), np.float32)
    pieces: list[np.ndarray] = [np.zeros(round(LEAD_S * RATE), np.float32)]
    ranges, at = [], len(pieces[0])
    for i, voice in enumerate(spoken):
        if i:
            pieces.append(gap)
            at += len(gap)
        pieces.append(voice.astype(np.float32))
        ranges.append((at / RATE, (at + len(voice)) / RATE))
        at += len(voice)
    pieces.append(np.zeros(round(TAIL_S * RATE), np.float32))
    samples = np.concatenate(pieces)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 0:
        samples *= 0.9 / peak  # espeak-ng's level varies by voice: a steady -1 dBFS peak
    return Narration(samples, ranges)

