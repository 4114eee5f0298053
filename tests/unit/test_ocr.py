"""OCR's steps around the networks, on arrays: DB boxes, reading order, crops, CTC."""
from __future__ import annotations

import numpy as np
import pytest

from mediamesh import ocr
from mediamesh.models import text_recognition


def test_ctc_collapses_repeats_and_drops_blanks() -> None:
    chars = text_recognition.charset()
    a, b = chars.index("a"), chars.index("b")
    indices = np.array([0, a, a, 0, a, b, b, 0, 0])
    scores = np.array([0.9, 0.8, 0.6, 0.9, 1.0, 0.7, 0.2, 0.9, 0.9], np.float32)
    text, confidence = text_recognition.decode(indices, scores)
    assert text == "aab"  # a blank between two a's keeps both
    assert confidence == pytest.approx((0.8 + 1.0 + 0.7) / 3)  # the first step of each run
    assert text_recognition.decode(np.zeros(5, np.int64), np.ones(5, np.float32)) == ("", 0.0)


def test_charset_has_blank_first_and_space_last() -> None:
    chars = text_recognition.charset()
    assert len(chars) == 18710 and chars[0] == "" and chars[-1] == " "
    assert {"中", "文", "A", "z", "7"} <= set(chars)


def test_detector_size_keeps_the_aspect_on_multiples_of_32() -> None:
    assert ocr.detector_size(1280, 720) == (1312, 736)
    w, h = ocr.detector_size(8000, 200)  # very wide: the long side is capped
    assert w <= ocr.DETECT_MAX_SIDE and w % 32 == 0 and h % 32 == 0 and h >= 32


def probability_map(boxes: list[tuple[int, int, int, int]], shape: tuple[int, int]
                    ) -> np.ndarray:
    """DB shrinks each text line to a kernel: draw the kernels as probability 0.9."""
    probability = np.zeros(shape, np.float32)
    for left, top, right, bottom in boxes:
        probability[top:bottom, left:right] = 0.9
    return probability


def test_text_quads_grow_kernels_back_to_lines_in_reading_order() -> None:
    # kernels on a 320x160 map of a 640x320 picture: two on a row, one below
    probability = probability_map([(150, 20, 250, 36), (20, 22, 120, 34), (40, 100, 280, 120)],
                                  (160, 320))
    probability[140:142, 10:12] = 0.9  # a speck: too small to be a line
    quads = ocr.text_quads(probability, 640, 320)
    assert len(quads) == 3
    lefts = [round(q.bounds[0]) for q in quads]
    assert lefts[0] < lefts[1] and lefts[2] < lefts[1]  # row 1 left to right, then row 2
    left, top, right, bottom = quads[0].bounds
    # the kernel (20..120, 22..34 on the map = 40..240, 44..68 in the picture) grows by the
    # unclip distance on every side
    assert left < 40 and right > 240 and top < 44 and bottom > 68
    assert right - left < 240 and bottom - top < 60
    assert all(ocr.BOX_THRESHOLD <= q.score <= 0.9 for q in quads)


def test_low_probability_regions_are_not_lines() -> None:
    probability = probability_map([(20, 20, 200, 40)], (100, 300)) * (0.4 / 0.9)
    assert ocr.text_quads(probability, 300, 100) == []


def test_line_crop_is_upright_and_48_tall() -> None:
    picture = np.zeros((200, 400, 3), np.uint8)
    picture[50:80, 100:300] = 255
    quad = ocr.Quad(np.array([[100, 50], [300, 50], [300, 80], [100, 80]], np.float32), 1.0)
    crop = ocr.line_crop(picture, quad)
    assert crop.shape == (48, 320, 3) and crop.mean() > 250
    tall = ocr.Quad(np.array([[100, 20], [130, 20], [130, 180], [100, 180]], np.float32), 1.0)
    turned = ocr.line_crop(picture, tall)
    assert turned.shape[0] == 48 and turned.shape[1] > 48 * 4  # read as a line on its side


def test_batches_group_similar_widths() -> None:
    crops = [np.zeros((48, w, 3), np.uint8) for w in (900, 100, 500, 120, 880)]
    batches = ocr.recogniser_batches(crops, size=2)
    assert batches == [[1, 3], [2, 4], [0]]
    assert ocr.padded_width([crops[1], crops[3]]) == ocr.MIN_LINE_WIDTH
