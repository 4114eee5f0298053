"""Audio in and out for the compose jobs: decode inputs with errors that name the request
field and the file, pick the output codec, and write a mastered mix whose *file* (after
lossy encoding) still meets the true-peak ceiling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.audio import loudness, mixing
from mediamesh.errors import InvalidArgument
from mediamesh.media_inputs import decode_audio_input, probe_audio
from mediamesh.storage import MediaRefLike, MediaStore

AUDIO_CONTAINERS = ("wav", "flac", "mp3", "m4a", "aac", "ogg")
LOSSY = frozenset({"mp3", "m4a", "aac", "ogg"})
# Headroom under the ceiling on top of the overshoot measured on the sample: a whole
# song has more transients than the sample, and MP3 at 192 kb/s overshoots up to ~0.5 dB.
LOSSY_HEADROOM_DB = 0.5
# The codec's bias is measured on this many chunks of the mastered mix, of this many
# seconds each, around its highest peaks. Its worst overshoot is a maximum over transients,
# so many short chunks (12 s) predict a whole song's better than 4 x 5 s did.
CODEC_PROBE_CHUNKS = 8
CODEC_PROBE_CHUNK_S = 1.5
CODEC_PROBE_FADE_S = 0.01  # chunks fade in and out: a cut is a click the codec would smear
MASTER_ATTEMPTS = 3
LOUDNESS_TOLERANCE_LU = 0.2  # how close the written file must come to target_lufs
async def load_audio(store: MediaStore, ref: MediaRefLike, field_name: str, label: str,
                     rate: int, channels: int, max_seconds: float, min_seconds: float = 0.0
                     ) -> np.ndarray:
    """(channels, n) float32 at `rate` Hz; `label` (e.g. "songs[2] (b.mp3)") opens every
    error so a person knows which input to fix."""
    async with store.local_file(ref, field_name) as path:
        await probe_audio(path, field_name, label=label, max_seconds=max_seconds)
        samples = await decode_audio_input(path, field_name, rate, mono=False, label=label)
    planar = mixing.match_channels(samples, channels)
    seconds = planar.shape[-1] / rate
    if seconds <= 0 or not np.any(planar):
        raise InvalidArgument(f"{label} holds no audio (silent or empty)", field_name=field_name)
    if seconds < min_seconds:
        raise InvalidArgument(f"{label} is {seconds:.2f} s long; at least {min_seconds:g} s "
                              "is needed", field_name=field_name)
    return planar


@dataclass(frozen=True)
class WrittenAudio:
    path: Path
    duration: float  # seconds
    integrated_lufs: float  # of the file as written (decoded back)
    true_peak_dbtp: float  # of the file as written (decoded back)
    master_gain_db: float


def _probe_starts(envelope: np.ndarray, size: int, count: int) -> list[int]:
    """Starts of `count` non-overlapping `size`-sample windows centred on the highest peaks
    of `envelope`: where the limiter packs most peaks against the ceiling, the codec's
    overshoot shows most, and the loudest passages dominate gated loudness anyway."""
    n = envelope.shape[0]
    blocks = envelope[:n // size * size].reshape(-1, size) if n >= size else envelope[None]
    starts: list[int] = []
    for block in np.argsort(blocks.max(axis=1))[::-1]:
        peak = int(block) * size + int(np.argmax(blocks[block]))
        start = min(max(peak - size // 2, 0), n - size)
        if all(abs(start - other) >= size for other in starts):
            starts.append(start)
        if len(starts) == count:
            break
    return sorted(starts)


def _codec_bias(path: Path, mastered: np.ndarray, rate: int) -> tuple[float, float]:
    """(loudness lost, true peak gained) by the codec of `path`, in LU and dB, measured on
    a few seconds of the mastered mix round-tripped through the codec. A lossy file then
    meets its marks on the first full encode instead of the third."""
    size = min(int(CODEC_PROBE_CHUNK_S * rate), mastered.shape[-1])
    if size == 0:
        return 0.0, 0.0
    count = min(CODEC_PROBE_CHUNKS, mastered.shape[-1] // size)
    fade = mixing.Fade(CODEC_PROBE_FADE_S, mixing.FadeCurve.S_CURVE)
    starts = _probe_starts(_metered_peaks(mastered, rate), size, count)
    sample = np.concatenate([mixing.apply_fades(mastered[:, a:a + size], rate, fade, fade)
                             for a in starts], axis=1)
    probe = path.with_name(f".{path.stem}.probe{path.suffix}")
    try:
        media.write_audio(probe, sample, rate)
        decoded = np.atleast_2d(media.decode_audio(probe, rate, False))
    finally:
        probe.unlink(missing_ok=True)
    lost = _gated_lufs(sample, rate) - _gated_lufs(decoded, rate)
    gained = loudness.true_peak(decoded, rate) - loudness.true_peak(sample, rate)
    return (lost if math.isfinite(lost) else 0.0), (gained if math.isfinite(gained) else 0.0)


def _metered_peaks(samples: np.ndarray, rate: int) -> np.ndarray:
    """Per sample, the true-peak meter's reading around it: where a mastered mix comes
    closest to its ceiling as the file will be measured (the limiter's own envelope also
    heeds content above the meter's band, which codecs drop anyway)."""
    if loudness.oversampling_factor(rate) == 1:
        return np.abs(np.atleast_2d(samples)).max(axis=0)
    gaps = loudness.gap_peaks(samples, rate)
    return np.maximum(gaps[:-1], gaps[1:])


def _gated_lufs(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness for an internal estimate (pyloudnorm's blocks and gates)."""
    return loudness.gated_loudness(loudness.weighted_power(samples, rate), rate)


def write_mastered(path: Path, mix: np.ndarray, rate: int, target_lufs: float | None,
                   ceiling_dbtp: float | None) -> WrittenAudio:
    """Normalise, limit and encode by `path`'s extension, then measure the file itself.
    Lossy codecs overshoot peaks and lose a little loudness (more for noisy, bright
    material): the bias is measured on the loudest seconds of the mastered mix first and
    folded into the aims, and a file still off the mark is mastered again with the
    measured error."""
    analysis = mixing.MasterAnalysis.of(mix, rate) if ceiling_dbtp is not None else None
    aim, goal = ceiling_dbtp, target_lufs
    mastered: mixing.Mastered | None = None
    if analysis is not None and ceiling_dbtp is not None \
            and path.suffix.lstrip(".").lower() in LOSSY:
        aim = ceiling_dbtp - LOSSY_HEADROOM_DB
        mastered = mixing.master(mix, rate, goal, aim, analysis)
        lost, gained = _codec_bias(path, mastered.samples, rate)
        if gained > 0 or (lost > 0 and goal is not None):
            aim -= max(gained, 0.0)
            goal = None if goal is None else goal + max(lost, 0.0)
            mastered = None  # mastered again for the corrected aims
    for attempt in range(MASTER_ATTEMPTS):
        if mastered is None:
            mastered = mixing.master(mix, rate, goal, aim, analysis)
        samples, gain_db = mastered.samples, mastered.gain_db
        if attempt == MASTER_ATTEMPTS - 1 and aim is not None:
            samples = mixing.limit_true_peak(samples, rate, aim - 0.2)  # last resort: peaks
        media.write_audio(path, samples, rate)
        decoded = np.atleast_2d(media.decode_audio(path, rate, False))
        peak = loudness.true_peak(decoded, rate)
        measured = loudness.integrated_lufs(decoded, rate)
        peak_ok = ceiling_dbtp is None or peak <= ceiling_dbtp
        loud_ok = target_lufs is None or not math.isfinite(measured) \
            or abs(measured - target_lufs) <= LOUDNESS_TOLERANCE_LU
        if peak_ok and loud_ok:
            break
        if not peak_ok and aim is not None and ceiling_dbtp is not None:
            aim -= 2.0 * (peak - ceiling_dbtp) + 0.1  # overshoot grows as peaks are packed
            mastered = None
        if not loud_ok and goal is not None and target_lufs is not None:
            goal += target_lufs - measured
            mastered = None
    return WrittenAudio(path, mix.shape[-1] / rate, measured, peak, gain_db)
