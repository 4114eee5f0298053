"""AnalyzeRhythm with RHYTHM_MODEL_MADMOM through the mesh. The pack is opt-in and never
downloaded by the tests: without it the request must fail with NOT_FOUND / MODEL_NOT_FOUND
and say how to enable it; when this checkout has enabled it (`mediamesh models enable
madmom ...`), the same request must track the song with it."""
from __future__ import annotations

from pathlib import Path

import grpc
import mir_eval
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.grpc_errors import error_info
from mediamesh.models import madmom_pack
from mediamesh.synth.songs import render_song
from mediamesh.v1 import audio_pb2, common_pb2


async def test_madmom_model_is_opt_in(client: MeshClient, mesh: Settings,
                                      media_root: Path) -> None:
    song = render_song(4, 44_100)  # 3/4: a meter the pack tracks on these songs
    path = media_root / "rhythm" / "madmom.flac"
    path.parent.mkdir(parents=True, exist_ok=True)
    media.write_audio(path, song.samples, song.rate)
    request = audio_pb2.AnalyzeRhythmRequest(audio=common_pb2.MediaRef(uri="rhythm/madmom.flac"),
                                             model=audio_pb2.RHYTHM_MODEL_MADMOM)
    if not madmom_pack.is_enabled(mesh.model_repository):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.audio.AnalyzeRhythm(request, timeout=60)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND, caught.value.details()
        assert error_info(caught.value)[0] == "MODEL_NOT_FOUND"
        details = caught.value.details() or ""
        assert "mediamesh models enable madmom --accept-license CC-BY-NC-SA-4.0" in details
        assert "CC BY-NC-SA 4.0" in details
        return
    reply = await client.audio.AnalyzeRhythm(request, timeout=180)
    assert reply.model == "madmom_downbeats"
    truth = song.truth
    assert mir_eval.beat.f_measure(np.array(truth.beats), np.array(reply.beats)) > 0.9
    assert mir_eval.beat.f_measure(np.array(truth.downbeats), np.array(reply.downbeats)) > 0.9
    assert reply.beats_per_bar == truth.beats_per_bar


async def test_default_model_is_unchanged(client: MeshClient, media_root: Path) -> None:
    song = render_song(2, 44_100)
    path = media_root / "rhythm" / "default.flac"
    path.parent.mkdir(parents=True, exist_ok=True)
    media.write_audio(path, song.samples, song.rate)
    reply = await client.audio.AnalyzeRhythm(audio_pb2.AnalyzeRhythmRequest(
        audio=common_pb2.MediaRef(uri="rhythm/default.flac"),
        model=audio_pb2.RHYTHM_MODEL_DEFAULT), timeout=120)
    assert reply.model == "beat_tcn"
