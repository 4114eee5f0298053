"""Keying decisions (key colour, thresholds, compositing, background fit) and the synthetic clip."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediamesh.errors import InvalidArgument, StatusCode
from mediamesh.media import YuvPlanes
from mediamesh.synth.green_screen import background_image, render_frame
from services.vision.keying import (
    ASSUMED_SCREEN_SHARE,
    AUTO_HIGH,
    AUTO_LOW,
    KeyChannel,
    KeyParams,
    border_pixels,
    composite,
    estimate_screen,
    fit_background,
)


def framed(border_rgb: tuple[int, int, int], h: int = 60, w: int = 80) -> YuvPlanes:
    """A subject (skin/red-ish centre with a blue shirt and green plant) inside a screen border."""
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = border_rgb
    frame[h // 6:-h // 6, w // 6:-w // 6] = (200, 150, 130)
    frame[h // 2:-h // 6, w // 3:w // 2] = (20, 40, 220)  # a blue patch inside
    frame[h // 6:h // 3, w // 2:-w // 6] = (30, 210, 30)  # a green patch inside
    return YuvPlanes.from_rgb(frame)


def test_green_border_is_green() -> None:
    screen = estimate_screen(framed((40, 200, 60)))
    assert screen.channel is KeyChannel.GREEN
    assert screen.strength is not None and screen.strength > 40


def test_blue_border_is_blue() -> None:
    assert estimate_screen(framed((30, 60, 210))).channel is KeyChannel.BLUE


def test_detection_uses_the_border_not_the_centre() -> None:
    frame = np.empty((100, 100, 3), np.uint8)
    frame[:] = (20, 30, 230)  # mostly blue subject...
    frame[:5] = frame[-5:] = frame[:, :5] = frame[:, -5:] = (40, 200, 60)  # ...on a green band
    assert estimate_screen(YuvPlanes.from_rgb(frame)).channel is KeyChannel.GREEN


def test_synthetic_green_screen_is_detected_green() -> None:
    planes = YuvPlanes.from_rgb(render_frame(0, 25.0, 96, 64).rgb)
    assert estimate_screen(planes).channel is KeyChannel.GREEN


def test_a_subject_across_the_border_does_not_move_the_key() -> None:
    clean = framed((40, 180, 60))
    frame = clean.to_rgb()
    frame[30:, :] = (200, 150, 130)  # the subject fills the lower half, edges included
    crossed = estimate_screen(YuvPlanes.from_rgb(frame))
    expected = estimate_screen(clean)
    assert crossed.channel is KeyChannel.GREEN
    assert np.allclose(crossed.key_uv, expected.key_uv, atol=2)
    assert crossed.strength == pytest.approx(expected.strength, abs=2)


def test_the_screens_strength_sets_automatic_thresholds() -> None:
    screen = estimate_screen(framed((40, 180, 60)))
    assert screen.strength is not None
    low, high = screen.thresholds(KeyParams())
    assert (low, high) == pytest.approx((AUTO_LOW * screen.strength,
                                         AUTO_HIGH * screen.strength))
    assert screen.thresholds(KeyParams(3.0, 30.0)) == (3.0, 30.0)  # given: kept
    row = screen.row(KeyParams(spill=0.5))
    assert row.dtype == np.float32 and row.tolist()[2:] == pytest.approx([low, high, 0.5])
    assert row.tolist()[:2] == pytest.approx(list(screen.key_uv))


def test_a_dimmer_screen_gets_lower_thresholds() -> None:
    bright = estimate_screen(framed((40, 200, 60)))
    dim = estimate_screen(framed((30, 120, 45)))
    assert dim.thresholds(KeyParams())[1] < bright.thresholds(KeyParams())[1]


def test_no_screen_in_the_border_assumes_a_half_saturated_nominal_screen() -> None:
    grey = YuvPlanes.from_rgb(np.full((40, 40, 3), 128, np.uint8))
    screen = estimate_screen(grey, KeyChannel.GREEN)
    assert screen.strength is None and screen.key_uv == KeyChannel.GREEN.nominal_uv
    assumed = ASSUMED_SCREEN_SHARE * float(np.hypot(*KeyChannel.GREEN.nominal_uv))
    assert screen.thresholds(KeyParams()) == pytest.approx((AUTO_LOW * assumed,
                                                            AUTO_HIGH * assumed))
    assert screen.thresholds(KeyParams(5.0, 40.0)) == (5.0, 40.0)


def test_one_given_threshold_must_fit_the_automatic_other() -> None:
    screen = estimate_screen(framed((40, 200, 60)))
    assert screen.strength is not None
    with pytest.raises(InvalidArgument) as info:
        screen.thresholds(KeyParams(low=AUTO_HIGH * screen.strength + 1))
    assert info.value.field_name == "threshold_low" and "set both or neither" in info.value.message


def test_nominal_key_colours_point_the_right_way() -> None:
    gu, gv = KeyChannel.GREEN.nominal_uv
    bu, bv = KeyChannel.BLUE.nominal_uv
    assert gu < 0 and gv < 0  # green: below grey in both U and V
    assert bu > 0 and abs(bv) < bu  # blue: mostly +U


def test_border_pixels_cover_exactly_the_band() -> None:
    frame = np.zeros((40, 50, 3), np.uint8)
    band = max(1, int(40 * 0.05))  # 2 px
    frame[:band] = frame[-band:] = frame[:, :band] = frame[:, -band:] = 255
    px = border_pixels(frame)
    assert px.shape == (40 * 50 - (40 - 2 * band) * (50 - 2 * band), 3)
    assert (px == 255).all()




# composite ------------------------------------------------------------------------------


def test_composite_alpha_extremes_and_midpoint() -> None:
    rng = np.random.default_rng(1)
    fg = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    full = np.full((8, 9, 1), 255, np.uint8)
    assert np.array_equal(composite(fg, full, bg), fg)
    assert np.array_equal(composite(fg, np.zeros_like(full), bg), bg)
    half = composite(fg, np.full_like(full, 128), bg)
    midpoint = (fg.astype(np.float64) + bg) / 2
    assert np.abs(half - midpoint).max() <= 1.0
    assert half.dtype == np.uint8 and half.shape == fg.shape


def test_composite_is_the_rounded_blend_exactly() -> None:
    rng = np.random.default_rng(2)
    fg = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (64, 80, 1), dtype=np.uint8)
    a = alpha.astype(np.float64)
    exact = np.floor((fg * a + bg * (255 - a)) / 255 + 0.5)
    assert np.array_equal(composite(fg, alpha, bg), exact.astype(np.uint8))
    assert np.array_equal(composite(fg, alpha, np.array([7, 0, 255], np.uint8)),
                          np.floor((fg * a + np.array([7, 0, 255]) * (255 - a)) / 255 + 0.5)
                          .astype(np.uint8))


def test_composite_onto_a_solid_colour() -> None:
    fg = np.full((2, 3, 3), 200, np.uint8)
    alpha = np.array([[[0], [255], [51]]] * 2, np.uint8)
    out = composite(fg, alpha, np.array([0, 0, 100], np.uint8))
    assert out[0, 0].tolist() == [0, 0, 100]
    assert out[0, 1].tolist() == [200, 200, 200]
    assert out[0, 2].tolist() == [40, 40, 120]  # 0.2 of the way from bg to fg


# fit_background -------------------------------------------------------------------------


@pytest.mark.parametrize(("src", "dst"), [
    ((10, 16), (90, 160)),  # upscale
    ((720, 1280), (36, 64)),  # downscale
    ((100, 30), (48, 64)),  # tall onto wide
    ((17, 301), (40, 33)),  # very wide onto near-square
    ((1, 1), (7, 5)),
    ((48, 64), (48, 64)),
])
def test_fit_background_has_exactly_the_requested_shape(src: tuple[int, int],
                                                        dst: tuple[int, int]) -> None:
    image = np.random.default_rng(0).integers(0, 256, (*src, 3), dtype=np.uint8)
    out = fit_background(image, *dst)
    assert out.shape == (*dst, 3)
    assert out.dtype == np.uint8
    assert out.flags["C_CONTIGUOUS"]


def test_fit_background_same_size_is_identity() -> None:
    image = np.random.default_rng(2).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    assert np.array_equal(fit_background(image, 24, 40), image)


def test_fit_background_upscale_is_nearest_and_centre_cropped() -> None:
    image = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    out = fit_background(image, 4, 4)
    assert np.array_equal(out, image.repeat(2, axis=0).repeat(2, axis=1))
    wide = np.zeros((2, 6, 3), np.uint8)
    wide[:, 2:4] = 255  # only the centre third is white
    assert (fit_background(wide, 2, 2) == 255).all()  # cover + centre crop keeps the centre


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 60), st.integers(1, 60))
def test_fit_background_shape_for_any_sizes(ih: int, iw: int, h: int, w: int) -> None:
    image = np.zeros((ih, iw, 3), np.uint8)
    assert fit_background(image, h, w).shape == (h, w, 3)


# KeyParams ------------------------------------------------------------------------------


def test_zero_means_automatic_thresholds_and_the_default_spill() -> None:
    params = KeyParams.from_request(0, 0, 0)
    assert (params.low, params.high, params.spill) == (None, None, 0.8)


def test_explicit_values_are_kept() -> None:
    params = KeyParams.from_request(5, 60, 0.3)
    assert (params.low, params.high, params.spill) == (5, 60, 0.3)


@pytest.mark.parametrize(("low", "high", "spill", "field"), [
    (-1, 0, 0, "threshold_low"),
    (255, 0, 0, "threshold_low"),
    (300, 400, 0, "threshold_low"),
    (50, 40, 0, "threshold_high"),
    (50, 50, 0, "threshold_high"),
    (0, 256, 0, "threshold_high"),
    (0, -5, 0, "threshold_high"),
    (0, 0, 1.5, "spill_suppression"),
    (0, 0, -0.1, "spill_suppression"),
    (float("nan"), 0, 0, "threshold_low"),
    (0, 0, float("nan"), "spill_suppression"),
])
def test_invalid_ranges_name_the_field(low: float, high: float, spill: float, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        KeyParams.from_request(low, high, spill)
    assert info.value.field_name == field
    assert info.value.code is StatusCode.INVALID_ARGUMENT
    assert field in info.value.message


# synthetic green screen -----------------------------------------------------------------


def test_render_frame_alpha_matte_is_soft_and_the_screen_green() -> None:
    frame = render_frame(3, 25.0, 160, 90, seed=4)
    assert frame.rgb.shape == (90, 160, 3) and frame.rgb.dtype == np.uint8
    assert frame.alpha.shape == (90, 160) and frame.alpha.dtype == np.float32
    assert frame.alpha.min() >= 0.0 and frame.alpha.max() <= 1.0
    assert (frame.alpha == 0).any() and (frame.alpha == 1).any()
    rim = (frame.alpha > 0.02) & (frame.alpha < 0.98)
    assert rim.sum() > 20  # an anti-aliased edge, not a hard mask
    screen = frame.rgb[frame.alpha == 0].astype(np.int16)
    assert (screen[:, 1] > screen[:, 0] + 60).all()
    assert (screen[:, 1] > screen[:, 2] + 60).all()
    subject = frame.rgb[frame.alpha == 1].astype(np.int16)
    assert (subject[:, 0] > subject[:, 1]).all()  # skin-like, red above green


def test_render_frame_is_deterministic_and_moves() -> None:
    a = render_frame(0, 25.0, 64, 48)
    assert np.array_equal(a.rgb, render_frame(0, 25.0, 64, 48).rgb)
    later = render_frame(25, 25.0, 64, 48)  # one second later the subject has moved
    assert not np.array_equal(a.alpha, later.alpha)


def test_background_image_shape() -> None:
    bg = background_image(33, 17)
    assert bg.shape == (17, 33, 3) and bg.dtype == np.uint8
    assert bg[:, 0, 0].mean() < bg[:, -1, 0].mean()  # warmer to the right
