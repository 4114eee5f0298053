"""Shot detection on feature sequences (no server): frames of synthetic shots are built with
numpy, turned into features by the model's numpy definition, and detected."""
from __future__ import annotations

import numpy as np
import pytest

from mediamesh import media
from mediamesh.errors import InvalidArgument, MediaTooLong
from mediamesh.media_inputs import check_video
from mediamesh.models.shot_features import HEIGHT, WIDTH, features_reference
from mediamesh.synth.videos import shot_frames
from services.vision.shots import (
    FrameFeatures,
    Shot,
    ShotParams,
    Transition,
    detect_shots,
    hist_distance,
    palette_distance,
)

DEFAULT = ShotParams()


def shot(kind: str, seed: int, count: int) -> np.ndarray:
    return shot_frames(kind, seed, count, WIDTH, HEIGHT).astype(np.float32)


def features(*parts: np.ndarray) -> FrameFeatures:
    frames = np.clip(np.round(np.concatenate(parts)), 0, 255).astype(np.uint8)
    return FrameFeatures(*features_reference(frames))


def ramp(count: int, first: float, last: float) -> np.ndarray:
    return np.linspace(first, last, count, dtype=np.float32)[:, None, None, None]


def starts(shots: list[Shot]) -> list[tuple[int, Transition]]:
    return [(s.start, s.transition_in) for s in shots]


def test_a_cut_is_found_at_its_frame() -> None:
    shots = detect_shots(features(shot("texture", 1, 40), shot("shapes", 2, 40)), DEFAULT)
    assert starts(shots) == [(0, Transition.NONE), (40, Transition.CUT)]
    assert (shots[0].end, shots[1].end) == (40, 80)


@pytest.mark.parametrize("length", [1, 2, 3])
def test_a_white_flash_is_not_a_cut(length: int) -> None:
    frames = shot("texture", 3, 60)
    frames[30:30 + length] = 255.0
    assert starts(detect_shots(features(frames), DEFAULT)) == [(0, Transition.NONE)]


def test_a_partial_flash_is_not_a_cut() -> None:
    """Not blank (the picture shows through), so the cut detector's own return check."""
    frames = shot("gradient", 4, 60)
    frames[30:32] = 0.3 * frames[30:32] + 0.7 * 255.0
    assert len(detect_shots(features(frames), DEFAULT)) == 1


def test_a_dissolve_is_found_inside_its_span() -> None:
    a, b = shot("texture", 5, 60), shot("gradient", 6, 60)
    w = ramp(16, 1 / 17, 16 / 17)
    mixed = (1 - w) * a[40:56] + w * b[:16]
    shots = detect_shots(features(a[:40], mixed, b[16:]), DEFAULT)
    assert [s.transition_in for s in shots] == [Transition.NONE, Transition.DISSOLVE]
    assert 40 <= shots[1].start < 56
    assert abs(shots[1].start - 48) <= 2  # the middle of the mix


def test_without_gradual_detection_a_dissolve_is_one_shot() -> None:
    a, b = shot("shapes", 7, 60), shot("texture", 8, 60)
    w = ramp(20, 1 / 21, 20 / 21)
    shots = detect_shots(features(a[:40], (1 - w) * a[40:] + w * b[:20], b[20:]),
                         ShotParams(detect_gradual=False))
    assert starts(shots) == [(0, Transition.NONE)]


def test_dip_to_black_is_a_fade_in_at_the_new_content() -> None:
    a, b = shot("gradient", 9, 50), shot("shapes", 10, 50)
    black = np.zeros_like(a[:5])
    parts = (a[:35], a[35:] * ramp(15, 14 / 15, 0.0), black, b[:12] * ramp(12, 1 / 13, 12 / 13),
             b[12:])
    shots = detect_shots(features(*parts), DEFAULT)
    assert [s.transition_in for s in shots] == [Transition.NONE, Transition.FADE_IN]
    assert 50 <= shots[1].start <= 57  # from the first fade-in frame on, not in the black


def test_fade_out_then_cut_is_a_fade_out() -> None:
    a, b = shot("texture", 11, 50), shot("gradient", 12, 40)
    parts = (a[:35], a[35:] * ramp(15, 14 / 15, 0.0), np.zeros_like(a[:6]), b)
    shots = detect_shots(features(*parts), DEFAULT)
    assert starts(shots) == [(0, Transition.NONE), (56, Transition.FADE_OUT)]


def test_cut_to_black_and_back_is_a_cut() -> None:
    a, b = shot("shapes", 13, 40), shot("texture", 14, 40)
    shots = detect_shots(features(a, np.zeros_like(a[:8]), b), DEFAULT)
    assert starts(shots) == [(0, Transition.NONE), (48, Transition.CUT)]
    assert shots[0].end == 48  # the black belongs to the shot before


def test_opening_fade_in_and_closing_fade_out_make_no_boundary() -> None:
    a = shot("gradient", 15, 80)
    frames = np.concatenate([np.zeros_like(a[:4]), a[:14] * ramp(14, 1 / 15, 14 / 15), a[14:66],
                             a[66:] * ramp(14, 13 / 14, 0.0), np.zeros_like(a[:3])])
    shots = detect_shots(features(frames), DEFAULT)
    assert starts(shots) == [(0, Transition.FADE_IN)]
    assert shots[0].end == len(frames)


@pytest.mark.parametrize("kind", ["pan", "shake"])
def test_camera_motion_is_not_a_cut(kind: str) -> None:
    shots = detect_shots(features(shot(kind, 16, 120)), DEFAULT)
    assert len(shots) == 1 and shots[0].motion > 0.3


@pytest.mark.parametrize("seed", [25, 26, 27])
def test_a_travelling_colour_wave_is_not_a_dissolve(seed: int) -> None:
    """Its frames are nearly mixes of earlier and later ones, but the contrast never dips."""
    assert len(detect_shots(features(shot("gradient", seed, 150)), DEFAULT)) == 1


@pytest.mark.parametrize("strength", [0.85, 1.0])
def test_a_flash_during_a_fast_pan_is_not_a_cut(strength: float) -> None:
    frames = shot("pan", 28, 60)
    frames[30:32] = (1 - strength) * frames[30:32] + strength * 255.0
    assert len(detect_shots(features(frames), DEFAULT)) == 1


def test_a_cut_between_two_pans_is_found() -> None:
    shots = detect_shots(features(shot("pan", 17, 50), shot("pan", 18, 50)), DEFAULT)
    assert starts(shots) == [(0, Transition.NONE), (50, Transition.CUT)]


def test_summaries() -> None:
    still = np.repeat(shot("texture", 19, 1), 30, axis=0)
    pan = shot("pan", 20, 30)
    shots = detect_shots(features(still, pan), DEFAULT)
    assert len(shots) == 2
    assert shots[0].motion == pytest.approx(0.0, abs=1e-6) and shots[1].motion > 0.3
    luma = (still[0] / 255.0 @ np.array([0.299, 0.587, 0.114])).mean()
    assert shots[0].mean_luma == pytest.approx(luma, abs=0.02)
    for s in shots:
        assert s.start + (s.end - s.start) // 10 <= s.keyframe < s.end - (s.end - s.start) // 10


def test_keyframe_is_never_blank_when_the_shot_has_content() -> None:
    a = shot("shapes", 21, 20)
    (only,) = detect_shots(features(np.full_like(a, 255.0), a), DEFAULT)  # opens on white
    assert only.keyframe >= 20


def test_edges() -> None:
    assert detect_shots(FrameFeatures(np.zeros((0, 2, 2, 40), np.float32),
                                      np.zeros((0, 18, 32, 3), np.float32)), DEFAULT) == []
    (one,) = detect_shots(features(shot("texture", 22, 1)), DEFAULT)
    assert (one.start, one.end, one.keyframe) == (0, 1, 0)
    (dark,) = detect_shots(features(np.zeros((10, HEIGHT, WIDTH, 3), np.float32)), DEFAULT)
    assert dark.mean_luma == 0.0 and dark.transition_in is Transition.NONE
    with pytest.raises(ValueError, match="one N"):
        FrameFeatures(np.zeros((2, 2, 2, 40)), np.zeros((3, 18, 32, 3)))


def test_sensitivity() -> None:
    assert ShotParams.from_sensitivity(0.0, True) == DEFAULT
    assert ShotParams.from_sensitivity(0.5, True) == DEFAULT
    keen, strict = ShotParams.from_sensitivity(1.0, True), ShotParams.from_sensitivity(0.1, True)
    assert keen.cut_min < DEFAULT.cut_min < strict.cut_min
    assert keen.dissolve_misfit > DEFAULT.dissolve_misfit > strict.dissolve_misfit
    assert ShotParams.from_sensitivity(0.0, False).detect_gradual is False
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(InvalidArgument, match="threshold_sensitivity") as caught:
            ShotParams.from_sensitivity(bad, True)
        assert caught.value.field_name == "threshold_sensitivity"


def test_a_fade_keeps_its_palette_a_dissolve_does_not() -> None:
    a, b = shot("texture", 23, 1), shot("gradient", 24, 1)
    hist = features(a, a * 0.3, b).hist
    assert hist_distance(hist[0], hist[1]) > 0.2  # brightness moves the value histogram
    assert palette_distance(hist[0], hist[1]) < 0.1  # not hue and saturation
    assert palette_distance(hist[0], hist[2]) > 0.3


def test_a_flash_does_not_count_as_motion() -> None:
    still = np.repeat(shot("gradient", 29, 1), 40, axis=0)
    still[20:22] = 0.3 * still[20:22] + 0.7 * 255.0  # partial: not blank
    (only,) = detect_shots(features(still), DEFAULT)
    assert only.motion < 0.05


def test_a_request_over_the_video_length_limit_names_the_fix() -> None:
    """DetectShots keeps every frame's features: the span it takes is bounded up front."""
    hour = media.MediaInfo(duration=3600.0, container="mov,mp4,m4a,3gp,3g2,mj2",
                           has_audio=False, has_video=True, sample_rate=None, channels=None,
                           width=1280, height=720, fps=25.0, frame_count=90_000,
                           video_codec="h264", audio_codec=None)
    check_video(hour, 0.0, None, max_seconds=3600.0)  # exactly the limit is fine
    check_video(hour, 600.0, 1800.0, max_seconds=1800.0)  # a range inside it too
    with pytest.raises(MediaTooLong, match="set range to analyse it in parts"):
        check_video(hour, 0.0, None, max_seconds=1800.0)
    with pytest.raises(MediaTooLong, match="max_video_seconds"):
        check_video(hour, 100.0, 3000.0, max_seconds=1800.0)
