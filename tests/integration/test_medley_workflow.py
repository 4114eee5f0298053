"""The headline workflow, workflows/medley.yaml (rhythm -> chorus -> mix), through the real
mesh: orchestrator, AudioService on Triton, ComposeService."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import json_format

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.synth.songs import SongTruth, render_song
from mediamesh.v1 import audio_pb2, common_pb2, workflow_pb2

SONGS = ((50023, "a.mp3"), (1, "b.m4a"), (50033, "c.wav"))  # 123, 173 and 136 BPM, 4/4


def write_songs(media_root: Path) -> list[tuple[str, SongTruth]]:
    folder = media_root / "medley-in"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for seed, name in SONGS:
        song = render_song(seed, 44_100)
        media.write_audio(folder / name, song.samples, song.rate)
        out.append((f"medley-in/{name}", song.truth))
    return out


async def test_medley_of_three_songs(client: MeshClient, media_root: Path) -> None:
    songs = write_songs(media_root)
    run = await client.run_workflow("medley", {
        "songs": [uri for uri, _ in songs], "output": "medley-out/three.wav"}, timeout_s=600)
    assert run.state == workflow_pb2.RUN_STATE_SUCCEEDED, run.error_message
    outputs = json_format.MessageToDict(run.outputs)
    assert outputs["medley"]["uri"] == "medley-out/three.wav"
    cue = json.loads((media_root / outputs["cue_sheet"]["uri"]).read_text())
    assert (media_root / outputs["plot"]["uri"]).stat().st_size > 10_000
    parts = cue["songs"]
    assert [p["song_index"] for p in parts] == [0, 1, 2]
    starts = [p["output_range"][0] for p in parts]
    assert starts == sorted(starts)
    # 173 BPM folds to 86.5 next to 123 and 136: no song is stretched beyond sqrt(2)
    assert all(0.7 < p["tempo_ratio"] < 1.42 for p in parts)
    hits = [any(abs(p["part_range"][0] - s) <= 2 and abs(p["part_range"][1] - e) <= 2
                for s, e in songs[p["song_index"]][1].choruses) for p in parts]
    assert sum(hits) >= 2, [(p["part_range"], t.choruses) for p, (_, t) in zip(parts, songs)]
    loud = await client.audio.AnalyzeLoudness(audio_pb2.AnalyzeLoudnessRequest(
        audio=common_pb2.MediaRef(uri="medley-out/three.wav")), timeout=120)
    assert loud.integrated_lufs == pytest.approx(-14.0, abs=0.5)
    assert loud.true_peak_dbtp <= -1.0 + 0.05
    assert np.isclose(cue["bpm"], outputs["bpm"])


async def test_a_medley_with_an_unusable_song_names_it(client: MeshClient,
                                                       media_root: Path) -> None:
    songs = write_songs(media_root)
    (media_root / "medley-in" / "broken.mp3").write_bytes(b"\x00garbage" * 1000)
    run = await client.run_workflow("medley", {
        "songs": [songs[0][0], "medley-in/broken.mp3"], "output": "medley-out/bad.wav"},
        timeout_s=300)
    assert run.state == workflow_pb2.RUN_STATE_FAILED
    assert "broken.mp3" in run.error_message or "songs[1]" in run.error_message \
        or "item 1" in run.error_message, run.error_message
