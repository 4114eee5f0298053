"""Beat activations -> beats, downbeats, meter and tempo: a dynamic Bayesian network in numpy.

Two stages, as madmom's DBNBeatTracking + DBNBarTracking do it, because a joint bar-pointer
over several meters has ~10x the states and would cost more than the whole rest of the
pipeline:
1. Beats: a bar-pointer HMM (Krebs, Böck & Widmer 2015) over (beat interval tau, position
   within the beat). The position advances one frame per frame; only at a beat boundary may
   the tempo change, with probability exp(-lambda |tau_new / tau_old - 1|). So the Viterbi
   update is a shift of the state vector plus a (tempi x tempi) max at the boundaries, and
   the back-pointers are stored only for the boundary states (frames x tempi, int16).
2. Bars: an HMM over the tracked beats with states (meter, position in bar); each beat
   observes its downbeat activation. The best path over all allowed meters gives the meter,
   and a meter's score margin over the next best gives its confidence.
Inputs are per-frame probabilities at `fps`: beat (downbeats included) and downbeat.
"""
from __future__ import annotations

import functools
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
    first: np.ndarray  # state index of position 0 per tempo
    last: np.ndarray  # state index of the last position per tempo
    prev: np.ndarray  # predecessor of every state (first states: unused)
    tau_of: np.ndarray  # tempo index of every state
    beat_state: np.ndarray  # bool: within the first 1/observation_lambda of the beat
    log_trans: np.ndarray  # (from tempo, to tempo)


@functools.lru_cache(maxsize=16)
def _beat_space(cfg: DecoderConfig) -> _BeatSpace:
    taus = _intervals(cfg.fps, cfg.min_bpm, cfg.max_bpm, cfg.num_tempi)
    first = np.concatenate([[0], np.cumsum(taus)[:-1]])
    last = first + taus - 1
    n = int(taus.sum())
    tau_of = np.repeat(np.arange(len(taus)), taus)
    position = np.arange(n) - first[tau_of]
    prev = np.arange(n) - 1
    beat_state = position < np.maximum(1, taus[tau_of] // cfg.observation_lambda)
    ratio = taus[None, :] / taus[:, None]
    log_trans = -cfg.transition_lambda * np.abs(ratio - 1.0)
    log_trans -= np.logaddexp.reduce(log_trans, axis=1, keepdims=True)
    return _BeatSpace(taus, first, last, prev, tau_of, beat_state, log_trans)


def _track_beats(beat_act: np.ndarray, cfg: DecoderConfig) -> tuple[np.ndarray, float]:
    """Viterbi over the beat space: frames where the best path enters a beat, and its
    mean log-likelihood per frame."""
    space = _beat_space(cfg)
    lam = cfg.observation_lambda
    obs_beat = np.log(np.clip(beat_act, EPS, 1.0)).astype(np.float32)
    obs_none = np.log(np.clip((1.0 - beat_act) / (lam - 1), EPS, 1.0)).astype(np.float32)
    n_frames = len(beat_act)
    k = len(space.taus)
    delta = np.where(space.beat_state, obs_beat[0], obs_none[0]).astype(np.float32)
    delta -= np.log(len(delta))
    back = np.zeros((n_frames, k), np.int16)
    is_beat = space.beat_state
    trans = space.log_trans.astype(np.float32)
    for t in range(1, n_frames):
        ends = delta[space.last]
        cand = ends[:, None] + trans
        best = np.argmax(cand, axis=0)
        shifted = np.empty_like(delta)
        shifted[1:] = delta[:-1]
        shifted[space.first] = cand[best, np.arange(k)]
        back[t] = best
        delta = shifted + np.where(is_beat, obs_beat[t], obs_none[t])
    state = int(np.argmax(delta))
    score = float(delta[state]) / max(1, n_frames)
    starts: list[int] = []
    t = n_frames - 1
    while t >= 0:
        tempo = int(space.tau_of[state])
        position = state - int(space.first[tempo])
        t -= position  # jump to where this beat started
        if t < 0:
            break
        starts.append(t)
        prev_tempo = int(back[t, tempo]) if t > 0 else tempo
        state = int(space.last[prev_tempo])
        t -= 1
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
