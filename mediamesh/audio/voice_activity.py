"""Voice activity: Silero VAD probabilities (the silero_vad model on Triton) -> speech
segments (numpy). Shared by AudioService.DetectSpeech and the transcriber, which cuts long
audio into windows at the silences found here.

The audio is cut into rows of 512 samples at 16 kHz (plus the 64 before each, as the model
expects); up to ten minutes of rows go in one request and the LSTM state (h, c) returned by
one request is sent with the next, so long audio is exact and memory stays bounded.
Segments follow Silero's own rule: speech starts when the probability crosses `threshold`,
ends after `min_silence` below `threshold - 0.15`; too-short segments are dropped and the
rest padded.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mediamesh.models.silero_vad import CONTEXT, RATE, WINDOW

MODEL = "silero_vad"
ROWS_PER_REQUEST = 10 * 60 * RATE // WINDOW  # ten minutes
WINDOW_S = WINDOW / RATE


class InferenceClient(Protocol):
    """What a pipeline needs of mediamesh.inference.TritonClient (bench/local_models.py's
    in-process stand-in has it too)."""

    async def infer(self, model: str, inputs: Mapping[str, np.ndarray], outputs: Sequence[str],
                    *, timeout_s: float | None = None) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class SpeechOptions:
    threshold: float = 0.5
    min_speech: float = 0.25
    min_silence: float = 0.1
    pad: float = 0.03


def rows(mono: np.ndarray) -> np.ndarray:
    """(T, 576) model rows: each 512-sample window with the 64 samples before it."""
    n = max(1, -(-len(mono) // WINDOW))
    padded = np.zeros(CONTEXT + n * WINDOW, np.float32)
    padded[CONTEXT:CONTEXT + len(mono)] = mono
    index = np.arange(n)[:, None] * WINDOW + np.arange(CONTEXT + WINDOW)[None, :]
    return padded[index]


async def probabilities(triton: InferenceClient, mono: np.ndarray) -> np.ndarray:
    """Speech probability of every 32 ms window, the state carried across requests."""
    table = rows(mono)
    h = np.zeros((1, 1, 128), np.float32)
    c = np.zeros((1, 1, 128), np.float32)
    out = []
    for start in range(0, len(table), ROWS_PER_REQUEST):
        reply = await triton.infer(MODEL, {"input": table[start:start + ROWS_PER_REQUEST],
                                           "h": h, "c": c}, ["speech_probs", "hn", "cn"])
        out.append(reply["speech_probs"].reshape(-1))
        h, c = reply["hn"], reply["cn"]
    return np.concatenate(out)


def segments(probs: np.ndarray, options: SpeechOptions, duration: float
             ) -> list[tuple[float, float, float]]:
    """(start, end, mean probability) of each speech segment, seconds."""
    low = max(options.threshold - 0.15, 0.01)
    found: list[tuple[int, int]] = []
    start: int | None = None
    silent_since: int | None = None
    for i, p in enumerate(probs):
        if start is None:
            if p >= options.threshold:
                start, silent_since = i, None
            continue
        if p < low:
            silent_since = i if silent_since is None else silent_since
            if (i - silent_since) * WINDOW_S >= options.min_silence:
                found.append((start, silent_since))
                start, silent_since = None, None
        elif p >= options.threshold:
            silent_since = None
    if start is not None:
        found.append((start, silent_since if silent_since is not None else len(probs)))
    out = []
    for a, b in found:
        if (b - a) * WINDOW_S < options.min_speech:
            continue
        out.append((max(0.0, a * WINDOW_S - options.pad), min(duration, b * WINDOW_S + options.pad),
                    float(np.mean(probs[a:b]))))
    merged: list[tuple[float, float, float]] = []
    for seg in out:  # padding can make neighbours touch
        if merged and seg[0] <= merged[-1][1]:
            prev = merged[-1]
            merged[-1] = (prev[0], seg[1], (prev[2] + seg[2]) / 2)
        else:
            merged.append(seg)
    return merged
