"""Tiny files that declare hours of audio are refused from their headers, before decoding.

Found by tests/fuzz: a 7 KB WAV declaring one sample a second holds an hour, 172 M samples
once resampled to 48 kHz; AnalyzeLoudness took 6.8 GB measuring it (a 28 KB one would have
taken the machine), and TagMedia decoded audio-only media of any length.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.grpc_errors import error_info
from mediamesh.mesh.process_memory import part_pids, parts_rss
from mediamesh.v1 import audio_pb2, common_pb2, text_pb2
from tests.fuzz.corpus import wav_declaring
from tests.integration.streams import collect

SECONDS = 10_000  # at 1 Hz: 20 KB of samples; 480 M samples at 48 kHz, 160 M at 16 kHz

Call = Callable[[MeshClient, common_pb2.MediaRef], Awaitable[Any]]
CALLS: dict[str, tuple[str, Call]] = {
    "AnalyzeLoudness": ("audio", lambda c, ref: c.audio.AnalyzeLoudness(
        audio_pb2.AnalyzeLoudnessRequest(audio=ref), timeout=30)),
    "DetectSpeech": ("audio", lambda c, ref: c.audio.DetectSpeech(
        audio_pb2.DetectSpeechRequest(audio=ref), timeout=30)),
    "TagMedia": ("text", lambda c, ref: collect(c.text.TagMedia(
        text_pb2.TagMediaRequest(media=ref, use_speech=True), timeout=30))),
}


@pytest.mark.parametrize("rpc", sorted(CALLS))
async def test_a_tiny_file_declaring_hours_is_refused_before_decoding(
        client: MeshClient, mesh: Settings, media_root: Path, rpc: str) -> None:
    path = media_root / "bombs" / "one_hertz.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_declaring(1, 1, 16, 2 * SECONDS, bytes(2 * SECONDS)))
    part, call = CALLS[rpc]
    before = parts_rss(part_pids(mesh))[part]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(client, common_pb2.MediaRef(uri="bombs/one_hertz.wav"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value)[0] == "MEDIA_TOO_LONG"
    assert "10000 s of audio" in caught.value.details() and "cut it" in caught.value.details()
    assert parts_rss(part_pids(mesh))[part] - before < 200 << 20  # nothing was decoded
