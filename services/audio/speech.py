"""DetectSpeech: Silero VAD probabilities (Triton) -> speech segments (numpy).

The audio is cut into rows of 512 samples at 16 kHz (plus the 64 before each, as the model
expects); up to ten minutes of rows go in one request and the LSTM state (h, c) returned by
one request is sent with the next, so long audio is exact and memory stays bounded.
Segments follow Silero's own rule: speech starts when the probability crosses `threshold`,
ends after `min_silence` below `threshold - 0.15`; too-short segments are dropped and the
rest padded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mediamesh.errors import InvalidArgument
from mediamesh.inference import TritonClient
from mediamesh.models.silero_vad import CONTEXT, RATE, WINDOW
from mediamesh.v1 import audio_pb2, common_pb2

MODEL = "silero_vad"
ROWS_PER_REQUEST = 10 * 60 * RATE // WINDOW  # ten minutes
WINDOW_S = WINDOW / RATE


@dataclass(frozen=True)
class SpeechOptions:
    threshold: float = 0.5
    min_speech: float = 0.25
    min_silence: float = 0.1
    pad: float = 0.03

    @classmethod
    def from_request(cls, request: audio_pb2.DetectSpeechRequest) -> SpeechOptions:
        d = cls()
        options = cls(request.threshold or d.threshold,
                      request.min_speech_duration or d.min_speech,
                      request.min_silence_duration or d.min_silence, request.pad)
        if not 0.0 < options.threshold < 1.0:
            raise InvalidArgument(f"threshold {options.threshold:g} must be between 0 and 1 "
                                  "(0 = default 0.5)", field_name="threshold")
        for name, value in (("min_speech_duration", options.min_speech),
                            ("min_silence_duration", options.min_silence), ("pad", options.pad)):
            if value < 0 or value > 60:
                raise InvalidArgument(f"{name} {value:g} s must be within 0..60 s",
                                      field_name=name)
        return options


def rows(mono: np.ndarray) -> np.ndarray:
    """(T, 576) model rows: each 512-sample window with the 64 samples before it."""
    n = max(1, -(-len(mono) // WINDOW))
    padded = np.zeros(CONTEXT + n * WINDOW, np.float32)
    padded[CONTEXT:CONTEXT + len(mono)] = mono
    index = np.arange(n)[:, None] * WINDOW + np.arange(CONTEXT + WINDOW)[None, :]
    return padded[index]


async def probabilities(triton: TritonClient, mono: np.ndarray) -> np.ndarray:
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


def to_response(found: list[tuple[float, float, float]], duration: float
                ) -> audio_pb2.DetectSpeechResponse:
    speech = sum(b - a for a, b, _ in found)
    return audio_pb2.DetectSpeechResponse(
        segments=[audio_pb2.SpeechSegment(range=common_pb2.TimeRange(start=a, end=b),
                                          confidence=p) for a, b, p in found],
        speech_ratio=speech / duration if duration else 0.0, duration=duration)
