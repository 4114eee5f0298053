"""The clip generator's truth agrees with its pixels, and a seed always renders one clip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediamesh import media
from mediamesh.synth.videos import (
    CONTENT_KINDS,
    GRADUAL,
    ClipPlan,
    Transition,
    plan_clip,
    render_frames,
    write_clip,
)

W, H = 128, 72
SEEDS = [101, 102, 103, 104]


@pytest.fixture(scope="module", params=SEEDS)
def clip(request: pytest.FixtureRequest) -> tuple[ClipPlan, np.ndarray]:
    plan = plan_clip(request.param, shots=7, width=W, height=H)
    return plan, np.stack(list(render_frames(plan))).astype(np.float32)


def test_a_seed_renders_one_clip() -> None:
    a, b = plan_clip(7, width=W, height=H), plan_clip(7, width=W, height=H)
    assert a.truth == b.truth
    assert np.array_equal(next(render_frames(a)), next(render_frames(b)))
    assert plan_clip(8, width=W, height=H).truth != a.truth


def test_shots_tile_the_clip(clip: tuple[ClipPlan, np.ndarray]) -> None:
    truth = clip[0].truth
    assert truth.shots[0].start == 0 and truth.shots[-1].end == truth.frame_count
    assert [s.end for s in truth.shots[:-1]] == [s.start for s in truth.shots[1:]]
    assert [b.frame for b in truth.boundaries] == [s.start for s in truth.shots[1:]]
    assert [b.kind for b in truth.boundaries] == [s.transition_in for s in truth.shots[1:]]
    assert truth.shots[0].transition_in in (Transition.NONE, Transition.FADE_IN)
    assert {s.content for s in truth.shots} == set(CONTENT_KINDS)
    for b in truth.boundaries:
        assert b.span_start <= b.frame < b.span_end
        assert (b.span_end - b.span_start == 1) == (b.kind is Transition.CUT)


def luma(frames: np.ndarray) -> np.ndarray:
    return frames @ np.array([0.299, 0.587, 0.114], np.float32)


def test_truth_matches_the_pixels(clip: tuple[ClipPlan, np.ndarray]) -> None:
    truth, frames = clip[0].truth, clip[1]
    step = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # step[i]: frame i -> i+1
    calm = np.median(step)
    for b in truth.boundaries:
        if b.kind is Transition.CUT:
            assert step[b.frame - 1] > 8 * calm  # a jump exactly there
        elif b.kind is Transition.DISSOLVE:
            n = b.span_end - b.span_start  # inside: one mix step per frame, no jump
            assert step[b.span_start - 1:b.span_end].max() < 0.5 * np.abs(
                frames[b.span_end] - frames[b.span_start - 1]).mean()
            assert n >= 10
        else:  # through black: the darkest frame in the span is black
            darkest = luma(frames[b.span_start:b.span_end]).max(axis=(1, 2)).min()
            assert darkest < 6
    for flash in truth.flashes:
        inside = frames[flash.start:flash.start + flash.length]
        assert luma(inside).mean() > 200
        after = flash.start + flash.length
        assert luma(frames[flash.start - 1]).mean() < 200 > luma(frames[after]).mean()
        assert all(abs(flash.start - b.frame) >= 8 for b in truth.boundaries)


def test_steady_frames_are_never_blank(clip: tuple[ClipPlan, np.ndarray]) -> None:
    plan, frames = clip
    steady = np.array([r.steady for r in plan.recipes])
    y = luma(frames[steady])
    assert (y.std(axis=(1, 2)) > 2).all() and (y.max(axis=(1, 2)) > 40).all()


def test_cuts_only() -> None:
    truth = plan_clip(5, shots=6, width=W, height=H, gradual=False, flashes=False).truth
    assert all(b.kind is Transition.CUT for b in truth.boundaries) and not truth.flashes
    assert all(k not in GRADUAL for k in [s.transition_in for s in truth.shots])


def test_write_clip_encodes_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    truth = write_clip(path, 9, shots=3, width=W, height=H, fps=30.0, min_shot_frames=12,
                       max_shot_frames=15)
    info = media.probe(path)
    assert (info.width, info.height, info.fps, info.video_codec) == (W, H, 30.0, "h264")
    assert sum(1 for _ in media.iter_frames(path)) == truth.frame_count
    assert truth.to_json()["boundaries"][0]["frame"] == truth.boundaries[0].frame


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="at least one shot"):
        plan_clip(1, shots=0)
