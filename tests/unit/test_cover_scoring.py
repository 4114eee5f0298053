"""SelectCover's scoring core on synthetic frames and skimage's sample photos."""
from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from scipy import ndimage

from services.vision.cover_scoring import (
    CoverScore,
    FaceBox,
    animated_window,
    face_components,
    frame_measures,
    pick_candidates,
    score,
    summary_plan,
    transition_penalty,
)

skimage_data = pytest.importorskip("skimage.data")
skimage_transform = pytest.importorskip("skimage.transform")


def _u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def _grey_rgb(luma: np.ndarray) -> np.ndarray:
    return _u8(np.repeat(luma[..., None], 3, axis=2))


def _at_width(rgb: np.ndarray, width: int) -> np.ndarray:
    height = round(rgb.shape[0] * width / rgb.shape[1])
    return _u8(skimage_transform.resize(rgb, (height, width), anti_aliasing=True))


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    tex = ndimage.gaussian_filter(rng.random((h, w)), 1.5)
    return _grey_rgb((tex - tex.min()) / np.ptp(tex))


def _text_frame(rng: np.random.Generator, h: int = 180, w: int = 320, rows: int = 7) -> np.ndarray:
    """Light glyph-like strokes (1-2 px wide, 4-8 px tall, some crossbars) in rows on dark."""
    img = np.full((h, w), 0.15)
    for r in range(rows):
        base = 19 + r * (h - 20) // rows
        x = 8
        while x < w - 12:
            if rng.random() < 0.15:  # a word gap
                x += 6
                continue
            width, height = int(rng.integers(1, 3)), int(rng.integers(4, 9))
            img[base - height:base, x:x + width] = 0.95
            if rng.random() < 0.4:
                img[base - height, x:x + width + 2] = 0.95
            x += width + int(rng.integers(2, 4))
    return _grey_rgb(img)


def _cs(total: float) -> CoverScore:
    return CoverScore(0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, total)


# ------------------------------------------------------------------- image measures

def test_blur_lowers_sharpness() -> None:
    for photo in (skimage_data.astronaut(), skimage_data.coffee()):
        sharp = _at_width(photo, 320)
        blurred = _u8(ndimage.gaussian_filter(sharp / 255.0, sigma=(2, 2, 0)))
        s, b = frame_measures(sharp).sharpness, frame_measures(blurred).sharpness
        assert s > 0.7 and b < 0.45 and s - b > 0.4, (s, b)


def test_sharpness_is_about_resolution_independent() -> None:
    big = _texture(np.random.default_rng(1), 480, 640)
    small = _u8(big.reshape(240, 2, 320, 2, 3).mean(axis=(1, 3)) / 255.0)
    assert frame_measures(big).sharpness == pytest.approx(frame_measures(small).sharpness, abs=0.08)
    photo = skimage_data.astronaut()
    a, b = frame_measures(_at_width(photo, 640)), frame_measures(_at_width(photo, 320))
    assert a.sharpness == pytest.approx(b.sharpness, abs=0.1)
    # ... while genuinely less detail (a quarter-size copy scaled back up) scores lower
    blown = _at_width(_at_width(photo, 80), 320)
    assert frame_measures(blown).sharpness < b.sharpness - 0.3


def test_black_and_white_frames_lose_to_a_natural_image() -> None:
    natural = _at_width(skimage_data.chelsea(), 320)
    black = np.zeros_like(natural)
    noisy_black = _u8(np.random.default_rng(2).normal(0.02, 0.02, natural.shape))
    white = np.full_like(natural, 255)
    good = score(frame_measures(natural), [], 0.0)
    assert good.exposure > 0.8 and good.total > 0.4
    for frame in (black, noisy_black, white):
        m = frame_measures(frame)
        assert m.blank and m.exposure < 0.2, m
        assert score(m, [], 0.0).total < good.total
    dark = frame_measures(_u8(natural / 255.0 * 0.12))
    assert not dark.blank and dark.exposure < 0.5 < good.exposure


def test_letterbox_bars_do_not_darken_exposure() -> None:
    natural = _at_width(skimage_data.chelsea(), 320)
    boxed = np.zeros((natural.shape[0] + 80, 320, 3), np.uint8)
    boxed[40:-40] = natural
    plain = frame_measures(natural).exposure
    assert frame_measures(boxed).exposure == pytest.approx(plain, abs=0.05)


def test_colourfulness_of_colour_vs_grey() -> None:
    hue = np.linspace(0, 1, 320)[None, :] * np.ones((180, 1))
    rainbow = _u8(np.stack([np.abs(np.sin(np.pi * (hue + k / 3))) for k in range(3)], axis=2))
    photo = _at_width(skimage_data.astronaut(), 320)
    grey = _grey_rgb((photo / 255.0) @ np.array([0.299, 0.587, 0.114]))
    assert frame_measures(rainbow).colorfulness > 0.85
    assert frame_measures(photo).colorfulness > 0.5
    assert frame_measures(grey).colorfulness < 0.02


def test_rows_of_glyphs_score_text() -> None:
    rng = np.random.default_rng(3)
    text = frame_measures(_text_frame(rng)).text
    one_line = frame_measures(_text_frame(rng, rows=1)).text
    gradient = frame_measures(_grey_rgb(np.linspace(0, 1, 320)[None, :] * np.ones((180, 1)))).text
    assert text > 0.8 and gradient < 0.02
    assert gradient < one_line < text
    for photo in (skimage_data.chelsea(), skimage_data.coffee(), skimage_data.astronaut()):
        assert frame_measures(_at_width(photo, 320)).text < text - 0.6
    assert frame_measures(_texture(rng, 180, 320)).text < 0.2


# ------------------------------------------------------------------- faces, transitions

def test_face_score_prefers_large_central_faces() -> None:
    large = FaceBox(0.35, 0.2, 0.65, 0.6, 0.95)
    tiny = FaceBox(0.48, 0.38, 0.52, 0.42, 0.95)
    big_score, big_cut = face_components([large])
    tiny_score, _ = face_components([tiny])
    assert big_score > tiny_score > face_components([])[0] == 0.0
    assert big_cut == pytest.approx(0.0)
    assert face_components([large, tiny])[0] == pytest.approx(big_score)  # the main face decides
    assert face_components([FaceBox(0.35, 0.2, 0.65, 0.6, 0.1)])[0] == 0.0  # a weak detection


def test_faces_at_the_edge_are_penalised() -> None:
    touching = FaceBox(0.0, 0.3, 0.25, 0.6, 0.9)
    half_out = FaceBox(-0.15, 0.3, 0.15, 0.6, 0.9)
    assert face_components([touching])[1] > 0.5
    assert face_components([half_out])[1] > face_components([touching])[1]
    # a small passer-by cut at the edge matters less than the host in the middle
    host, passer = FaceBox(0.35, 0.2, 0.65, 0.6, 0.9), FaceBox(0.97, 0.5, 1.0, 0.53, 0.9)
    assert face_components([host, passer])[1] < 0.2
    m = frame_measures(_at_width(skimage_data.astronaut(), 320))
    assert score(m, [touching], 0.0).total < score(m, [], 0.0).total < score(m, [host], 0.0).total


def test_transition_penalty_decays_monotonically() -> None:
    transitions = [(10.0, 10.0), (20.0, 21.0)]  # a cut and a one-second dissolve
    assert transition_penalty(10.0, transitions, 25.0) == 1.0
    assert transition_penalty(20.5, transitions, 25.0) == 1.0
    assert transition_penalty(15.0, transitions, 25.0) == 0.0
    assert transition_penalty(10.6, transitions, 25.0) == 0.0
    after = [transition_penalty(21.0 + d, transitions, 25.0) for d in np.linspace(0, 0.6, 25)]
    assert after[0] == 1.0 and after[-1] == 0.0
    assert all(a >= b for a, b in pairwise(after)) and 0.0 < after[8] < 1.0
    before = [transition_penalty(10.0 - d, transitions, 25.0) for d in np.linspace(0, 0.6, 25)]
    assert before == pytest.approx(after)


def test_blank_or_mid_transition_frames_never_win() -> None:
    poor = frame_measures(_u8(_at_width(skimage_data.chelsea(), 320) / 255.0 * 0.15))
    assert score(poor, [], 0.0).total > 0.0
    best = frame_measures(_at_width(skimage_data.astronaut(), 320))
    assert score(best, [FaceBox(0.4, 0.1, 0.6, 0.4, 0.99)], 1.0).total == 0.0
    assert score(frame_measures(np.full((180, 320, 3), 128, np.uint8)), [], 0.0).total == 0.0
    s = score(best, [FaceBox(0.0, 0.1, 0.2, 0.4, 0.99)], 0.3)
    assert all(0.0 <= v <= 1.0 for v in vars(s).values())


# ------------------------------------------------------------------- choosing

def test_pick_candidates_is_diverse_and_best_first() -> None:
    times = [0.0, 0.5, 1.0, 2.0, 3.0, 3.5, 6.0, 6.5, 7.0, 9.0]
    totals = [0.9, 0.95, 0.85, 0.8, 0.6, 0.5, 0.4, 0.45, 0.3, 0.0]
    shot_of = [0, 0, 0, 0, 1, 1, 2, 2, 2, 3]
    picks = pick_candidates(times, [_cs(t) for t in totals], shot_of, top_k=3)
    assert picks == [1, 4, 7]  # each shot's best before a second from shot 0
    more = pick_candidates(times, [_cs(t) for t in totals], shot_of, top_k=6)
    assert [totals[i] for i in more] == sorted((totals[i] for i in more), reverse=True)
    assert {shot_of[i] for i in more} == {0, 1, 2}  # shot 3 holds only a zero-total frame
    assert all(abs(times[a] - times[b]) >= 1.0 for a in more for b in more if a != b)
    assert more == [1, 3, 4, 7]  # 2.0 s fits; 0.0, 1.0, 3.5, 6.0, 7.0 are too near
    assert pick_candidates([0.0], [_cs(0.0)], [0], top_k=3) == [0]  # something to show
    assert pick_candidates(times, [_cs(t) for t in totals], shot_of, top_k=1) == [1]


def _check_plan(plan: list[tuple[float, float]], shots: list[tuple[float, float]],
                target: float, margin: float = 0.2) -> None:
    total = sum(e - s for s, e in plan)
    assert target - 1 / 25 - 1e-9 <= total <= target + 1e-9, total
    assert plan == sorted(plan)
    assert all(a[1] <= b[0] for a, b in pairwise(plan))
    for s, e in plan:
        assert e > s and any(a + margin - 1e-9 <= s and e <= b - margin + 1e-9 for a, b in shots)


def test_summary_plan_spreads_over_shots() -> None:
    shots = [(0.0, 4.0), (4.0, 9.5), (9.5, 12.0), (12.0, 20.0), (20.0, 21.3), (21.3, 30.0)]
    times = np.arange(0.25, 30.0, 0.5)
    scores = 0.5 + 0.4 * np.sin(times)
    plan = summary_plan(shots, times, scores, target_duration=5.0)
    _check_plan(plan, shots, 5.0)
    used = {i for s, e in plan for i, (a, b) in enumerate(shots) if a <= s and e <= b}
    assert len(used) >= 3 and len(used) == len(plan)
    assert plan[0][0] < 10.0 and plan[-1][1] > 20.0  # both ends of the video
    for target in (3.0, 4.33, 7.9):
        _check_plan(summary_plan(shots, times, scores, target_duration=target), shots, target)


def test_summary_plan_reaches_the_end_of_a_front_loaded_video() -> None:
    shots = [(2.5 * k, 2.5 * (k + 1)) for k in range(12)]
    times = np.arange(0.25, 30.0, 0.5)
    scores = np.where(times < 10.0, 0.9, 0.2)  # the best material is all at the start
    plan = summary_plan(shots, times, scores, target_duration=5.0, max_segments=5)
    _check_plan(plan, shots, 5.0)
    assert len(plan) == 5 and plan[-1][0] > 20.0 and sum(s < 10.0 for s, _ in plan) <= 2


def test_summary_plan_takes_each_shots_best_window() -> None:
    shots = [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]
    times = np.arange(0.25, 30.0, 0.5)
    peaks = np.array([7.0, 12.0, 25.0])
    scores = np.exp(-np.min(np.abs(times[:, None] - peaks[None, :]), axis=1))
    plan = summary_plan(shots, times, scores, target_duration=5.0, max_segments=3)
    assert len(plan) == 3
    for (s, e), peak in zip(plan, peaks, strict=True):
        assert s <= peak <= e
    _check_plan(plan, shots, 5.0)


def test_summary_plan_of_fast_cutting_eats_into_the_margins() -> None:
    shots = [(1.2 * k, 1.2 * (k + 1)) for k in range(20)]  # 0.8 s usable x 5 < 5 s
    times = np.arange(0.25, 24.0, 0.5)
    plan = summary_plan(shots, times, np.full(len(times), 0.5), target_duration=5.0)
    _check_plan(plan, shots, 5.0, margin=0.1)
    assert len(plan) == 5


def test_summary_plan_of_short_videos() -> None:
    assert summary_plan([(0.0, 2.0), (2.0, 4.5)], [1.0, 3.0], [0.5, 0.7]) == [(0.0, 4.5)]
    few = [(0.0, 1.5), (1.5, 2.4), (2.4, 3.6), (3.6, 5.2)]  # 5.2 s, little usable
    plan = summary_plan(few, [0.5, 2.0, 3.0, 4.5], [0.5, 0.5, 0.5, 0.5])
    assert sum(e - s for s, e in plan) < 5.0 and len(plan) >= 3
    assert summary_plan([], [], []) == []
    flat = summary_plan([(0.0, 60.0)], [], [], target_duration=5.0)
    assert len(flat) == 1 and flat[0][1] - flat[0][0] == pytest.approx(5.0)


def test_animated_window_stays_in_shot_and_video() -> None:
    assert animated_window(12.0, (10.0, 20.0), 3.0, 60.0) == pytest.approx((10.5, 13.5))
    s, e = animated_window(10.1, (10.0, 20.0), 3.0, 60.0)
    assert 10.0 <= s and e <= 20.0 and e - s == pytest.approx(3.0)
    s, e = animated_window(19.9, (10.0, 20.0), 3.0, 60.0)
    assert 10.0 <= s and e <= 20.0 and e - s == pytest.approx(3.0)
    s, e = animated_window(58.5, (58.0, 59.0), 3.0, 59.0)  # shot too short, at the video end
    assert (s, e) == pytest.approx((56.0, 59.0))
    assert animated_window(1.0, (0.0, 2.0), 3.0, 2.0) == pytest.approx((0.0, 2.0))
