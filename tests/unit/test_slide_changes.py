"""Slide-change detection on generated grey frames (the presenter's picture-in-picture,
a cursor, builds, template decks), the chapter files, and the synthetic lectures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediamesh import media
from mediamesh.media import remux
from mediamesh.ocr import Quad
from mediamesh.ocr_reader import ReadLine
from mediamesh.synth import lectures
from services.vision import lecture_chapters, slide_changes
from services.vision.lecture_chapters import Chapter
from services.vision.slide_changes import SlideChangeDetector, SlideParams

W, H = slide_changes.analysis_size(1280, 720)
FPS = 10.0


def slide(seed: int, lines: int = 4, header: bool = False) -> np.ndarray:
    """A slide as the detector sees it: a title bar of 'words', then bullet lines."""
    rng = np.random.default_rng(seed)
    frame = np.full((H, W), 245, np.uint8)
    if header:  # a template: the same bar on every slide
        frame[:6] = 60
    x = 12
    while x < 150:  # the title, in big 'letters' of the slide's own rhythm
        width = int(rng.integers(6, 16))
        frame[14:30, x:x + width] = 30
        x += width + int(rng.integers(3, 8))
    for k in range(lines):
        y = 44 + 16 * k
        frame[y:y + 6, 16:16 + int(rng.integers(80, 200))] = 40
    return frame


def with_presenter(frame: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    out = frame.copy()
    out[H - 40:H - 4, W - 60:W - 4] = rng.integers(0, 255, (36, 56), dtype=np.uint8)
    cx = int(W - 32 + 12 * np.sin(3 * t))
    out[H - 30:H - 14, cx - 6:cx + 6] = 200
    return out


def with_cursor(frame: np.ndarray, t: float) -> np.ndarray:
    out = frame.copy()
    x, y = int(W * (0.5 + 0.4 * np.sin(t))), int(H * (0.5 + 0.4 * np.sin(1.3 * t)))
    out[y:y + 5, x:x + 3] = 0
    return out


def run(frames: list[tuple[float, np.ndarray]], params: SlideParams | None = None,
        duration: float | None = None) -> slide_changes.SlideSplit:
    detector = SlideChangeDetector(params or SlideParams())
    for t, frame in frames:
        detector.process(t, frame)
    return detector.split(duration)


def lecture(slides: list[tuple[float, np.ndarray]], seconds: float, *, presenter: bool = True,
            cursor: bool = True) -> list[tuple[float, np.ndarray]]:
    """Frames at FPS: `slides` are (start seconds, picture)."""
    rng = np.random.default_rng(1)
    frames = []
    for i in range(round(seconds * FPS)):
        t = i / FPS
        picture = [p for start, p in slides if start <= t + 1e-9][-1]
        if presenter:
            picture = with_presenter(picture, t, rng)
        if cursor:
            picture = with_cursor(picture, t)
        frames.append((t, picture))
    return frames


def starts(split: slide_changes.SlideSplit) -> list[float]:
    return [s.start for s in split.segments]


def test_presenter_and_cursor_alone_are_one_chapter() -> None:
    split = run(lecture([(0.0, slide(1))], 20.0))
    assert starts(split) == [0.0]
    assert split.builds == []
    assert len(split.masked) == 1  # the picture-in-picture, bottom right
    x, y, w, h = split.masked[0]
    assert x > 0.6 and y > 0.6 and x + w <= 1.0 and y + h <= 1.0


@pytest.mark.parametrize("presenter", [True, False])
def test_slide_changes_land_on_their_frame(presenter: bool) -> None:
    truth = [0.0, 5.3, 8.4, 17.0]  # one slide shown for ~3 s
    split = run(lecture([(t, slide(10 + k)) for k, t in enumerate(truth)], 24.0,
                        presenter=presenter), duration=24.0)
    assert starts(split) == pytest.approx(truth, abs=1e-6)
    assert split.segments[-1].end == pytest.approx(24.0)
    assert bool(split.masked) == presenter
    for segment in split.segments:  # a settled frame inside each chapter
        assert segment.start < segment.key_time < segment.end


def test_builds_stay_in_their_chapter() -> None:
    built = slide(3, lines=3)
    partial = built.copy()
    partial[44 + 16 * 2:] = 245  # the third bullet not shown yet
    split = run(lecture([(0.0, slide(2)), (4.0, partial), (9.0, built), (14.0, slide(4))],
                        20.0))
    assert starts(split) == pytest.approx([0.0, 4.0, 14.0])
    assert split.builds == pytest.approx([9.0])


def test_template_deck_changes_on_the_title_alone() -> None:
    first = slide(5, lines=2, header=True)
    second = first.copy()
    second[14:30] = slide(6, lines=2, header=True)[14:30]  # same bullets, another title
    split = run(lecture([(0.0, first), (6.0, second), (12.0, first)], 18.0))
    assert starts(split) == pytest.approx([0.0, 6.0, 12.0])


def test_changes_closer_than_the_minimum_keep_the_later() -> None:
    split = run(lecture([(0.0, slide(7)), (5.0, slide(8)), (5.8, slide(9))], 12.0),
                SlideParams(min_segment_s=2.0))
    assert starts(split) == pytest.approx([0.0, 5.8])


def test_a_clip_playing_in_a_slide_and_a_late_presenter_start_no_chapters() -> None:
    rng = np.random.default_rng(4)
    frames = []
    for t, picture in lecture([(0.0, slide(20)), (8.0, slide(21)), (22.0, slide(22))], 30.0,
                              presenter=False):
        picture = picture.copy()
        if 10.0 <= t < 17.0:  # a clip plays on the second slide for 7 s
            picture[60:110, 60:140] = rng.integers(0, 255, (50, 80), dtype=np.uint8)
        if t >= 12.0:  # the presenter turns the camera on
            picture = with_presenter(picture, t, rng)
        frames.append((t, picture))
    assert starts(run(frames)) == pytest.approx([0.0, 8.0, 22.0])


def test_a_dissolve_is_one_change() -> None:
    a, b = slide(30).astype(np.float32), slide(31).astype(np.float32)
    frames = []
    for i in range(round(12 * FPS)):
        t = i / FPS
        mix = min(1.0, max(0.0, (t - 5.0) / 0.6))  # 0.6 s cross-fade from 5 s
        frames.append((t, with_cursor(((1 - mix) * a + mix * b).astype(np.uint8), t)))
    found = starts(run(frames))
    assert len(found) == 2 and 5.0 <= found[1] <= 5.6


def test_a_single_frame_is_one_chapter() -> None:
    split = run([(0.0, slide(1))], duration=0.04)
    assert [(s.start, s.end) for s in split.segments] == [(0.0, 0.04)]


def read(text: str, top: float, height: float, confidence: float = 0.9) -> ReadLine:
    corners = np.array([[10, top], [300, top], [300, top + height], [10, top + height]],
                       np.float32)
    return ReadLine(text, confidence, Quad(corners, 0.9))


def test_title_is_the_tallest_line_topmost_on_ties() -> None:
    lines = [read("Agenda", 40, 30), read("big number", 300, 48), read("bullet", 120, 20)]
    assert lecture_chapters.title_of(lines).text == "big number"  # type: ignore[union-attr]
    tie = [read("Subtitle", 200, 46), read("Title", 40, 48)]
    assert lecture_chapters.title_of(tie).text == "Title"  # type: ignore[union-attr]
    assert lecture_chapters.title_of([]) is None
    chart = [read("Agenda", 40, 30), read("1", 200, 60), read("__", 120, 50)]  # bars, rules
    assert lecture_chapters.title_of(chart).text == "Agenda"  # type: ignore[union-attr]
    tall = ReadLine("ab", 0.9, Quad(np.array([[0, 0], [20, 0], [20, 90], [0, 90]], np.float32),
                                    0.9))
    assert lecture_chapters.title_of([tall]) is None


CHAPTERS = [Chapter(0, 0.0, 65.5, "Intro & <Goals>", 0.98, 30.0),
            Chapter(1, 65.5, 3725.25, "梯度下降 = a; b #1\nnext --> line", 0.9, 100.0)]


def test_webvtt_chapters_are_well_formed() -> None:
    text = lecture_chapters.to_webvtt(CHAPTERS)
    assert text.startswith("WEBVTT\n\n")
    blocks = text.strip().split("\n\n")[1:]
    assert len(blocks) == 2
    cue_id, timing, payload = blocks[1].split("\n")
    assert cue_id == "2"
    assert timing == "00:01:05.500 --> 01:02:05.250"
    assert "-->" not in payload and "\n" not in payload
    assert blocks[0].split("\n")[2] == "Intro &amp; &lt;Goals&gt;"


def test_ffmetadata_escapes_its_special_characters() -> None:
    text = lecture_chapters.to_ffmetadata(CHAPTERS)
    assert text.startswith(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=65500\n")
    assert "title=梯度下降 \\= a\\; b \\#1\\\nnext --> line" in text


def test_a_short_lecture_renders_its_truth_and_is_found(tmp_path: Path) -> None:
    spec = lectures.LectureSpec(seed=2, durations=(5.0, 3.0, 7.0), width=480, height=270,
                                fps=12.0)
    truth = lectures.render_lecture(tmp_path / "lecture.mp4", spec)
    assert truth.changes == pytest.approx((5.0, 8.0))
    assert len(truth.titles) == 3 and truth.presenter is not None
    info = media.probe(tmp_path / "lecture.mp4")
    assert info.duration == pytest.approx(15.0, abs=0.1)
    detector = SlideChangeDetector()
    size = slide_changes.analysis_size(480, 270)
    for frame in media.iter_frames(tmp_path / "lecture.mp4", size=size):
        detector.process(frame.time, slide_changes.grey(frame.rgb))
    split = detector.split(info.duration)
    assert starts(split)[1:] == pytest.approx(truth.changes, abs=1 / 12 + 1e-6)
    assert len(split.builds) == len(truth.builds)
    keys = [s.key_time for s in split.segments]  # one forward decode for every key frame
    frames = list(media.iter_frames_at(tmp_path / "lecture.mp4", [keys[2], keys[0], keys[1]]))
    assert [f.time for f in frames] == pytest.approx(keys)
    assert frames[0].rgb.shape == (270, 480, 3)

    chapters = [remux.Chapter(s.start, s.end, title)
                for s, title in zip(split.segments, truth.titles, strict=True)]
    remux.remux(tmp_path / "lecture.mp4", tmp_path / "out.mp4", chapters=chapters)
    read_back = remux.read_chapters(tmp_path / "out.mp4")
    assert [title for _, _, title in read_back] == list(truth.titles)
    assert read_back[1][0] == pytest.approx(truth.changes[0], abs=0.1)
    assert media.probe(tmp_path / "out.mp4").frame_count == info.frame_count


def test_chinese_decks_fall_back_to_english_without_a_cjk_font(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lectures, "CJK_FONTS", (tmp_path / "missing.ttc",))
    monkeypatch.setattr(lectures, "LATIN_FONTS", (tmp_path / "missing.ttf",))
    spec = lectures.LectureSpec(seed=1, durations=(3.0, 3.0), language="zh")
    titles, language = lectures.deck_titles(spec)
    assert language == "en" and all(t in lectures.EN_TITLES for t in titles)
    picture = lectures.slide_picture(spec, 0, titles[0], 2, language)  # Pillow's own font
    assert picture.shape == (540, 960, 3) and picture.std() > 5
