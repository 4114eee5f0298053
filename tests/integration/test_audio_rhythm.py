"""AudioService.AnalyzeRhythm through the mesh (beat_tcn on the real Triton), on songs the
test renders with exact annotations."""
from __future__ import annotations

from pathlib import Path

import grpc
import mir_eval
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.grpc_errors import error_info
from mediamesh.synth.songs import SongTruth, render_song
from mediamesh.v1 import audio_pb2, common_pb2


def write_song(media_root: Path, seed: int, name: str) -> SongTruth:
    song = render_song(seed, 44_100)
    path = media_root / "rhythm" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    media.write_audio(path, song.samples, song.rate)
    return song.truth


@pytest.mark.parametrize(("seed", "name"), [(1, "four.mp3"), (4, "waltz.flac")])
async def test_beats_bars_and_meter_of_a_song(client: MeshClient, media_root: Path,
                                              seed: int, name: str) -> None:
    truth = write_song(media_root, seed, name)
    ref = common_pb2.MediaRef(uri=f"rhythm/{name}")
    reply = await client.audio.AnalyzeRhythm(audio_pb2.AnalyzeRhythmRequest(audio=ref),
                                             timeout=120)
    assert mir_eval.beat.f_measure(np.array(truth.beats), np.array(reply.beats)) > 0.9
    assert mir_eval.beat.f_measure(np.array(truth.downbeats),
                                   np.array(reply.downbeats)) > 0.85
    assert reply.beats_per_bar == truth.beats_per_bar
    assert reply.tempo_bpm == pytest.approx(truth.tempo_bpm, rel=0.04)
    assert reply.audio.uri == ref.uri and reply.model == "beat_tcn"
    assert 0.0 < reply.confidence <= 1.0
    positions = [b.position_in_bar for b in reply.beat_positions]
    assert set(positions) <= set(range(1, reply.beats_per_bar + 1))
    downbeat_bars = [b.bar for b in reply.beat_positions if b.position_in_bar == 1]
    assert downbeat_bars == list(range(downbeat_bars[0], downbeat_bars[0] + len(downbeat_bars)))
    assert len(reply.tempo_curve) >= len(reply.downbeats) - 1


async def test_a_range_gives_absolute_times(client: MeshClient, media_root: Path) -> None:
    truth = write_song(media_root, 1, "ranged.wav")
    reply = await client.audio.AnalyzeRhythm(audio_pb2.AnalyzeRhythmRequest(
        audio=common_pb2.MediaRef(uri="rhythm/ranged.wav"),
        range=common_pb2.TimeRange(start=30, end=60)), timeout=120)
    assert min(reply.beats) >= 30.0 and max(reply.beats) <= 60.0
    inside = np.array([t for t in truth.beats if 31 <= t <= 59])
    assert mir_eval.beat.f_measure(inside, np.array(reply.beats), 0.07) > 0.9


async def test_rhythm_bad_inputs(client: MeshClient, media_root: Path) -> None:
    folder = media_root / "rhythm"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.mp3").write_bytes(b"this is not audio at all" * 100)
    media.write_audio(folder / "silence.wav", np.zeros((2, 44_100 * 8), np.float32), 44_100)
    media.write_audio(folder / "short.wav", np.random.default_rng(0).standard_normal(
        (1, 44_100 * 3)).astype(np.float32) * 0.1, 44_100)
    cases = [
        ("notes.mp3", {}, grpc.StatusCode.INVALID_ARGUMENT, "MEDIA_UNDECODABLE", "audio"),
        ("silence.wav", {}, grpc.StatusCode.FAILED_PRECONDITION, "MEDIA_UNUSABLE", "silent"),
        ("short.wav", {}, grpc.StatusCode.FAILED_PRECONDITION, "MEDIA_UNUSABLE", "at least 5"),
        ("silence.wav", {"allowed_meters": [1]}, grpc.StatusCode.INVALID_ARGUMENT,
         "INVALID_ARGUMENT_VALUE", "beats per bar"),
        ("silence.wav", {"min_bpm": 100, "max_bpm": 110}, grpc.StatusCode.INVALID_ARGUMENT,
         "INVALID_ARGUMENT_VALUE", "too narrow"),
        ("missing.wav", {}, grpc.StatusCode.NOT_FOUND, "MEDIA_NOT_FOUND", "missing.wav"),
    ]
    for name, extra, code, reason, words in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.audio.AnalyzeRhythm(audio_pb2.AnalyzeRhythmRequest(
                audio=common_pb2.MediaRef(uri=f"rhythm/{name}"), **extra), timeout=60)
        assert caught.value.code() == code, (name, caught.value.details())
        assert error_info(caught.value)[0] == reason
        assert words in caught.value.details()


async def test_chorus_of_a_song_with_and_without_a_given_grid(client: MeshClient,
                                                              media_root: Path) -> None:
    truth = write_song(media_root, 1, "chorus.m4a")
    ref = common_pb2.MediaRef(uri="rhythm/chorus.m4a")
    found = await client.audio.DetectChorus(audio_pb2.DetectChorusRequest(
        audio=ref, max_alternatives=2), timeout=120)
    start, end = found.chorus.range.start, found.chorus.range.end
    assert any(abs(start - s) <= 2 and abs(end - e) <= 2 for s, e in truth.choruses), \
        (start, end, truth.choruses)
    assert found.chorus.confidence > 0.5
    assert start in found.rhythm.downbeats  # snapped to the grid it reports
    assert found.audio.uri == ref.uri and found.rhythm.beats_per_bar == truth.beats_per_bar
    kinds = [s.kind for s in found.sections]
    assert audio_pb2.SECTION_KIND_CHORUS in kinds
    assert found.sections[0].range.start == pytest.approx(0.0, abs=0.01)
    assert all(a.range.end == pytest.approx(b.range.start)
               for a, b in zip(found.sections, found.sections[1:]))
    # given the grid from an earlier AnalyzeRhythm, the service does not track again
    again = await client.audio.DetectChorus(audio_pb2.DetectChorusRequest(
        audio=ref, rhythm=found.rhythm), timeout=120)
    assert again.chorus.range.start == pytest.approx(start)
    assert list(again.rhythm.beats) == list(found.rhythm.beats)


async def test_a_file_replaced_in_place_is_analysed_afresh(client: MeshClient,
                                                           media_root: Path) -> None:
    """The chorus step reuses the rhythm step's analysis of the same bytes, never of the
    same name: a song overwritten between the two steps is analysed as it is now."""
    ref = common_pb2.MediaRef(uri="rhythm/replaced.wav")
    old = write_song(media_root, 20013, "replaced.wav")
    await client.audio.AnalyzeRhythm(audio_pb2.AnalyzeRhythmRequest(audio=ref), timeout=120)
    new = write_song(media_root, 2, "replaced.wav")
    write_song(media_root, 2, "other.wav")
    grid = await client.audio.AnalyzeRhythm(audio_pb2.AnalyzeRhythmRequest(
        audio=common_pb2.MediaRef(uri="rhythm/other.wav")), timeout=120)
    found = await client.audio.DetectChorus(audio_pb2.DetectChorusRequest(
        audio=ref, rhythm=grid), timeout=120)
    analysed = found.sections[-1].range.end  # how much audio the sections were found in
    assert abs(old.beats[-1] - new.beats[-1]) > 10  # the two songs tell apart by length
    assert abs(analysed - new.beats[-1]) < 5, (analysed, new.beats[-1], old.beats[-1])


async def test_chorus_bad_inputs(client: MeshClient, media_root: Path) -> None:
    folder = media_root / "rhythm"
    folder.mkdir(parents=True, exist_ok=True)
    media.write_audio(folder / "quiet.wav", np.zeros((2, 44_100 * 8), np.float32), 44_100)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.audio.DetectChorus(audio_pb2.DetectChorusRequest(
            audio=common_pb2.MediaRef(uri="rhythm/quiet.wav")), timeout=60)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "silent" in caught.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.audio.DetectChorus(audio_pb2.DetectChorusRequest(
            audio=common_pb2.MediaRef(uri="rhythm/quiet.wav"), min_duration=30,
            max_duration=10), timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "min_duration <= max_duration" in caught.value.details()
