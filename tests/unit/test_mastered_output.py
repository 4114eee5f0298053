"""write_mastered: the written file itself (decoded back) meets the loudness target and the
true-peak ceiling, lossy or not; the codec probe samples the mix where its peaks are."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediamesh import media
from mediamesh.audio import loudness
from mediamesh.synth.songs import render_song
from services.compose import audio_io
from services.compose.audio_io import _probe_starts, write_mastered
from tests.unit.test_mixing import RATE, music_like


def test_probe_windows_sit_on_the_highest_peaks_without_overlapping() -> None:
    envelope = np.full(100_000, 0.1)
    envelope[[5_000, 5_500, 40_000, 99_990, 70_000]] = [5.0, 4.0, 3.0, 2.0, 1.0]
    starts = _probe_starts(envelope, 10_000, 3)
    assert starts == [0, 35_000, 90_000]  # centred on the peaks, kept inside the signal
    assert _probe_starts(envelope, 10_000, 4) == [0, 35_000, 65_000, 90_000]
    assert _probe_starts(envelope[:3_000], 3_000, 1) == [0]  # shorter than a window


@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_the_written_file_meets_its_marks(tmp_path: Path, suffix: str) -> None:
    mix = music_like(12, seed=2) * 3.0  # heavy limiting needed
    written = write_mastered(tmp_path / f"out{suffix}", mix, RATE, -12.0, -1.0)
    decoded = np.atleast_2d(media.decode_audio(written.path, RATE, False))
    assert loudness.true_peak(decoded, RATE) == pytest.approx(written.true_peak_dbtp)
    assert written.true_peak_dbtp <= -1.0
    assert loudness.integrated_lufs(decoded, RATE) == pytest.approx(written.integrated_lufs)
    assert written.integrated_lufs == pytest.approx(-12.0, abs=audio_io.LOUDNESS_TOLERANCE_LU)
    assert written.duration == pytest.approx(12.0)
    assert not list(tmp_path.glob(".*probe*"))  # the codec probe is cleaned up


def test_a_lossy_file_is_encoded_once_after_the_probe(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    encodes: list[int] = []
    write_audio = media.write_audio

    def counting(path: Path, samples: np.ndarray, rate: int) -> None:
        encodes.append(np.atleast_2d(samples).shape[-1])
        write_audio(path, samples, rate)

    monkeypatch.setattr(audio_io.media, "write_audio", counting)
    song = render_song(8, RATE).samples[:, 10 * RATE:40 * RATE]  # drums, bass and chords
    written = write_mastered(tmp_path / "out.mp3", song, RATE, -14.0, -1.0)
    probe = audio_io.CODEC_PROBE_CHUNKS * int(audio_io.CODEC_PROBE_CHUNK_S * RATE)
    assert encodes == [probe, song.shape[1]]
    assert written.true_peak_dbtp <= -1.0
    assert written.integrated_lufs == pytest.approx(-14.0, abs=audio_io.LOUDNESS_TOLERANCE_LU)


def test_without_a_ceiling_only_loudness_is_set(tmp_path: Path) -> None:
    written = write_mastered(tmp_path / "out.wav", music_like(6) * 0.1, RATE, -20.0, None)
    assert written.integrated_lufs == pytest.approx(-20.0, abs=0.05)
