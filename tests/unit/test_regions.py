"""Regions for BlurRegions in numpy: keyframed boxes, request checks, and obscuring that
really hides the inside and leaves the outside alone."""
from __future__ import annotations

from dataclasses import astuple

import numpy as np
import pytest

from mediamesh.errors import InvalidArgument
from services.vision.regions import NormBox, Region, Style, boxes_at, obscure


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
