"""Medley planning on synthetic beat grids: tempo choice, snapping, overlaps, time maps."""
from __future__ import annotations

import numpy as np
import pytest

from services.compose.medley import (
    BeatGrid,
    MedleyOptions,
    PlanError,
    SongPlanInput,
    Transition,
    choose_part,
    choose_target_tempo,
    excerpt_bounds,
    octave_multiplier,
    plan_medley,
)


def grid(bpm: float, seconds: float, meter: int = 4, first: float = 0.4,
         drift: float = 0.0) -> BeatGrid:
    """Beats from `first` at `bpm`, the tempo drifting by `drift` BPM over the song."""
    count = int((seconds - first) * bpm / 60)
    tempi = bpm + drift * np.linspace(-0.5, 0.5, count)
    beats = first + np.concatenate([[0.0], np.cumsum(60.0 / tempi[:-1])])
    beats = beats[beats < seconds - 0.05]
    return BeatGrid.from_times(beats, beats[::meter], bpm, meter)


def song(bpm: float, part: tuple[float, float], seconds: float = 60.0, **kw: object
         ) -> SongPlanInput:
    return SongPlanInput(f"song{bpm:g}", seconds, part, grid(bpm, seconds, **kw))  # type: ignore[arg-type]


def test_target_tempo_folds_octaves() -> None:
    assert choose_target_tempo([120, 124, 128]) == pytest.approx(124)
    assert choose_target_tempo([70, 140, 144]) == pytest.approx(140)  # 70 counts as 140
    assert choose_target_tempo([66, 68, 140]) == pytest.approx(68)  # 140 counts as 70
    assert octave_multiplier(70, 140) == 2.0 and octave_multiplier(140, 72) == 0.5
    assert octave_multiplier(100, 128) == 1.0


def test_no_song_is_stretched_past_one_and_a_half() -> None:
    songs = [song(bpm, (10.0, 30.0)) for bpm in (70.0, 100.0, 140.0, 175.0, 90.0)]
    plan = plan_medley(songs, MedleyOptions())
    for part in plan.parts:
        assert 1 / 1.5 <= part.tempo_ratio <= 1.5
    assert plan.parts[0].beat_multiplier == 2.0 or plan.bpm < 100  # 70 folded up


def test_part_choice_order() -> None:
    assert choose_part(100.0, (5.0, None), (40.0, 60.0), False) == (5.0, 100.0)
    assert choose_part(100.0, None, (40.0, 60.0), False) == (40.0, 60.0)
    assert choose_part(100.0, None, (40.0, 60.0), True) == (0.0, 100.0)
    assert choose_part(100.0, None, None, False) == (0.0, 100.0)


def test_beat_matched_overlaps_by_whole_bars_on_one_uniform_grid() -> None:
    songs = [song(100.0, (10.3, 30.1)), song(120.0, (20.0, 40.0), drift=8.0),
             song(128.0, (15.0, 35.0))]
    plan = plan_medley(songs, MedleyOptions(Transition.BEAT_MATCHED, crossfade_bars=2))
    beat = 60.0 / plan.bpm
    assert plan.bpm == pytest.approx(120.0)
    bar = 4 * beat
    for a, b in zip(plan.parts, plan.parts[1:]):
        # B is audible from where A's part ends, A until where B's part starts: 2 bars
        assert b.output_range[0] == pytest.approx(a.part_output_range[1])
        assert a.output_range[1] == pytest.approx(b.part_output_range[0])
        assert a.output_range[1] - b.output_range[0] == pytest.approx(2 * bar)
        assert a.fade_out == pytest.approx(2 * bar) and b.fade_in == pytest.approx(2 * bar)
    for part, spec in zip(plan.parts, songs):
        assert spec.grid is not None and part.time_map is not None
        # the part starts and ends on the song's downbeats
        downbeats = spec.grid.beats[spec.grid.downbeat_index]
        assert np.min(np.abs(downbeats - part.part_range[0])) < 1e-9
        assert np.min(np.abs(downbeats - part.part_range[1])) < 1e-9
        # and every one of its beats inside the audible span maps onto the output grid
        src = spec.grid.beats[(spec.grid.beats >= part.source_range[0] - 1e-9)
                              & (spec.grid.beats <= part.source_range[1] + 1e-9)]
        out = np.interp(src, part.time_map.src_times, part.time_map.out_times)
        assert np.max(np.abs(out / beat - np.round(out / beat))) < 1e-6
        # parts land on output downbeats
        assert np.min(np.abs(plan.downbeats - part.part_output_range[0])) < 1e-6
    assert np.allclose(np.diff(plan.beats), beat)
    assert np.allclose(np.diff(plan.downbeats), bar)  # all 4/4: a bar every 4 beats throughout
    assert plan.duration == pytest.approx(plan.parts[-1].output_range[1])


def test_drift_is_removed_but_a_constant_ratio_would_not_be() -> None:
    drifting = song(120.0, (10.0, 50.0), seconds=80.0, drift=16.0)
    plan = plan_medley([song(120.0, (10.0, 30.0)), drifting], MedleyOptions())
    part = plan.parts[1]
    assert part.time_map is not None
    slopes = np.diff(part.time_map.src_times) / np.diff(part.time_map.out_times)
    assert slopes.max() - slopes.min() > 0.05  # the local ratio follows the 8 BPM drift


def test_fades_fall_back_inside_the_part_where_the_song_has_no_audio() -> None:
    opening = song(120.0, (0.4, 20.4))  # the part starts at the very first beat
    plan = plan_medley([song(120.0, (10.0, 30.0)), opening], MedleyOptions())
    second = plan.parts[1]
    assert second.source_range[0] == pytest.approx(second.part_range[0])  # fade inside
    assert plan.parts[0].output_range[1] - second.output_range[0] == pytest.approx(4.0)


def test_cut_joins_parts_on_a_downbeat() -> None:
    plan = plan_medley([song(100.0, (10.0, 30.0)), song(128.0, (12.0, 30.0))],
                       MedleyOptions(Transition.CUT))
    a, b = plan.parts
    assert a.part_output_range[1] == pytest.approx(b.part_output_range[0])
    assert a.output_range[1] == pytest.approx(a.part_output_range[1])
    assert a.fade_out == pytest.approx(0.005) and b.fade_in == pytest.approx(0.005)
    assert plan.crossfade_bars == 0


def test_crossfade_keeps_tempo_and_overlaps_by_seconds() -> None:
    songs = [song(100.0, (10.0, 30.0)),
             SongPlanInput("no grid", 60.0, (20.0, 40.0)), song(130.0, (5.0, 25.0))]
    plan = plan_medley(songs, MedleyOptions(Transition.CROSSFADE, crossfade_bars=2))
    overlap = 2 * 4 * 60.0 / plan.bpm
    for a, b in zip(plan.parts, plan.parts[1:]):
        assert a.output_range[1] - b.output_range[0] == pytest.approx(overlap)
    assert all(p.time_map is None and p.tempo_ratio == 1.0 for p in plan.parts)
    second = plan.parts[1]
    assert second.part_range == (20.0, 40.0)  # no grid: no snapping
    assert second.source_range[1] - second.source_range[0] == pytest.approx(
        second.output_range[1] - second.output_range[0])


def test_errors_name_the_song() -> None:
    songs = [song(100.0, (10.0, 30.0)), SongPlanInput("b.mp3", 60.0, (10.0, 30.0))]
    with pytest.raises(PlanError, match=r"songs\[1\] \(b.mp3\) has no beat grid") as caught:
        plan_medley(songs, MedleyOptions(Transition.BEAT_MATCHED))
    assert caught.value.song_index == 1 and caught.value.field_name == "songs[1].rhythm"
    tiny = song(120.0, (0.4, 2.4))  # one bar, at the start: the crossfade cannot fit
    with pytest.raises(PlanError, match=r"songs\[1\].*crossfades have to fit"):
        plan_medley([song(120.0, (10.0, 30.0)), tiny, song(120.0, (10.0, 30.0))],
                    MedleyOptions())
    with pytest.raises(PlanError, match="at least 2 songs"):
        plan_medley(songs[:1], MedleyOptions())


def test_grid_validation_explains() -> None:
    with pytest.raises(ValueError, match="not strictly increasing"):
        BeatGrid.from_times([0.0, 1.0, 0.5, 2.0, 3.0], [0.0, 2.0])
    with pytest.raises(ValueError, match="not one of its beats"):
        BeatGrid.from_times([0.0, 0.5, 1.0, 1.5, 2.0], [0.0, 1.25])
    inferred = BeatGrid.from_times(np.arange(12) * 0.5, [0.0, 1.5, 3.0, 4.5])
    assert inferred.beats_per_bar == 3 and inferred.tempo_bpm == pytest.approx(120.0)


@pytest.mark.parametrize("transition", list(Transition))
def test_plans_read_only_inside_the_cropped_excerpts(transition: Transition) -> None:
    songs = [song(70.0, (20.0, 40.0), seconds=120.0), song(140.0, (30.0, 50.0), seconds=120.0),
             SongPlanInput("plain", 120.0, (40.0, 60.0), grid(90.0, 120.0))]
    plan = plan_medley(songs, MedleyOptions(transition, crossfade_bars=4))
    for part, spec in zip(plan.parts, songs):
        lo, hi = excerpt_bounds(spec, MedleyOptions(transition, crossfade_bars=4))
        assert lo <= part.source_range[0] - 0.1 and part.source_range[1] + 0.1 <= hi
        assert hi - lo < 110.0  # cropped: not the whole 120 s song
