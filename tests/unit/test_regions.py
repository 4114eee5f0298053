"""Regions for BlurRegions in numpy: keyframed boxes, request checks, and obscuring that
really hides the inside and leaves the outside alone."""
from __future__ import annotations

import time
from dataclasses import astuple

import numpy as np
import pytest

from mediamesh.errors import InvalidArgument
from services.vision.regions import (
    NormBox,
    Region,
    Style,
    box_widths,
    boxes_at,
    gaussian_blur,
    obscure,
)


def moving() -> Region:
    return Region.checked([(1.0, NormBox(0.0, 0.0, 0.2, 0.2)),
                           (3.0, NormBox(0.6, 0.4, 0.4, 0.4))], 0.5, 4.0, "regions[0]")


def test_keyframes_interpolate_hold_and_respect_the_range() -> None:
    region = moving()
    assert region.box_at(0.2) is None and region.box_at(4.0) is None  # outside the range
    assert region.box_at(0.7) == NormBox(0.0, 0.0, 0.2, 0.2)  # held before the first
    middle = region.box_at(2.0)
    assert middle is not None
    assert astuple(middle) == pytest.approx((0.3, 0.2, 0.3, 0.3))
    assert region.box_at(3.5) == NormBox(0.6, 0.4, 0.4, 0.4)  # held after the last
    still = Region.checked([(0.0, NormBox(0.1, 0.1, 0.1, 0.1))], 0.0, None, "regions[1]")
    assert len(boxes_at([region, still], 2.0)) == 2 and len(boxes_at([region, still], 9)) == 1


def test_pixels_round_outwards_and_clip() -> None:
    assert NormBox(0.101, 0.2, 0.3, 0.5).pixels(100, 50) == (10, 10, 41, 35)
    assert NormBox(0.9, 0.9, 0.1, 0.1).pixels(64, 36) == (57, 32, 64, 36)


@pytest.mark.parametrize(("keyframes", "end", "words"), [
    ([], None, "no keyframes"),
    ([(0.0, NormBox(0.1, 0.1, 0.0, 0.2))], None, "no area"),
    ([(0.0, NormBox(0.9, 0.1, 0.2, 0.2))], None, "outside the frame"),
    ([(0.0, NormBox(0.1, 0.1, float("nan"), 0.2))], None, "not a number"),
    ([(2.0, NormBox(0.1, 0.1, 0.1, 0.1)), (1.0, NormBox(0.1, 0.1, 0.1, 0.1))], None,
     "in order"),
    ([(0.0, NormBox(0.1, 0.1, 0.1, 0.1))], 0.0, "ends"),
])
def test_bad_regions_are_invalid_argument_naming_the_field(keyframes, end, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument, match=words) as caught:
        Region.checked(keyframes, 0.0, end, "regions[2]")
    assert caught.value.field_name.startswith("regions[2]")


@pytest.mark.parametrize("style", list(Style))
def test_obscuring_hides_detail_inside_and_leaves_outside(style: Style) -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    original = frame.copy()
    obscure(frame, (20, 10, 60, 50), style, 0.5)
    outside = np.ones((60, 80), bool)
    outside[10:50, 20:60] = False
    assert np.array_equal(frame[outside], original[outside])
    inside, before = frame[10:50, 20:60].astype(float), original[10:50, 20:60].astype(float)
    assert inside.std() < 0.35 * before.std()  # the detail is gone
    assert abs(inside.mean() - before.mean()) < 6  # the colour stays


def test_stronger_means_bigger_mosaic_cells() -> None:
    rng = np.random.default_rng(1)
    weak, strong = (rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(2))
    obscure(weak, (0, 0, 48, 48), Style.MOSAIC, 0.0)
    obscure(strong, (0, 0, 48, 48), Style.MOSAIC, 1.0)
    distinct = [len(np.unique(f[..., 0])) for f in (weak, strong)]
    assert distinct[1] < distinct[0]


def test_box_widths_give_the_gaussian_variance() -> None:
    for sigma in (8.5, 20.0, 333.3, 1000.0):
        widths = box_widths(sigma)
        assert all(w % 2 == 1 for w in widths)
        assert abs(sum((w * w - 1) / 12 for w in widths) ** 0.5 - sigma) < 0.02 * sigma


def test_wide_gaussian_is_close_to_the_exact_one() -> None:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(3)
    patch = (rng.random((300, 300, 3)) * 255).astype(np.float32)
    patch[100:200, 100:200] += 200
    for sigma in (9.0, 30.0, 60.0):
        exact = gaussian_filter(patch, sigma=(sigma, sigma, 0), mode="nearest")
        assert np.abs(gaussian_blur(patch, sigma) - exact).mean() < 2.0  # of 255 levels


def test_gaussian_over_a_huge_box_takes_no_longer_than_a_small_one() -> None:
    """Found by the fuzz: a box a third of a 49 MP picture wide (sigma 656 px) kept
    BlurRegions busy past a minute; the exact kernel's cost grew with sigma."""
    frame = np.random.default_rng(4).integers(0, 256, (3000, 3000, 3), dtype=np.uint8)
    started = time.perf_counter()
    obscure(frame, (0, 0, 3000, 3000), Style.GAUSSIAN, 1.0)  # sigma 1500 px
    assert time.perf_counter() - started < 5.0
    assert frame.std() < 20  # hidden
