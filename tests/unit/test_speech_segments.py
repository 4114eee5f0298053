"""Speech segments from VAD probabilities: hysteresis, minimum lengths, padding."""
from __future__ import annotations

import numpy as np

from services.audio import speech

W = speech.WINDOW_S


def probs(*spans: tuple[float, float], total: float = 10.0) -> np.ndarray:
    p = np.full(int(total / W), 0.02, np.float32)
    for a, b in spans:
        p[int(a / W):int(b / W)] = 0.9
    return p


def test_segments_follow_the_speech_with_padding() -> None:
    found = speech.segments(probs((1.0, 3.0), (5.0, 6.0)), speech.SpeechOptions(pad=0.05), 10)
    assert len(found) == 2
    for (a, b, _), (x, y) in zip(found, [(0.95, 3.05), (4.95, 6.05)]):
        assert abs(a - x) < 0.05 and abs(b - y) < 0.05
    assert all(c > 0.8 for *_, c in found)


def test_short_pauses_do_not_split_and_blips_are_dropped() -> None:
    p = probs((1.0, 2.0), (2.05, 3.0), (7.0, 7.1))
    found = speech.segments(p, speech.SpeechOptions(min_silence=0.3, min_speech=0.25), 10)
    assert len(found) == 1
    assert abs(found[0][0] - 1.0) < 0.1 and abs(found[0][1] - 3.0) < 0.1


def test_rows_carry_the_context_before_each_window() -> None:
    mono = np.arange(2000, dtype=np.float32)
    table = speech.rows(mono)
    assert table.shape == (4, 576)
    assert np.all(table[0, :64] == 0) and table[0, 64] == 0.0 and table[1, 64] == 512.0
    assert table[1, 63] == 511.0
