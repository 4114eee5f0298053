"""Chorus detection and song sections on numpy arrays: rendered songs with exact truth, a
song made of material that never repeats, and a tracker's faulty beat grid."""
from __future__ import annotations

import numpy as np
import pytest

from mediamesh.audio import spectral
from mediamesh.synth.songs import Song, render_song
from mediamesh.v1 import audio_pb2
from services.audio import bars, chorus

SEEDS = (20001, 20013, 20020)  # 3/4; 4/4 with a key change; 6/8 with a key change
TOLERANCE = 2.0  # seconds, on both ends of a chorus block


def frames_of(mono: np.ndarray) -> bars.FrameFeatures:
    return bars.FrameFeatures.of(spectral.spectrogram(mono))


@pytest.fixture(scope="module")
def songs() -> dict[int, tuple[Song, bars.FrameFeatures]]:
    out = {}
    for seed in SEEDS:
        song = render_song(seed, spectral.RATE)
        out[seed] = (song, frames_of(song.samples.mean(axis=0)))
    return out


def analyse(song: Song, frames: bars.FrameFeatures, min_duration: float = 0,
            max_duration: float = 0, max_alternatives: int = 3) -> chorus.ChorusAnalysis:
    t = song.truth
    return chorus.detect(frames, np.array(t.beats), np.array(t.positions), t.beats_per_bar,
                         min_duration=min_duration, max_duration=max_duration,
                         max_alternatives=max_alternatives)


def hits(segment: chorus.ChorusSegment, song: Song) -> bool:
    return any(abs(segment.start - s) <= TOLERANCE and abs(segment.end - e) <= TOLERANCE
               for s, e in song.truth.choruses)


@pytest.mark.parametrize("seed", SEEDS)
def test_chorus_block_found_within_two_seconds(songs, seed: int) -> None:
    song, frames = songs[seed]
    result = analyse(song, frames)
    assert hits(result.chorus, song), (result.chorus, song.truth.choruses)
    assert result.chorus.confidence > 0.5
    assert result.chorus.label in {s.label for s in result.sections if s.kind == chorus.CHORUS}


@pytest.mark.parametrize("seed", SEEDS)
def test_sections_tile_the_song_and_chorus_sits_on_downbeats(songs, seed: int) -> None:
    song, frames = songs[seed]
    result = analyse(song, frames)
    secs = result.sections
    assert secs[0].start == 0.0
    assert secs[-1].end == pytest.approx(result.duration)
    for a, b in zip(secs[:-1], secs[1:]):
        assert a.end == b.start and a.start < a.end
        assert b.start_bar == a.start_bar + a.bar_count
    downbeats = np.array(song.truth.downbeats)
    for seg in [result.chorus, *result.alternatives]:
        assert np.min(np.abs(downbeats - seg.start)) < 1e-9
        assert seg.start == pytest.approx(downbeats[seg.start_bar])
        end_bar = seg.start_bar + seg.bar_count
        if end_bar < len(downbeats):
            assert seg.end == pytest.approx(downbeats[end_bar])


@pytest.mark.parametrize("seed", [20013, 20020])
def test_transposed_last_chorus_keeps_the_chorus_label(songs, seed: int) -> None:
    song, frames = songs[seed]
    assert "key-change" in song.truth.traits
    result = analyse(song, frames)
    choruses = [s for s in song.truth.sections if s.kind == "chorus"]

    def label_at(t: float) -> str:
        return next(s.label for s in result.sections if s.start <= t < s.end)

    first, last = choruses[0], choruses[-1]  # only the last chorus section is transposed
    assert label_at((last.start + last.end) / 2) == label_at((first.start + first.end) / 2)
    kinds = {s.kind for s in result.sections if s.label == label_at(last.start + 1.0)}
    assert kinds == {chorus.CHORUS}


def test_section_structure_of_a_song_with_a_bridge(songs) -> None:
    song, frames = songs[20020]  # intro verse pre chorus bridge verse pre chorus chorus outro
    result = analyse(song, frames)
    downbeats = np.array(song.truth.downbeats)
    truth = [(s.kind, s.label, int(np.argmin(np.abs(downbeats - s.start))))
             for s in song.truth.sections]
    found = [(s.kind, s.label, s.start_bar) for s in result.sections]
    assert [(k, b) for k, _, b in found] == [(k, b) for k, _, b in truth]
    for name in "APC":  # repeated material keeps one label
        assert len({f[1] for f, t in zip(found, truth) if t[1] == name}) == 1
    assert len({f[1] for f, t in zip(found, truth) if t[1] in "APC"}) == 3


def test_repeat_index_counts_each_label(songs) -> None:
    song, frames = songs[20001]
    result = analyse(song, frames)
    seen: dict[str, int] = {}
    for s in result.sections:
        assert s.repeat_index == seen.get(s.label, 0)
        seen[s.label] = s.repeat_index + 1
    assert max(seen.values()) >= 3  # the chorus material comes back (twice in one block)


def test_tracker_errors_in_the_grid_do_not_move_the_chorus(songs) -> None:
    song, frames = songs[20013]
    t = song.truth
    rng = np.random.default_rng(7)
    beats = np.array(t.beats) + rng.uniform(-0.02, 0.02, len(t.beats))
    positions = np.array(t.positions)
    down = np.flatnonzero(positions == 1)
    drop = down[len(down) // 3]  # a missed downbeat: one bar twice as long
    beats, positions = np.delete(beats, drop), np.delete(positions, drop)
    extra = np.flatnonzero(positions == 1)[2 * len(down) // 3]  # an extra mid-bar downbeat
    beats = np.insert(beats, extra + 2, (beats[extra + 1] + beats[extra + 2]) / 2)
    positions = np.insert(positions, extra + 2, 1)
    result = chorus.detect(frames, beats, positions, t.beats_per_bar)
    assert hits(result.chorus, song)
    given = beats[positions == 1]  # bars are numbered on the caller's grid, faults and all
    assert result.chorus.start == given[result.chorus.start_bar]


def test_downbeats_a_beat_late_are_put_back_where_the_chords_change(songs) -> None:
    song, frames = songs[20013]
    t = song.truth
    late = np.roll(np.array(t.positions), 1)  # every "downbeat" is the truth's beat 2
    harmony = bars.beat_harmony(frames, np.array(t.beats))
    fixed = bars.rephase(harmony.change, late, t.beats_per_bar)
    np.testing.assert_array_equal(fixed, t.positions)
    result = chorus.detect(frames, np.array(t.beats), late, t.beats_per_bar)
    assert hits(result.chorus, song)
    assert result.chorus.start in set(np.array(t.beats)[late == 1])


def test_a_4_4_song_tracked_as_2_4_is_analysed_in_whole_bars(songs) -> None:
    song, frames = songs[20013]
    t = song.truth
    beats, positions = np.array(t.beats), np.array(t.positions)
    halves = (positions - 1) % 2 + 1  # every half bar counted as a bar
    harmony = bars.beat_harmony(frames, beats)
    paired, meter = bars.pair_bars(harmony, beats, halves, 2)
    assert meter == 4
    np.testing.assert_array_equal(paired, positions)
    result = chorus.detect(frames, beats, halves, 2)
    assert hits(result.chorus, song)
    assert result.chorus.bar_count == 2 * 16  # counted in the caller's (half) bars


def test_max_duration_trims_the_chorus_to_whole_bars(songs) -> None:
    song, frames = songs[20013]
    result = analyse(song, frames, min_duration=5.0, max_duration=12.0)
    c = result.chorus
    assert c.end - c.start <= 12.0
    assert any(abs(c.start - s) <= TOLERANCE for s, _ in song.truth.choruses)
    downbeats = np.array(song.truth.downbeats)
    assert c.end == pytest.approx(downbeats[c.start_bar + c.bar_count])


def _chord_song(bars: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 4/4 song at 120 BPM whose every bar is a fresh random triad at a random level with
    a kick on each beat: nothing in it repeats."""
    rng = np.random.default_rng(seed)
    rate, bar_s = spectral.RATE, 2.0
    t = np.arange(int(bar_s * rate)) / rate
    out = []
    for _ in range(bars):
        root = 48 + rng.integers(0, 24)
        notes = root + np.array([0, rng.choice([3, 4]), 7]) + 12 * rng.integers(0, 2, 3)
        bar = sum(np.sin(2 * np.pi * 440 * 2 ** ((n - 69) / 12) * h * t) / h
                  for n in notes for h in (1, 2, 3))
        kick = np.sin(2 * np.pi * 60 * t[: rate // 8]) * np.exp(-t[: rate // 8] * 30)
        for beat in range(4):
            i = beat * rate // 2
            bar[i:i + len(kick)] += 2 * kick
        out.append(bar * 10 ** (rng.uniform(-12, 0) / 20) * np.exp(-t / 3))
    mono = (np.concatenate(out) * 0.1).astype(np.float32)
    beats = np.arange(bars * 4) * 0.5
    positions = np.arange(bars * 4) % 4 + 1
    return mono, beats, positions


def test_song_without_repeats_gets_low_confidence_and_still_a_segment() -> None:
    mono, beats, positions = _chord_song(48, seed=3)
    result = chorus.detect(frames_of(mono), beats, positions, 4)
    assert result.chorus.confidence < 0.5
    assert result.chorus.bar_count >= 1 and result.chorus.end > result.chorus.start
    labels = [s.label for s in result.sections]
    assert len(labels) == len(set(labels))  # nothing reported as repeated
    assert chorus.CHORUS not in {s.kind for s in result.sections}


def test_noise_without_beats_still_answers() -> None:
    noise = np.random.default_rng(1).standard_normal(30 * spectral.RATE).astype(np.float32)
    result = chorus.detect(frames_of(noise * 0.1), np.zeros(0), np.zeros(0), 4)
    assert result.chorus.confidence < 0.5
    assert result.chorus.end > result.chorus.start
    assert result.sections[0].start == 0.0
    assert result.sections[-1].end == pytest.approx(result.duration)


def test_noise_keeps_the_trackers_downbeats_and_stays_inside_the_audio() -> None:
    noise = np.random.default_rng(2).standard_normal(30 * spectral.RATE).astype(np.float32)
    frames = frames_of(noise * 0.1)
    beats = np.arange(0.0, 60.0, 0.5)  # a grid running past the end of the audio
    positions = np.arange(len(beats)) % 4 + 1
    harmony = bars.beat_harmony(frames, beats)
    np.testing.assert_array_equal(bars.rephase(harmony.change, positions, 4), positions)
    result = chorus.detect(frames, beats, positions, 4)
    assert result.chorus.end <= result.duration
    assert result.chorus.start in set(beats[positions == 1])
    assert result.chorus.confidence < 0.5


def test_bar_grid_repairs_an_extra_and_a_missed_downbeat() -> None:
    down = np.arange(20) * 2.0
    faulty = np.sort(np.concatenate([np.delete(down, 5), [14.9]]))  # miss 10 s, add 14.9 s
    grid = bars.bar_grid(faulty, np.ones(len(faulty), int), 4, 45.0)
    np.testing.assert_allclose(grid.edges, np.append(down, 40.0))


def test_to_response_fills_the_messages(songs) -> None:
    song, frames = songs[20001]
    result = analyse(song, frames, max_alternatives=2)
    reply = chorus.to_response(result)
    assert isinstance(reply, audio_pb2.DetectChorusResponse)
    assert reply.chorus.range.start == result.chorus.start
    assert reply.chorus.bar_count == result.chorus.bar_count
    assert len(reply.alternatives) == len(result.alternatives) <= 2
    assert [s.label for s in reply.sections] == [s.label for s in result.sections]
    kinds = {s.kind for s in reply.sections}
    assert audio_pb2.SECTION_KIND_CHORUS in kinds
    assert audio_pb2.SECTION_KIND_UNSPECIFIED not in kinds
    assert reply.duration == pytest.approx(result.duration)
