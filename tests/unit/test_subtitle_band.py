"""Finding the subtitle band from probe frames' text boxes, and the change gate's notion of
"the same text", on plain arrays."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mediamesh.boxes import NormBox
from services.text.subtitle_band import choose_band
from services.text.subtitles_job import DEFAULT_BAND, _Look

SUBTITLE = (0.25, 0.83, 0.75, 0.93)
WATERMARK = (0.84, 0.91, 0.97, 0.97)


def test_the_row_of_centred_lines_on_most_frames_wins() -> None:
    frames = [[SUBTITLE, WATERMARK], [WATERMARK], [(0.3, 0.82, 0.7, 0.92), WATERMARK],
              [(0.02, 0.67, 0.19, 0.8), WATERMARK],  # a sign low on the left
              [(0.0, 0.0, 1.0, 1.0)],  # a detector slip over the whole frame
              [(0.2, 0.84, 0.8, 0.94)]]
    guess = choose_band(frames, DEFAULT_BAND)
    assert guess.detected
    band = guess.band
    assert band.y < 0.82 and band.y + band.height > 0.94 and band.y > 0.65
    assert (band.x, band.width) == (0.0, 1.0)


def test_subtitles_at_the_top_are_found() -> None:
    top = [[(0.24, 0.07, 0.76, 0.17)], [(0.2, 0.07, 0.8, 0.17)], [], [(0.3, 0.08, 0.7, 0.16)]]
    band = choose_band(top, DEFAULT_BAND).band
    assert band.y == 0.0 and 0.17 < band.height < 0.35


def test_no_shared_row_keeps_the_default() -> None:
    guess = choose_band([[SUBTITLE], [], [WATERMARK]], DEFAULT_BAND)
    assert (guess.band, guess.detected) == (DEFAULT_BAND, False)
    assert choose_band([], NormBox(0, 0.5, 1, 0.5)).band == NormBox(0, 0.5, 1, 0.5)


def band_with(text: str, background: np.ndarray) -> np.ndarray:
    image = Image.fromarray(background.copy())
    ImageDraw.Draw(image).text((40, 20), text, font=ImageFont.load_default(size=40),
                               fill=(255, 255, 255), stroke_width=3, stroke_fill=(0, 0, 0))
    return np.asarray(image)


def test_the_gate_sees_the_same_text_over_a_moving_background() -> None:
    rng = np.random.default_rng(1)
    backgrounds = [rng.integers(60, 170, (100, 640, 3), dtype=np.uint8) for _ in range(3)]
    first = _Look.of(band_with("Where did you put the keys?", backgrounds[0]))
    same = _Look.of(band_with("Where did you put the keys?", backgrounds[1]))
    other = _Look.of(band_with("The train leaves at seven", backgrounds[2]))
    empty = [_Look.of(b) for b in backgrounds]
    assert same.same_text_as(first)  # the background moved, the text did not
    assert not other.same_text_as(first)
    assert not first.same_text_as(empty[0]) and not empty[1].same_text_as(first)
    assert empty[1].same_text_as(empty[0])  # no text before, none now
