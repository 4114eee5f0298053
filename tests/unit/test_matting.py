"""services.vision.matting on numpy arrays: geometry, temporal stabilisation, the matte,
background blur and compositing; plus the request checks of services.vision.portrait and
the background video reader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediamesh import media
from mediamesh.errors import InvalidArgument
from services.vision import matting
from services.vision.backgrounds import BackgroundVideo, cover_size
from services.vision.keying import composite
from services.vision.portrait import Background, PortraitOptions

H, W = 36, 64  # a small "model resolution" for the time tests


# geometry ----------------------------------------------------------------------------------


def test_area_resize_keeps_the_mean_and_constants() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((50, 90, 3)).astype(np.float32)
    for size in ((10, 18), (7, 13), (50, 45)):
        small = matting.resize_area(image, *size)
        assert small.shape == (*size, 3)
        assert small.mean() == pytest.approx(image.mean(), abs=1e-4)
    assert np.allclose(matting.resize_area(np.full((31, 47, 1), 7.0), 10, 13), 7.0)


def test_model_input_is_the_frame_stretched_to_256x144() -> None:
    frame = np.zeros((2, 360, 480, 3), np.uint8)  # 4:3: stretched, as MediaPipe does
    frame[:, :, 240:] = 200
    small = matting.model_input(frame)
    assert small.shape == (2, 144, 256, 3) and small.dtype == np.uint8
    assert (small[:, :, :128] == 0).all() and (small[:, :, 128:] == 200).all()


def test_a_mask_edge_lands_where_the_model_put_it_at_any_frame_size() -> None:
    # model pixels 0..99 person: the edge is at 100/256 of the width, whatever the size
    mask = np.zeros((144, 256), np.float32)
    mask[:, :100] = 1.0
    for width in (256, 640, 1280, 333):
        up = matting.upsample_linear(mask, 90, width)
        crossing = np.argmax(up[45] < 0.5)
        assert abs(crossing - 100 / 256 * width) <= 1.0, width


def test_upsample_is_pixel_centre_aligned_and_exact_on_constants() -> None:
    plane = np.arange(4, dtype=np.float32)[None, :].repeat(2, 0)  # 0 1 2 3
    up = matting.upsample_linear(plane, 2, 8)
    # output pixel centres (i + 0.5) / 2 - 0.5 in source pixels, clamped at the edges
    assert np.allclose(up[0], [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3])
    assert np.allclose(matting.upsample_linear(np.full((3, 5), 0.3), 30, 50), 0.3)


# time --------------------------------------------------------------------------------------


def _noisy_static_edge(frames: int, rng: np.random.Generator) -> np.ndarray:
    """A still person edge (left half) with per-frame noise of the model on it."""
    base = np.zeros((H, W), np.float32)
    base[:, :W // 2] = 1.0
    base[:, W // 2 - 2:W // 2 + 2] = [0.8, 0.6, 0.4, 0.2]  # a soft edge
    noise = rng.normal(0.0, 0.08, (frames, H, W)).astype(np.float32)
    return np.clip(base + noise, 0.0, 1.0)


def test_smoothing_reduces_flicker_on_a_noisy_static_edge() -> None:
    probs = _noisy_static_edge(60, np.random.default_rng(1))
    raw, _ = matting.stabilize(probs, None, matting.Smoothing(strength=0.0))
    steady, _ = matting.stabilize(probs, None, matting.Smoothing(strength=0.6))
    edge = slice(W // 2 - 3, W // 2 + 3)

    def flicker(x: np.ndarray) -> float:
        return float(np.abs(np.diff(x[:, :, edge], axis=0)).mean())

    assert np.array_equal(raw, probs)  # 0 = off
    assert flicker(steady) < 0.6 * flicker(raw)
    # and the edge decision (the 0.5 crossing) changes far less often
    flips = lambda x: int(np.abs(np.diff(x[:, :, edge] >= 0.5, axis=0)).sum())
    assert flips(steady) < 0.5 * flips(raw)


def test_a_moving_edge_is_followed_within_two_frames_without_ghosting() -> None:
    frames = 22  # the edge stays inside the 64-pixel width
    probs = np.zeros((frames, H, W), np.float32)
    for t in range(frames):  # the person's edge moves 2 model pixels a frame
        probs[t, :, : 10 + 2 * t] = 1.0
    for strength in (0.6, 0.9):
        out, _ = matting.stabilize(probs, None, matting.Smoothing(strength=strength))
        for t in range(2, frames):
            edge = int(np.argmax(out[t, H // 2] < 0.5))
            assert abs(edge - (10 + 2 * t)) <= 4, (strength, t)  # within 2 frames
            assert out[t, H // 2, 10 + 2 * t + 4:].max() < 0.05  # no trail ahead
        assert out[-1, H // 2, : 10 + 2 * (frames - 1) - 4].min() > 0.95  # nor behind


def test_a_person_leaving_leaves_no_ghost() -> None:
    probs = np.concatenate([np.ones((10, H, W)), np.zeros((10, H, W))]).astype(np.float32)
    out, _ = matting.stabilize(probs, None, matting.Smoothing(strength=0.9))
    assert out[10].max() < 0.01  # the frame after: gone


def test_state_carries_across_chunks() -> None:
    probs = _noisy_static_edge(24, np.random.default_rng(2))
    smoothing = matting.Smoothing(strength=0.7)
    whole, _ = matting.stabilize(probs, None, smoothing)
    first, state = matting.stabilize(probs[:8], None, smoothing)
    second, _ = matting.stabilize(probs[8:], state, smoothing)
    assert np.allclose(np.concatenate([first, second]), whole)


def test_smoothing_strength_is_checked() -> None:
    with pytest.raises(ValueError):
        matting.Smoothing(strength=1.5)


# the matte, compositing and blur ------------------------------------------------------------


def test_matte_maps_probability_through_the_soft_edge() -> None:
    p = np.array([[0.0, 0.3, 0.5, 0.7, 1.0]], np.float32)
    a = matting.matte(p, 1, 5)
    assert a.shape == (1, 5, 1) and a.dtype == np.uint8
    assert np.abs(a[0, :, 0].astype(int) - [0, 0, 128, 255, 255]).max() <= 1
    assert matting.person_coverage(np.full((4, 4, 1), 255, np.uint8)) == 1.0


def test_composite_maths() -> None:
    fg = np.full((2, 2, 3), 200, np.uint8)
    bg = np.full((2, 2, 3), 100, np.uint8)
    alpha = np.array([[[0], [255]], [[128], [64]]], np.uint8)
    out = composite(fg, alpha, bg).astype(int)
    expected = 100 + 100 * alpha[..., 0].astype(float) / 255.0
    assert np.abs(out[..., 0] - expected).max() <= 1
    assert (out[0, 0] == 100).all() and (out[0, 1] == 200).all()


def test_gaussian_blur_has_the_asked_sigma_and_keeps_the_mean() -> None:
    image = np.zeros((201, 201, 1), np.float32)
    image[100, 100] = 1.0
    for sigma in (2.0, 6.0, 15.0):
        blurred = matting.gaussian_blur(image, sigma)[..., 0]
        assert blurred.sum() == pytest.approx(1.0, abs=1e-3)
        x = np.arange(201) - 100
        measured = np.sqrt((blurred.sum(0) * x * x).sum())
        assert measured == pytest.approx(sigma, rel=0.1)


def test_blur_background_keeps_the_person_colour_out_of_the_background() -> None:
    h, w = 120, 200
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, :, 2] = 200  # a blue background
    frame[:, 80:120] = (255, 0, 0)  # a red person in the middle
    alpha = np.zeros((h, w, 1), np.uint8)
    alpha[:, 80:120] = 255
    blurred = matting.blur_background(frame, alpha, 12.0)
    assert blurred.shape == frame.shape
    next_to_person = blurred[:, 70:80].reshape(-1, 3).astype(int)
    assert next_to_person[:, 0].max() < 20  # no red halo
    assert np.abs(next_to_person[:, 2] - 200).max() <= 3


def test_blur_smooths_a_textured_background() -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (90, 160, 3)).astype(np.uint8)
    out = matting.blur_background(frame, np.zeros((90, 160, 1), np.uint8), 8.0)
    assert out.astype(float).std() < 0.2 * frame.astype(float).std()
    assert abs(out.astype(float).mean() - frame.astype(float).mean()) < 3


# request checks -----------------------------------------------------------------------------


def _names(value: int) -> str:
    names = ["UNSPECIFIED", "ALPHA_ONLY", "REPLACE_COLOR", "REPLACE_IMAGE", "REPLACE_VIDEO",
             "BLUR"]
    if not 0 <= value < len(names):
        raise ValueError(value)
    return f"PORTRAIT_BACKGROUND_{names[value]}"


def test_modes_from_the_contract() -> None:
    assert Background.from_contract(0, _names) is Background.ALPHA_ONLY
    assert Background.from_contract(5, _names) is Background.BLUR
    with pytest.raises(InvalidArgument, match="unknown mode 9"):
        Background.from_contract(9, _names)


@pytest.mark.parametrize("mode,field,radius,smoothing,text", [
    (Background.REPLACE_IMAGE, None, 0, 0, "needs background_image"),
    (Background.REPLACE_COLOR, "background_image", 0, 0, "needs background_color"),
    (Background.BLUR, "background_color", 0, 0, "set mode to PORTRAIT_BACKGROUND_REPLACE_COLOR"),
    (Background.ALPHA_ONLY, "background_video", 0, 0, "REPLACE_VIDEO"),
    (Background.BLUR, None, -1, 0, "blur_radius must be in [0, 250]"),
    (Background.BLUR, None, 1e6, 0, "blur_radius must be in"),
    (Background.BLUR, None, float("nan"), 0, "blur_radius must be in"),
    (Background.ALPHA_ONLY, None, 5, 0, "only used with mode PORTRAIT_BACKGROUND_BLUR"),
    (Background.BLUR, None, 0, 1.2, "temporal_smoothing must be in [0, 1]"),
    (Background.BLUR, None, 0, float("nan"), "temporal_smoothing"),
])
def test_bad_options_are_refused_with_the_field(mode: Background, field: str | None,
                                                radius: float, smoothing: float,
                                                text: str) -> None:
    with pytest.raises(InvalidArgument, match=text.replace("[", r"\[").replace("]", r"\]")):
        PortraitOptions.from_request(mode, field, radius, smoothing)


def test_good_options() -> None:
    options = PortraitOptions.from_request(Background.BLUR, None, 0, 0.5)
    assert options.blur_radius is None and options.smoothing.strength == 0.5
    assert PortraitOptions.from_request(Background.REPLACE_VIDEO, "background_video", 0,
                                        0).smoothing.strength == 0


# background video ---------------------------------------------------------------------------


def test_cover_size() -> None:
    assert cover_size(1920, 1080, 640, 360) == (640, 360)
    assert cover_size(400, 400, 640, 360) == (640, 640)
    assert cover_size(360, 640, 640, 360) == (640, 1138)


def test_background_video_loops_and_covers(tmp_path: Path) -> None:
    path = tmp_path / "bg.mp4"
    with media.VideoWriter(path, 80, 80, 10.0) as writer:  # 1 s, square: cropped to 64x36
        for i in range(10):
            writer.write(np.full((80, 80, 3), 20 * i + 10, np.uint8))
    video = BackgroundVideo(path, media.probe(path), 64, 36)
    levels = [int(video.frame_at(t / 25.0)[18, 32, 0]) for t in range(60)]  # 2.4 s at 25 fps
    assert video.frame_at(0.0).shape == (36, 64, 3)
    expected = [20 * (int(t / 25.0 * 10 + 1e-6) % 10) + 10 for t in range(60)]
    assert max(abs(a - b) for a, b in zip(levels, expected, strict=True)) <= 4
