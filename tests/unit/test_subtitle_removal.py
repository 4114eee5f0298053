"""Subtitle removal without a server: DB-style boxes from a probability map (and the
scenery they must ignore), the band vote, the background plate's late commit, spans."""
from __future__ import annotations

import numpy as np
import pytest

from services.vision.subtitle_job import SEARCH_AREA, SubtitleRemover
from services.vision.subtitle_removal import (
    BackgroundPlate,
    Band,
    Method,
    clean_band,
    line_height_limit,
    merge_spans,
    text_boxes,
    text_mask,
)


def line_map(h: int = 64, w: int = 384, rows: tuple[int, int] = (24, 36),
             cols: tuple[int, int] = (100, 280), p: float = 0.9) -> np.ndarray:
    probability = np.zeros((h, w), np.float32)
    probability[rows[0]:rows[1], cols[0]:cols[1]] = p
    return probability


def test_a_text_line_is_unclipped_around_its_core() -> None:
    (box,) = text_boxes(line_map())
    left, top, right, bottom = box
    # DB grows the core by area * 1.6 / perimeter = 180 * 12 * 1.6 / 384 = 9 px
    assert left == pytest.approx(91 / 384) and right == pytest.approx(289 / 384)
    assert top == pytest.approx(15 / 64) and bottom == pytest.approx(45 / 64)


def test_weak_tall_and_narrow_regions_are_not_text() -> None:
    assert text_boxes(line_map(p=0.4)) == []  # mean probability under the box score
    tall = line_map(rows=(2, 62), cols=(100, 300))
    assert text_boxes(tall, max_height=line_height_limit(0.4)) == []  # 60 of 64 rows
    assert text_boxes(line_map(rows=(10, 50), cols=(100, 120))) == []  # taller than wide


def test_the_mask_covers_the_box_and_its_outline_at_source_size() -> None:
    mask = text_mask(line_map(), 1280, 216, outline_px=4)
    rows, cols = np.nonzero(mask)
    assert cols.min() == int(np.floor(91 / 384 * 1280)) - 4
    assert rows.min() == int(np.floor(15 / 64 * 216)) - 4
    assert mask[108, 640] and not mask[5, 640]


def test_the_band_is_the_run_of_rows_text_keeps_coming_back_to() -> None:
    rows = np.zeros(100)
    rows[70:82] = 20  # the subtitle line in 20 of 24 samples
    rows[10:14] = 2  # a sign in the scenery, twice
    band = SubtitleRemover._band_of(rows)
    assert band.y == pytest.approx(SEARCH_AREA.y + 0.70 * SEARCH_AREA.height - 0.02)
    assert band.y + band.height == pytest.approx(SEARCH_AREA.y + 0.82 * SEARCH_AREA.height
                                                 + 0.02)
    assert SubtitleRemover._band_of(np.zeros(100)) == SEARCH_AREA


def test_the_plate_fills_a_still_scene_and_never_learns_late_caught_text() -> None:
    h, w = 40, 120
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    text = scene.copy()
    text[15:25, 30:90] = 255
    mask = np.zeros((h, w), bool)
    mask[13:27, 28:92] = True
    plate = BackgroundPlate(h, w)
    t = 0.0
    for _ in range(5):  # the clean scene, then the line appears
        frame = scene.copy()
        clean_band(frame, np.zeros_like(mask), t, plate, Method.TELEA)
        t += 0.04
    late = text.copy()  # the detector misses the line's first frame
    clean_band(late, np.zeros_like(mask), t, plate, Method.TELEA)
    for _ in range(6):
        t += 0.04
        frame = text.copy()
        clean_band(frame, mask, t, plate, Method.TELEA)
        np.testing.assert_array_equal(frame, scene)  # the real background, not the text


def test_a_moving_scene_falls_back_to_inpainting() -> None:
    h, w = 40, 120
    rng = np.random.default_rng(1)
    plate = BackgroundPlate(h, w)
    mask = np.zeros((h, w), bool)
    mask[15:25, 30:90] = True
    for i in range(8):
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)  # every frame different
        before = frame.copy()
        clean_band(frame, mask, i * 0.04, plate, Method.TELEA)
        np.testing.assert_array_equal(frame[~mask], before[~mask])
        assert not np.array_equal(frame[mask], before[mask])


def test_spans_join_frames_across_short_gaps() -> None:
    times = [0.0, 0.04, 0.08, 0.2, 1.0, 1.04]
    spans = merge_spans(times, 0.04, 0.2)
    assert len(spans) == 2
    assert spans[0] == pytest.approx((0.0, 0.24)) and spans[1] == pytest.approx((1.0, 1.08))
    assert merge_spans([], 0.04, 0.2) == []


def test_the_detector_sees_a_band_64_rows_tall() -> None:
    assert Band(0, 576, 1280, 720).analysis_size == (576, 64)
    assert Band(0, 300, 640, 360).analysis_size == (640, 64)  # capped
