"""Reframe path planning in numpy: crop sizes, the three AutoFlip camera modes on synthetic
faces with known motion, containment beating smoothness, padding, and crops that never leave
the frame."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple
from typing import Any

import numpy as np
import pytest

from services.vision.reframe_path import (
    CameraMode,
    Detection,
    PathParams,
    Sample,
    ShotPlan,
    containment,
    crop_at,
    crop_size,
    path_jerk,
    plan_shot,
    plan_video,
)
from services.vision.regions import NormBox

SRC = (1280, 720)
CROP = crop_size(*SRC, 9, 16)  # 404 x 720: moves in x
FACE = (0.08, 0.15)  # width, height of a face, normalised
FPS = 5.0


def face_at(cx: float, cy: float = 0.35) -> NormBox:
    return NormBox(cx - FACE[0] / 2, cy - FACE[1] / 2, *FACE)


def face_shot(path: Callable[[float], float], seconds: float, jitter: float = 0.003,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[NormBox], list[Sample]]:
    """Samples at 5 fps of one face whose centre x follows `path(t)`, with detector jitter."""
    rng = np.random.default_rng(seed)
    times = np.arange(0.0, seconds + 1e-9, 1 / FPS)
    xs = np.array([path(t) for t in times]) + rng.normal(0, jitter, len(times))
    faces = [face_at(float(x)) for x in xs]
    return times, xs, faces, [Sample(float(t), (Detection.face(f),)) for t, f in zip(times, faces)]


def plan(samples: list[Sample], start: float = 0.0, end: float | None = None,
         **params: Any) -> ShotPlan:
    end = samples[-1].time if end is None and samples else (end or 0.0)
    return plan_shot(start, end, samples, *SRC, *CROP, PathParams(**params))


def centres_x(result: ShotPlan, times: np.ndarray) -> np.ndarray:
    return np.array([crop_at(result, t).x + crop_at(result, t).width / 2 for t in times])


def test_crop_size_is_the_largest_even_crop_of_the_aspect() -> None:
    assert crop_size(1280, 720, 9, 16) == (404, 720)  # full height, moves in x
    assert crop_size(720, 1280, 16, 9) == (720, 404)  # full width, moves in y
    assert crop_size(1280, 720, 1, 1) == (720, 720)
    assert crop_size(1920, 1080, 16, 9) == (1920, 1080)
    assert crop_size(3, 1001, 1, 1) == (2, 2)
    for aspect in ((0, 1), (1, 0), (-9, 16)):
        with pytest.raises(ValueError):
            crop_size(1280, 720, *aspect)


def test_a_face_sitting_still_gets_one_fixed_crop_that_holds_it() -> None:
    times, _, faces, samples = face_shot(lambda t: 0.7, 6.0)
    result = plan(samples, end=6.5)
    assert result.mode is CameraMode.STATIONARY and not result.padded
    assert containment(result, faces, times) == 1.0
    assert len({kf[1] for kf in result.keyframes}) == 1
    assert result.keyframes[0][0] == 0.0 and result.keyframes[-1][0] == 6.5
    assert result.keyframes[0][1].width == pytest.approx(CROP[0] / SRC[0])


def test_a_face_crossing_at_constant_speed_is_panned_monotonically() -> None:
    times, _, faces, samples = face_shot(lambda t: 0.15 + 0.7 * t / 6, 6.0)
    result = plan(samples)
    assert result.mode is CameraMode.PANNING
    assert containment(result, faces, times, tolerance=1e-6) >= 0.97
    assert np.all(np.diff(centres_x(result, times)) >= -1e-12)
    speeds = np.abs(np.diff(centres_x(result, times))) * FPS
    assert speeds.max() <= 0.3 + 1e-9


def wander(t: float) -> float:
    jumps = 0.12 * (t > 3) - 0.15 * (t > 7) + 0.1 * (t > 10)
    return 0.45 + 0.2 * np.sin(2 * np.pi * t / 5) + jumps


def test_a_wandering_face_is_tracked_smoothly_and_within_the_speed_limit() -> None:
    times, xs, faces, samples = face_shot(wander, 14.0)
    result = plan(samples)
    assert result.mode is CameraMode.TRACKING and not result.padded
    assert containment(result, faces, times, tolerance=1e-6) >= 0.97
    path = centres_x(result, times)
    assert path_jerk(times, path) < 0.2 * path_jerk(times, xs)
    # these jumps fit in the crop's slack, so the camera sets off early and never speeds:
    # the limit is broken only where no speed-limited path can hold the face (next test)
    assert np.abs(np.diff(path)).max() * FPS <= 0.3 + 1e-9


def test_the_camera_sets_off_early_for_a_jump_it_can_hold() -> None:
    # 0.3 -> 0.52: both positions fit one crop (0.402..0.418) but not the one centred on the
    # first, and the crop cannot cover the gap in one step at 0.3/s: only looking ahead works
    # (smoothing off, as the non-causal smoother alone would also set off early)
    times, _, faces, samples = face_shot(lambda t: 0.3 if t < 3 else 0.52, 6.0, jitter=0.0)
    result = plan(samples, smoothing=0.0)
    assert result.mode is CameraMode.TRACKING
    assert containment(result, faces, times, tolerance=1e-6) == 1.0
    path = centres_x(result, times)
    assert np.abs(np.diff(path)).max() * FPS <= 0.3 + 1e-9
    assert path[times < 3][-1] > 0.33  # already on its way while the face is still at 0.3


def test_containment_beats_the_speed_limit_when_a_face_jumps_across() -> None:
    times, _, faces, samples = face_shot(lambda t: 0.15 if t < 3 else 0.85, 6.0)
    result = plan(samples)
    assert result.mode is CameraMode.TRACKING
    assert containment(result, faces, times, tolerance=1e-6) == 1.0
    speeds = np.abs(np.diff(centres_x(result, times))) * FPS
    assert np.count_nonzero(speeds > 0.3 + 1e-9) == 1  # the one step at the jump


def test_two_faces_that_do_not_fit_pad_the_shot_around_both() -> None:
    left, right = face_at(0.06), face_at(0.92)
    both = (Detection.face(left), Detection.face(right))
    samples = [Sample(float(t), both) for t in np.arange(0, 3, 0.2)]
    result = plan(samples, end=3.0)
    assert result.padded
    union = NormBox(left.x, left.y, right.x + right.width - left.x, left.height)
    for when, box in result.keyframes:
        assert containment([box, box], [left, right], tolerance=1e-9) == 1.0
        assert box.x + box.width / 2 == pytest.approx(union.x + union.width / 2)
        assert box.height == pytest.approx(1.0)


def test_a_shot_with_nothing_seen_gets_a_still_centre_crop() -> None:
    empty = [Sample(t) for t in (0.0, 0.5, 1.0)]
    for samples in ([], empty):
        result = plan(samples, end=2.0)
        assert result.mode is CameraMode.STATIONARY and not result.padded
        assert [t for t, _ in result.keyframes] == [0.0, 2.0]
        box = result.keyframes[0][1]
        assert box.x + box.width / 2 == pytest.approx(0.5) and box.y == 0.0
        assert crop_at(result, 1.3) == box


def test_a_forced_mode_overrides_the_choice() -> None:
    times, xs, _, still_face = face_shot(lambda t: 0.7, 4.0)
    assert plan(still_face, forced_mode=CameraMode.TRACKING).mode is CameraMode.TRACKING
    times, xs, _, crossing = face_shot(lambda t: 0.15 + 0.7 * t / 6, 6.0)
    fixed = plan(crossing, forced_mode=CameraMode.STATIONARY)
    assert fixed.mode is CameraMode.STATIONARY and len({kf[1] for kf in fixed.keyframes}) == 1
    times, xs, _, wandering = face_shot(wander, 14.0)
    panned = plan(wandering, forced_mode=CameraMode.PANNING)
    assert panned.mode is CameraMode.PANNING
    path = centres_x(panned, times)
    assert np.abs(np.diff(path, 2)).max() < 1e-9  # a straight line (none of it clamped here)


def test_portrait_to_landscape_moves_in_y() -> None:
    src, crop = (720, 1280), crop_size(720, 1280, 16, 9)
    times = np.arange(0, 5, 0.2)
    faces = [NormBox(0.4, 0.1 + 0.12 * t, 0.2, 0.1) for t in times]
    samples = [Sample(float(t), (Detection.face(f),)) for t, f in zip(times, faces)]
    result = plan_shot(0.0, 5.0, samples, *src, *crop)
    assert result.mode is CameraMode.PANNING
    assert all(box.x == 0.0 and box.width == 1.0 for _, box in result.keyframes)
    ys = [box.y for _, box in result.keyframes]
    assert np.all(np.diff(ys) >= -1e-12) and ys[-1] > ys[0] + 0.3
    assert containment(result, faces, times, tolerance=1e-6) == 1.0


def test_crops_stay_in_the_frame_and_hold_what_fits_on_random_shots() -> None:
    rng = np.random.default_rng(1234)
    for _ in range(200):
        src = (int(rng.integers(64, 2000)), int(rng.integers(64, 2000)))
        crop = crop_size(*src, float(rng.uniform(0.3, 3)), 1.0)
        start = float(rng.uniform(0, 50))
        end = start + float(rng.uniform(0, 8))
        times = np.sort(rng.uniform(start, end, int(rng.integers(0, 40))))
        samples = []
        for t in times:
            dets = []
            for _ in range(int(rng.integers(0, 4))):
                x, y = rng.uniform(-0.1, 1, 2)
                w, h = rng.uniform(0.01, float(rng.choice([0.15, 0.5])), 2)
                dets.append(Detection(NormBox(x, y, w, h), float(rng.choice([0, 0.5, 2])),
                                      bool(rng.random() < 0.4)))
            samples.append(Sample(float(t), tuple(dets)))
        mode = rng.choice([None, None, None, *CameraMode])
        result = plan_shot(start, end, samples, *src, *crop, PathParams(forced_mode=mode))
        kf_times = [t for t, _ in result.keyframes]
        assert kf_times == sorted(kf_times) and kf_times[0] <= start and kf_times[-1] >= end
        for t in [*kf_times, *rng.uniform(start - 1, end + 1, 5)]:
            box = crop_at(result, t)
            assert box.x >= -1e-12 and box.y >= -1e-12 and box.width > 0 and box.height > 0
            assert box.x + box.width <= 1 + 1e-9 and box.y + box.height <= 1 + 1e-9
        if mode is not None:
            continue  # a forced mode may give up containment; the automatic choice may not
        for sample in samples:  # every required union is held (or padded around)
            needed = [d.box for d in sample.detections if d.required]
            if needed:
                crop_now = crop_at(result, sample.time)
                assert all(_holds(crop_now, b) for b in needed), (sample, crop_now)


def _holds(crop: NormBox, box: NormBox) -> bool:
    """`box` (clipped to the frame) inside `crop`, to float tolerance."""
    x0, y0 = max(box.x, 0.0), max(box.y, 0.0)
    x1, y1 = min(box.x + box.width, 1.0), min(box.y + box.height, 1.0)
    return (x0 >= crop.x - 1e-6 and y0 >= crop.y - 1e-6
            and x1 <= crop.x + crop.width + 1e-6 and y1 <= crop.y + crop.height + 1e-6)


def test_crop_at_interpolates_and_holds() -> None:
    a, b = NormBox(0.0, 0.0, 0.3, 1.0), NormBox(0.6, 0.0, 0.3, 1.0)
    result = ShotPlan(0.0, 4.0, CameraMode.TRACKING, False, ((1.0, a), (3.0, b)))
    assert crop_at(result, 0.0) == a and crop_at(result, 3.5) == b
    assert astuple(crop_at(result, 2.5)) == pytest.approx((0.45, 0.0, 0.3, 1.0))


def test_plan_video_plans_each_shot_alone() -> None:
    _, _, _, left = face_shot(lambda t: 0.2, 2.0)
    _, _, _, right = face_shot(lambda t: 0.8, 2.0)
    right = [Sample(s.time + 2.0, s.detections) for s in right]
    plans = plan_video([(0.0, 2.0, left), (2.0, 4.0, right), (4.0, 5.0, [])], *SRC, *CROP)
    assert [p.mode for p in plans] == [CameraMode.STATIONARY] * 3
    assert crop_at(plans[0], 2.0).x < 0.2 < crop_at(plans[1], 2.0).x  # no pan across the cut
    assert crop_at(plans[2], 4.5).x == pytest.approx((1 - CROP[0] / SRC[0]) / 2)


def test_evaluation_helpers() -> None:
    crop = NormBox(0.2, 0.0, 0.3, 1.0)
    inside, poking, outside = NormBox(0.25, 0.1, 0.1, 0.1), NormBox(0.45, 0.1, 0.051, 0.1), \
        NormBox(0.6, 0.1, 0.1, 0.1)
    assert containment([crop] * 4, [inside, poking, outside, None]) == pytest.approx(1 / 3)
    assert containment([crop] * 4, [inside, poking, outside, None], tolerance=0.01) == \
        pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        containment(ShotPlan(0, 1, CameraMode.STATIONARY, False, ((0.0, crop),)), [inside])
    t = np.sort(np.random.default_rng(5).uniform(0, 3, 30))
    assert path_jerk(t, t ** 3) == pytest.approx(6.0)
    assert path_jerk(t, 0.1 + 0.2 * t) == pytest.approx(0.0, abs=1e-9)
    assert path_jerk(t, np.stack([t ** 3, np.zeros_like(t)], axis=1)) == pytest.approx(6.0)
    with pytest.raises(ValueError):
        Detection(crop, weight=-1.0)
