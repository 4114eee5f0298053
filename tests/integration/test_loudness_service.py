"""AudioService.AnalyzeLoudness through the mesh, on files the test writes."""
from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.grpc_errors import error_info
from mediamesh.v1 import audio_pb2, common_pb2


def write_programme(path: Path, rate: int = 44_100) -> None:
    """10 s of a stereo 1 kHz sine at -23 dBFS then 10 s at -33 dBFS, as AAC in .m4a."""
    t = np.arange(10 * rate) / rate
    loud = 10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)
    quiet = 10 ** (-33 / 20) * np.sin(2 * np.pi * 1000 * t)
    wave = np.concatenate([loud, quiet]).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    media.write_audio(path, np.stack([wave, wave]), rate)


async def test_loudness_of_a_compressed_file_with_sections(client: MeshClient,
                                                           media_root: Path) -> None:
    write_programme(media_root / "loud" / "programme.m4a")
    reply = await client.audio.AnalyzeLoudness(audio_pb2.AnalyzeLoudnessRequest(
        audio=common_pb2.MediaRef(uri="loud/programme.m4a"),
        sections=[common_pb2.TimeRange(start=1, end=9), common_pb2.TimeRange(start=11)]),
        timeout=60)
    # the -33 part is 10 LU below: inside the relative gate, so it lowers the programme
    assert -26.0 < reply.integrated_lufs < -24.5
    assert reply.loudness_range_lu == pytest.approx(10.0, abs=1.0)
    assert reply.true_peak_dbtp == pytest.approx(-23.0, abs=0.5)
    assert reply.short_term_max_lufs == pytest.approx(-23.0, abs=0.3)
    first, second = reply.sections
    assert first.integrated_lufs == pytest.approx(-23.0, abs=0.2)
    assert second.integrated_lufs == pytest.approx(-33.0, abs=0.2)
    assert second.range.end == pytest.approx(20.0, abs=0.05)


async def test_loudness_bad_inputs(client: MeshClient, media_root: Path) -> None:
    (media_root / "loud").mkdir(parents=True, exist_ok=True)
    image = media_root / "loud" / "still.png"
    media.write_image(image, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.audio.AnalyzeLoudness(audio_pb2.AnalyzeLoudnessRequest(
            audio=common_pb2.MediaRef(uri="loud/still.png")), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no audio stream" in caught.value.details()
    write_programme(media_root / "loud" / "short.m4a")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.audio.AnalyzeLoudness(audio_pb2.AnalyzeLoudnessRequest(
            audio=common_pb2.MediaRef(uri="loud/short.m4a"),
            sections=[common_pb2.TimeRange(start=50)]), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value)[0] == "INVALID_ARGUMENT_VALUE"
    assert "after the end of the audio" in caught.value.details()
