"""What an index object holds survives its encoding; names are checked."""
from __future__ import annotations

import numpy as np
import pytest

from mediamesh.errors import InvalidArgument
from services.text.search_index import (
    IndexedEntry,
    MediaEntries,
    check_index_name,
    check_media_id,
)


def test_media_entries_round_trip() -> None:
    vectors = np.random.default_rng(0).standard_normal((2, 512)).astype(np.float32)
    media = MediaEntries("clip/1", "videos/a.mp4", {"title": "猫"},
                         [IndexedEntry("你好", 1.0, 2.5, "subtitle"),
                          IndexedEntry("whole", None, None, "title")], vectors)
    back = MediaEntries.decode(media.encode())
    assert back.media_id == "clip/1" and back.media_uri == "videos/a.mp4"
    assert back.metadata == {"title": "猫"}
    assert back.entries == media.entries
    assert np.array_equal(back.vectors, vectors)


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "../up", "dot.ted"])
def test_bad_index_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgument):
        check_index_name(name)


def test_good_names_pass() -> None:
    assert check_index_name("subtitles_zh-2026") == "subtitles_zh-2026"
    assert check_media_id("any id / with spaces") == "any id / with spaces"
    with pytest.raises(InvalidArgument):
        check_media_id("   ")
