"""The audio service's per-song cache: bounded in bytes, least recently used out first."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.audio.bars import FrameFeatures
from services.audio.frame_cache import FrameCache, file_digest


def frames(count: int) -> FrameFeatures:
    """FrameFeatures of `count` frames: 4 * count * (notes + bands + 3) bytes."""
    rng = np.random.default_rng(count)
    return FrameFeatures.of(rng.uniform(0, 1, (count, 1025)).astype(np.float32))


def test_the_least_recently_used_song_leaves_first() -> None:
    one = frames(100)
    cache = FrameCache(int(2.5 * one.nbytes))
    cache.put("a", one)
    cache.put("b", frames(100))
    assert cache.get("a") is one  # a is now more recent than b
    cache.put("c", frames(100))
    assert cache.get("b") is None
    assert cache.get("a") is one and cache.get("c") is not None


def test_a_song_over_the_budget_is_not_kept_and_zero_turns_the_cache_off() -> None:
    small = frames(10)
    cache = FrameCache(small.nbytes * 3)
    cache.put("small", small)
    cache.put("big", frames(100))
    assert cache.get("big") is None and cache.get("small") is small
    off = FrameCache(0)
    off.put("small", small)
    assert off.get("small") is None


def test_the_key_follows_the_bytes_not_the_name(tmp_path: Path) -> None:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    a.write_bytes(b"RIFF" + bytes(1000))
    b.write_bytes(b"RIFF" + bytes(1000))
    assert file_digest(a) == file_digest(b)
    b.write_bytes(b"RIFF" + bytes(999) + b"\x01")
    assert file_digest(a) != file_digest(b)


def test_frame_features_reduce_like_the_spectrum_they_came_from() -> None:
    """Span means of the band sums equal the band sums of the span's mean spectrum: what
    lets structure analysis keep FrameFeatures instead of the spectrogram."""
    spectrum = np.random.default_rng(0).uniform(0, 2, (300, 1025)).astype(np.float32)
    reduced = FrameFeatures.of(spectrum)
    whole = FrameFeatures.of(spectrum[40:90].mean(axis=0, keepdims=True))
    np.testing.assert_allclose(reduced.notes[40:90].mean(axis=0), whole.notes[0], rtol=1e-4)
    np.testing.assert_allclose(reduced.bands[40:90].mean(axis=0), whole.bands[0], rtol=1e-4)
    assert reduced.level[40:90].mean() == pytest.approx(float(spectrum[40:90].mean()), rel=1e-5)
    assert len(reduced) == 300 and reduced.rise[0] == 0.0
