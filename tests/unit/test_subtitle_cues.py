"""Samples of OCR at a fixed step become cues: merged through misreads, timed at midpoints,
short flashes dropped, bilingual cues split, SRT formatted."""
from __future__ import annotations

import pytest

from services.text.subtitle_cues import (
    Sample,
    SampledLine,
    build_cues,
    drop_static_lines,
    language_of,
    split_by_language,
    srt_time,
    to_srt,
)

BOX = (0.2, 0.85, 0.6, 0.08)


def samples(texts: list[str], step: float = 0.25) -> list[Sample]:
    return [Sample(i * step, tuple(SampledLine(t, 0.9, BOX) for t in text.split("|") if t))
            for i, text in enumerate(texts)]


def test_cues_start_and_end_halfway_between_samples() -> None:
    cues = build_cues(samples(["", "", "Hello there", "Hello there", "Hello there", "", ""]),
                      0.25)
    assert len(cues) == 1
    assert cues[0].text == "Hello there" and cues[0].language == "en"
    assert cues[0].start == pytest.approx(0.375) and cues[0].end == pytest.approx(1.125)
    assert cues[0].box == pytest.approx(BOX)


def test_a_misread_sample_does_not_split_a_cue_and_the_common_reading_wins() -> None:
    texts = ["The train leaves", "The train leaves", "The traln leaves", "The train leaves"]
    cues = build_cues(samples(texts + ["", "See you", "See you", "See you"]), 0.25)
    assert [c.text for c in cues] == ["The train leaves", "See you"]
    assert cues[0].end == pytest.approx(cues[1].start - 0.25)  # the blank sample between


def test_a_change_of_text_starts_a_new_cue_at_the_midpoint() -> None:
    cues = build_cues(samples(["First line", "First line", "Second one", "Second one"], 0.5), 0.5)
    assert [c.text for c in cues] == ["First line", "Second one"]
    assert cues[0].end == pytest.approx(0.75) == cues[1].start
    assert cues[1].end == pytest.approx(1.75)


def test_flashes_shorter_than_the_minimum_are_dropped() -> None:
    cues = build_cues(samples(["", "EXIT", "", "", "A real cue", "A real cue", "A real cue"]),
                      0.25, min_duration=0.5)
    assert [c.text for c in cues] == ["A real cue"]


def test_the_last_cue_stops_at_the_end_of_the_video() -> None:
    cues = build_cues(samples(["", "Bye", "Bye", "Bye"]), 0.25, end_of_video=0.8)
    assert cues[0].end == pytest.approx(0.8)


def test_bilingual_cues_split_into_tracks() -> None:
    cues = build_cues(samples(["你好世界|Hello world"] * 4), 0.25)
    assert cues[0].text == "你好世界\nHello world" and cues[0].language == "zh"
    tracks = split_by_language(cues)
    assert [c.text for c in tracks["zh"]] == ["你好世界"]
    assert [c.text for c in tracks["en"]] == ["Hello world"]
    assert language_of("Café") == "en" and language_of("東京タワー") == "zh"


def test_srt_format() -> None:
    assert srt_time(3725.0456) == "01:02:05,046"
    cues = build_cues(samples(["", "One", "One", "", "Two", "Two"], 0.5), 0.5)
    assert to_srt(cues) == ("1\n00:00:00,250 --> 00:00:01,250\nOne\n\n"
                            "2\n00:00:01,750 --> 00:00:02,750\nTwo\n\n")


def test_a_watermark_that_stays_put_is_dropped_and_subtitles_are_kept() -> None:
    mark = SampledLine("CH7 NEWS", 0.95, (0.84, 0.91, 0.13, 0.05))
    misread = SampledLine("CH7 NEW5", 0.9, (0.841, 0.912, 0.13, 0.05))
    samples = [Sample(i * 0.25, (SampledLine(f"line {i // 8}", 0.99, (0.3, 0.83, 0.4, 0.08)),
                                 misread if i % 10 == 3 else mark)) for i in range(40)]
    kept = drop_static_lines(samples)
    assert all(len(s.lines) == 1 and s.lines[0].text.startswith("line") for s in kept)
    assert drop_static_lines(samples[:10]) == samples[:10]  # too few samples to judge
    moving = [Sample(s.time, (s.lines[0], SampledLine("CH7 NEWS", 0.95, (i / 40, 0.5, 0.1,
                                                                           0.05))))
              for i, s in enumerate(samples)]
    assert drop_static_lines(moving) == moving  # the same text moving about is not a mark
