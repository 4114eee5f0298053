"""Beat activations -> beats, downbeats, meter and tempo: a dynamic Bayesian network in numpy.

Two stages, as madmom's DBNBeatTracking + DBNBarTracking do it, because a joint bar-pointer
over several meters has ~10x the states and would cost more than the whole rest of the
pipeline:
1. Beats: a bar-pointer HMM (Krebs, Böck & Widmer 2015) over (beat interval tau, position
   within the beat). The position advances one frame per frame; only at a beat boundary may
   the tempo change, with probability exp(-lambda |tau_new / tau_old - 1|). Inside a beat
   the path just moves along, so Viterbi needs one score per (frame a beat begins, tempo),
   with the observations of a whole beat from running sums, and a (tempi x tempi) max per
   frame; as no beat is shorter than the fastest interval, that many frames are updated in
   one vectorised step. Back-pointers: frames x tempi, int16.
2. Bars: an HMM over the tracked beats with states (meter, position in bar); each beat
   observes its downbeat activation. The best path over all allowed meters gives the meter,
   and a meter's score margin over the next best gives its confidence.
Inputs are per-frame probabilities at `fps`: beat (downbeats included) and downbeat.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

EPS = 1e-7


@dataclass(frozen=True)
class DecoderConfig:
    fps: float = 100.0
    min_bpm: float = 50.0
    max_bpm: float = 220.0
    num_tempi: int = 70
    transition_lambda: float = 100.0
    observation_lambda: int = 16  # the first 1/lambda of a beat interval is "beat"
    threshold: float = 0.05  # decode between the first and last activation above this
    meter_change_prob: float = 1e-9
    bar_restart_prob: float = 1e-3


@dataclass(frozen=True)
class RhythmEstimate:
    beats: np.ndarray  # seconds
    positions: np.ndarray  # 1-based position in the bar
    beats_per_bar: int
    tempo_bpm: float
    tempo_curve: list[tuple[float, float]]  # (time, bpm) once per bar
    confidence: float
    meter_scores: dict[int, float]  # log-likelihood per allowed meter

    @property
    def downbeats(self) -> np.ndarray:
        return self.beats[self.positions == 1]


@functools.lru_cache(maxsize=16)
def _intervals(fps: float, min_bpm: float, max_bpm: float, num: int) -> np.ndarray:
    lo, hi = 60.0 * fps / max_bpm, 60.0 * fps / min_bpm
    return np.unique(np.round(np.geomspace(lo, hi, num)).astype(np.int64))


@dataclass(frozen=True)
class _BeatSpace:
    taus: np.ndarray  # beat interval per tempo, frames
    beat_len: np.ndarray  # per tempo: the first frames of the interval that are "beat"
    first: np.ndarray  # state index of position 0 per tempo
    tau_of: np.ndarray  # tempo index of every state
    log_trans: np.ndarray  # (from tempo, to tempo)


@functools.lru_cache(maxsize=16)
def _beat_space(cfg: DecoderConfig) -> _BeatSpace:
    taus = _intervals(cfg.fps, cfg.min_bpm, cfg.max_bpm, cfg.num_tempi)
    first = np.concatenate([[0], np.cumsum(taus)[:-1]])
    tau_of = np.repeat(np.arange(len(taus)), taus)
    beat_len = np.maximum(1, taus // cfg.observation_lambda)
    ratio = taus[None, :] / taus[:, None]
    log_trans = -cfg.transition_lambda * np.abs(ratio - 1.0)
    log_trans -= np.logaddexp.reduce(log_trans, axis=1, keepdims=True)
    return _BeatSpace(taus, beat_len, first, tau_of, log_trans)


def _cumulative(obs: np.ndarray, pad: int) -> np.ndarray:
    """Running sums of per-frame log observations (float64), with `pad` frames of nothing
    before frame 0: the sum over frames [a, b) is out[b + pad] - out[a + pad]."""
    return np.concatenate([np.zeros(pad + 1), np.cumsum(obs, dtype=np.float64)])


def _track_beats(beat_act: np.ndarray, cfg: DecoderConfig) -> tuple[np.ndarray, float]:
    """Viterbi over the beat space: frames where the best path enters a beat, and its
    mean log-likelihood per frame.

    Within a beat the path only moves along, so the whole lattice reduces to one score per
    (beat entry frame t, tempo j): E[t, j] = max_i E[t - tau_i, i] + beat_i(t - tau_i) +
    trans[i, j], with beat_i the observations summed over a beat (cumulative sums). Every
    lag is at least the shortest interval, so a block of that many frames is computed in
    one vectorised step: ~50x fewer Python iterations than a frame-by-frame update, and the
    same path (the lattice and its scores are those of the frame-by-frame update)."""
    space = _beat_space(cfg)
    lam = cfg.observation_lambda
    obs_beat = np.log(np.clip(beat_act, EPS, 1.0))
    obs_none = np.log(np.clip((1.0 - beat_act) / (lam - 1), EPS, 1.0))
    n_frames, k = len(beat_act), len(space.taus)
    taus = space.taus
    beat_len = space.beat_len
    pad = int(taus.max())
    cum_beat, cum_none = _cumulative(obs_beat, pad), _cumulative(obs_none, pad)

    def interval_score(entry: np.ndarray, tempo: np.ndarray, end: int | None = None
                       ) -> np.ndarray:
        """Observations of beats of `tempo` entered at frames `entry` (>= -pad), summed
        up to their last frame (or to frame `end`, exclusive)."""
        a = entry + pad
        stop = a + taus[tempo] if end is None else np.full_like(a, end + pad)
        split = np.minimum(a + beat_len[tempo], stop)
        return cum_beat[split] - cum_beat[a] + cum_none[stop] - cum_none[split]

    # entry[t + pad, j]: best score of entering a beat of tempo j at frame t; before frame 0
    # the path may be anywhere inside a beat, uniformly
    start = -math.log(int(taus.sum()))
    entry = np.full((n_frames + pad, k), -np.inf)
    for j, tau in enumerate(taus):
        entry[pad - tau + 1:pad + 1, j] = start
    back = np.zeros((n_frames, k), np.int16)
    into = np.ascontiguousarray(space.log_trans.T)  # (to tempo, from tempo)
    tempi = np.arange(k)
    block = int(taus.min())
    for t0 in range(1, n_frames, block):
        now = np.arange(t0, min(t0 + block, n_frames))
        source = now[:, None] - taus[None, :]  # (frames, from tempo): where that beat began
        ends = entry[source + pad, tempi[None, :]] + interval_score(source, tempi[None, :])
        cand = ends[:, None, :] + into[None, :, :]  # (frames, to, from)
        best = np.argmax(cand, axis=2)
        back[now] = best
        entry[now + pad] = np.take_along_axis(cand, best[:, :, None], axis=2)[:, :, 0]
    # the last frame: every (tempo, position) state, in the state space's order
    position = np.arange(int(taus.sum())) - space.first[space.tau_of]
    began = n_frames - 1 - position
    final = entry[began + pad, space.tau_of] + interval_score(began, space.tau_of, n_frames)
    state = int(np.argmax(final))
    score = float(final[state]) / max(1, n_frames)
    starts: list[int] = []
    tempo = int(space.tau_of[state])
    t = int(began[state])
    while t >= 0:
        starts.append(t)
        if t == 0:
            break
        tempo = int(back[t, tempo])
        t -= int(taus[tempo])
    return np.array(starts[::-1], dtype=np.int64), score


def _refine(frames: np.ndarray, beat_act: np.ndarray, reach: int = 3) -> np.ndarray:
    """Move each beat to the activation peak near the path's beat entry (fractional frame,
    by a parabola through the peak and its neighbours)."""
    out = np.empty(len(frames), np.float64)
    n = len(beat_act)
    for i, f in enumerate(frames):
        lo, hi = max(0, f - reach), min(n, f + reach + 1)
        p = lo + int(np.argmax(beat_act[lo:hi]))
        offset = 0.0
        if 0 < p < n - 1:
            a, b, c = beat_act[p - 1], beat_act[p], beat_act[p + 1]
            denom = a - 2 * b + c
            if denom < 0:
                offset = float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
        out[i] = p + offset
    return out


def _sample(act: np.ndarray, frames: np.ndarray, reach: int = 2) -> np.ndarray:
    """Max of an activation within +-reach frames of each (fractional) frame."""
    idx = np.round(frames).astype(np.int64)
    windows = np.clip(idx[:, None] + np.arange(-reach, reach + 1)[None, :], 0, len(act) - 1)
    return act[windows].max(axis=1)


def _track_bars(down: np.ndarray, meters: tuple[int, ...], cfg: DecoderConfig
                ) -> tuple[np.ndarray, int, dict[int, float]]:
    """Viterbi over beats with states (meter, position): positions (1-based) of each beat,
    the meter, and each meter's best log-likelihood. A bar may restart early with a small
    probability, so one beat missed or added by stage 1 costs one bar, not the whole song."""
    d = np.clip(down, EPS, 1 - EPS)
    on, off = np.log(d), np.log(1 - d)
    meter_of = np.concatenate([[m] * m for m in meters])
    pos_of = np.concatenate([np.arange(m) for m in meters])
    n_states = len(meter_of)
    same = meter_of[:, None] == meter_of[None, :]
    advance = same & (pos_of[None, :] == (pos_of[:, None] + 1) % meter_of[:, None])
    log_t = np.where(advance, np.log(1 - cfg.bar_restart_prob),
                     np.where(same, np.log(cfg.bar_restart_prob), np.log(cfg.meter_change_prob)))
    delta = np.where(pos_of == 0, on[0], off[0]) - np.log(n_states)
    back = np.zeros((len(d), n_states), np.int64)
    for i in range(1, len(d)):
        cand = delta[:, None] + log_t
        back[i] = np.argmax(cand, axis=0)
        delta = cand[back[i], np.arange(n_states)] + np.where(pos_of == 0, on[i], off[i])
    scores = {int(m): float(np.max(delta[meter_of == m])) for m in meters}
    state = int(np.argmax(delta))
    path = np.empty(len(d), np.int64)
    for i in range(len(d) - 1, -1, -1):
        path[i] = state
        state = int(back[i, state])
    return pos_of[path] + 1, int(meter_of[path[-1]]), scores


def _tempo_curve(beats: np.ndarray, positions: np.ndarray) -> list[tuple[float, float]]:
    if len(beats) < 3:
        return []
    periods = np.diff(beats)
    curve = []
    for i in np.flatnonzero(positions[:-1] == 1):
        window = periods[max(0, i - 4):i + 4]
        curve.append((float(beats[i]), float(60.0 / np.median(window))))
    return curve


def decode(activations: np.ndarray, meters: tuple[int, ...] = (2, 3, 4),
           cfg: DecoderConfig | None = None) -> RhythmEstimate:
    """(frames, 2) beat/downbeat probabilities -> beats, bars, meter and tempo."""
    cfg = cfg or DecoderConfig()
    beat_act = activations[:, 0].astype(np.float32)
    above = np.flatnonzero(beat_act > cfg.threshold)
    empty = RhythmEstimate(np.zeros(0), np.zeros(0, np.int64), meters[0], 0.0, [], 0.0, {})
    if len(above) < 2:
        return empty
    lo, hi = int(above[0]), int(above[-1]) + 1
    frames, _ = _track_beats(beat_act[lo:hi], cfg)
    if len(frames) < 2:
        return empty
    exact = _refine(frames + lo, beat_act)
    down_at = _sample(activations[:, 1], exact)
    positions, meter, scores = _track_bars(down_at, tuple(sorted(set(meters))), cfg)
    beats = exact / cfg.fps
    strength = float(np.mean(_sample(beat_act, exact)))
    ranked = sorted(scores.values(), reverse=True)
    margin = (ranked[0] - ranked[1]) / max(1, len(beats)) if len(ranked) > 1 else 1.0
    meter_conf = float(1.0 - np.exp(-4.0 * max(0.0, margin)))
    confidence = float(np.clip(strength, 0, 1) * (0.5 + 0.5 * meter_conf))
    return RhythmEstimate(
        beats=beats, positions=positions, beats_per_bar=meter,
        tempo_bpm=float(60.0 / np.median(np.diff(beats))),
        tempo_curve=_tempo_curve(beats, positions), confidence=confidence,
        meter_scores=scores)
