"""Fingerprints in numpy: the binary form, PDQ bits, pooling, and matching that finds a
shifted, noisy copy where it is and nothing in an unrelated or flat video."""
from __future__ import annotations

import numpy as np
import pytest

from mediamesh.errors import InvalidArgument
from services.vision import fingerprint as fp

RATE = 8.0  # analysis frames per second
SAMPLE_FPS = 2.0


def scene(seed: int, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame DCT features of a made-up video: a smooth random walk (times, dct)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    steps = rng.normal(0, 1, (n, 256))
    kernel = np.hanning(9)[:, None] / np.hanning(9).sum()
    walk = np.cumsum(steps, axis=0) * 0.05 + rng.normal(0, 1, 256)
    smooth = np.stack([np.convolve(walk[:, k], kernel[:, 0], mode="same") for k in range(256)],
                      axis=1)
    return np.arange(n) / RATE, smooth.reshape(n, 16, 16)


def fingerprint_of(times: np.ndarray, dct: np.ndarray, quality: float = 3.0
                   ) -> fp.Fingerprint:
    duration = float(times[-1] + 1 / RATE)
    samples = fp.pool_samples(times, dct, np.full(len(times), quality, np.float32),
                              SAMPLE_FPS, duration)
    return samples.fingerprint(SAMPLE_FPS, duration)


def test_binary_form_round_trips() -> None:
    original = fingerprint_of(*scene(1, 30))
    data = original.to_bytes()
    assert len(data) == 20 + 70 * len(original)
    back = fp.Fingerprint.from_bytes(data)
    np.testing.assert_allclose(back.times, original.times, atol=5e-4)
    np.testing.assert_array_equal(back.signatures, original.signatures)
    np.testing.assert_allclose(back.quality, original.quality, rtol=1e-3)
    assert (back.sample_fps, back.duration) == pytest.approx((SAMPLE_FPS, original.duration))


@pytest.mark.parametrize(("mangle", "words"), [
    (lambda d: d[:10], "too short"),
    (lambda d: b"JUNK" + d[4:], "not a mediamesh fingerprint"),
    (lambda d: d[:4] + bytes([9]) + d[5:], "version 9"),
    (lambda d: d[:-1], "damaged"),
    (lambda d: d + b"\0" * 70, "damaged"),
])
def test_malformed_bytes_are_invalid_argument_naming_the_field(mangle, words) -> None:  # type: ignore[no-untyped-def]
    data = fingerprint_of(*scene(2, 10)).to_bytes()
    with pytest.raises(InvalidArgument, match=words) as caught:
        fp.Fingerprint.from_bytes(mangle(data), "candidates[3]")
    assert caught.value.field_name == "candidates[3]"


def test_times_going_backwards_are_damage() -> None:
    good = fingerprint_of(*scene(3, 10))
    bad = fp.Fingerprint(good.times[::-1].copy(), good.signatures, good.quality,
                         good.sample_fps, good.duration)
    with pytest.raises(InvalidArgument, match="backwards"):
        fp.Fingerprint.from_bytes(bad.to_bytes())


def test_hash_bits_split_at_the_median_and_signatures_are_unit_length() -> None:
    dct = np.random.default_rng(4).normal(size=(3, 16, 16))
    bits = np.unpackbits(fp.hash_bits(dct), axis=1)
    assert bits.shape == (3, 256) and (bits.sum(axis=1) == 128).all()
    np.testing.assert_array_equal(bits[0], dct[0].ravel() > np.median(dct[0]))
    signature = fp.signatures(np.concatenate([dct, np.zeros((1, 16, 16))]))
    norms = np.linalg.norm(signature[:3].astype(float), axis=1) / 127
    np.testing.assert_allclose(norms, 1.0, atol=0.02)
    assert not signature[3].any()  # a flat frame has no direction


def test_pooling_puts_samples_on_the_grid_and_blends_neighbours() -> None:
    times = np.arange(16) / RATE  # 2 s
    dct = np.zeros((16, 16, 16))
    dct[:8, 0, 0], dct[8:, 0, 1] = 1.0, 1.0  # a cut at 1 s
    samples = fp.pool_samples(times, dct, np.ones(16, np.float32), SAMPLE_FPS, 2.0)
    np.testing.assert_allclose(samples.times, [0.0, 0.5, 1.0, 1.5, 2.0])
    first, at_cut = samples.signatures[0, :2], samples.signatures[2, :2]
    assert first[0] == 127 and first[1] == 0  # wholly the first shot
    assert 0 < at_cut[0] < 127 and 0 < at_cut[1] < 127  # the cut sample mixes both


def test_a_shifted_noisy_copy_matches_at_its_offset() -> None:
    times, dct = scene(5, 60)
    original = fingerprint_of(times, dct)
    shift = 13.3  # the copy starts 13.3 s into the original and lasts 30 s
    keep = (times >= shift) & (times < shift + 30)
    noisy = dct[keep] + np.random.default_rng(6).normal(0, 0.05, dct[keep].shape)
    copy = fingerprint_of(times[keep] - shift, noisy)
    found = fp.match(copy, original)
    assert found is not None
    assert found.offset == pytest.approx(shift, abs=0.2)
    assert found.score > 0.9 and found.matched >= 50
    assert found.query_start == pytest.approx(0.0, abs=0.5)
    assert found.query_end == pytest.approx(30.0, abs=0.6)
    assert found.candidate_start == pytest.approx(shift, abs=0.5)
    backwards = fp.match(original, copy)  # the other way round: the opposite offset
    assert backwards is not None and backwards.offset == pytest.approx(-shift, abs=0.2)


def test_unrelated_and_flat_videos_do_not_match() -> None:
    a = fingerprint_of(*scene(7, 40))
    assert fp.match(a, fingerprint_of(*scene(8, 40))) is None
    times, dct = scene(7, 40)
    flat = fingerprint_of(times, dct, quality=0.0)  # same pictures, but marked flat
    assert fp.match(a, flat) is None and fp.match(flat, a) is None


def test_min_score_filters() -> None:
    times, dct = scene(9, 30)
    a = fingerprint_of(times, dct)
    noisy = fingerprint_of(times, dct + np.random.default_rng(10).normal(0, 0.6, dct.shape))
    found = fp.match(a, noisy, fp.MatchParams(min_score=0.0))
    assert found is not None
    assert fp.match(a, noisy, fp.MatchParams(min_score=min(1.0, found.score + 0.01))) is None


def test_a_flat_stretch_does_not_split_the_span_but_disagreement_does() -> None:
    times, dct = scene(11, 40)
    original = fingerprint_of(times, dct)
    flat_middle = fingerprint_of(times, dct)
    quality = flat_middle.quality.copy()
    quality[(flat_middle.times > 12) & (flat_middle.times < 20)] = 0.0  # 8 s of black
    found = fp.match(fp.Fingerprint(flat_middle.times, flat_middle.signatures, quality,
                                    SAMPLE_FPS, flat_middle.duration), original)
    assert found is not None and found.query_start < 1 and found.query_end > 39
    other = scene(12, 40)[1]
    spliced = dct.copy()
    spliced[(times > 12) & (times < 20)] = other[(times > 12) & (times < 20)]  # 8 s of else
    found = fp.match(fingerprint_of(times, spliced), original)
    assert found is not None and (found.query_start > 19 or found.query_end < 13)
