"""ComposeService.MixAudio and RenderMedley on synthetic songs whose beat grids are exact."""
from __future__ import annotations

import json
from pathlib import Path

import grpc
import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from mediamesh import media
from mediamesh.audio import loudness
from mediamesh.client import MeshClient
from mediamesh.grpc_errors import error_info
from mediamesh.v1 import audio_pb2, common_pb2, compose_pb2

RATE = 44_100
SONGS = ((100.0, 220.0), (120.0, 196.0), (128.0, 246.9))  # (BPM, chord root Hz)
CHORDS = ((1.0, 1.25, 1.5), (0.84, 1.0, 1.26), (0.667, 0.84, 1.0), (0.75, 0.94, 1.12))


def render_song(bpm: float, seconds: float, root_hz: float, seed: int, meter: int = 4,
                first: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stereo song: a triad per bar (I-vi-IV-V) and drum hits on every beat (noise burst,
    plus a kick and a louder accent on downbeats). Returns (samples, beats, downbeats)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    beats = np.arange(first, seconds - 0.2, 60.0 / bpm)
    downbeats = beats[::meter]
    out = np.zeros((2, n), np.float32)
    edges = np.concatenate([[0.0], downbeats[1:], [seconds]])
    for k in range(edges.size - 1):
        a, b = int(edges[k] * RATE), int(edges[k + 1] * RATE)
        tone = sum(np.sin(2 * np.pi * root_hz * r * t[a:b]) for r in CHORDS[k % 4]) / 3
        ramp = np.minimum(1.0, np.minimum(np.arange(b - a), np.arange(b - a)[::-1]) / 880)
        out[0, a:b] += 0.12 * tone * ramp
        out[1, a:b] += 0.10 * tone * ramp
    hit = np.arange(int(0.12 * RATE))
    for i, beat in enumerate(beats):
        a = int(round(beat * RATE))
        m = min(hit.size, n - a)
        downbeat = i % meter == 0
        noise = rng.standard_normal((2, hit.size)) * np.exp(-hit / (0.012 * RATE))
        kick = np.sin(2 * np.pi * 55 * hit / RATE) * np.exp(-hit / (0.05 * RATE))
        burst = (1.0 if downbeat else 0.45) * (0.2 * noise + (0.3 * kick if downbeat else 0.0))
        out[:, a:a + m] += burst[:, :m].astype(np.float32)
    return out, beats, downbeats


def rhythm(beats: np.ndarray, downbeats: np.ndarray, bpm: float,
           seconds: float) -> audio_pb2.AnalyzeRhythmResponse:
    """The AnalyzeRhythm answer for a grid we rendered ourselves."""
    positions = [audio_pb2.Beat(time=float(t), bar=i // 4, position_in_bar=i % 4 + 1)
                 for i, t in enumerate(beats)]
    return audio_pb2.AnalyzeRhythmResponse(
        beats=beats.tolist(), downbeats=downbeats.tolist(), beat_positions=positions,
        tempo_bpm=bpm, beats_per_bar=4, confidence=1.0, duration=seconds)


@pytest.fixture(scope="module")
def songs(media_root: Path) -> list[tuple[str, audio_pb2.AnalyzeRhythmResponse]]:
    folder = media_root / "medley"
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for k, (bpm, root) in enumerate(SONGS):
        samples, beats, downbeats = render_song(bpm, 24.0, root, seed=k)
        media.write_audio(folder / f"song{k}.wav", samples, RATE)
        made.append((f"medley/song{k}.wav", rhythm(beats, downbeats, bpm, 24.0)))
    short, beats, downbeats = render_song(120.0, 3.0, 220.0, seed=9)
    media.write_audio(folder / "short.wav", short, RATE)
    (folder / "broken.mp3").write_bytes(b"ID3 this is not an mp3 file" * 50)
    return made


def medley_song(uri: str, grid: audio_pb2.AnalyzeRhythmResponse | None = None,
                start: float = 4.0, end: float = 16.0, title: str = ""
                ) -> compose_pb2.MedleySong:
    song = compose_pb2.MedleySong(audio=common_pb2.MediaRef(uri=uri), title=title,
                                  segment=common_pb2.TimeRange(start=start, end=end))
    if grid is not None:
        song.rhythm.CopyFrom(grid)
    return song


async def medley(client: MeshClient, **fields: object) -> compose_pb2.RenderMedleyResult:
    request = compose_pb2.RenderMedleyRequest(**fields)  # type: ignore[arg-type]
    return await MeshClient.run_job(client.compose.RenderMedley(request, timeout=240))


async def mix(client: MeshClient, **fields: object) -> compose_pb2.MixAudioResult:
    request = compose_pb2.MixAudioRequest(**fields)  # type: ignore[arg-type]
    return await MeshClient.run_job(client.compose.MixAudio(request, timeout=120))


def onset_errors(samples: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Seconds from each expected beat to the drum attack found within 60 ms of it
    (the first time the >4 kHz envelope crosses 30 % of its local maximum)."""
    highs = sosfilt(butter(4, 4000, "hp", fs=RATE, output="sos"), samples)
    envelope = np.sqrt(np.convolve(highs ** 2, np.ones(44) / 44, mode="same"))
    errors = []
    for t in beats:
        a, b = int((t - 0.06) * RATE), int((t + 0.06) * RATE)
        if a < 0 or b > envelope.size:
            continue
        window = envelope[a:b]
        errors.append((a + int(np.argmax(window > 0.3 * window.max()))) / RATE - t)
    return np.array(errors)


async def test_medley_of_three_songs_is_beat_matched_loud_and_safe(
        client: MeshClient, songs: list[tuple[str, audio_pb2.AnalyzeRhythmResponse]],
        media_root: Path) -> None:
    result = await medley(
        client, songs=[medley_song(uri, grid, title=f"Song {k}")
                       for k, (uri, grid) in enumerate(songs)],
        output=common_pb2.OutputSpec(uri="medley/out.mp3", overwrite=True),
        target_lufs=-14.0, write_plot=True)
    decoded = media.decode_audio(media_root / result.output.uri, RATE, mono=False)
    assert result.output.mime_type == "audio/mpeg"
    assert decoded.shape[1] / RATE == pytest.approx(result.duration, abs=0.05)
    assert loudness.integrated_lufs(decoded, RATE) == pytest.approx(-14.0, abs=0.5)
    assert loudness.true_peak(decoded, RATE) <= -1.0
    at_48k = media.decode_audio(media_root / result.output.uri, 48_000, mono=False)
    assert loudness.true_peak(at_48k, 48_000) <= -1.0  # as AnalyzeLoudness measures it
    assert result.integrated_lufs == pytest.approx(-14.0, abs=0.5)
    assert result.bpm == pytest.approx(120.0)  # the median tempo
    assert [p.title for p in result.parts] == ["Song 0", "Song 1", "Song 2"]
    assert [round(p.tempo_ratio, 4) for p in result.parts] == [1.2, 1.0, 0.9375]

    cue = json.loads((media_root / result.cue_sheet.uri).read_text())
    assert result.cue_sheet.uri == "medley/out.cue.json"
    assert len(cue["songs"]) == 3 and cue["crossfade_bars"] == 2
    two_bars = 2 * 4 * 60.0 / cue["bpm"]
    ranges = [s["output_range"] for s in cue["songs"]]
    for before, after in zip(ranges, ranges[1:]):
        assert before[0] < after[0] < before[1] < after[1]
        assert before[1] - after[0] == pytest.approx(two_bars, abs=1e-3)
    beats, downbeats = np.array(cue["beats"]), np.array(cue["downbeats"])
    assert np.allclose(np.diff(beats), 0.5) and np.allclose(np.diff(downbeats), 2.0)
    assert beats[-1] <= result.duration + 1e-6 <= beats[-1] + 0.5 + 1e-6

    # The drums of every song, and across every transition, sit on the cue sheet's grid.
    errors = onset_errors(decoded.mean(axis=0), beats[1:-1])
    assert errors.size > 0.9 * (beats.size - 2)
    assert np.percentile(np.abs(errors), 95) < 0.012
    for start, end in zip([r[0] for r in ranges[1:]], [r[1] for r in ranges[:-1]]):
        inside = beats[(beats >= start) & (beats < end)]
        assert np.max(np.abs(onset_errors(decoded.mean(axis=0), inside))) < 0.015

    png = (media_root / result.plot.uri).read_bytes()
    assert result.plot.uri == "medley/out.plot.png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 20_000


async def test_crossfade_medley_needs_no_grids(
        client: MeshClient, songs: list[tuple[str, audio_pb2.AnalyzeRhythmResponse]],
        media_root: Path) -> None:
    result = await medley(
        client, songs=[medley_song(uri) for uri, _ in songs[:2]],
        output=common_pb2.OutputSpec(uri="medley/plain.wav", overwrite=True),
        transition=compose_pb2.TRANSITION_STYLE_CROSSFADE, crossfade_bars=1)
    first, second = result.parts
    assert first.tempo_ratio == 1.0 and second.tempo_ratio == 1.0
    assert first.output_range.end - second.output_range.start == pytest.approx(2.0)  # 1 bar
    assert second.source_range.end - second.source_range.start == pytest.approx(
        second.output_range.end - second.output_range.start)
    assert result.true_peak_dbtp <= -1.0 and not result.HasField("plot")
    info = media.probe(media_root / result.output.uri)
    assert info.duration == pytest.approx(result.duration, abs=0.01)


async def test_mix_two_clips_with_fades(
        client: MeshClient, songs: list[tuple[str, audio_pb2.AnalyzeRhythmResponse]],
        media_root: Path) -> None:
    (a, _), (b, _) = songs[0], songs[1]
    result = await mix(client, clips=[
        compose_pb2.AudioClip(source=common_pb2.MediaRef(uri=a),
                              source_range=common_pb2.TimeRange(start=0.0, end=8.0),
                              fade_in=compose_pb2.Fade(duration=1.0),
                              fade_out=compose_pb2.Fade(duration=2.0)),
        compose_pb2.AudioClip(source=common_pb2.MediaRef(uri=b),
                              source_range=common_pb2.TimeRange(start=2.0, end=10.0), start=6.0,
                              tempo_ratio=1.25, gain_db=-3.0,
                              fade_in=compose_pb2.Fade(duration=2.0,
                                                       curve=compose_pb2.FADE_CURVE_S_CURVE))],
        output=common_pb2.OutputSpec(uri="medley/mix.flac", overwrite=True),
        target_lufs=-16.0, true_peak_limit_dbtp=-1.0)
    path = media_root / result.output.uri
    assert result.duration == pytest.approx(6.0 + 8.0 / 1.25, abs=1e-3)
    assert media.probe(path).duration == pytest.approx(12.4, abs=0.01)
    decoded = media.decode_audio(path, RATE, mono=False)
    assert loudness.integrated_lufs(decoded, RATE) == pytest.approx(-16.0, abs=0.5)
    assert loudness.true_peak(decoded, RATE) <= -1.0
    assert result.integrated_lufs == pytest.approx(-16.0, abs=0.5)
    full = np.abs(decoded[:, int(2 * RATE):int(3 * RATE)]).max()
    assert np.abs(decoded[:, :int(0.02 * RATE)]).max() < 0.1 * full  # the fade in


def _songs(songs: list[tuple[str, audio_pb2.AnalyzeRhythmResponse]],
           **override: compose_pb2.MedleySong) -> list[compose_pb2.MedleySong]:
    chosen = [medley_song(uri, grid) for uri, grid in songs]
    for index, song in override.items():
        chosen[int(index.lstrip("s"))] = song
    return chosen


@pytest.mark.parametrize("case,text,field", [
    ("one song", "a medley takes 2-20 songs, got 1", "songs"),
    ("no grid", "songs[1] (song1.wav) has no beat grid: pass the AnalyzeRhythm result in "
                "songs[1].rhythm, or use transition CROSSFADE", "songs[1].rhythm"),
    ("undecodable", "songs[1] (broken.mp3) cannot be decoded", "songs[1].audio"),
    ("too short", "songs[2] (short.wav) is 3.00 s long; at least 5 s", "songs[2].audio"),
    ("segment out of range", "songs[0] (song0.wav): segment 30-40 s is outside the song",
     "songs[0].segment"),
])
async def test_bad_medleys_name_the_song(
        client: MeshClient, songs: list[tuple[str, audio_pb2.AnalyzeRhythmResponse]],
        case: str, text: str, field: str) -> None:
    grid = songs[0][1]
    chosen = {
        "one song": _songs(songs)[:1],
        "no grid": _songs(songs, s1=medley_song(songs[1][0])),
        "undecodable": _songs(songs, s1=medley_song("medley/broken.mp3", grid)),
        "too short": _songs(songs, s2=medley_song("medley/short.wav", grid, 0.0, 2.0)),
        "segment out of range": _songs(songs, s0=medley_song(songs[0][0], grid, 30.0, 40.0)),
    }[case]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await medley(client, songs=chosen,
                     output=common_pb2.OutputSpec(uri="medley/bad.wav", overwrite=True))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert text in caught.value.details()
    assert error_info(caught.value)[0] in ("INVALID_ARGUMENT_VALUE", "MEDIA_UNDECODABLE")


@pytest.mark.parametrize("clip,text", [
    ({"fade_in": compose_pb2.Fade(duration=5.0), "fade_out": compose_pb2.Fade(duration=4.0)},
     "clips[0] (song0.wav): fade_in (5 s) + fade_out (4 s) are longer than the clip (8.00 s)"),
    ({"tempo_ratio": 3.0}, "clips[0].tempo_ratio must be a speed factor in [0.5, 2]"),
    ({"source_range": common_pb2.TimeRange(start=50.0)},
     "clips[0] (song0.wav): source_range starts at 50 s but the audio is 24.00 s long"),
])
async def test_bad_mixes_name_the_clip(
        client: MeshClient, songs: list[tuple[str, audio_pb2.AnalyzeRhythmResponse]],
        clip: dict[str, object], text: str) -> None:
    fields: dict[str, object] = {"source_range": common_pb2.TimeRange(start=0.0, end=8.0)}
    fields.update(clip)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mix(client, clips=[compose_pb2.AudioClip(
            source=common_pb2.MediaRef(uri=songs[0][0]), **fields)])  # type: ignore[arg-type]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert text in caught.value.details()
