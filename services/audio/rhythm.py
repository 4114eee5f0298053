"""AnalyzeRhythm's pipeline: samples -> features (numpy) -> activations (Triton) -> beats (numpy).

The network runs on Triton in fixed-size chunks: each chunk carries RECEPTIVE_HALF frames of
context on both sides, so the stitched activations equal a whole-song run, and chunks of one
shape from any number of songs can be joined by the dynamic batcher.

RHYTHM_MODEL_MADMOM swaps the first two stages for the opt-in madmom pack (44.1 kHz,
`madmom_frontend` features, `madmom_downbeats` on Triton, one request per song: its
bidirectional LSTMs cannot be cut into chunks without changing the result); the decoder is
the same.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from mediamesh.audio import beat_decoder, spectral
from mediamesh.errors import InvalidArgument, MediaUnusable, MeshError, ModelNotFound, StatusCode
from mediamesh.inference import TritonClient
from mediamesh.models import beat_tcn, madmom_frontend, madmom_pack
from mediamesh.v1 import audio_pb2
from mediamesh.worker_threads import run_in_thread

MODEL = "beat_tcn"
CONTEXT = beat_tcn.RECEPTIVE_HALF + 1
CORE = 2048  # output frames per chunk
CHUNK = CORE + 2 * CONTEXT
MIN_SECONDS = 5.0
SILENCE_RMS = 1e-4  # about -80 dBFS
MADMOM = madmom_pack.NAME
MADMOM_RATE = madmom_frontend.RATE  # the pack's networks hear 44.1 kHz
MADMOM_SECONDS_PER_MINUTE = 3.0  # extra request deadline per minute of audio (~0.3 CPU-s)


class PackNotEnabled(MeshError):
    """An opt-in model pack is not loaded: NOT_FOUND / MODEL_NOT_FOUND, with the command that
    enables it (its licence is why it is not there by default)."""

    def __init__(self) -> None:
        super().__init__(
            f"model '{MADMOM}' (RHYTHM_MODEL_MADMOM) is not loaded in Triton: it is an opt-in "
            f"pack because madmom's weights are {madmom_pack.LICENCE}. Enable it with "
            f"`mediamesh models enable {madmom_pack.PACK} --accept-license "
            f"{madmom_pack.LICENCE_ID}` and restart the mesh (`mediamesh down && mediamesh "
            "up`), or leave `model` unset for the default model", StatusCode.NOT_FOUND,
            "MODEL_NOT_FOUND", field_name="model", resource=MADMOM)


@dataclass(frozen=True)
class RhythmOptions:
    meters: tuple[int, ...]
    min_bpm: float
    max_bpm: float
    model: str = MODEL  # the activation model: MODEL or MADMOM

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
        models = {audio_pb2.RHYTHM_MODEL_UNSPECIFIED: MODEL,
                  audio_pb2.RHYTHM_MODEL_DEFAULT: MODEL, audio_pb2.RHYTHM_MODEL_MADMOM: MADMOM}
        if request.model not in models:
            raise InvalidArgument(f"model {request.model} is not a RhythmModel this server "
                                  "knows (DEFAULT or MADMOM)", field_name="model")
        return cls(meters, lo, hi, models[request.model])


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


async def require_madmom(triton: TritonClient) -> None:
    """Fail fast, before decoding, when Triton answers but has no madmom pack (when Triton
    is down, the request itself reports that)."""
    if not await triton.is_ready([MADMOM]) and await triton.is_ready():
        raise PackNotEnabled()


async def madmom_activations(triton: TritonClient, features: np.ndarray) -> np.ndarray:
    """(frames, 2) activations of the madmom pack: the whole song in one request."""
    minutes = len(features) / madmom_frontend.FPS / 60.0
    try:
        reply = await triton.infer(MADMOM, {"features": features}, ["activations"],
                                   timeout_s=triton.timeout_s
                                   + MADMOM_SECONDS_PER_MINUTE * minutes)
    except ModelNotFound as exc:
        raise PackNotEnabled() from exc
    return reply["activations"]


def check_audible(mono: np.ndarray, field_name: str, rate: int = spectral.RATE) -> None:
    if len(mono) < MIN_SECONDS * rate:
        raise MediaUnusable(f"{field_name} has {len(mono) / rate:.1f} s of audio in "
                            f"the analysed range; rhythm analysis needs at least "
                            f"{MIN_SECONDS:g} s", field_name=field_name)
    if float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) < SILENCE_RMS:
        raise MediaUnusable(f"{field_name} is silent (below -80 dBFS) in the analysed range: "
                            "there is no rhythm to track", field_name=field_name)


def to_response(estimate: beat_decoder.RhythmEstimate, offset: float, duration: float,
                model: str = MODEL) -> audio_pb2.AnalyzeRhythmResponse:
    """Beats in absolute seconds, with bar numbers counted from the first downbeat."""
    reply = audio_pb2.AnalyzeRhythmResponse(
        tempo_bpm=estimate.tempo_bpm, beats_per_bar=estimate.beats_per_bar,
        confidence=estimate.confidence, duration=duration, model=model)
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
    features = await run_in_thread(spectral.features, mono, spectrum)
    acts = await activations(triton, features)
    return await decode(acts, options, offset, duration, MODEL)


async def analyze_madmom(triton: TritonClient, mono: np.ndarray, options: RhythmOptions,
                         offset: float, duration: float) -> audio_pb2.AnalyzeRhythmResponse:
    """The pipeline with the madmom pack, on mono samples at `madmom_frontend.RATE`."""
    features = await run_in_thread(madmom_frontend.features, mono)
    acts = await madmom_activations(triton, features)
    return await decode(acts, options, offset, duration, MADMOM)


async def decode(acts: np.ndarray, options: RhythmOptions, offset: float, duration: float,
                 model: str) -> audio_pb2.AnalyzeRhythmResponse:
    cfg = beat_decoder.DecoderConfig(min_bpm=options.min_bpm, max_bpm=options.max_bpm)
    estimate = await run_in_thread(beat_decoder.decode, acts, options.meters, cfg)
    if len(estimate.beats) < 4:
        raise MediaUnusable("no steady beat found in the audio (fewer than 4 beats): it may "
                            "be speech, ambience or free-time music", field_name="audio")
    return to_response(estimate, offset, duration, model)
