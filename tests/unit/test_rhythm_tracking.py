"""The rhythm pipeline's pure parts: song renderer, front-end, beat network graph, decoder."""
from __future__ import annotations

import mir_eval
import numpy as np
import onnxruntime as ort
import pytest
from scipy.ndimage import gaussian_filter1d

from mediamesh.audio import beat_decoder, spectral
from mediamesh.models import beat_tcn
from mediamesh.synth.songs import CHORUS, render_song
from services.audio import rhythm


def truth_activations(beats: list[float], positions: list[int], frames: int,
                      rng: np.random.Generator, noise: float = 0.25) -> np.ndarray:
    """What a good network outputs: bumps on beats and downbeats, plus spurious peaks."""
    y = np.zeros((frames, 2), np.float32)
    for t, p in zip(beats, positions):
        i = int(round(t * spectral.FPS))
        y[i, 0] = 1.0
        y[i, 1] = float(p == 1)
    y = gaussian_filter1d(y, 1.0, axis=0) * 2.5
    y += noise * rng.uniform(0, 1, y.shape) ** 6
    return np.clip(y, 0, 1).astype(np.float32)


def test_songs_are_deterministic_and_annotations_consistent() -> None:
    a, b = render_song(5, 8000), render_song(5, 8000)
    assert np.array_equal(a.samples, b.samples)
    truth = a.truth
    assert np.all(np.diff(truth.beats) > 0)
    assert set(truth.positions) == set(range(1, truth.beats_per_bar + 1))
    assert truth.positions[0] == 1
    starts = [s.start for s in truth.sections]
    assert starts == sorted(starts)
    assert all(abs(x.end - y.start) < 1e-9 for x, y in zip(truth.sections, truth.sections[1:]))
    assert any(s.kind == CHORUS for s in truth.sections) and truth.choruses
    assert np.max(np.abs(a.samples)) <= 1.0
    assert render_song(6, 8000).truth.beats != truth.beats


def test_front_end_frames_are_centred_every_10_ms() -> None:
    click = np.zeros(spectral.RATE * 2, np.float32)
    click[spectral.RATE] = 1.0  # at 1.000 s
    feats = spectral.features(click)
    assert feats.shape == (spectral.frames_for(len(click)), spectral.n_features())
    flux = feats[:, feats.shape[1] // 2:].sum(axis=1)
    # the click enters the 2048-sample window about 43 ms before its centre passes it
    assert 90 <= int(np.argmax(flux)) <= 100
    assert np.all(feats >= 0)


def test_onnx_graph_matches_the_numpy_definition() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, (700, spectral.n_features())).astype(np.float32)
    session = ort.InferenceSession(beat_tcn.build_graph().SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, {"features": np.stack([x, x[::-1].copy()])})[0]
    assert got.shape == (2, 700, 2)
    assert np.max(np.abs(got[0] - beat_tcn.reference(x))) < 1e-4
    assert np.max(np.abs(got[1] - beat_tcn.reference(x[::-1].copy()))) < 1e-4


def test_chunked_activations_equal_a_whole_song_run() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 3, (rhythm.CORE * 2 + 300, spectral.n_features())).astype(np.float32)
    chunks = rhythm.chunk(x)
    assert chunks.shape == (3, rhythm.CHUNK, spectral.n_features())
    session = ort.InferenceSession(beat_tcn.build_graph().SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    # chunks are padded with silence (whose features are exactly 0), so compare with a whole
    # run of the song with that much silence around it
    padded = np.pad(x, ((rhythm.CONTEXT, rhythm.CONTEXT), (0, 0)))
    whole = session.run(None, {"features": padded[None]})[0][0][rhythm.CONTEXT:-rhythm.CONTEXT]
    assert np.all(spectral.features(np.zeros(4800, np.float32)) == 0)
    parts = session.run(None, {"features": chunks})[0]
    assert np.max(np.abs(rhythm.stitch(parts, len(x)) - whole)) < 1e-4


@pytest.mark.parametrize("seed", [0, 1, 4])  # 6/8, 4/4 at 173 BPM, 3/4 with swing
def test_decoder_recovers_beats_bars_and_meter(seed: int) -> None:
    truth = render_song(seed, 8000).truth
    frames = int((truth.beats[-1] + 3) * spectral.FPS)
    acts = truth_activations(truth.beats, truth.positions, frames, np.random.default_rng(seed))
    est = beat_decoder.decode(acts)
    assert mir_eval.beat.f_measure(np.array(truth.beats), est.beats) > 0.97
    assert mir_eval.beat.f_measure(np.array(truth.downbeats), est.downbeats) > 0.95
    assert est.beats_per_bar == truth.beats_per_bar
    assert est.tempo_bpm == pytest.approx(truth.tempo_bpm, rel=0.03)
    assert est.confidence > 0.3


def test_decoder_follows_a_tempo_step_and_survives_a_missing_downbeat() -> None:
    beats = list(np.arange(0, 30, 0.5)) + list(30 + np.arange(0, 30, 0.4))  # 120 -> 150 BPM
    positions = [i % 4 + 1 for i in range(len(beats))]
    acts = truth_activations(beats, positions, 6200, np.random.default_rng(3))
    i = int(round(beats[40] * spectral.FPS))
    acts[i - 3:i + 4, 1] = 0.0  # one downbeat the network missed
    est = beat_decoder.decode(acts, meters=(3, 4))
    assert mir_eval.beat.f_measure(np.array(beats), est.beats) > 0.97
    assert est.beats_per_bar == 4
    late = est.tempo_curve[-1][1]
    assert late == pytest.approx(150, rel=0.03)


def test_decoder_on_noise_reports_little() -> None:
    acts = np.random.default_rng(0).uniform(0, 0.02, (3000, 2)).astype(np.float32)
    est = beat_decoder.decode(acts)
    assert len(est.beats) == 0 and est.confidence == 0.0


def frame_by_frame_viterbi(beat_act: np.ndarray, cfg: beat_decoder.DecoderConfig
                           ) -> tuple[np.ndarray, float]:
    """The textbook update over every (tempo, position) state, one frame at a time: the
    oracle for the decoder's block-wise recursion."""
    taus = beat_decoder._intervals(cfg.fps, cfg.min_bpm, cfg.max_bpm, cfg.num_tempi)
    first = np.concatenate([[0], np.cumsum(taus)[:-1]])
    last = first + taus - 1
    tau_of = np.repeat(np.arange(len(taus)), taus)
    position = np.arange(int(taus.sum())) - first[tau_of]
    is_beat = position < np.maximum(1, taus[tau_of] // cfg.observation_lambda)
    ratio = taus[None, :] / taus[:, None]
    trans = -cfg.transition_lambda * np.abs(ratio - 1.0)
    trans -= np.logaddexp.reduce(trans, axis=1, keepdims=True)
    on = np.log(np.clip(beat_act, beat_decoder.EPS, 1.0))
    off = np.log(np.clip((1.0 - beat_act) / (cfg.observation_lambda - 1), beat_decoder.EPS, 1))
    delta = np.where(is_beat, on[0], off[0]) - np.log(len(tau_of))
    back = np.zeros((len(beat_act), len(taus)), np.int64)
    for t in range(1, len(beat_act)):
        cand = delta[last][:, None] + trans
        back[t] = np.argmax(cand, axis=0)
        shifted = np.concatenate([[0.0], delta[:-1]])
        shifted[first] = cand[back[t], np.arange(len(taus))]
        delta = shifted + np.where(is_beat, on[t], off[t])
    state = int(np.argmax(delta))
    starts, t, tempo = [], len(beat_act) - 1 - int(position[state]), int(tau_of[state])
    while t >= 0:
        starts.append(t)
        tempo = int(back[t, tempo]) if t > 0 else tempo
        t -= int(taus[tempo]) if t > 0 else 1
    return np.array(starts[::-1]), float(delta.max()) / len(beat_act)


@pytest.mark.parametrize("seed", [0, 2, 7])
def test_blockwise_viterbi_finds_the_frame_by_frame_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = render_song(seed, 8000).truth
    acts = truth_activations(truth.beats[:60], truth.positions[:60],
                             int((truth.beats[59] + 1) * spectral.FPS), rng, noise=0.6)
    beat_act = acts[:, 0]
    beat_act[rng.integers(0, len(beat_act), 40)] = rng.uniform(0.3, 1.0, 40)  # false peaks
    cfg = beat_decoder.DecoderConfig()
    frames, score = beat_decoder._track_beats(beat_act, cfg)
    want_frames, want_score = frame_by_frame_viterbi(beat_act.astype(np.float64), cfg)
    np.testing.assert_array_equal(frames, want_frames)
    assert score == pytest.approx(want_score, rel=1e-6)  # float32 activations
