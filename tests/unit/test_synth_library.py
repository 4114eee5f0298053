"""mediamesh.synth.library: every subject looks different (the end-to-end test tells the
clips apart by colour) and carries its caption as a title over the first half."""
from __future__ import annotations

import itertools

import numpy as np

from mediamesh.synth import library


def test_subjects_differ_in_colour_and_are_captioned_first() -> None:
    colours = {}
    for name in library.SUBJECTS:
        clip = library.frames(name, 0.4)
        assert clip.shape == (10, library.HEIGHT, library.WIDTH, 3)
        title = slice(round(library.HEIGHT * 0.04), round(library.HEIGHT * 0.14))
        first, last = clip[0, title].astype(int), clip[-1, title].astype(int)
        assert (first == 255).all(axis=-1).sum() > 200  # white caption letters
        assert (last == 255).all(axis=-1).sum() < (first == 255).all(axis=-1).sum() / 4
        colours[name] = np.array(library.picture_colour(clip[5]), float)
    for a, b in itertools.combinations(colours, 2):
        assert np.linalg.norm(colours[a] - colours[b]) > 20, (a, b)


def test_example_scripts_describe_library_subjects() -> None:
    for lines in (library.SCRIPT_EN, library.SCRIPT_ZH):
        assert all(subject in library.SUBJECTS for _, subject in lines)
        for text, subject in lines:  # other words than the caption's
            assert not set(library.SUBJECTS[subject][0].split()[1:]) <= set(text.split())
