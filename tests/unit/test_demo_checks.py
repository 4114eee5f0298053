"""The demo's own checks of its medley: beat F inside transitions."""
from __future__ import annotations

import numpy as np

from mediamesh.demo import beat_f, transition_windows


def test_transition_windows_are_the_overlaps() -> None:
    cue = {"songs": [{"output_range": [0, 20]}, {"output_range": [16, 40]},
                     {"output_range": [37, 60]}]}
    assert transition_windows(cue) == [(16, 20), (37, 40)]


def test_beats_found_just_past_a_window_edge_still_count() -> None:
    grid = np.arange(0, 30, 0.5)
    found = grid + 0.005
    assert beat_f(grid, found, [(10.0, 12.0)]) == 1.0
    assert beat_f(grid, found[::2], [(10.0, 12.0)]) < 0.8  # every other beat missing
