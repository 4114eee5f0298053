"""One-click creation planning (services/compose/creation_plan.py): shots cover the
narration exactly, cuts land on beats when near, shots are fitted by trimming, slowing down
(not below half speed) or looping; and shot matching never reuses a shot."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from mediamesh.errors import MeshError, StatusCode, SystemPackageMissing
from services.audio.narration import (
    RATE,
    assemble,
    narration_spec,
    output_container,
    say_sentence,
)
from services.compose.creation_plan import (
    MIN_SPEED,
    Music,
    PlanError,
    Sentence,
    SourceShot,
    fit_shot,
    music_clips,
    plan_creation,
    snap_cuts,
)
from services.text.script_match import LibraryText, assign, candidates, shot_scores

FPS = 25.0
SENTENCES = [Sentence("one", 0.25, 2.0), Sentence("two", 2.4, 4.1), Sentence("three", 4.5, 6.0)]


def _music(bpm: float = 120.0, seconds: float = 30.0, first: float = 0.3) -> Music:
    beats = tuple(first + k * 60.0 / bpm for k in range(int((seconds - first) * bpm / 60)))
    return Music(seconds, beats, beats[::4])


def test_shots_cover_the_narration_back_to_back() -> None:
    shots = [SourceShot(0.0, 5.0)] * 3
    plan = plan_creation(SENTENCES, shots, 6.6, None, FPS)
    assert plan.shots[0].output_start == 0.0 and plan.shots[-1].output_end == 6.6
    for a, b in itertools.pairwise(plan.shots):
        assert a.output_end == b.output_start
        assert abs(a.output_end * FPS - round(a.output_end * FPS)) < 1e-9  # on a frame
    for shot, s in zip(plan.shots, SENTENCES, strict=True):
        assert shot.output_start <= s.start and s.end <= shot.output_end  # seen while said
    assert [c[2] for c in plan.cues] == ["one", "two", "three"]
    assert [(c[0], c[1]) for c in plan.cues] == [(p.output_start, p.output_end)
                                                 for p in plan.shots]


def test_cuts_snap_to_the_nearest_beat_within_the_tolerance() -> None:
    cuts, snapped = snap_cuts([0.0, 2.2, 4.3, 6.6], [2.0, 2.5, 4.9], 0.3, FPS)
    assert cuts == [0.0, 2.0, 4.32, 6.6] and snapped == [False, True, False, False]
    unsnapped, moved = snap_cuts([0.0, 2.2, 6.6], [2.0], -1.0, FPS)
    assert unsnapped == [0.0, 2.2, 6.6] and not any(moved)


def test_a_snap_never_leaves_a_shot_shorter_than_half_a_second() -> None:
    cuts, snapped = snap_cuts([0.0, 0.75, 6.0], [0.45], 0.3, FPS)
    assert cuts == [0.0, 0.76, 6.0] and not snapped[1]  # 0.45 would leave 0.45 s: frame grid


def test_cuts_land_on_music_beats_heard_on_the_timeline() -> None:
    music = _music(first=0.3)  # played from its first downbeat: beats at 0, 0.5, 1.0... s
    plan = plan_creation(SENTENCES, [SourceShot(0.0, 5.0)] * 3, 6.6, music, FPS)
    assert plan.music[0].source_start == pytest.approx(0.3)
    inner = [p.output_end for p in plan.shots[:-1]]
    assert inner == pytest.approx([2.0, 4.5], abs=0.5 / FPS)
    assert plan.cuts_on_beat == 2


def test_fitting_trims_long_shots_to_their_middle() -> None:
    assert fit_shot(SourceShot(1.0, 6.0), 2.0) == (3.0, 5.0, 1.0, 1)


def test_fitting_slows_short_shots_down_to_half_speed() -> None:
    start, end, speed, loops = fit_shot(SourceShot(0.0, 3.0), 4.0)
    assert (start, end, loops) == (0.0, 3.0, 1) and speed == pytest.approx(0.75)


def test_fitting_loops_only_shots_too_short_even_at_half_speed() -> None:
    start, end, speed, loops = fit_shot(SourceShot(0.0, 1.0), 5.0)
    assert loops == 3 and MIN_SPEED <= speed <= 1.0
    assert loops * (end - start) / speed == pytest.approx(5.0)


def test_stills_fill_any_slot() -> None:
    assert fit_shot(SourceShot(0.0, None), 7.0) == (0.0, None, 1.0, 1)


def test_looped_shot_pieces_tile_their_slot() -> None:
    plan = plan_creation([Sentence("a", 0.2, 4.8)], [SourceShot(0.0, 1.0)], 5.0, None, FPS)
    pieces = plan.shots[0].pieces
    assert len(pieces) == 3 and pieces[0][0] == 0.0 and pieces[-1][1] == 5.0


def test_short_music_loops_from_downbeat_to_downbeat() -> None:
    music = _music(seconds=10.0, first=0.5)
    clips = music_clips(music, 25.0)
    assert len(clips) > 1 and clips[0].source_start == pytest.approx(0.5)
    assert sum(c.source_end - c.source_start for c in clips) == pytest.approx(25.0)
    assert clips[0].source_end == pytest.approx(music.downbeats[-1])


@pytest.mark.parametrize(("sentences", "shots", "duration", "field"), [
    ([], [], 5.0, "sentences"),
    (SENTENCES, [SourceShot(0.0, 5.0)] * 2, 6.6, "shots"),
    (SENTENCES, [SourceShot(0.0, 5.0)] * 3, 0.0, "narration_duration"),
    ([SENTENCES[1], SENTENCES[0]], [SourceShot(0.0, 5.0)] * 2, 6.6, "sentences[1].range"),
    ([Sentence(" ", 0.1, 1.0)], [SourceShot(0.0, 5.0)], 2.0, "sentences[0].text"),
    (SENTENCES, [SourceShot(0.0, 5.0), SourceShot(0.0, 0.0), SourceShot(0.0, 5.0)], 6.6,
     "shots[1].range"),
])
def test_bad_inputs_name_the_element(sentences: list[Sentence], shots: list[SourceShot],
                                     duration: float, field: str) -> None:
    with pytest.raises(PlanError) as caught:
        plan_creation(sentences, shots, duration, None, FPS)
    assert caught.value.field_name == field


def test_assignment_uses_no_shot_twice_and_beats_greedy() -> None:
    # sentence 0 likes shots 0 and 1; sentence 1 only shot 0: greedy would give 0 to 0
    scores = np.array([[0.9, 0.85, 0.1], [0.8, 0.1, 0.2]])
    assert assign(scores) == [1, 0]
    assert len(set(assign(np.ones((4, 6))))) == 4


def test_shot_score_is_its_best_text() -> None:
    similarity = np.array([[0.1, 0.7, 0.3], [0.9, 0.2, 0.0]])
    scores, best = shot_scores(similarity, np.array([0, 0, 1]), 2)
    assert scores.tolist() == [[0.7, 0.3], [0.9, 0.0]] and best.tolist() == [[1, 2], [0, 2]]


def test_narration_places_sentences_with_pauses() -> None:
    voices = [np.full(RATE, 0.5, np.float32), np.full(RATE // 2, 0.5, np.float32)]
    said = assemble(voices, 0.4)
    (a0, a1), (b0, b1) = said.ranges
    assert a1 - a0 == pytest.approx(1.0) and b0 - a1 == pytest.approx(0.4, abs=1e-4)
    assert b1 - b0 == pytest.approx(0.5) and said.duration > b1
    assert float(np.max(np.abs(said.samples))) == pytest.approx(0.9)


def test_scraps_of_ocr_do_not_describe_a_shot() -> None:
    texts = [[LibraryText("Zt", 0.0, None), LibraryText("22", 0.0, None),
              LibraryText("sea", 0.0, None), LibraryText("森林", 0.0, None)],
             [LibraryText("K", 0.0, None)]]
    found = candidates([], texts, 0.5)
    assert [c.texts for c in found] == [("sea", "森林")]  # media 1 has nothing usable


def test_texts_describe_only_the_shots_they_overlap() -> None:
    texts = [[LibraryText("a red sunset", 0.0, 2.0), LibraryText("a green forest", 2.5, 4.0),
              LibraryText("nature film", 0.0, None)]]
    found = candidates([[(0.0, 2.0), (2.0, 4.0), (4.0, 4.2)]], texts, 0.5)
    assert [(c.start, c.texts) for c in found] == [
        (0.0, ("a red sunset", "nature film")), (2.0, ("a green forest", "nature film"))]


@pytest.mark.parametrize(("text", "language", "pause", "wpm", "field"), [
    ("", "", 0.0, 0, "text"),
    ("...!?", "en", 0.0, 0, "text"),
    ("Hello.", "de", 0.0, 0, "language"),
    ("Hello.", "en", 9.0, 0, "pause"),
    ("Hello.", "en", 0.0, 20, "words_per_minute"),
])
def test_narration_refuses_bad_requests(text: str, language: str, pause: float, wpm: int,
                                        field: str) -> None:
    with pytest.raises(MeshError) as caught:
        narration_spec(text, language, pause, wpm)
    assert caught.value.field_name == field


def test_narration_spec_detects_the_language_and_splits() -> None:
    spec = narration_spec("你好。再见！", "auto", 0.0, 0)
    assert spec.language == "zh" and spec.sentences == ["你好。", "再见！"]
    assert spec.pause == pytest.approx(0.4)
    assert output_container("", "a/b.flac") == "flac"
    with pytest.raises(MeshError):
        output_container("mp3", "")


def test_narration_without_espeak_says_what_to_install(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without the program
    with pytest.raises(SystemPackageMissing) as caught:
        say_sentence(narration_spec("Hello there.", "en", 0.0, 0), 0)
    assert "apt-get install espeak-ng" in str(caught.value)
    assert caught.value.code == StatusCode.FAILED_PRECONDITION
