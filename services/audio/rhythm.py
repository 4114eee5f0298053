"""AnalyzeRhythm's pipeline: samples -> features (numpy) -> activations (Triton) -> beats (numpy).

The network runs on Triton in fixed-size chunks: each chunk carries RECEPTIVE_HALF frames of
context on both sides, so the stitched activations equal a whole-song run, and chunks of one
shape from any number of songs can be joined by the dynamic batcher.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from mediamesh.audio import beat_decoder, spectral
from mediamesh.errors import InvalidArgument, MediaUnusable
from mediamesh.inference import TritonClient
from mediamesh.models import beat_tcn
from mediamesh.v1 import audio_pb2

MODEL = "beat_tcn"
CONTEXT = beat_tcn.RECEPTIVE_HALF + 1
CORE = 2048  # output frames per chunk
CHUNK = CORE + 2 * CONTEXT
MIN_SECONDS = 5.0
SILENCE_RMS = 1e-4  # about -80 dBFS


@dataclass(frozen=True)
class RhythmOptions:
    meters: tuple[int, ...]
    min_bpm: float
    max_bpm: float

    @classmethod
    def default(cls) -> RhythmOptions:
        return cls.from_request(audio_pb2.AnalyzeRhythmRequest())

    @classmethod
    def from_request(cls, request: audio_pb2.AnalyzeRhythmRequest) -> RhythmOptions:
        meters = tuple(sorted(set(request.allowed_meters))) or (2, 3, 4)
        bad = [m for m in meters if not 2 <= m <= 12]
        if bad:
            raise InvalidArgument(f"allowed_meters {bad} out of range: beats per bar must be "
                                  "2..12", field_name="allowed_meters")
        defaults = beat_decoder.DecoderConfig()
        lo = request.min_bpm or defaults.min_bpm
        hi = request.max_bpm or defaults.max_bpm
        if not 20 <= lo < hi <= 400:
            raise InvalidArgument(f"tempo bounds {lo:g}..{hi:g} BPM are not usable: need "
                                  "20 <= min_bpm < max_bpm <= 400", field_name="min_bpm")
        if hi / lo < 1.5:
            raise InvalidArgument(f"tempo bounds {lo:g}..{hi:g} BPM are too narrow: allow at "
                                  "least a 1.5x range", field_name="max_bpm")
        return cls(meters, lo, hi)


def chunk(features: np.ndarray) -> np.ndarray:
    """(T, F) -> (N, CHUNK, F): overlapping windows whose centres tile the song."""
    t, f = features.shape
    n = max(1, -(-t // CORE))
    padded = np.zeros((n * CORE + 2 * CONTEXT, f), np.float32)
    padded[CONTEXT:CONTEXT + t] = features
    return np.stack([padded[i * CORE:i * CORE + CHUNK] for i in range(n)])


def stitch(outputs: np.ndarray, frames: int) -> np.ndarray:
    """(N, CHUNK, 2) chunk activations -> (frames, 2), keeping each chunk's centre."""
    return np.concatenate([o[CONTEXT:CONTEXT + CORE] for o in outputs])[:frames]


async def activations(triton: TritonClient, features: np.ndarray) -> np.ndarray:
    """Beat/downbeat probabilities per frame; one request per chunk, sent together so the
    dynamic batcher can join them (with other songs' chunks too)."""
    chunks = chunk(features)
    replies = await asyncio.gather(*(
        triton.infer(MODEL, {"features": c[None]}, ["activations"]) for c in chunks))
    return stitch(np.concatenate([r["activations"] for r in replies]), len(features))


def check_audible(mono: np.ndarray, field_name: str) -> None:
    if len(mono) < MIN_SECONDS * spectral.RATE:
        raise MediaUnusable(f"{field_name} has {len(mono) / spectral.RATE:.1f} s of audio in "
                            f"the analysed range; rhythm analysis needs at least "
                            f"{MIN_SECONDS:g} s", field_name=field_name)
    if float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) < SILENCE_RMS:
        raise MediaUnusable(f"{field_name} is silent (below -80 dBFS) in the analysed range: "
                            "there is no rhythm to track", field_name=field_name)


def to_response(estimate: beat_decoder.RhythmEstimate, offset: float, duration: float
                ) -> audio_pb2.AnalyzeRhythmResponse:
    """Beats in absolute seconds, with bar numbers counted from the first downbeat."""
    reply = audio_pb2.AnalyzeRhythmResponse(
        tempo_bpm=estimate.tempo_bpm, beats_per_bar=estimate.beats_per_bar,
        confidence=estimate.confidence, duration=duration, model=MODEL)
    bar = 0
    seen_downbeat = False
    for t, position in zip(estimate.beats, estimate.positions):
        if position == 1:
            bar = bar + 1 if seen_downbeat else 0
            seen_downbeat = True
            reply.downbeats.append(float(t + offset))
        reply.beats.append(float(t + offset))
        reply.beat_positions.append(audio_pb2.Beat(time=float(t + offset), bar=bar,
                                                   position_in_bar=int(position)))
    for t, bpm in estimate.tempo_curve:
        reply.tempo_curve.append(audio_pb2.TempoPoint(time=t + offset, bpm=bpm))
    return reply


async def analyze(triton: TritonClient, mono: np.ndarray, options: RhythmOptions,
                  offset: float, duration: float, spectrum: np.ndarray | None = None
                  ) -> audio_pb2.AnalyzeRhythmResponse:
    """The whole pipeline on decoded mono samples at `spectral.RATE` (pass the spectrogram
    when the caller has it: chorus detection shares it)."""
    features = await asyncio.to_thread(spectral.features, mono, spectrum)
    acts = await activations(triton, features)
    cfg = beat_decoder.DecoderConfig(min_bpm=options.min_bpm, max_bpm=options.max_bpm)
    estimate = await asyncio.to_thread(beat_decoder.decode, acts, options.meters, cfg)
    if len(estimate.beats) < 4:
        raise MediaUnusable("no steady beat found in the audio (fewer than 4 beats): it may "
                            "be speech, ambience or free-time music", field_name="audio")
    return to_response(estimate, offset, duration)
