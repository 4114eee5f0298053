"""DetectSpeech: Silero VAD probabilities (Triton) -> speech segments, the request's options
checked and the response built here; the VAD itself is mediamesh.audio.voice_activity,
which the transcriber shares.
"""
from __future__ import annotations

from mediamesh.audio import voice_activity
from mediamesh.audio.voice_activity import (
    MODEL,
    RATE,
    ROWS_PER_REQUEST,
    WINDOW_S,
    probabilities,
    rows,
    segments,
)
from mediamesh.errors import InvalidArgument
from mediamesh.v1 import audio_pb2, common_pb2

__all__ = ["MODEL", "RATE", "ROWS_PER_REQUEST", "WINDOW_S", "SpeechOptions", "probabilities",
           "rows", "segments", "to_response"]


class SpeechOptions(voice_activity.SpeechOptions):
    """The VAD's options, as a DetectSpeech request sets them."""

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


def to_response(found: list[tuple[float, float, float]], duration: float
                ) -> audio_pb2.DetectSpeechResponse:
    speech = sum(b - a for a, b, _ in found)
    return audio_pb2.DetectSpeechResponse(
        segments=[audio_pb2.SpeechSegment(range=common_pb2.TimeRange(start=a, end=b),
                                          confidence=p) for a, b, p in found],
        speech_ratio=speech / duration if duration else 0.0, duration=duration)
