"""Video fingerprints and their matching, in numpy (no server): pooled DCT samples through
the video, and an offset-voting temporal match that finds where two videos show the same
pictures.

The `frame_hash` model on Triton gives each decoded frame the 16x16 lowest non-DC DCT
coefficients of its 64x64 luma (PDQ's features). Frames are pooled into samples on a fixed
grid (`pool_samples`); each sample keeps
  - a 256-bit PDQ hash (coefficients above their median): the public per-frame hash, for
    indexing in other systems;
  - an 8x8 int8 signature (the lowest 64 coefficients, unit length): what matching
    compares, by cosine. Measured on the evaluation's copies, signatures of aligned samples
    stay close where hash bits of low-contrast pictures (texture, haze) flip by chance:
    the cosine weighs each coefficient by its energy, the median rule weighs all alike.

Matching is a discrete temporal match kernel: every pair of samples whose signatures are
close votes for the time offset between them (candidate time - query time); the offset
with most votes is the alignment (a trimmed copy, or a clip inside a longer video, shifts
all its pairs by the same amount); the score is how well the two sequences agree, sample
by sample, along that alignment. Chance pairs between unrelated videos scatter over many
offsets and never build a long aligned run.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from mediamesh.errors import InvalidArgument

ALGORITHM = "mediamesh-pdq-dct8-tmk"
VERSION = 1
HASH_BITS = 256
SIGNATURE = 8  # signature = the SIGNATURE x SIGNATURE lowest coefficients
SIGNATURE_LEN = SIGNATURE * SIGNATURE
MAGIC = b"MMFP"
_HEADER = struct.Struct("<4sBxxxffI")  # magic, version, sample fps, duration s, samples
_SAMPLE_BYTES = 4 + SIGNATURE_LEN + 2  # time (ms), signature, quality
MAX_SAMPLES = 2_000_000  # ~11.5 days at 2 fps: a bound on what a fingerprint may claim


@dataclass(frozen=True)
class MatchParams:
    """Thresholds of the match: signature cosines, seconds, samples."""

    min_quality: float = 1.5  # less structure (black, solid cards, fine noise): not evidence
    pair_similarity: float = 0.85  # two samples at least this close vote for their offset
    frame_similarity: float = 0.7  # an aligned sample this close counts as matching
    max_gap_s: float = 4.0  # disagreeing stretch that still belongs to one matching span
    min_evidence: int = 6  # matching samples needed for full confidence
    min_score: float = 0.5  # reported matches score at least this


@dataclass(frozen=True)
class Fingerprint:
    """Samples in time order: times (s), int8 signatures (N, 64), quality (N,); the PDQ
    hashes (N, 32) travel beside it in the API and are not part of the binary form."""

    times: np.ndarray  # float64 (N,)
    signatures: np.ndarray  # int8 (N, 64)
    quality: np.ndarray  # float32 (N,)
    sample_fps: float
    duration: float

    def __len__(self) -> int:
        return len(self.times)

    def to_bytes(self) -> bytes:
        """Versioned binary form: header, then times (uint32 ms), signatures, quality
        (float16). 70 bytes a sample: 500 KB for an hour at 2 samples a second."""
        header = _HEADER.pack(MAGIC, VERSION, self.sample_fps, self.duration, len(self))
        millis = np.round(self.times * 1000).astype("<u4")
        return b"".join((header, millis.tobytes(), self.signatures.astype(np.int8).tobytes(),
                         self.quality.astype("<f2").tobytes()))

    @classmethod
    def from_bytes(cls, data: bytes, field_name: str = "fingerprint") -> Fingerprint:
        """Parse `to_bytes` output; anything else is INVALID_ARGUMENT naming the field."""
        if len(data) < _HEADER.size:
            raise InvalidArgument(f"{field_name} is {len(data)} bytes, too short to be a "
                                  "fingerprint: pass FingerprintResult.fingerprint as it came",
                                  field_name=field_name)
        magic, version, fps, duration, count = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise InvalidArgument(f"{field_name} is not a mediamesh fingerprint (it does not "
                                  "start with MMFP): pass FingerprintResult.fingerprint",
                                  field_name=field_name)
        if version != VERSION:
            raise InvalidArgument(f"{field_name} is {ALGORITHM} version {version}; this "
                                  f"service compares version {VERSION}: fingerprint the "
                                  "video again", field_name=field_name)
        expected = _HEADER.size + count * _SAMPLE_BYTES
        if count > MAX_SAMPLES or len(data) != expected or not (fps > 0 and duration >= 0):
            raise InvalidArgument(f"{field_name} is damaged: {len(data)} bytes for {count} "
                                  f"samples (expected {expected}); pass it unmodified",
                                  field_name=field_name)
        at = _HEADER.size
        times = np.frombuffer(data, "<u4", count, at).astype(np.float64) / 1000.0
        at += 4 * count
        signatures = np.frombuffer(data, np.int8, count * SIGNATURE_LEN, at).reshape(
            count, SIGNATURE_LEN)
        at += count * SIGNATURE_LEN
        quality = np.frombuffer(data, "<f2", count, at).astype(np.float32)
        if count and (np.any(np.diff(times) < 0) or not np.all(np.isfinite(quality))):
            raise InvalidArgument(f"{field_name} is damaged: its sample times go backwards "
                                  "or its quality values are not numbers", field_name=field_name)
        return cls(times, signatures.copy(), quality, float(fps), float(duration))


@dataclass(frozen=True)
class Samples:
    """Pooled samples of one video: what `Fingerprint` keeps plus the public PDQ hashes."""

    times: np.ndarray
    hashes: np.ndarray  # uint8 (N, 32), PDQ bit order (row-major coefficients, big-endian)
    signatures: np.ndarray
    quality: np.ndarray

    def fingerprint(self, sample_fps: float, duration: float) -> Fingerprint:
        return Fingerprint(self.times, self.signatures, self.quality, sample_fps, duration)


def hash_bits(dct: np.ndarray) -> np.ndarray:
    """PDQ's binarisation: bit k of a frame is set when coefficient k exceeds the median of
    its 256 coefficients. (N, 16, 16) or (N, 256) float -> (N, 32) uint8, packed."""
    flat = dct.reshape(len(dct), -1)
    median = np.median(flat, axis=1, keepdims=True)
    return np.packbits(flat > median, axis=1)


def signatures(dct: np.ndarray) -> np.ndarray:
    """The lowest 8x8 coefficients at unit length, as int8 (N, 64) (x127; flat frames 0)."""
    low = dct.reshape(len(dct), 16, 16)[:, :SIGNATURE, :SIGNATURE].reshape(len(dct), -1)
    norm = np.linalg.norm(low, axis=1, keepdims=True)
    unit = np.divide(low, norm, out=np.zeros_like(low), where=norm > 1e-9)
    return np.round(unit * 127).astype(np.int8)


def analysis_fps(sample_fps: float) -> float:
    """Frames decoded per second to pool into `sample_fps` samples: four per period, at
    least 8 a second (every frame of a video at a lower rate)."""
    return max(8.0, 4.0 * sample_fps)


def pool_samples(times: np.ndarray, dct: np.ndarray, quality: np.ndarray, sample_fps: float,
                 duration: float) -> Samples:
    """Samples on the grid k / sample_fps from per-frame DCTs decoded at a higher rate: each
    sample is the triangle-weighted mean of the frames within one sample period of it (the
    DCT is linear, so this is the DCT of the blended picture). A copy's grid never falls on
    the original's frames; pooled, a shift of a fraction of the period moves a sample's
    window by that fraction instead of swapping its picture for another (in a fast pan,
    pictures 0.1 s apart share little)."""
    period = 1.0 / sample_fps
    grid = np.arange(0.0, max(duration, float(times[-1])) + 1e-9, period)
    flat = dct.reshape(len(dct), -1).astype(np.float64)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, len(grid), 512):  # blocks: the weight matrix stays small
        block = grid[start:start + 512]
        lo = int(np.searchsorted(times, block[0] - period))
        hi = int(np.searchsorted(times, block[-1] + period, side="right"))
        weights = np.maximum(0.0, 1.0 - np.abs(block[:, None] - times[None, lo:hi]) / period)
        total = weights.sum(axis=1)
        covered = total > 0
        weights = weights[covered] / total[covered, None]
        parts.append((block[covered], weights @ flat[lo:hi], weights @ quality[lo:hi]))
    pooled = np.concatenate([p[1] for p in parts])
    return Samples(np.concatenate([p[0] for p in parts]), hash_bits(pooled),
                   signatures(pooled), np.concatenate([p[2] for p in parts]).astype(np.float32))


def _unit(signature: np.ndarray) -> np.ndarray:
    values = signature.astype(np.float32)
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-6)


@dataclass(frozen=True)
class Alignment:
    """Where a candidate shows the query's pictures: candidate time = query time + offset."""

    score: float  # 0..1
    offset: float  # seconds
    query_start: float
    query_end: float
    candidate_start: float
    candidate_end: float
    matched: int  # aligned samples that match


def match(query: Fingerprint, candidate: Fingerprint,
          params: MatchParams = MatchParams()) -> Alignment | None:
    """The best alignment of `candidate` to `query`, or None when nothing aligns."""
    q = np.flatnonzero(query.quality >= params.min_quality)
    c = np.flatnonzero(candidate.quality >= params.min_quality)
    if len(q) == 0 or len(c) == 0:
        return None
    # signatures at unit length once: every cosine below is then a dot product
    units = _Units(_unit(query.signatures), _unit(candidate.signatures))
    offset = _vote_offset(query, candidate, units, q, c, params)
    if offset is None:
        return None
    return _align(query, candidate, units, q, offset, params)


@dataclass(frozen=True)
class _Units:
    query: np.ndarray  # float32 (N, 64), unit rows
    candidate: np.ndarray


def _step(query: Fingerprint, candidate: Fingerprint) -> float:
    return 1.0 / min(query.sample_fps, candidate.sample_fps)


def _vote_offset(query: Fingerprint, candidate: Fingerprint, units: _Units, q: np.ndarray,
                 c: np.ndarray, params: MatchParams) -> float | None:
    """The time offset most close pairs agree on; None without any close pair."""
    step = _step(query, candidate)
    offsets, weights = [], []
    for start in range(0, len(q), 1024):  # blocks bound the similarity matrix's memory
        rows = q[start:start + 1024]
        close = units.query[rows] @ units.candidate[c].T
        i, j = np.nonzero(close >= params.pair_similarity)
        offsets.append(candidate.times[c[j]] - query.times[rows[i]])
        weights.append(close[i, j] - params.pair_similarity + 0.05)
    pair_offsets, pair_weights = np.concatenate(offsets), np.concatenate(weights)
    if len(pair_offsets) == 0:
        return None
    bins = np.round(pair_offsets / step).astype(np.int64)
    lowest = bins.min()
    votes = np.concatenate([[0.0], np.bincount(bins - lowest, weights=pair_weights), [0.0]])
    # a true offset between two sampling grids splits its votes over two neighbouring bins:
    # find the best pair of bins, then the offset between them from the vote profile
    left = int(np.argmax(votes[:-1] + votes[1:]))
    peak = left if votes[left] >= votes[left + 1] else left + 1
    before, at, after = votes[peak - 1], votes[peak], votes[peak + 1]
    curvature = before - 2 * at + after
    delta = 0.5 * (before - after) / curvature if curvature < 0 else 0.0
    return float((peak - 1 + lowest + np.clip(delta, -0.5, 0.5)) * step)


def _aligned(query: Fingerprint, candidate: Fingerprint, units: _Units, q: np.ndarray,
             offset: float, params: MatchParams) -> tuple[np.ndarray, np.ndarray]:
    """The query samples `q` that land inside the candidate at `offset` (indices into q's
    samples) and their cosine with the candidate read at exactly that time: the linear
    interpolation of its two neighbouring samples (pooled samples change smoothly, so this
    reads between the grid points instead of rounding the offset to them)."""
    target = query.times[q] + offset
    after = np.searchsorted(candidate.times, target).clip(1, max(1, len(candidate) - 1))
    before = after - 1
    if len(candidate) == 1:
        after = before = np.zeros_like(after)
    span = candidate.times[after] - candidate.times[before]
    weight = np.where(span > 0, (target - candidate.times[before]) / np.where(span > 0, span, 1),
                      0.0)
    step = _step(query, candidate)
    inside = (weight >= -1e-6) & (weight <= 1 + 1e-6) & (span <= 1.5 * step) \
        & (np.minimum(candidate.quality[before], candidate.quality[after]) >= params.min_quality)
    if len(candidate) == 1:  # nothing to interpolate: the one sample, within half a period
        inside = np.abs(target - candidate.times[0]) <= 0.5 * step
    w = weight[inside, None].astype(np.float32)
    read = units.candidate[before[inside]] * (1 - w) + units.candidate[after[inside]] * w
    close = np.einsum("ij,ij->i", units.query[q[inside]], _unit(read))
    return q[inside], close


def _align(query: Fingerprint, candidate: Fingerprint, units: _Units, q: np.ndarray,
           offset: float, params: MatchParams) -> Alignment | None:
    """Refine `offset` within one sample period to where the sequences agree best, then
    score the best span of agreeing samples there."""
    step = _step(query, candidate)
    tried = [(offset + k * step / 8, *_aligned(query, candidate, units, q,
                                                  offset + k * step / 8, params))
             for k in range(-4, 5)]
    offset, rows, close = max(tried, key=lambda t: float(t[2].mean()) if len(t[2]) else -1.0)
    if len(rows) == 0:
        return None
    span = _best_span(close >= params.frame_similarity, step, params.max_gap_s)
    if span is None:
        return None
    first, last = span
    inside = close[first:last + 1]
    matched = int((inside >= params.frame_similarity).sum())
    score = float(np.clip(inside, 0.0, 1.0).mean()) * min(1.0, matched / params.min_evidence)
    if score < params.min_score:
        return None
    half = 0.5 * step
    start, end = float(query.times[rows[first]]), float(query.times[rows[last]])
    return Alignment(score, offset, start, min(end + half, query.duration or np.inf),
                     start + offset, min(end + half + offset, candidate.duration or np.inf),
                     matched)


def _best_span(matching: np.ndarray, step: float, max_gap_s: float) -> tuple[int, int] | None:
    """First and last index of the run of matching samples that holds the most matches. A
    run breaks where more than `max_gap_s` of informative samples in a row disagree; stretches
    without evidence (flat or noisy samples, left out before) do not break it."""
    hits = np.flatnonzero(matching)
    if len(hits) == 0:
        return None
    breaks = np.flatnonzero((np.diff(hits) - 1) * step > max_gap_s)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(hits) - 1]])
    best = int(np.argmax(ends - starts))
    return int(hits[starts[best]]), int(hits[ends[best]])
